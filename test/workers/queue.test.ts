import { env } from "cloudflare:workers";
import { createMessageBatch } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../functions/index.ts";
import {
  bridge,
  events,
  faultPositions,
  keys,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  deliverBatch,
  queuedPlan as plan,
  PLAN_QUEUE,
} from "./helpers.ts";

const deliver = (bodies: unknown[], attempts = 1, workerEnv: Env = env) =>
  deliverBatch(bodies, { attempts, env: workerEnv });

describe("queue consumer", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("acks a valid plan and writes its permit", async () => {
    const { result } = await deliver([plan("q-valid")]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([]);
    expect(result.retryBatch.retry).toBeFalsy();
    const permit = JSON.parse((await redis.get(keys.permit("q-valid"))) as string);
    expect(permit).toMatchObject({ plan_id: "q-valid", symbol: "BTCUSDT" });
    expect((await events("PLAN_ALLOWED")).map((e) => e.plan_id)).toEqual(["q-valid"]);
  });

  it("accepts a plan sent as a JSON string", async () => {
    const { result } = await deliver([JSON.stringify(plan("q-string"))]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(await redis.get(keys.permit("q-string"))).not.toBeNull();
  });

  it("acks an invalid plan (bad symbol) without retrying and records PLAN_INVALID", async () => {
    const { result, delays } = await deliver([plan("q-invalid", { symbol: "btc-usdt" })]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([]);
    expect(delays).toEqual([undefined]);
    const invalid = await events("PLAN_INVALID");
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatchObject({ plan_id: "q-invalid", message_id: "msg-0" });
    expect(invalid[0]?.issues).toMatch(/symbol/);
    expect(await redis.get(keys.permit("q-invalid"))).toBeNull();
    expect(await redis.get(keys.block("q-invalid"))).toBeNull();
  });

  it("acks a body that is not JSON and records PLAN_INVALID", async () => {
    const { result } = await deliver(["{not json"]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([]);
    expect(await events("PLAN_INVALID")).toHaveLength(1);
  });

  it("acks a final BLOCK without retrying", async () => {
    const { result } = await deliver([plan("q-outside", { symbol: "NEARUSDT" })]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([]);
    expect(JSON.parse((await redis.get(keys.block("q-outside"))) as string)).toMatchObject({
      reason: "active_slots_not_in_universe",
    });
    expect(await redis.get(keys.permit("q-outside"))).toBeNull();
  });

  it("acks a HOLD plan and writes nothing", async () => {
    const before = await redis.dbsize();
    const { result } = await deliver([plan("q-hold", { decision: "HOLD" })]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(await redis.dbsize()).toBe(before);
  });

  it("retries the message with a delay when Redis is down, and grants nothing", async () => {
    await bridge("PUT", "fault", { times: 10, status: 500 });
    const { result, delays } = await deliver([plan("q-redis")]);
    await bridge("PUT", "fault", null);
    expect(result.retryMessages).toEqual([{ msgId: "msg-0" }]);
    expect(result.explicitAcks).toEqual([]);
    expect(delays[0]).toBeGreaterThan(0);
    expect(await redis.get(keys.permit("q-redis"))).toBeNull();
  });

  it("backs off longer on later attempts", async () => {
    await bridge("PUT", "fault", { times: 10, status: 500 });
    const first = await deliver([plan("q-backoff")], 1);
    await bridge("PUT", "fault", { times: 10, status: 500 });
    const fourth = await deliver([plan("q-backoff")], 4);
    await bridge("PUT", "fault", null);
    expect(fourth.delays[0]).toBeGreaterThan(first.delays[0] as number);
  });

  it("acks, not retries, a plan blocked because Binance refuses the location (HTTP 451)", async () => {
    await sim("PUT", "/__sim/firewall", { mode: "restricted" });
    const { result } = await deliver([plan("q-geo")]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([]);
    expect(JSON.parse((await redis.get(keys.block("q-geo"))) as string)).toMatchObject({
      reason: "active_slots_positions_unavailable",
      details: { detail: "restricted_location" },
    });
  });

  it("retries the message when positions are unavailable, recording a non-final BLOCK", async () => {
    await faultPositions({ status: 500 });
    const { result, delays } = await deliver([plan("q-nopos")]);
    expect(result.retryMessages).toEqual([{ msgId: "msg-0" }]);
    expect(result.explicitAcks).toEqual([]);
    expect(delays[0]).toBeGreaterThan(0);
    expect(JSON.parse((await redis.get(keys.block("q-nopos"))) as string)).toMatchObject({
      reason: "active_slots_positions_unavailable",
    });
    expect(await redis.get(keys.permit("q-nopos"))).toBeNull();

    // Redelivered after the outage: evaluated again and allowed.
    await sim("DELETE", "/__sim/faults");
    const again = await deliver([plan("q-nopos")], 2);
    expect(again.result.explicitAcks).toEqual(["msg-0"]);
    expect(await redis.get(keys.permit("q-nopos"))).not.toBeNull();
  });

  it("retries the whole batch, granting nothing, when the configuration is unusable", async () => {
    const broken = Object.assign({}, env, { GOV_ACTIVE_SLOTS_BASE: "many" });
    const batch = createMessageBatch<unknown>(PLAN_QUEUE, [
      { id: "msg-0", timestamp: new Date(), attempts: 1, body: plan("q-config") },
    ]);
    const spy = vi.spyOn(batch, "retryAll");
    await worker.queue(batch, broken);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]?.[0]?.delaySeconds).toBeGreaterThan(0);
    expect(await redis.get(keys.permit("q-config"))).toBeNull();
    expect(await events()).toEqual([]);
  });

  it("handles each message of a mixed batch on its own", async () => {
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    await setRegime("SOLUSDT", "BASE");
    const { result } = await deliver([
      plan("q-mix-ok"),
      plan("q-mix-bad", { side: "UP" }),
      plan("q-mix-ok2", { symbol: "SOLUSDT" }),
    ]);
    expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-1", "msg-2"]);
    expect(result.retryMessages).toEqual([]);
    expect(await redis.get(keys.permit("q-mix-ok"))).not.toBeNull();
    expect(await redis.get(keys.permit("q-mix-ok2"))).not.toBeNull();
    expect(await redis.get(keys.permit("q-mix-bad"))).toBeNull();
    expect(await events("PLAN_INVALID")).toHaveLength(1);
  });
});
