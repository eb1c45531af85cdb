import { createScheduledController, env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index.ts";
import { toHash } from "../../lib/redis/replies.ts";
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
} from "./helpers.ts";

const HELD = ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"];
const CANDIDATES = ["BTCUSDT", "BNBUSDT", "DOGEUSDT", "LTCUSDT"];

async function sweepAt(scheduledTime: number) {
  const controller = createScheduledController({ scheduledTime, cron: "* * * * *" });
  await worker.scheduled(controller, env);
}

async function lockOf(planId: string) {
  const raw = await redis.get(keys.rotationLock(planId));
  return raw ? (JSON.parse(raw as string) as { created_at: number; close_plan_id: string }) : null;
}

/** Play the Apply Layer: close the position on the exchange (when executed) and confirm. */
async function confirm(closePlanId: string, executed = "true") {
  const symbol = closePlanId.split("_").at(-1)!;
  if (executed === "true") {
    const rows = (await sim("GET", "/__sim/positions")) as { symbol: string }[];
    await sim(
      "PUT",
      "/__sim/positions",
      rows.filter((row) => row.symbol !== symbol),
    );
  }
  await redis.xadd(keys.applyResultStream, "*", {
    plan_id: closePlanId,
    executed,
    reduceOnly: "true",
    symbol,
  });
}

describe("the rotation sweep (cron)", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse([...HELD, ...CANDIDATES]);
    await sim("PUT", "/__sim/apply", { auto: false });
    for (const symbol of CANDIDATES) await setRegime(symbol, "BASE");
    await setPositions(HELD.map((symbol, i) => ({ symbol, amt: 1, pnl: -i })));
  });

  it("completes a confirmed rotation without resubmission: permit, ROTATION_COMPLETE, PLAN_ALLOWED", async () => {
    await postPlan({ plan_id: "sweep-ok", symbol: "BTCUSDT", score: 3 });
    const lock = (await lockOf("sweep-ok"))!;
    await confirm(lock.close_plan_id);

    await sweepAt(Date.now());

    expect(await redis.get(keys.permit("sweep-ok"))).not.toBeNull();
    expect(await lockOf("sweep-ok")).toBeNull();
    expect((await events("ROTATION_COMPLETE")).map((e) => e.new_plan_id)).toEqual(["sweep-ok"]);
    expect((await events("PLAN_ALLOWED")).map((e) => e.plan_id)).toEqual(["sweep-ok"]);
    expect(Object.keys(toHash(await redis.hgetall(keys.reservations)))).toEqual(["BTCUSDT"]);
    expect(toHash(await redis.hgetall(keys.claims))).toEqual({});
    const replay = await postPlan({ plan_id: "sweep-ok", symbol: "BTCUSDT", score: 3 });
    expect(replay.body).toMatchObject({ decision: "ALLOW", replayed: true });
  });

  it("times a lock out at TTL + 1 s, not before, with lock_age and a final BLOCK", async () => {
    await postPlan({ plan_id: "sweep-late", symbol: "BTCUSDT", score: 3 });
    const { created_at } = (await lockOf("sweep-late"))!;

    await sweepAt((created_at + 120) * 1000 + 999);
    expect(await lockOf("sweep-late")).not.toBeNull();
    expect(await events("ROTATION_TIMEOUT")).toHaveLength(0);

    await sweepAt((created_at + 121) * 1000);
    expect(await lockOf("sweep-late")).toBeNull();
    const [timeout] = await events("ROTATION_TIMEOUT");
    expect(timeout).toMatchObject({
      new_plan_id: "sweep-late",
      close_symbol: "ADAUSDT",
      lock_age: "121",
    });
    expect(toHash(await redis.hgetall(keys.claims))).toEqual({});
    expect(JSON.parse((await redis.get(keys.block("sweep-late"))) as string)).toMatchObject({
      reason: "active_slots_rotation_timeout",
    });
    const replay = await postPlan({ plan_id: "sweep-late", symbol: "BTCUSDT", score: 3 });
    expect(replay.body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_rotation_timeout",
      replayed: true,
    });
  });

  it("drops an orphaned index entry (lock key gone) and releases its claim", async () => {
    await postPlan({ plan_id: "sweep-orphan", symbol: "BTCUSDT", score: 3 });
    await redis.del(keys.rotationLock("sweep-orphan"));

    await sweepAt(Date.now());

    expect(await redis.zcard(keys.lockIndex)).toBe(0);
    expect(toHash(await redis.hgetall(keys.claims))).toEqual({});
    expect(toHash(await redis.hgetall(keys.closePlans))).toEqual({});
  });

  it("finds a confirmation buried under 5,000 later apply.result entries", async () => {
    await postPlan({ plan_id: "sweep-buried", symbol: "BTCUSDT", score: 3 });
    await confirm((await lockOf("sweep-buried"))!.close_plan_id);
    for (let batch = 0; batch < 10; batch++) {
      const pipeline = redis.pipeline();
      for (let i = 0; i < 500; i++) {
        pipeline.xadd(keys.applyResultStream, "*", {
          plan_id: `other-${batch}-${i}`,
          executed: "true",
          reduceOnly: "true",
        });
      }
      await pipeline.exec();
    }
    expect(await redis.xlen(keys.applyResultStream)).toBe(5001);

    await sweepAt(Date.now());

    expect(await redis.get(keys.permit("sweep-buried"))).not.toBeNull();
  });

  it("never counts an executed=false result", async () => {
    await postPlan({ plan_id: "sweep-failed", symbol: "BTCUSDT", score: 3 });
    await confirm((await lockOf("sweep-failed"))!.close_plan_id, "false");

    await sweepAt(Date.now());

    expect(await lockOf("sweep-failed")).not.toBeNull();
    expect(await redis.get(keys.permit("sweep-failed"))).toBeNull();
  });

  it("drops expired reservations", async () => {
    await redis.hset(keys.reservations, {
      OLDUSDT: JSON.stringify({ plan_id: "old", expires_at_ms: Date.now() - 1 }),
      NEWUSDT: JSON.stringify({ plan_id: "new", expires_at_ms: Date.now() + 60_000 }),
    });
    await sweepAt(Date.now());
    expect(Object.keys(toHash(await redis.hgetall(keys.reservations)))).toEqual(["NEWUSDT"]);
  });

  it("racing concurrent resubmissions, completes each rotation exactly once", async () => {
    await Promise.all(
      CANDIDATES.map((symbol, i) => postPlan({ plan_id: `race-${i}`, symbol, score: 3 })),
    );
    for (const [i] of CANDIDATES.entries())
      await confirm((await lockOf(`race-${i}`))!.close_plan_id);

    const resubmissions = CANDIDATES.flatMap((symbol, i) =>
      Array.from({ length: 3 }, () => postPlan({ plan_id: `race-${i}`, symbol, score: 3 })),
    );
    await Promise.all([sweepAt(Date.now()), ...resubmissions, sweepAt(Date.now())]);

    const completed = (await events("ROTATION_COMPLETE")).map((e) => e.new_plan_id).sort();
    expect(completed).toEqual(["race-0", "race-1", "race-2", "race-3"]);
    const allowed = (await events("PLAN_ALLOWED")).map((e) => e.plan_id).sort();
    expect(allowed).toEqual(["race-0", "race-1", "race-2", "race-3"]);
  });
});
