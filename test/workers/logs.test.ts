import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { postPlan, resetWorld, setPositions, setRegime, setUniverse, sim } from "./helpers.ts";

function logLines(spy: { mock: { calls: unknown[][] } }, msg: string) {
  return spy.mock.calls
    .map((call) => String(call[0]))
    .filter((line) => line.includes(`"msg":"${msg}"`))
    .map((line) => JSON.parse(line));
}

describe("structured decision logs", () => {
  const log = vi.spyOn(console, "log");
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await sim("PUT", "/__sim/apply", { auto: false });
    await setPositions([
      { symbol: "ETHUSDT", amt: 1, pnl: 1 },
      { symbol: "SOLUSDT", amt: 1, pnl: -7 },
      { symbol: "XRPUSDT", amt: 1, pnl: 2 },
      { symbol: "ADAUSDT", amt: 1, pnl: 3 },
    ]);
    log.mockClear();
  });
  afterEach(() => log.mockClear());

  it("logs one JSON line per decision with regime, slots, the weakest position and the lock", async () => {
    await postPlan({ plan_id: "log-1", symbol: "BTCUSDT", score: 5 }, {});
    const [line] = logLines(log, "governor.decision");
    expect(line).toMatchObject({
      plan_id: "log-1",
      symbol: "BTCUSDT",
      decision: "BLOCK",
      reason: "active_slots_waiting_rotation_close",
      regime: "BASE",
      slots_used: 4,
      slots_desired: 4,
      weakest: { symbol: "SOLUSDT" },
      lock: "created",
      close_symbol: "SOLUSDT",
    });
    expect(line.trend).toEqual(expect.any(Number));
    expect(line.atr_pct).toEqual(expect.any(Number));
    expect(line.weakest.pnl_pct).toBeCloseTo(-0.07, 6);
    expect(line.latency_ms).toEqual(expect.any(Number));
  });

  it("never writes a secret into a log line", async () => {
    await postPlan({ plan_id: "log-2", symbol: "BTCUSDT", score: 5 }, {});
    const { env } = await import("cloudflare:test");
    const all = log.mock.calls.map((c) => String(c[0])).join("\n");
    for (const secret of [
      env.BINANCE_API_SECRET,
      env.GOV_WEBHOOK_SECRET,
      env.UPSTASH_REDIS_REST_TOKEN,
    ]) {
      expect(all).not.toContain(secret!);
    }
  });
});
