/**
 * GET /v1/status and the dashboard at GET /, through the real worker with the
 * figures arranged in the exchange simulator: three open positions, a
 * reservation, and a rotation waiting for its close.
 */
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { StatusSchema } from "../../lib/status/schema.ts";
import {
  events,
  getJson,
  postPlan,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  simRequests,
} from "./helpers.ts";

const POSITIONS = [
  { symbol: "ETHUSDT", amt: 1, pnl: 5, ageHours: 2 },
  { symbol: "SOLUSDT", amt: 2, pnl: -16, ageHours: 5 }, // weakest: −8 % pnl
  { symbol: "XRPUSDT", amt: -3, pnl: 3, ageHours: 1 },
];

function page(path: string, headers: Record<string, string> = {}) {
  return exports.default.fetch(new Request(`http://governor${path}`, { headers }));
}

describe("GET /v1/status with a rotation in progress", () => {
  let rotationStartedMs = 0;
  beforeAll(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setRegime("DOGEUSDT", "BASE");
    await sim("PUT", "/__sim/account", { totalWalletBalance: "100000000" });
    await sim("PUT", "/__sim/apply", { auto: false });
    await setPositions(POSITIONS);
    // A fourth slot: a permit issued, its position not yet visible.
    const reserved = await postPlan({ plan_id: "dash-doge-1", symbol: "DOGEUSDT", score: 1 });
    expect(reserved.body).toMatchObject({ decision: "ALLOW", reason: "active_slots_slot_free" });
    // Slots full (3 positions + 1 reservation = BASE 4): a strong entry starts a rotation.
    rotationStartedMs = Date.now();
    const rotating = await postPlan({ plan_id: "dash-btc-1", symbol: "BTCUSDT", score: 2 });
    expect(rotating.body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_waiting_rotation_close",
      rotation: { close_symbol: "SOLUSDT" },
    });
  });

  it("answers the documented shape", async () => {
    const { status, body } = await getJson("/v1/status");
    expect(status).toBe(200);
    expect(() => StatusSchema.parse(body)).not.toThrow();
  });

  it("shows the regime that sets the slot count, and holders against desired", async () => {
    const { body } = await getJson("/v1/status");
    expect(body.regime).toMatchObject({ symbol: "BTCUSDT", name: "BASE", desired_slots: 4 });
    expect(body.slots).toMatchObject({
      desired: 4,
      holders: 4,
      free: 0,
      state: "full",
      holder_symbols: ["DOGEUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"],
    });
    expect(body.slots.holder_detail).toEqual([
      { symbol: "DOGEUSDT", kind: "reservation", plan_id: "dash-doge-1" },
      { symbol: "ETHUSDT", kind: "position", plan_id: null },
      { symbol: "SOLUSDT", kind: "rotation", plan_id: "dash-btc-1" },
      { symbol: "XRPUSDT", kind: "position", plan_id: null },
    ]);
    expect(body.regimes.map((r: { symbol: string }) => r.symbol)).toContain("BTCUSDT");
  });

  it("lists positions weakest first, with weakness, age and the one being rotated out", async () => {
    const { body } = await getJson("/v1/status");
    expect(body.positions_error).toBeNull();
    expect(body.positions.map((p: { symbol: string }) => p.symbol)).toEqual([
      "SOLUSDT",
      "XRPUSDT",
      "ETHUSDT",
    ]);
    const [sol, xrp, eth] = body.positions;
    expect(sol).toMatchObject({
      side: "LONG",
      position_amt: 2,
      victim_rank: null,
      rotating_out_for: "dash-btc-1",
    });
    expect(sol.pnl_pct).toBeCloseTo(-0.08, 6);
    expect(sol.age_hours).toBeCloseTo(5, 1);
    expect(sol.weakness).toBeCloseTo(0.08 + Math.min(0.05, 0.002 * 5), 3);
    expect(xrp).toMatchObject({ side: "SHORT", position_amt: -3, victim_rank: 1 });
    expect(eth).toMatchObject({ side: "LONG", victim_rank: 2, rotating_out_for: null });
    expect(xrp.weakness).toBeGreaterThan(eth.weakness);
  });

  it("shows the live reservation with its expiry", async () => {
    const { body } = await getJson("/v1/status");
    expect(body.reservations).toHaveLength(1);
    expect(body.reservations[0]).toMatchObject({ symbol: "DOGEUSDT", plan_id: "dash-doge-1" });
    expect(body.reservations[0].expires_in_s).toBeGreaterThan(0);
    expect(body.reservations[0].expires_in_s).toBeLessThanOrEqual(300);
  });

  it("shows the rotation lock with its age and the seconds left before it times out", async () => {
    const { body } = await getJson("/v1/status");
    expect(body.locks).toHaveLength(1);
    const [lock] = body.locks;
    expect(lock).toMatchObject({
      plan_id: "dash-btc-1",
      new_symbol: "BTCUSDT",
      new_plan_id: "dash-btc-1",
      close_symbol: "SOLUSDT",
      close_plan_id: "rot_dash-btc_SOLUSDT",
      ttl_s: 120,
      state: "waiting_close",
      new_score: 2,
    });
    expect(lock.age_s).toBeGreaterThanOrEqual(0);
    // No older than the time since the test started the rotation (whole seconds).
    expect(lock.age_s).toBeLessThanOrEqual(Math.ceil((Date.now() - rotationStartedMs) / 1000) + 1);
    expect(lock.timeout_in_s).toBe(lock.ttl_s - lock.age_s);
    expect(body.orphaned_locks).toEqual([]);
    expect(body.locks_total).toBe(1);
  });

  it("lists recent governor events newest first", async () => {
    const { body } = await getJson("/v1/status");
    const kinds = body.events.map((e: { event: string }) => e.event);
    expect(kinds).toContain("ROTATION_LOCK_CREATED");
    expect(kinds).toContain("PLAN_ALLOWED");
    expect(kinds).toHaveLength((await events()).length);
    const times = body.events.map((e: { at_ms: number }) => e.at_ms);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const created = body.events.find((e: { event: string }) => e.event === "ROTATION_LOCK_CREATED");
    expect(created).toMatchObject({ new_symbol: "BTCUSDT", close_symbol: "SOLUSDT" });
  });

  it("reads positions with one Binance call, the account evaluations read (weight 5)", async () => {
    const seen = (await simRequests()).count;
    expect((await getJson("/v1/status")).status).toBe(200);
    const { requests } = await simRequests(seen);
    expect(requests.map((r) => [r.path, r.weight])).toEqual([["/fapi/v3/account", 5]]);
  });

  it("answers 401 without the bearer token", async () => {
    const response = await page("/v1/status");
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: "unauthorized" } });
  });
});

describe("GET /v1/status when Binance cannot be read", () => {
  it("reports positions as unknown (not empty) and the slot state as unknown", async () => {
    await resetWorld();
    await setPositions(POSITIONS);
    await sim("PUT", "/__sim/faults", [{ path: "/fapi/v3/account", status: 503 }]);
    const { status, body } = await getJson("/v1/status");
    await sim("DELETE", "/__sim/faults");
    expect(status).toBe(200);
    expect(body.positions).toBeNull();
    expect(body.positions_error).toBe("BinanceUnavailableError");
    expect(body.slots).toMatchObject({ holders: null, state: "unknown" });
  });
});

describe("the dashboard at GET /", () => {
  beforeAll(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await sim("PUT", "/__sim/apply", { auto: false });
    await setPositions([...POSITIONS, { symbol: "ADAUSDT", amt: 4, pnl: 8 }]);
    await postPlan({ plan_id: "dash-page-1", symbol: "BTCUSDT", score: 2 });
  });

  it("answers 401 JSON without a token", async () => {
    const response = await page("/");
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({
      error: { code: "unauthorized", message: expect.any(String) },
    });
  });

  it("answers a browser without a token with a 401 page asking for it", async () => {
    const response = await page("/", { accept: "text/html,application/xhtml+xml" });
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain("Read token required");
    expect(html).toContain('name="token"');
  });

  it("refuses a wrong ?token= without echoing it", async () => {
    const response = await page("/?token=not-the-token", { accept: "text/html" });
    expect(response.status).toBe(401);
    expect(await response.text()).not.toContain("not-the-token");
  });

  it("serves the board with a bearer token: regime, gauge, positions, lock countdown, events", async () => {
    const response = await page("/", { authorization: `Bearer ${env.GOV_READ_TOKEN}` });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const html = await response.text();
    for (const section of [
      "regime",
      "slots",
      "rotation",
      "locks",
      "positions",
      "reservations",
      "events",
    ]) {
      expect(html).toContain(`id="${section}"`);
    }
    expect(html).toMatch(/data-testid="regime">BASE</);
    expect(html).toMatch(
      /<span class="num">4<\/span><span class="of">\/<\/span><span class="num">4<\/span>/,
    );
    expect(html).toContain("Rotation in progress");
    expect(html).toMatch(/data-testid="countdown">\d:\d\d</);
    for (const symbol of ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "BTCUSDT"]) {
      expect(html).toContain(symbol);
    }
    expect(html).toContain("ROTATION_LOCK_CREATED");
    expect(html).not.toContain(env.GOV_READ_TOKEN!);
  });

  it("serves the board with ?token= for a browser, its one script allowed by a nonce", async () => {
    const response = await page(`/?token=${encodeURIComponent(env.GOV_READ_TOKEN!)}`);
    expect(response.status).toBe(200);
    const csp = response.headers.get("content-security-policy") ?? "";
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    const html = await response.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).toContain('fetch("/v1/status"');
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
  });

  it("embeds the status it rendered, so the page script can tick and refresh from it", async () => {
    const response = await page("/", { authorization: `Bearer ${env.GOV_READ_TOKEN}` });
    const html = await response.text();
    const json = /<script type="application\/json" id="status-data">([^<]*)<\/script>/.exec(
      html,
    )?.[1];
    const status = StatusSchema.parse(JSON.parse(json!));
    expect(status.locks[0]).toMatchObject({ new_symbol: "BTCUSDT", close_symbol: "SOLUSDT" });
  });
});
