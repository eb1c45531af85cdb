/**
 * The queue's share of Binance weight: entries the minute's budget cannot cover
 * are retried at the next minute, without calling Binance; closes and ignored
 * plans cost nothing and pass.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { QUEUE_WEIGHT_PER_MINUTE, WEIGHT_PER_EVALUATION } from "../../lib/queue/weight-budget.ts";
import {
  deliverBatch as deliver,
  keys,
  positionRequests,
  queuedPlan as plan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  simRequests,
} from "./helpers.ts";

/** Spend `weight` of this minute's (and, should the minute turn mid-test, the next's) budget. */
async function spend(weight: number) {
  const minute = Math.floor(Date.now() / 60_000);
  for (const m of [minute, minute + 1]) await redis.set(keys.queueWeight(m), String(weight));
}

describe("the queue's Binance weight budget", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setRegime("SOLUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("evaluates what fits and defers the rest to the next minute, without calling Binance for it", async () => {
    await spend(QUEUE_WEIGHT_PER_MINUTE - WEIGHT_PER_EVALUATION);
    const before = (await simRequests()).count;

    const { result, delays } = await deliver([
      plan("budget-1"),
      plan("budget-2", { symbol: "SOLUSDT" }),
    ]);

    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([{ msgId: "msg-1" }]);
    expect(delays[1]).toBeGreaterThanOrEqual(1);
    expect(delays[1]).toBeLessThanOrEqual(60);
    expect(positionRequests((await simRequests(before)).requests)).toHaveLength(1);
    expect(await redis.get(keys.permit("budget-1"))).not.toBeNull();
    expect(await redis.get(keys.permit("budget-2"))).toBeNull();
    expect(await redis.get(keys.block("budget-2"))).toBeNull();
    expect(JSON.parse((await redis.get(keys.queueRetry("budget-2"))) as string)).toMatchObject({
      reason: "weight_budget",
      attempts: 1,
    });
  });

  it("with the budget spent, closes and ignored plans still pass; entries wait", async () => {
    await spend(QUEUE_WEIGHT_PER_MINUTE);
    const { result } = await deliver([
      plan("spent-entry"),
      plan("spent-close", { action: "FULL_CLOSE_PROPOSED", symbol: "ETHUSDT" }),
      plan("spent-hold", { decision: "HOLD" }),
    ]);
    expect(result.explicitAcks.sort()).toEqual(["msg-1", "msg-2"]);
    expect(result.retryMessages).toEqual([{ msgId: "msg-0" }]);
    expect(await redis.get(keys.permit("spent-close"))).not.toBeNull();
  });

  it("charges the minute's counter per entry evaluated, and lets it expire", async () => {
    await deliver([plan("charge-1"), plan("charge-2", { symbol: "SOLUSDT" })]);
    const minute = Math.floor(Date.now() / 60_000);
    const charged =
      Number(await redis.get(keys.queueWeight(minute))) +
      Number(await redis.get(keys.queueWeight(minute - 1)));
    expect(charged).toBe(2 * WEIGHT_PER_EVALUATION);
    const ttl = Math.max(
      await redis.ttl(keys.queueWeight(minute)),
      await redis.ttl(keys.queueWeight(minute - 1)),
    );
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(120);
  });
});
