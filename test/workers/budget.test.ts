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
