/**
 * Binance from near Binance: the queue consumer and the cron handler are not
 * placed, so they forward their work over the PLACED service binding to the
 * placed fetch handler's internal routes, which run the same evaluation and
 * sweep as the webhook. Here the binding is the real self binding of
 * wrangler.toml, observed through a recording wrapper.
 */
import { env, exports } from "cloudflare:workers";
import { createScheduledController } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index.ts";
import { INTERNAL_ROUTES, PLACED_BINDING } from "../../lib/placement/forward.ts";
import {
  events,
  keys,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  signedHeaders,
  simRequests,
  deliverBatch,
  queuedPlan as plan,
} from "./helpers.ts";

/** The test env with PLACED wrapped so each call's path is recorded, then passed on. */
function recordingEnv() {
  const paths: string[] = [];
  const placed = env.PLACED;
  const wrapper = {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      paths.push(new URL(url).pathname);
      return placed.fetch(input, init);
    },
  };
  return { paths, env: Object.assign({}, env, { [PLACED_BINDING]: wrapper }) as Env };
}

/** The test env without the self binding. */
function unboundEnv(): Env {
  const copy: Record<string, unknown> = { ...env };
  delete copy[PLACED_BINDING];
  return copy as unknown as Env;
}

const deliver = async (bodies: unknown[], workerEnv: Env) =>
  (await deliverBatch(bodies, { env: workerEnv })).result;

describe("the queue and cron paths run on the placed fetch handler", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("a queue batch is evaluated through POST /__internal/queue, once", async () => {
    const recorded = recordingEnv();
    const result = await deliver(
      [plan("placed-q1"), plan("placed-q2", { decision: "HOLD" })],
      recorded.env,
    );
    expect(recorded.paths).toEqual([INTERNAL_ROUTES.queue]);
    expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-1"]);
    expect(await redis.get(keys.permit("placed-q1"))).not.toBeNull();
    expect((await events("PLAN_ALLOWED")).map((e) => e.plan_id)).toEqual(["placed-q1"]);
  });

  it("the cron sweep runs through POST /__internal/sweep", async () => {
    const recorded = recordingEnv();
    await worker.scheduled(
      createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }),
      recorded.env,
    );
    expect(recorded.paths).toEqual([INTERNAL_ROUTES.sweep]);
  });

  it("without the binding, a queue batch is retried and nothing reaches Binance", async () => {
    const before = (await simRequests()).count;
    const result = await deliver([plan("unbound-q")], unboundEnv());
    expect(result.retryMessages).toEqual([{ msgId: "msg-0" }]);
    expect(result.explicitAcks).toEqual([]);
    expect((await simRequests(before)).requests).toEqual([]);
    expect(await redis.get(keys.permit("unbound-q"))).toBeNull();
  });

  it("without the binding, the cron invocation fails and nothing reaches Binance", async () => {
    const before = (await simRequests()).count;
    await expect(
      worker.scheduled(
        createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }),
        unboundEnv(),
      ),
    ).rejects.toThrow(/PLACED is not bound/);
    expect((await simRequests(before)).requests).toEqual([]);
  });
});

describe("the internal routes", () => {
  beforeEach(resetWorld);

  const body = JSON.stringify({ messages: [{ id: "m", attempts: 1, body: plan("internal-x") }] });

  it("refuse an unsigned request with 401 before doing anything", async () => {
    const before = (await simRequests()).count;
    for (const path of Object.values(INTERNAL_ROUTES)) {
      const response = await exports.default.fetch(
        new Request(`http://governor${path}`, { method: "POST", body }),
      );
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error: { code: "unauthorized" } });
    }
    expect((await simRequests(before)).requests).toEqual([]);
    expect(await redis.dbsize()).toBe(0);
  });

  it("refuse a request signed with another secret", async () => {
    const response = await exports.default.fetch(
      new Request(`http://governor${INTERNAL_ROUTES.queue}`, {
        method: "POST",
        headers: await signedHeaders(body, { secret: "not-the-webhook-secret" }),
        body,
      }),
    );
    expect(response.status).toBe(401);
    expect(await redis.get(keys.permit("internal-x"))).toBeNull();
  });

  it("refuse a signed body of the wrong shape with 400", async () => {
    const sweepBody = JSON.stringify({ scheduled_time: "soon" });
    const response = await exports.default.fetch(
      new Request(`http://governor${INTERNAL_ROUTES.sweep}`, {
        method: "POST",
        headers: await signedHeaders(sweepBody),
        body: sweepBody,
      }),
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: "invalid_sweep" } });
  });

  it("are not part of the public API document", async () => {
    const response = await exports.default.fetch(new Request("http://governor/openapi.json"));
    const document = (await response.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths).some((path) => path.startsWith("/__internal"))).toBe(false);
  });
});
