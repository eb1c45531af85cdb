/**
 * Cron triggers are delivered at least once. The first delivery of a scheduled
 * time sweeps; a duplicate finds the guard `P:governor:sweep:{scheduledTime}`
 * and returns before any Binance call. A sweep that fails drops its guard, so a
 * redelivery can still run it.
 */
import { createScheduledController, env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index.ts";
import { forwardScheduledSweep, SWEEP_GUARD_TTL_S } from "../../lib/sweep/scheduled.ts";
import { keys, redis, resetWorld, seedWaitingLock, simRequests } from "./helpers.ts";

function deliver(scheduledTime: number) {
  return forwardScheduledSweep(
    createScheduledController({ scheduledTime, cron: "* * * * *" }),
    env,
  ) as Promise<{ duplicate: boolean; report?: { locks_checked: number } }>;
}

describe("cron duplicates", () => {
  beforeEach(async () => {
    await resetWorld();
    // One waiting rotation lock: the sweep then reads positions.
    await seedWaitingLock(redis, {
      planId: "guard-lock",
      newSymbol: "BTCUSDT",
      closeSymbol: "ETHUSDT",
      createdAt: Math.floor(Date.now() / 1000),
    });
  });

  it("the first delivery sweeps and leaves a short-lived guard keyed on the scheduled time", async () => {
    const scheduledTime = Date.now();
    const before = (await simRequests()).count;
    const first = await deliver(scheduledTime);
    expect(first).toMatchObject({ duplicate: false, report: { locks_checked: 1 } });
    expect((await simRequests(before)).requests.map((r) => r.path)).toEqual(["/fapi/v3/account"]);
    const ttl = await redis.ttl(keys.sweepGuard(scheduledTime));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(SWEEP_GUARD_TTL_S);
  });

  it("a duplicate delivery of the same scheduled time returns early without touching Binance", async () => {
    const scheduledTime = Date.now();
    await deliver(scheduledTime);
    const before = (await simRequests()).count;
    const lock = await redis.get(keys.rotationLock("guard-lock"));

    const duplicate = await deliver(scheduledTime);

    expect(duplicate).toMatchObject({ duplicate: true });
    expect((await simRequests(before)).requests).toEqual([]);
    expect(await redis.get(keys.rotationLock("guard-lock"))).toBe(lock);
  });

  it("through the cron handler too: the second of two identical deliveries calls Binance nothing", async () => {
    const controller = createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" });
    await worker.scheduled(controller, env);
    const before = (await simRequests()).count;
    await worker.scheduled(controller, env);
    expect((await simRequests(before)).requests).toEqual([]);
  });

  it("another scheduled time sweeps again", async () => {
    // Both instants are recent: the sweep signs its Binance call at the scheduled time.
    const scheduledTime = Date.now() - 2000;
    await deliver(scheduledTime);
    const before = (await simRequests()).count;
    expect(await deliver(scheduledTime + 2000)).toMatchObject({ duplicate: false });
    expect((await simRequests(before)).requests.map((r) => r.path)).toEqual(["/fapi/v3/account"]);
  });

  it("a failed sweep drops its guard, so a redelivery of that scheduled time runs", async () => {
    const scheduledTime = Date.now();
    // A lock index that is not a sorted set makes the sweep script fail.
    await redis.del(keys.lockIndex);
    await redis.set(keys.lockIndex, "not-a-zset");
    await expect(deliver(scheduledTime)).rejects.toThrow(/__internal\/sweep answered HTTP 5/);
    expect(await redis.exists(keys.sweepGuard(scheduledTime))).toBe(0);

    await redis.del(keys.lockIndex);
    expect(await deliver(scheduledTime)).toMatchObject({ duplicate: false });
    expect(await redis.exists(keys.sweepGuard(scheduledTime))).toBe(1);
  });
});
