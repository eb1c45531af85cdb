import { beforeEach, describe, expect, it } from "vitest";
import {
  bridge,
  events,
  faultPositions,
  getJson,
  keys,
  positionRequests,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  servePositionRows,
  sim,
  simRequests,
  type SimRequest,
} from "./helpers.ts";
import { waitUntil } from "../support/wait.ts";

const KLINES = "/fapi/v1/klines";
const TIME = "/fapi/v1/time";
const TIMESTAMP_ERROR = JSON.stringify({
  code: -1021,
  msg: "Timestamp for this request is outside of the recvWindow.",
});

async function expectNoPermit(planId: string): Promise<void> {
  expect(await redis.get(keys.permit(planId))).toBeNull();
}

/** Request statuses per position endpoint that was called. */
function statusesByPath(requests: SimRequest[]): Record<string, number[]> {
  const byPath: Record<string, number[]> = {};
  for (const r of positionRequests(requests)) (byPath[r.path] ??= []).push(r.status);
  return byPath;
}

async function expectBlocked(planId: string, reason: string) {
  const { status, body } = await postPlan({ plan_id: planId, symbol: "BTCUSDT", score: 2 });
  expect(status).toBe(200);
  expect(body).toMatchObject({ plan_id: planId, decision: "BLOCK", reason });
  await expectNoPermit(planId);
  return body;
}

describe("dependency failures never grant an entry", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("control: with every dependency healthy the same entry is allowed", async () => {
    const { body } = await postPlan({ plan_id: "healthy-1", symbol: "BTCUSDT" });
    expect(body).toMatchObject({ decision: "ALLOW", reason: "active_slots_slot_free" });
  });

  it("blocks positions_unavailable when the positions endpoint answers 5xx", async () => {
    await faultPositions({ status: 503 });
    const body = await expectBlocked("bx-5xx", "active_slots_positions_unavailable");
    expect(String(body.details?.error)).toMatch(/HTTP 503/);
    expect(await events("PLAN_BLOCKED")).toHaveLength(1);
  });

  it("on 429 with Retry-After blocks, stores the shared backoff, and then sends no request while it runs", async () => {
    await faultPositions({ status: 429, retry_after: 30, times: 1 });
    const started = Date.now();
    await expectBlocked("bx-429-a", "active_slots_positions_unavailable");

    const until = Number(await redis.get(keys.binanceBackoff));
    expect(until).toBeGreaterThanOrEqual(started + 29_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 31_000);
    // The key lives as long as the backoff runs (however long this took to read), no longer.
    const pttl = await redis.pttl(keys.binanceBackoff);
    expect(pttl).toBeGreaterThanOrEqual(until - Date.now() - 1);
    expect(pttl).toBeLessThanOrEqual(30_000);

    // The fault is gone, but the backoff is shared through Redis: no call until it ends.
    const seen = (await simRequests()).count;
    const body = await expectBlocked("bx-429-b", "active_slots_positions_unavailable");
    expect(String(body.details?.error)).toMatch(/backoff/i);
    expect((await simRequests(seen)).requests).toEqual([]);
    // The same plan, resubmitted, is still refused without a call.
    await expectBlocked("bx-429-a", "active_slots_positions_unavailable");
    expect((await simRequests(seen)).requests).toEqual([]);
  });

  it("sends no exchange request from GET /v1/status or /v1/health while the shared backoff runs", async () => {
    await faultPositions({ status: 429, retry_after: 30, times: 1 });
    await expectBlocked("bx-429-read", "active_slots_positions_unavailable");
    expect(Number(await redis.get(keys.binanceBackoff))).toBeGreaterThan(Date.now());

    const seen = (await simRequests()).count;
    const status = await getJson("/v1/status");
    expect(status.status).toBe(200);
    await getJson("/v1/health");
    expect((await simRequests(seen)).requests.map((r) => r.path)).toEqual([]);
  });

  it("on 418 blocks and backs off for at least 2 minutes", async () => {
    await faultPositions({ status: 418, times: 1 });
    const started = Date.now();
    await expectBlocked("bx-418", "active_slots_positions_unavailable");
    expect(Number(await redis.get(keys.binanceBackoff))).toBeGreaterThanOrEqual(started + 119_000);
  });

  it("blocks positions_unavailable when the positions endpoint does not answer within the timeout", async () => {
    // The simulator holds the request until the test lets it go.
    await faultPositions({ delay_ms: 600_000, times: 1 });
    const started = Date.now();
    const body = await expectBlocked("bx-timeout", "active_slots_positions_unavailable");
    const elapsed = Date.now() - started;
    expect(String(body.details?.error)).toMatch(/timeout/);
    expect(elapsed).toBeGreaterThanOrEqual(2900);
    // Still held when the answer came: the governor gave up by itself, at its timeout.
    const { released } = (await sim("POST", "/__sim/faults/release")) as { released: number };
    expect(released).toBe(1);
    // The simulator finishes the abandoned request before the next test resets it.
    await waitUntil(
      async () =>
        ((await sim("GET", "/__sim/state")) as { held_requests: number }).held_requests === 0,
      "the released request answered",
    );
  });

  it("blocks when the exchange rejects the API key (401, -2015)", async () => {
    await faultPositions({ status: 401 });
    const body = await expectBlocked("bx-apikey", "active_slots_positions_unavailable");
    expect(String(body.details?.error)).toMatch(/-2015/);
  });

  it("blocks when the exchange is unreachable", async () => {
    const { status, body } = await postPlan(
      { plan_id: "bx-unreachable", symbol: "BTCUSDT" },
      { BINANCE_BASE_URL: "http://127.0.0.1:9" },
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_positions_unavailable",
    });
    await expectNoPermit("bx-unreachable");
  });

  it("blocks when -1021 persists after one resync and retry", async () => {
    await faultPositions({ status: 400, body: TIMESTAMP_ERROR });
    const body = await expectBlocked("bx-1021", "active_slots_positions_unavailable");
    expect(String(body.details?.error)).toMatch(/-1021/);
    const { requests } = await simRequests();
    // Each signed call: the request, one resync, one retry; then it gives up.
    const byPath = statusesByPath(requests);
    expect(Object.keys(byPath).length).toBeGreaterThan(0);
    for (const statuses of Object.values(byPath)) expect(statuses).toEqual([400, 400]);
    expect(requests.filter((r) => r.path === TIME)).toHaveLength(Object.keys(byPath).length);
  });

  it("resyncs its clock on a one-off skew, allows the entry, and reuses the offset afterwards", async () => {
    await sim("PUT", "/__sim/clock", { skew_ms: 600_000 });
    const started = Date.now();
    const { body } = await postPlan({ plan_id: "bx-skew-a", symbol: "BTCUSDT" });
    const took = Date.now() - started;
    expect(body).toMatchObject({ decision: "ALLOW", reason: "active_slots_slot_free" });
    expect(await redis.get(keys.permit("bx-skew-a"))).not.toBeNull();

    const log = (await simRequests()).requests;
    const byPath = statusesByPath(log);
    expect(Object.keys(byPath).length).toBeGreaterThan(0);
    for (const statuses of Object.values(byPath)) expect(statuses).toEqual([400, 200]);
    expect(log.filter((r) => r.path === TIME)).toHaveLength(Object.keys(byPath).length);
    const offset = Number(await redis.get(keys.binanceTimeOffset));
    // Measured at the midpoint of the /fapi/v1/time round trip, which lies within the evaluation.
    expect(Math.abs(offset - 600_000)).toBeLessThanOrEqual(took + 1);

    // The next evaluation signs with the stored offset: no -1021, no resync.
    const seen = (await simRequests()).count;
    const next = await postPlan({ plan_id: "bx-skew-b", symbol: "BTCUSDT" });
    expect(next.body).toMatchObject({ decision: "ALLOW" });
    const after = (await simRequests(seen)).requests;
    expect(after.filter((r) => r.path === TIME)).toHaveLength(0);
    expect(positionRequests(after).length).toBeGreaterThan(0);
    expect(positionRequests(after).every((r) => r.status === 200)).toBe(true);
  });

  it("blocks when the positions endpoint answers 200 with a body that is not JSON", async () => {
    await faultPositions({ status: 200, body: "not json" });
    const body = await expectBlocked("bx-notjson", "active_slots_positions_unavailable");
    expect(String(body.details?.error)).toMatch(/not JSON/);
  });

  it("blocks when position rows miss required fields", async () => {
    await servePositionRows((row) => ({ symbol: row.symbol, positionAmt: row.positionAmt }));
    const body = await expectBlocked("bx-fields", "active_slots_positions_unavailable");
    expect(String(body.details?.error)).toMatch(/unexpected body shape/);
  });

  it("blocks when a position row has a non-numeric positionAmt", async () => {
    await servePositionRows((row) => ({ ...row, positionAmt: "abc" }));
    await expectBlocked("bx-nan", "active_slots_positions_unavailable");
  });

  it("blocks regime_unavailable when klines answer 5xx and nothing is cached", async () => {
    await sim("PUT", "/__sim/faults", { path: KLINES, status: 500 });
    const body = await expectBlocked("bx-klines", "active_slots_regime_unavailable");
    expect(String(body.details?.error)).toMatch(/HTTP 500/);
  });

  it("allows from the cached regime when klines fail after a successful read", async () => {
    const warm = await postPlan({ plan_id: "bx-warm-a", symbol: "BTCUSDT" });
    expect(warm.body).toMatchObject({ decision: "ALLOW" });
    await sim("PUT", "/__sim/faults", { path: KLINES, status: 500 });
    const seen = (await simRequests()).count;
    const { body } = await postPlan({ plan_id: "bx-warm-b", symbol: "BTCUSDT" });
    expect(body).toMatchObject({ decision: "ALLOW", regime: { name: "BASE" } });
    const after = (await simRequests(seen)).requests;
    expect(after.filter((r) => r.path === KLINES)).toEqual([]);
    expect(positionRequests(after).length).toBeGreaterThan(0);
  });

  it("answers 503 with a JSON error when the Redis REST endpoint is down, and grants nothing", async () => {
    await bridge("PUT", "fault", { times: 10, status: 500 });
    const { status, body } = await postPlan({ plan_id: "bx-redis", symbol: "BTCUSDT" });
    await bridge("PUT", "fault", null);
    expect(status).toBe(503);
    expect(body.error).toMatchObject({
      code: "dependency_unavailable",
      message: expect.any(String),
    });
    await expectNoPermit("bx-redis");
    expect(await redis.get(keys.decision("bx-redis"))).toBeNull();
    expect(await redis.exists(keys.reservations)).toBe(0);
  });

  it("answers 503 and grants nothing when Redis fails at the decision step", async () => {
    // Reads succeed (one /pipeline request); the decision script (a single command on /) fails.
    await bridge("PUT", "fault", { times: 10, status: 500, path: "/" });
    const { status, body } = await postPlan({ plan_id: "bx-redis-script", symbol: "BTCUSDT" });
    await bridge("PUT", "fault", null);
    expect(status).toBe(503);
    expect(body.error.code).toBe("dependency_unavailable");
    await expectNoPermit("bx-redis-script");
    expect(await redis.exists(keys.reservations)).toBe(0);
    expect(await events()).toEqual([]);
  });

  it("after a Redis outage clears, the same plan is evaluated normally", async () => {
    await bridge("PUT", "fault", { times: 10, status: 500 });
    const down = await postPlan({ plan_id: "bx-redis-back", symbol: "BTCUSDT" });
    await bridge("PUT", "fault", null);
    expect(down.status).toBe(503);
    const up = await postPlan({ plan_id: "bx-redis-back", symbol: "BTCUSDT" });
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ decision: "ALLOW" });
  });
});
