/**
 * The replay's reading of what the governor wrote, against a real redis-server:
 * entries are written here in the shapes docs/contract.md §8 and the README give them.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisServer, type RedisServerHandle } from "../../dev/redis-server.ts";
import { redisKeys } from "../../lib/keys.ts";
import { GovernorObserver } from "../../replay/observe.ts";

const keys = redisKeys("quantum");
const NOW = Date.UTC(2024, 2, 1, 12);
let server: RedisServerHandle;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url);
});

afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

const event = (fields: Record<string, string>) =>
  redis.xadd(keys.eventsStream, "*", ...Object.entries(fields).flat());
const applyPlan = (fields: Record<string, string>) =>
  redis.xadd(keys.applyPlanStream, "*", ...Object.entries(fields).flat());

describe("replay observer", () => {
  it("reads rotations, the sweep's decisions, close plans, cancellations and holders once each", async () => {
    await redis.flushall();
    const observer = new GovernorObserver(redis, keys);
    const rotation = {
      new_symbol: "SOLUSDT",
      new_plan_id: "p-9",
      close_symbol: "BTCUSDT",
      close_plan_id: "rot_p-9_BTCUSDT",
    };
    await event({ event: "ROTATION_LOCK_CREATED", ...rotation });
    await event({
      event: "PLAN_BLOCKED",
      plan_id: "p-9",
      symbol: "SOLUSDT",
      reason: "active_slots_waiting_rotation_close",
    });
    await applyPlan({
      plan_id: "rot_p-9_BTCUSDT",
      symbol: "BTCUSDT",
      action: "FULL_CLOSE_PROPOSED",
      reduceOnly: "true",
      rotation_trigger: "true",
    });
    await applyPlan({ plan_id: "x", symbol: "ETHUSDT", action: "OPEN", decision: "EXECUTE" });
    await redis.hset(
      keys.reservations,
      "ETHUSDT",
      JSON.stringify({ plan_id: "p-1", expires_at_ms: NOW + 1 }),
    );
    await redis.hset(
      keys.reservations,
      "XRPUSDT",
      JSON.stringify({ plan_id: "p-2", expires_at_ms: NOW }),
    );
    await redis.hset(keys.claims, "p-9", "BTCUSDT");
    await redis.zadd(keys.lockIndex, NOW, "p-9");

    const own = {
      plan_id: "p-9",
      symbol: "SOLUSDT",
      decision: "BLOCK" as const,
      reason: "active_slots_waiting_rotation_close",
    };
    const first = await observer.read(own, NOW);
    expect(first).toEqual({
      decisions: [own],
      rotations: [{ kind: "started", ...rotation }],
      closeOrders: [{ plan_id: "rot_p-9_BTCUSDT", symbol: "BTCUSDT" }],
      cancelledOrders: [],
      reserved: ["ETHUSDT"],
      claimed: ["BTCUSDT"],
      locksLive: 1,
    });

    // The sweep completes the rotation: its decision carries the desired slots it was taken against.
    await redis.set(
      keys.decision("p-9"),
      JSON.stringify({ plan_id: "p-9", decision: "ALLOW", slots: { desired: 4, holders: 4 } }),
    );
    await event({ event: "ROTATION_COMPLETE", ...rotation });
    await event({
      event: "PLAN_ALLOWED",
      plan_id: "p-9",
      symbol: "SOLUSDT",
      reason: "active_slots_rotation_complete",
    });
    await applyPlan({
      action: "ROTATION_CLOSE_CANCEL",
      close_plan_id: "rot_p-7_ADAUSDT",
      symbol: "ADAUSDT",
    });
    await redis.hdel(keys.claims, "p-9");
    await redis.zrem(keys.lockIndex, "p-9");
    const second = await observer.read(undefined, NOW);
    expect(second.rotations).toEqual([{ kind: "completed", ...rotation }]);
    expect(second.decisions).toEqual([
      {
        plan_id: "p-9",
        symbol: "SOLUSDT",
        decision: "ALLOW",
        reason: "active_slots_rotation_complete",
        desired: 4,
      },
    ]);
    expect(second.closeOrders).toEqual([]);
    expect(second.cancelledOrders).toEqual(["rot_p-7_ADAUSDT"]);
    expect(second.claimed).toEqual([]);
    expect(second.locksLive).toBe(0);
    expect(observer.last).toMatchObject({ reserved: ["ETHUSDT"], locksLive: 0, decisions: [] });

    const third = await observer.read(undefined, NOW);
    expect(third).toMatchObject({
      decisions: [],
      rotations: [],
      closeOrders: [],
      cancelledOrders: [],
    });
  });
});
