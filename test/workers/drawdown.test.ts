/**
 * The drawdown breaker (GOV_MAX_DRAWDOWN_PCT, GOV_DRAWDOWN_WINDOW_H), driven
 * through the exchange simulator's account (`PUT /__sim/account
 * {totalMarginBalance}`): the peak over the window comes from the account
 * reads the evaluations already make; a warning past 80 % of the limit, once;
 * HALTED by `drawdown_breaker` past the limit, until an operator resumes.
 */
import { beforeEach, describe, expect, it } from "vitest";
import {
  events,
  keys,
  postPlan,
  putTradingState,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  streamEntries,
} from "./helpers.ts";

const BREAKER = { GOV_MAX_DRAWDOWN_PCT: "0.1", GOV_DRAWDOWN_WINDOW_H: "24" };
let n = 0;

/** An entry on the held ETHUSDT (always allowed while ACTIVE) with the account at `balance`. */
async function evaluateAt(balance: number, vars: Record<string, string> = BREAKER) {
  await sim("PUT", "/__sim/account", { totalMarginBalance: String(balance) });
  return (await postPlan({ plan_id: `dd-${++n}`, symbol: "ETHUSDT" }, vars)).body;
}

async function alerts(kind?: string) {
  const all = await streamEntries(keys.alertOutbox);
  return kind ? all.filter((a) => a.kind === kind) : all;
}

describe("the drawdown breaker", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT"]);
    await setRegime("ETHUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("warns once past 80 % of the limit, then halts below peak × (1 − limit) until an operator resumes", async () => {
    expect(await evaluateAt(10_000)).toMatchObject({ decision: "ALLOW" });
    expect(await evaluateAt(9_300)).toMatchObject({ decision: "ALLOW" }); // 7 %
    expect(await alerts("drawdown_warning")).toEqual([]);

    expect(await evaluateAt(9_150)).toMatchObject({ decision: "ALLOW" }); // 8.5 % ≥ 8 %
    expect(await evaluateAt(9_100)).toMatchObject({ decision: "ALLOW" }); // 9 %: the same incident
    const [warning, ...more] = await alerts("drawdown_warning");
    expect(more).toEqual([]);
    expect(warning).toMatchObject({ severity: "warning", status: "firing" });
    expect(JSON.parse(warning!.details!)).toMatchObject({
      peak: 10_000,
      balance: 9_150,
      limit: 0.1,
    });

    expect(await evaluateAt(8_950)).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_halted",
    }); // 10.5 %
    const state = JSON.parse((await redis.get(keys.tradingState)) as string);
    expect(state).toMatchObject({ state: "HALTED", actor: "drawdown_breaker" });
    expect(state.reason).toMatch(/drawdown breaker: margin balance 8950\.00 is 10\.50% below/);
    expect(await events("TRADING_STATE_CHANGED")).toMatchObject([
      { from: "ACTIVE", to: "HALTED", actor: "drawdown_breaker" },
    ]);
    const [trip, ...others] = await alerts("drawdown_breaker_tripped");
    expect(others).toEqual([]);
    expect(trip).toMatchObject({ severity: "critical", status: "firing" });
    expect(await alerts("trading_state_changed")).toEqual([]); // the trip is one alert

    // The balance recovering does not resume: only an operator does.
    expect(await evaluateAt(10_500)).toMatchObject({ reason: "active_slots_halted" });
    const resumed = await putTradingState({ state: "ACTIVE", reason: "drawdown reviewed" });
    expect(resumed.body).toMatchObject({ state: "ACTIVE", previous: "HALTED", changed: true });
    // Re-armed from the balance seen next: 9,000 is the new peak, not 10.5 % down.
    expect(await evaluateAt(9_000)).toMatchObject({ decision: "ALLOW" });
    expect(await evaluateAt(8_200)).toMatchObject({ decision: "ALLOW" }); // 8.9 % of 9,000
    expect(await evaluateAt(8_000)).toMatchObject({ reason: "active_slots_halted" }); // 11.1 %
  });

  it("a peak older than the window no longer counts, and its bucket is dropped", async () => {
    const old = Math.floor((Date.now() - 25 * 3_600_000) / 720_000) * 720_000;
    await redis.hset(keys.balancePeaks, { [String(old)]: "20000" });
    expect(await evaluateAt(10_000)).toMatchObject({ decision: "ALLOW" }); // 50 % below the old peak
    expect(await redis.get(keys.tradingState)).toBeNull();
    expect(await redis.hexists(keys.balancePeaks, String(old))).toBe(0);
    expect(await redis.hlen(keys.balancePeaks)).toBe(1);
  });

  it("off when GOV_MAX_DRAWDOWN_PCT is unset: no peak is kept, nothing halts", async () => {
    expect(await evaluateAt(10_000, {})).toMatchObject({ decision: "ALLOW" });
    expect(await evaluateAt(5_000, {})).toMatchObject({ decision: "ALLOW" });
    expect(await redis.exists(keys.balancePeaks)).toBe(0);
    expect(await redis.get(keys.tradingState)).toBeNull();
  });

  it("an operator's own halt is not lifted nor re-armed by the breaker", async () => {
    await evaluateAt(10_000);
    await putTradingState({ state: "REDUCING", reason: "operator" });
    expect(await evaluateAt(8_000)).toMatchObject({ reason: "active_slots_reducing" });
    // REDUCING answered before the account was read: the breaker did not see 8,000.
    expect(JSON.parse((await redis.get(keys.tradingState)) as string)).toMatchObject({
      state: "REDUCING",
      actor: "operator",
    });
  });
});
