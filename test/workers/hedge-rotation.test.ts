import { beforeEach, describe, expect, it } from "vitest";
import {
  getJson,
  keys,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  simRequests,
  streamEntries,
} from "./helpers.ts";

const HOUR = 3_600_000;

async function waitFor<T>(
  probe: () => Promise<T | null | undefined | false>,
  ms = 5000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Three one-way positions and SOLUSDT held on both sides in hedge mode
 * (LONG 0.1, SHORT 0.2: summed as floats that is 0.30000000000000004), the
 * weakest of the four.
 */
async function arrangeHedged() {
  await setPositions([
    { symbol: "ETHUSDT", amt: 1, pnl: 5 },
    { symbol: "XRPUSDT", amt: 3, pnl: 3 },
    { symbol: "ADAUSDT", amt: 4, pnl: 8 },
  ]);
  const rows = (await sim("GET", "/__sim/positions")) as Record<string, unknown>[];
  const at = Date.now() - 2 * HOUR;
  await sim("PUT", "/__sim/positions", [
    ...rows.map(({ symbol, positionAmt, entryPrice, markPrice, updateTime }) => ({
      symbol,
      positionAmt,
      entryPrice,
      markPrice,
      updateTime,
    })),
    {
      symbol: "SOLUSDT",
      positionSide: "LONG",
      positionAmt: "0.1",
      entryPrice: "100",
      markPrice: "80",
      updateTime: at,
    },
    {
      symbol: "SOLUSDT",
      positionSide: "SHORT",
      positionAmt: "-0.2",
      entryPrice: "100",
      markPrice: "120",
      updateTime: at,
    },
  ]);
}

describe("hedge-mode rotation: one close leg per side, on the step size", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await sim("PUT", "/__sim/exchange-info", { step_sizes: { SOLUSDT: "0.01" } });
  });

  it("closes both legs, is confirmed, and grants the entry", async () => {
    await sim("PUT", "/__sim/apply", { auto: true, delay_ms: 50 });
    await arrangeHedged();
    const seen = (await simRequests()).count;

    const first = await postPlan({ plan_id: "hedgeplan-1", symbol: "BTCUSDT", score: 2 });
    expect(first.body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_waiting_rotation_close",
      rotation: { close_symbol: "SOLUSDT" },
    });
    const [closePlan] = await streamEntries(keys.applyPlanStream);
    expect(closePlan).toMatchObject({
      plan_id: "rot_hedgepla_SOLUSDT",
      symbol: "SOLUSDT",
      action: "FULL_CLOSE_PROPOSED",
      reduceOnly: "true",
      side: "SELL",
      position_side: "LONG",
      qty: "0.10",
      leg_count: "2",
    });
    expect(JSON.parse(closePlan!.legs!)).toEqual([
      { position_side: "LONG", side: "SELL", qty: "0.10" },
      { position_side: "SHORT", side: "BUY", qty: "0.20" },
    ]);
    // Step sizes came from one exchangeInfo call (weight 1).
    const info = (await simRequests(seen)).requests.filter(
      (r) => r.path === "/fapi/v1/exchangeInfo",
    );
    expect(info.map((r) => r.weight)).toEqual([1]);
    expect(await redis.hget(keys.stepSizes, "SOLUSDT")).toBe("0.01");

    // The Apply Layer simulator sends each leg as its own reduce-only order and confirms once.
    await waitFor(async () => (await streamEntries(keys.applyResultStream)).length > 0);
    const positions = (await sim("GET", "/__sim/positions")) as Record<string, string>[];
    expect(
      positions.filter((p) => p.symbol === "SOLUSDT").map((p) => [p.positionSide, p.positionAmt]),
    ).toEqual([
      ["LONG", "0"],
      ["SHORT", "0"],
    ]);

    const again = await postPlan({ plan_id: "hedgeplan-1", symbol: "BTCUSDT", score: 2 });
    expect(again.body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_rotation_complete",
      rotation: { close_symbol: "SOLUSDT" },
    });
  });

  it("does not start the rotation when the step size is unknown (exchangeInfo unavailable)", async () => {
    await sim("PUT", "/__sim/apply", { auto: false });
    await arrangeHedged();
    await sim("PUT", "/__sim/faults", { path: "/fapi/v1/exchangeInfo", status: 503 });
    const { body } = await postPlan({ plan_id: "hedgeplan-2", symbol: "BTCUSDT", score: 2 });
    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_positions_unavailable",
      details: { error: "step_size_unknown", victim: "SOLUSDT" },
    });
    expect(await streamEntries(keys.applyPlanStream)).toEqual([]);
    expect(await redis.get(keys.rotationLock("hedgeplan-2"))).toBeNull();
  });

  it("reads the cached step sizes on the next rotation: no second exchangeInfo call", async () => {
    await sim("PUT", "/__sim/apply", { auto: false });
    await arrangeHedged();
    await postPlan({ plan_id: "hedgeplan-3", symbol: "BTCUSDT", score: 2 });
    const seen = (await simRequests()).count;
    await postPlan({ plan_id: "otherplan-4", symbol: "ETHUSDT", score: 0.1 });
    await postPlan({ plan_id: "hedgeplan-5", symbol: "BTCUSDT", score: 9 });
    const paths = (await simRequests(seen)).requests.map((r) => r.path);
    expect(paths).not.toContain("/fapi/v1/exchangeInfo");
  });

  it("starts a rotation with legs when a reservation, not a position, fills the last slot", async () => {
    await sim("PUT", "/__sim/apply", { auto: false });
    await setPositions([
      { symbol: "ETHUSDT", amt: 1, pnl: 5 },
      { symbol: "SOLUSDT", amt: 2, pnl: -16 },
      { symbol: "XRPUSDT", amt: 3, pnl: 3 },
    ]);
    await setRegime("ADAUSDT", "BASE");
    const allowed = await postPlan({ plan_id: "reserve-ada", symbol: "ADAUSDT", score: 1 });
    expect(allowed.body).toMatchObject({ decision: "ALLOW", reason: "active_slots_slot_free" }); // ADAUSDT reserved, its position not yet visible
    const { body } = await postPlan({ plan_id: "rotate-btc", symbol: "BTCUSDT", score: 2 });
    expect(body).toMatchObject({
      reason: "active_slots_waiting_rotation_close",
      rotation: { close_symbol: "SOLUSDT" },
    });
    const [closePlan] = await streamEntries(keys.applyPlanStream);
    expect(closePlan).toMatchObject({ symbol: "SOLUSDT", side: "SELL", qty: "2.00" });
  });

  it("status says where each position's age comes from", async () => {
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
    await postPlan({ plan_id: "age-1", symbol: "BTCUSDT" });
    await setPositions([
      { symbol: "ETHUSDT", amt: 1 },
      { symbol: "BTCUSDT", amt: 1 },
    ]);
    const { body } = await getJson("/v1/status");
    const sources = Object.fromEntries(
      (body.positions as { symbol: string; age_source: string }[]).map((p) => [
        p.symbol,
        p.age_source,
      ]),
    );
    expect(sources).toEqual({ BTCUSDT: "entry_record", ETHUSDT: "update_time" });
  });
});
