import { beforeEach, describe, expect, it } from "vitest";
import {
  bridge,
  keys,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
} from "./helpers.ts";

interface RequestLog {
  count: number;
  total_weight: number;
  requests: { path: string; weight: number }[];
}

describe("hot-path request budget", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("an ALLOW with the regime cached and slots free costs 2 Redis requests and 1 Binance call", async () => {
    await postPlan({ plan_id: "warm-1", symbol: "BTCUSDT" }); // warms the regime cache, loads scripts
    await bridge("POST", "reset");
    const before = (await sim("GET", "/__sim/requests")) as RequestLog;

    const { body } = await postPlan({ plan_id: "hot-1", symbol: "BTCUSDT" });

    expect(body.decision).toBe("ALLOW");
    const redisRequests = (await bridge("GET", "stats")).requests;
    const after = (await sim("GET", "/__sim/requests")) as RequestLog;
    const binanceCalls = after.requests.slice(before.count);
    expect(redisRequests).toBe(2);
    expect(binanceCalls.map((r) => r.path)).toEqual(["/fapi/v3/account"]);
    console.log(
      `budget: redis_requests=${redisRequests} binance_calls=${binanceCalls.length} binance_weight=${after.total_weight - before.total_weight}`,
    );
  });

  it("a rotation start with the step sizes cached costs 2 Redis requests and 1 Binance call", async () => {
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT"]);
    await setRegime("DOGEUSDT", "BASE");
    await setPositions(
      ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"].map((symbol, i) => ({
        symbol,
        amt: 1,
        pnl: -i,
      })),
    );
    // Full: the first rotation start fetches exchangeInfo and caches every step size.
    const first = await postPlan({ plan_id: "rot-warm", symbol: "BTCUSDT", score: 3 });
    expect(first.body.reason).toBe("active_slots_waiting_rotation_close");
    // DOGEUSDT's regime cached by a candidate without a score (too weak to rotate).
    const weak = await postPlan({ plan_id: "rot-weak", symbol: "DOGEUSDT" });
    expect(weak.body.reason).toBe("active_slots_rotation_below_threshold");
    await bridge("POST", "reset");
    const before = (await sim("GET", "/__sim/requests")) as RequestLog;

    // Another symbol, another victim: the state read brings the cached step sizes along.
    const { body } = await postPlan({ plan_id: "rot-hot", symbol: "DOGEUSDT", score: 3 });

    expect(body.reason).toBe("active_slots_waiting_rotation_close");
    expect((await bridge("GET", "stats")).requests).toBe(2);
    const after = (await sim("GET", "/__sim/requests")) as RequestLog;
    expect(after.requests.slice(before.count).map((r) => r.path)).toEqual(["/fapi/v3/account"]);
  });

  it("the drawdown breaker and the alert bookkeeping add no request: still 2 Redis requests and 1 Binance call", async () => {
    const breaker = {
      GOV_MAX_DRAWDOWN_PCT: "0.2",
      GOV_ALERT_WEBHOOK_URL: "http://127.0.0.1:9/hook",
    };
    await postPlan({ plan_id: "warm-2", symbol: "BTCUSDT" }, breaker);
    await bridge("POST", "reset");
    const before = (await sim("GET", "/__sim/requests")) as RequestLog;

    const { body } = await postPlan({ plan_id: "hot-2", symbol: "BTCUSDT" }, breaker);

    expect(body.decision).toBe("ALLOW");
    expect((await bridge("GET", "stats")).requests).toBe(2);
    const after = (await sim("GET", "/__sim/requests")) as RequestLog;
    expect(after.requests.slice(before.count).map((r) => r.path)).toEqual(["/fapi/v3/account"]);
    // The balance was recorded for the breaker within those two requests.
    expect(await redis.hlen(keys.balancePeaks)).toBe(1);
  });
});
