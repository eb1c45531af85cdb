import { createScheduledController, env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index.ts";
import {
  getJson,
  keys,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  simRequests,
} from "./helpers.ts";

const FULL = ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"];

async function sweepNow() {
  await worker.scheduled(
    createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }),
    env,
  );
}

/** A rotation waiting for its close, so the cron sweep has a lock it would need positions for. */
async function startRotation(planId: string) {
  await sim("PUT", "/__sim/apply", { auto: false });
  await setPositions(FULL.map((symbol, i) => ({ symbol, amt: 1, pnl: -i })));
  const { body } = await postPlan({ plan_id: planId, symbol: "BTCUSDT", score: 5 });
  expect(body.reason).toBe("active_slots_waiting_rotation_close");
}

/** Every read path and the sweep, while a backoff runs: none may reach the exchange. */
async function everyPathSilent(prefix: string) {
  const seen = (await simRequests()).count;
  for (let i = 0; i < 3; i++) {
    const { body } = await postPlan({ plan_id: `${prefix}-${i}`, symbol: "BTCUSDT", score: 5 });
    expect(body).toMatchObject({ decision: "BLOCK" });
    expect(String(body.details?.error)).toMatch(/backoff/i);
  }
  expect((await getJson("/v1/status")).status).toBe(200);
  await getJson("/v1/health");
  await sweepNow();
  return (await simRequests(seen)).requests;
}

describe("Binance's firewall and bans", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", ...FULL]);
    await setRegime("BTCUSDT", "BASE");
  });

  it("a WAF 403 (HTML) starts the shared backoff: no call from evaluations, status, health or the sweep while it runs", async () => {
    await startRotation("waf-lock");
    await sim("PUT", "/__sim/firewall", { mode: "waf" });
    const before = (await simRequests()).count;
    const { body } = await postPlan({ plan_id: "waf-1", symbol: "BTCUSDT", score: 5 });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_positions_unavailable" });
    expect(String(body.details?.error)).toMatch(/firewall/);
    const hit = (await simRequests(before)).requests;
    expect(hit.length).toBeGreaterThan(0);
    expect(hit.every((r) => r.status === 403)).toBe(true);
    const pttl = await redis.pttl(keys.binanceBackoff);
    expect(pttl).toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(60_000);

    // The firewall lets requests through again, but the backoff still holds everyone back.
    await sim("PUT", "/__sim/firewall", { mode: "none" });
    expect(await everyPathSilent("waf-later")).toEqual([]);
  });

  it("a repeated 403 after the backoff ended doubles the next backoff", async () => {
    await sim("PUT", "/__sim/firewall", { mode: "waf" });
    await postPlan({ plan_id: "waf-a", symbol: "BTCUSDT", score: 5 });
    expect(await redis.get(keys.binanceStrikes)).toBe("1");
    // The first backoff has run out (its strike is remembered).
    await redis.del(keys.binanceBackoff);
    await postPlan({ plan_id: "waf-b", symbol: "BTCUSDT", score: 5 });
    expect(await redis.get(keys.binanceStrikes)).toBe("2");
    const pttl = await redis.pttl(keys.binanceBackoff);
    expect(pttl).toBeGreaterThan(115_000);
    expect(pttl).toBeLessThanOrEqual(120_000);
  });

  it("a 418 ban holds every path back for its Retry-After", async () => {
    await startRotation("ban-lock");
    await sim("PUT", "/__sim/faults", { path: "*", status: 418, retry_after: 300, times: 2 });
    const { body } = await postPlan({ plan_id: "ban-1", symbol: "BTCUSDT", score: 5 });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_positions_unavailable" });
    expect(await redis.pttl(keys.binanceBackoff)).toBeGreaterThan(295_000);
    await sim("DELETE", "/__sim/faults");
    expect(await everyPathSilent("ban-later")).toEqual([]);
  });

  it("honours a 429's Retry-After, so Binance's escalation to a 418 ban never comes", async () => {
    // The evaluation's parallel requests (account, klines) are already in flight when the
    // first 429 lands: one violation at most. A second would earn the ban.
    await sim("PUT", "/__sim/rate-limit", { retry_after: 30, ban_after: 2, ban_seconds: 120 });
    const before = (await simRequests()).count;
    const { body } = await postPlan({ plan_id: "rl-1", symbol: "BTCUSDT", score: 5 });
    expect(body.reason).toBe("active_slots_positions_unavailable");
    expect(await everyPathSilent("rl-later")).toEqual([]);
    const statuses = (await simRequests(before)).requests.map((r) => r.status);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses).not.toContain(418);
  });

  it("a 451 blocks with detail restricted_location and starts no backoff", async () => {
    await sim("PUT", "/__sim/firewall", { mode: "restricted" });
    const { body } = await postPlan({ plan_id: "geo-1", symbol: "BTCUSDT", score: 5 });
    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_positions_unavailable",
      details: { detail: "restricted_location" },
    });
    expect(String(body.details.error)).toContain("restricted_location");
    expect(await redis.get(keys.binanceBackoff)).toBeNull();
  });
});
