import { beforeEach, describe, expect, it } from "vitest";
import {
  events,
  keys,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  streamEntries,
} from "./helpers.ts";

const HOUR = 3_600_000;
/** Four slots whatever regime the crafted series falls in. */
const FOUR_SLOTS = {
  GOV_ACTIVE_SLOTS_BASE: "4",
  GOV_ACTIVE_SLOTS_TREND_STRONG: "4",
  GOV_ACTIVE_SLOTS_CHOP: "4",
};

/** Deterministic pseudo-random numbers in [-0.5, 0.5) (a small LCG). */
function noise(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1664525 + 1013904223) % 2 ** 32;
    return state / 2 ** 32 - 0.5;
  };
}

/** Hourly Binance kline rows from log returns, the last one still open, ending `endHoursAgo` before now. */
function rowsFrom(returns: number[], endHoursAgo = 0) {
  const currentOpen = Math.floor(Date.now() / HOUR) * HOUR - endHoursAgo * HOUR;
  let close = 100;
  const closes = [close, ...returns.map((r) => (close = close * Math.exp(r)))];
  return closes.map((c, i) => {
    const openTime = currentOpen - (closes.length - 1 - i) * HOUR;
    const open = i === 0 ? c : closes[i - 1]!;
    const high = Math.max(open, c) * 1.004;
    const low = Math.min(open, c) * 0.996;
    return [
      openTime,
      String(open),
      String(high),
      String(low),
      String(c),
      "1000",
      openTime + HOUR - 1,
    ];
  });
}

/** Textbook Pearson r, computed independently of lib/: Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² Σ(y−ȳ)²). */
function textbookPearson(x: number[], y: number[]) {
  const mx = x.reduce((a, b) => a + b, 0) / x.length;
  const my = y.reduce((a, b) => a + b, 0) / y.length;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Two return series whose correlation is about `target`; the candle before the open one closes last. */
function correlatedReturns(mix: number, n = 99) {
  const a = noise(7);
  const b = noise(11);
  const x = Array.from({ length: n }, () => a() * 0.02);
  const y = x.map((v) => mix * v + (1 - mix) * b() * 0.02);
  return { x, y };
}

/** The correlation the governor should see: closed candles only (the last row is still open). */
function expectedR(x: number[], y: number[]) {
  // rowsFrom turns n returns into n+1 closes; the last close belongs to the open candle.
  return textbookPearson(x.slice(0, -1), y.slice(0, -1));
}

describe("correlation gate", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]);
  });

  async function arrange(mix: number, positionAmt = 1) {
    const { x, y } = correlatedReturns(mix);
    await sim("PUT", "/__sim/klines/BTCUSDT", { rows: rowsFrom(x) });
    await sim("PUT", "/__sim/klines/ETHUSDT", { rows: rowsFrom(y) });
    await setPositions([{ symbol: "ETHUSDT", amt: positionAmt, entry: 100 }]);
    return expectedR(x, y);
  }

  it("blocks when the correlation is above GOV_MAX_CORRELATION, naming the symbol and value", async () => {
    const r = await arrange(0.9);
    expect(r).toBeGreaterThan(0.8);
    const { body } = await postPlan({ plan_id: "corr-high", symbol: "BTCUSDT", side: "LONG" });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_correlation_limit" });
    expect(body.details.symbol).toBe("ETHUSDT");
    expect(body.details.value).toBeCloseTo(r, 9);
  });

  it("passes exactly at the threshold and blocks just above it", async () => {
    const r = await arrange(0.7);
    const atThreshold = await postPlan(
      { plan_id: "corr-eq", symbol: "BTCUSDT", side: "LONG" },
      { GOV_MAX_CORRELATION: String(r + 1e-12) },
    );
    expect(atThreshold.body.decision).toBe("ALLOW");
    const above = await postPlan(
      { plan_id: "corr-above", symbol: "BTCUSDT", side: "LONG" },
      { GOV_MAX_CORRELATION: String(r - 1e-9) },
    );
    expect(above.body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_correlation_limit",
    });
  });

  it("lets a long candidate in beside a short of a correlated coin (they hedge)", async () => {
    const r = await arrange(0.9, -1);
    expect(r).toBeGreaterThan(0.8);
    const { body } = await postPlan({ plan_id: "corr-hedge", symbol: "BTCUSDT", side: "LONG" });
    expect(body.decision).toBe("ALLOW");
  });

  it("blocks active_slots_correlation_unavailable with fewer than 30 common returns", async () => {
    const { x, y } = correlatedReturns(0.1);
    await sim("PUT", "/__sim/klines/BTCUSDT", { rows: rowsFrom(x) });
    await sim("PUT", "/__sim/klines/ETHUSDT", { rows: rowsFrom(y, 75) }); // overlaps ~24 candles
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
    const { body } = await postPlan({ plan_id: "corr-few", symbol: "BTCUSDT", side: "LONG" });
    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_correlation_unavailable",
    });
    expect(body.details.samples).toBeLessThan(30);
  });

  it("excludes the position a rotation would close", async () => {
    const { x, y } = correlatedReturns(0.95);
    await sim("PUT", "/__sim/klines/BTCUSDT", { rows: rowsFrom(x) });
    await sim("PUT", "/__sim/klines/ETHUSDT", { rows: rowsFrom(y) });
    await sim("PUT", "/__sim/apply", { auto: false });
    // ETHUSDT is both the correlated one and the weakest: rotating it out clears the conflict.
    await setPositions([
      { symbol: "ETHUSDT", amt: 1, pnl: -10 },
      { symbol: "SOLUSDT", amt: 1, pnl: 1 },
      { symbol: "XRPUSDT", amt: 1, pnl: 2 },
      { symbol: "ADAUSDT", amt: 1, pnl: 3 },
    ]);
    const { body } = await postPlan(
      { plan_id: "corr-rot", symbol: "BTCUSDT", side: "LONG", score: 5 },
      FOUR_SLOTS,
    );
    expect(body).toMatchObject({
      reason: "active_slots_waiting_rotation_close",
      rotation: { close_symbol: "ETHUSDT" },
    });
  });

  it("blocks when the correlated position is not the one the rotation would close", async () => {
    const { x, y } = correlatedReturns(0.95);
    await sim("PUT", "/__sim/klines/BTCUSDT", { rows: rowsFrom(x) });
    await sim("PUT", "/__sim/klines/ETHUSDT", { rows: rowsFrom(y) });
    await setPositions([
      { symbol: "ETHUSDT", amt: 1, pnl: 5 },
      { symbol: "SOLUSDT", amt: 1, pnl: -10 },
      { symbol: "XRPUSDT", amt: 1, pnl: 2 },
      { symbol: "ADAUSDT", amt: 1, pnl: 3 },
    ]);
    const { body } = await postPlan(
      { plan_id: "corr-other", symbol: "BTCUSDT", side: "LONG", score: 5 },
      FOUR_SLOTS,
    );
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_correlation_limit" });
    expect(await streamEntries(keys.applyPlanStream)).toHaveLength(0);
  });

  it("adds no Binance weight beyond the account call once caches are warm", async () => {
    await arrange(0.1);
    await postPlan({ plan_id: "warm-a", symbol: "BTCUSDT", side: "LONG" });
    const before = (await sim("GET", "/__sim/requests")) as { count: number; total_weight: number };
    const { body } = await postPlan({ plan_id: "warm-b", symbol: "BTCUSDT", side: "LONG" });
    const after = (await sim("GET", "/__sim/requests")) as {
      total_weight: number;
      requests: { path: string }[];
    };
    expect(body.decision).toBe("ALLOW");
    expect(after.requests.slice(before.count).map((r) => r.path)).toEqual(["/fapi/v3/account"]);
    expect(after.total_weight - before.total_weight).toBe(5);
  });
});

describe("margin gate", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await sim("PUT", "/__sim/account", { totalInitialMargin: "6000", totalMarginBalance: "10000" });
  });

  it("passes under the cap without a plan notional (0.60 <= 0.65)", async () => {
    const { body } = await postPlan({ plan_id: "m-under", symbol: "BTCUSDT" });
    expect(body.decision).toBe("ALLOW");
  });

  it("projects notional / leverage: exactly at the cap passes", async () => {
    const { body } = await postPlan({
      plan_id: "m-at",
      symbol: "BTCUSDT",
      notional: 5000,
      leverage: 10,
    });
    expect(body.decision).toBe("ALLOW"); // (6000 + 500) / 10000 = 0.65
  });

  it("blocks active_slots_margin_cap above the cap", async () => {
    const { body } = await postPlan({
      plan_id: "m-over",
      symbol: "BTCUSDT",
      notional: 5100,
      leverage: 10,
    });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_margin_cap" });
    expect(body.details.usage).toBeCloseTo(0.651, 9);
  });

  it("counts a notional without leverage at leverage 1", async () => {
    const { body } = await postPlan({ plan_id: "m-nolev", symbol: "BTCUSDT", notional: 600 });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_margin_cap" });
  });

  it("blocks active_slots_margin_unavailable when the margin balance is not positive", async () => {
    await sim("PUT", "/__sim/account", { totalMarginBalance: "0" });
    const { body } = await postPlan({ plan_id: "m-none", symbol: "BTCUSDT" });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_margin_unavailable" });
  });

  it("blocks over the cap even with no plan notional", async () => {
    await sim("PUT", "/__sim/account", { totalInitialMargin: "7000" });
    const { body } = await postPlan({ plan_id: "m-full", symbol: "BTCUSDT" });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_margin_cap" });
  });
});

describe("shadow mode", () => {
  const FULL = ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"];
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", ...FULL]);
    await setRegime("BTCUSDT", "BASE");
    await setPositions(FULL.map((symbol, i) => ({ symbol, amt: 1, pnl: -i })));
  });

  it("grants the entry, emits no close plan, and records the would-be decision marked shadow", async () => {
    const { body } = await postPlan(
      { plan_id: "shadow-rot", symbol: "BTCUSDT", score: 5 },
      { GOV_MODE: "shadow" },
    );
    expect(body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_shadow_mode",
      shadow: true,
      details: { would_be: { decision: "BLOCK", reason: "active_slots_waiting_rotation_close" } },
    });
    expect(await redis.get(keys.permit("shadow-rot"))).not.toBeNull();
    expect(await streamEntries(keys.applyPlanStream)).toHaveLength(0);
    expect(await redis.get(keys.rotationLock("shadow-rot"))).toBeNull();
    const [blocked] = await events("PLAN_BLOCKED");
    expect(blocked).toMatchObject({
      plan_id: "shadow-rot",
      reason: "active_slots_waiting_rotation_close",
      shadow: "true",
    });
    expect(JSON.parse((await redis.get(keys.block("shadow-rot"))) as string)).toMatchObject({
      shadow: true,
    });
  });

  it("grants the entry even when a dependency is down, recording the would-be block", async () => {
    await sim("PUT", "/__sim/faults", { path: "/fapi/v3/account", status: 500 });
    const { body } = await postPlan(
      { plan_id: "shadow-down", symbol: "BTCUSDT" },
      { GOV_MODE: "shadow" },
    );
    expect(body).toMatchObject({
      decision: "ALLOW",
      details: { would_be: { reason: "active_slots_positions_unavailable" } },
    });
  });
});

describe("rotation churn budget", () => {
  const HELD = ["S1USDT", "S2USDT", "S3USDT", "S4USDT", "S5USDT", "S6USDT", "S7USDT"];
  const CANDIDATES = [
    "C1USDT",
    "C2USDT",
    "C3USDT",
    "C4USDT",
    "C5USDT",
    "C6USDT",
    "C7USDT",
    "C8USDT",
  ];
  const vars = { GOV_ACTIVE_SLOTS_BASE: "7" };

  beforeEach(async () => {
    await resetWorld();
    await setUniverse([...HELD, ...CANDIDATES]);
    await sim("PUT", "/__sim/apply", { auto: false });
    for (const symbol of CANDIDATES) await setRegime(symbol, "BASE");
    await setPositions(HELD.map((symbol, i) => ({ symbol, amt: 1, pnl: -i })));
  });

  it("blocks the 7th rotation within an hour, and rotates again once the hour has passed", async () => {
    for (let i = 0; i < 6; i++) {
      const { body } = await postPlan(
        { plan_id: `churn-${i}`, symbol: CANDIDATES[i]!, score: 5 },
        vars,
      );
      expect(body.reason).toBe("active_slots_waiting_rotation_close");
    }
    const seventh = await postPlan({ plan_id: "churn-6", symbol: CANDIDATES[6]!, score: 5 }, vars);
    expect(seventh.body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_rotation_budget",
    });
    expect(await streamEntries(keys.applyPlanStream)).toHaveLength(6);

    // An hour later: age the recorded rotations past the window.
    const log = (await redis.zrange(keys.rotationLog, 0, -1)) as string[];
    for (const member of log)
      await redis.zadd(keys.rotationLog, { score: Date.now() - 3_601_000, member });
    const later = await postPlan({ plan_id: "churn-7", symbol: CANDIDATES[7]!, score: 5 }, vars);
    expect(later.body.reason).toBe("active_slots_waiting_rotation_close");
  });
});
