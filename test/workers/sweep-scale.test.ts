import { createScheduledController, env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index.ts";
import { SWEEP_BATCH } from "../../lib/sweep/sweep.ts";
import { bridge, keys, redis, resetWorld, seedWaitingLock } from "./helpers.ts";

/** Index `n` waiting locks directly in Redis, as the evaluation path leaves them. */
async function seedLocks(n: number, createdAt: number) {
  for (let start = 0; start < n; start += 500) {
    const pipeline = redis.pipeline();
    for (let i = start; i < Math.min(n, start + 500); i++) {
      const lock = {
        planId: `bulk-${i}`,
        newSymbol: `N${i}USDT`,
        closeSymbol: `S${i}USDT`,
        createdAt,
      };
      void seedWaitingLock(pipeline, lock, createdAt * 1000 + i);
    }
    await pipeline.exec();
  }
}

describe("sweep cost", () => {
  beforeEach(resetWorld);

  it("checks 1,000 locks in a number of Redis requests that grows with N / batch", async () => {
    const now = Math.floor(Date.now() / 1000);
    await seedLocks(1000, now);
    await bridge("POST", "reset");
    const started = Date.now();

    await worker.scheduled(
      createScheduledController({ scheduledTime: now * 1000, cron: "* * * * *" }),
      env,
    );

    const requests = (await bridge("GET", "stats")).requests;
    console.log(`sweep: locks=1000 redis_requests=${requests} duration_ms=${Date.now() - started}`);
    // 1 duplicate-delivery guard, 1 catch-up call; per batch of locks one read and
    // one resolution, plus a final empty read; the gates' inputs once (shared
    // Binance state, policy); + NOSCRIPT reloads of the 3 scripts.
    expect(requests).toBeLessThanOrEqual(1 + 2 * Math.ceil(1000 / SWEEP_BATCH) + 1 + 1 + 2 + 3);
    expect(await redis.zcard(keys.lockIndex)).toBe(1000);
  });
});
