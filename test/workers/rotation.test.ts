import { beforeEach, describe, expect, it } from "vitest";
import {
  events,
  getJson,
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
import { waitUntil } from "../support/wait.ts";

const FULL = [
  { symbol: "ETHUSDT", amt: 1, pnl: 5 },
  { symbol: "SOLUSDT", amt: 2, pnl: -16 }, // weakest: -8% pnl
  { symbol: "XRPUSDT", amt: 3, pnl: 3 },
  { symbol: "ADAUSDT", amt: 4, pnl: 8 },
];

describe("rotation through the webhook", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setPositions(FULL);
  });

  it("closes the weakest position first and allows the entry only after the close is confirmed", async () => {
    await sim("PUT", "/__sim/apply", { auto: true, delay_ms: 100, executed: true });
    const first = await postPlan({ plan_id: "newplan-0001", symbol: "BTCUSDT", score: 2 });
    expect(first.body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_waiting_rotation_close",
      slots: { desired: 4, holders: 4 },
      rotation: { close_symbol: "SOLUSDT", close_plan_id: "rot_newplan-_SOLUSDT" },
    });
    const lock = JSON.parse((await redis.get(keys.rotationLock("newplan-0001"))) as string);
    expect(lock).toMatchObject({
      new_symbol: "BTCUSDT",
      new_plan_id: "newplan-0001",
      close_symbol: "SOLUSDT",
      close_plan_id: "rot_newplan-_SOLUSDT",
    });
    expect(typeof lock.created_at).toBe("number");
    expect(await redis.ttl(keys.rotationLock("newplan-0001"))).toBeGreaterThan(120);
    const [closePlan] = await streamEntries(keys.applyPlanStream);
    expect(closePlan).toMatchObject({
      plan_id: "rot_newplan-_SOLUSDT",
      symbol: "SOLUSDT",
      action: "FULL_CLOSE_PROPOSED",
      reduceOnly: "true",
      decision: "EXECUTE",
      rotation_trigger: "true",
      new_symbol: "BTCUSDT",
      new_plan_id: "newplan-0001",
      side: "SELL",
      qty: "2.000", // on the LOT_SIZE step (the simulator's default 0.001)
    });
    expect(await events("ROTATION_LOCK_CREATED")).toHaveLength(1);
    expect(await redis.get(keys.permit("newplan-0001"))).toBeNull();

    // The Apply Layer simulator closes SOLUSDT and confirms on apply.result.
    await waitUntil(
      async () => (await streamEntries(keys.applyResultStream)).length > 0,
      "the Apply Layer simulator's confirmation on apply.result",
    );
    const again = await postPlan({ plan_id: "newplan-0001", symbol: "BTCUSDT", score: 2 });
    expect(again.body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_rotation_complete",
      rotation: { close_symbol: "SOLUSDT" },
    });
    expect(await redis.get(keys.permit("newplan-0001"))).not.toBeNull();
    expect(await redis.get(keys.rotationLock("newplan-0001"))).toBeNull();
    expect(await events("ROTATION_COMPLETE")).toHaveLength(1);
    const state = await getJson("/v1/plans/newplan-0001");
    expect(state.body.permit).toMatchObject({ plan_id: "newplan-0001" });

    // Replays answer the same with no new side effects.
    const replay = await postPlan({ plan_id: "newplan-0001", symbol: "BTCUSDT", score: 2 });
    expect(replay.body).toMatchObject({ decision: "ALLOW", replayed: true });
    expect(await events("ROTATION_COMPLETE")).toHaveLength(1);
    expect(await streamEntries(keys.applyPlanStream)).toHaveLength(1);
  });

  it("keeps blocking while the close is unconfirmed, and an executed=false result never counts", async () => {
    await sim("PUT", "/__sim/apply", { auto: true, delay_ms: 0, executed: false });
    await postPlan({ plan_id: "waiting-1", symbol: "BTCUSDT", score: 2 });
    await waitUntil(
      async () => (await streamEntries(keys.applyResultStream)).length > 0,
      "the Apply Layer simulator's executed=false result on apply.result",
    );
    const again = await postPlan({ plan_id: "waiting-1", symbol: "BTCUSDT", score: 2 });
    expect(again.body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_waiting_rotation_close",
    });
    expect(await redis.get(keys.permit("waiting-1"))).toBeNull();
  });

  it("blocks a candidate below the rotation threshold", async () => {
    await redis.hset(keys.entries, {
      SOLUSDT: JSON.stringify({ plan_id: "old", score: 2, at: 1 }),
    });
    const { body } = await postPlan({ plan_id: "weak-1", symbol: "BTCUSDT", score: 2.2 });
    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_rotation_below_threshold",
    });
    expect(await streamEntries(keys.applyPlanStream)).toHaveLength(0);
  });

  it("blocks a candidate with no score", async () => {
    const { body } = await postPlan({ plan_id: "noscore-1", symbol: "BTCUSDT" });
    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_rotation_below_threshold",
    });
  });

  it("times out a rotation whose close is not confirmed within GOV_ROTATION_LOCK_TTL", async () => {
    await sim("PUT", "/__sim/apply", { auto: false });
    await postPlan({ plan_id: "slow-1", symbol: "BTCUSDT", score: 2 });
    const key = keys.rotationLock("slow-1");
    const lock = JSON.parse((await redis.get(key)) as string);
    // Arrange: the lock was created 121 s ago (the TTL is 120 s).
    await redis.set(key, JSON.stringify({ ...lock, created_at: lock.created_at - 121 }), {
      ex: 600,
    });

    const { body } = await postPlan({ plan_id: "slow-1", symbol: "BTCUSDT", score: 2 });

    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_rotation_timeout",
      rotation: { close_symbol: "SOLUSDT" },
    });
    expect(body.rotation.lock_age).toBeGreaterThanOrEqual(121);
    const [timeout] = await events("ROTATION_TIMEOUT");
    expect(timeout).toMatchObject({ new_plan_id: "slow-1", close_plan_id: "rot_slow-1_SOLUSDT" });
    expect(Number(timeout!.lock_age)).toBeGreaterThanOrEqual(121);
    expect(await redis.get(key)).toBeNull();
    expect(await redis.hlen(keys.claims)).toBe(0);
    expect(await redis.get(keys.permit("slow-1"))).toBeNull();
  });
});
