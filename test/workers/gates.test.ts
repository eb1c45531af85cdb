import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import {
  bridge,
  closedHourlyRows,
  events,
  faultPositions,
  getJson,
  keys,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  servePositionRows,
  setUniverse,
  sim,
  streamEntries,
} from "./helpers.ts";

const UNIVERSE = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "BNBUSDT", "DOGEUSDT"];

const FULL = [
  { symbol: "ETHUSDT", amt: 1, pnl: 5 },
  { symbol: "SOLUSDT", amt: 10, pnl: -8 },
  { symbol: "XRPUSDT", amt: 100, pnl: 1 },
  { symbol: "ADAUSDT", amt: 1000, pnl: 2 },
];

async function expectNoPermit(planId: string): Promise<void> {
  expect(await redis.get(keys.permit(planId))).toBeNull();
}

async function blockRecord(planId: string): Promise<Record<string, unknown> | null> {
  const raw = await redis.get(keys.block(planId));
  return raw === null ? null : (JSON.parse(raw as string) as Record<string, unknown>);
}

/** Margin headroom, so the margin gate never decides what these tests look at. */
async function ampleMargin(): Promise<void> {
  await sim("PUT", "/__sim/account", { totalWalletBalance: "100000000" });
}

describe("entry gates: reason codes through the real worker", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(UNIVERSE);
    await setRegime("BTCUSDT", "BASE");
    await ampleMargin();
  });

  it("blocks active_slots_no_policy when the policy hash is missing", async () => {
    await redis.del(keys.policy);
    const { status, body } = await postPlan({ plan_id: "nopolicy-1", symbol: "BTCUSDT" });
    expect(status).toBe(200);
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_no_policy" });
    await expectNoPermit("nopolicy-1");
  });

  it("blocks active_slots_no_policy when universe_symbols is not JSON", async () => {
    await redis.hset(keys.policy, { universe_symbols: "BTCUSDT,ETHUSDT" });
    const { body } = await postPlan({ plan_id: "nopolicy-2", symbol: "BTCUSDT" });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_no_policy" });
    await expectNoPermit("nopolicy-2");
  });

  it("blocks active_slots_no_policy when universe_symbols is JSON of the wrong shape", async () => {
    await redis.hset(keys.policy, { universe_symbols: JSON.stringify({ BTCUSDT: true }) });
    const { body } = await postPlan({ plan_id: "nopolicy-3", symbol: "BTCUSDT" });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_no_policy" });
    await expectNoPermit("nopolicy-3");
  });

  it("blocks active_slots_not_in_universe for a symbol outside the policy", async () => {
    await setRegime("NEARUSDT", "BASE");
    const { body } = await postPlan({ plan_id: "outside-1", symbol: "NEARUSDT" });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_not_in_universe" });
    await expectNoPermit("outside-1");
  });

  it("blocks active_slots_positions_unavailable when the positions endpoint answers 500", async () => {
    await faultPositions({ status: 500 });
    const { body } = await postPlan({ plan_id: "nopos-1", symbol: "BTCUSDT" });
    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_positions_unavailable",
    });
    await expectNoPermit("nopos-1");
  });

  it("blocks active_slots_regime_unavailable when the exchange has no klines for the symbol (-1121)", async () => {
    const { body } = await postPlan({ plan_id: "noregime-1", symbol: "DOGEUSDT" });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_regime_unavailable" });
    expect(String(body.details?.error)).toMatch(/-1121/);
    await expectNoPermit("noregime-1");
  });

  it("blocks active_slots_regime_unavailable when there are too few closed candles", async () => {
    await sim("PUT", "/__sim/klines/DOGEUSDT", { rows: closedHourlyRows(10) });
    const { body } = await postPlan({ plan_id: "noregime-2", symbol: "DOGEUSDT" });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_regime_unavailable" });
    await expectNoPermit("noregime-2");
  });

  it("blocks active_slots_over_capacity when CHOP wants 3 slots and 4 positions are open, without rotating", async () => {
    await setRegime("BTCUSDT", "CHOP");
    await setPositions(FULL);
    const { body } = await postPlan({ plan_id: "over-1", symbol: "BTCUSDT", score: 100 });
    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_over_capacity",
      regime: { name: "CHOP", desired_slots: 3 },
      slots: { desired: 3, holders: 4 },
    });
    await expectNoPermit("over-1");
    expect(await redis.get(keys.rotationLock("over-1"))).toBeNull();
    expect(await streamEntries(keys.applyPlanStream)).toHaveLength(0);
  });

  it("blocks active_slots_no_rotation_candidate when every open position is already claimed", async () => {
    await setPositions(FULL);
    await redis.hset(keys.claims, {
      "lock-a": "ETHUSDT",
      "lock-b": "SOLUSDT",
      "lock-c": "XRPUSDT",
      "lock-d": "ADAUSDT",
    });
    const { body } = await postPlan({ plan_id: "nocand-1", symbol: "BTCUSDT", score: 100 });
    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_no_rotation_candidate",
      slots: { desired: 4, holders: 4 },
    });
    await expectNoPermit("nocand-1");
    expect(await streamEntries(keys.applyPlanStream)).toHaveLength(0);
  });

  it("allows active_slots_symbol_holds_slot for an entry on a symbol already open while slots are full", async () => {
    await setPositions(FULL);
    await setRegime("ETHUSDT", "BASE");
    const { body } = await postPlan({ plan_id: "holds-1", symbol: "ETHUSDT" });
    expect(body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_symbol_holds_slot",
      slots: { desired: 4, holders: 4 },
    });
    expect(await redis.get(keys.permit("holds-1"))).not.toBeNull();
    expect(await streamEntries(keys.applyPlanStream)).toHaveLength(0);
  });

  it("allows up to 6 slots in TREND_STRONG", async () => {
    await setRegime("BTCUSDT", "TREND_STRONG");
    await setPositions([...FULL, { symbol: "BNBUSDT", amt: 2 }]);
    const { body } = await postPlan({ plan_id: "trend-1", symbol: "BTCUSDT" });
    expect(body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_slot_free",
      regime: { name: "TREND_STRONG", desired_slots: 6 },
      slots: { desired: 6, holders: 6 },
    });
    expect(await redis.get(keys.permit("trend-1"))).not.toBeNull();
  });

  it("counts a hedge-mode LONG and SHORT on one symbol as one slot", async () => {
    const updateTime = Date.now() - 3_600_000;
    await sim("PUT", "/__sim/positions", [
      { symbol: "ETHUSDT", positionSide: "LONG", positionAmt: "1", entryPrice: "100", updateTime },
      {
        symbol: "ETHUSDT",
        positionSide: "SHORT",
        positionAmt: "-1",
        entryPrice: "100",
        updateTime,
      },
      { symbol: "SOLUSDT", positionAmt: "10", entryPrice: "100", updateTime },
      { symbol: "XRPUSDT", positionAmt: "100", entryPrice: "100", updateTime },
    ]);
    const { body } = await postPlan({ plan_id: "hedge-1", symbol: "BTCUSDT" });
    expect(body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_slot_free",
      slots: { desired: 4, holders: 4 },
    });
  });

  it("does not count a dust position (|positionAmt| <= 1e-8) as a slot", async () => {
    await setPositions(FULL);
    await servePositionRows((row) =>
      row.symbol === "ADAUSDT" ? { ...row, positionAmt: "0.000000001" } : row,
    );
    const { body } = await postPlan({ plan_id: "dust-1", symbol: "BTCUSDT" });
    expect(body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_slot_free",
      slots: { desired: 4, holders: 4 },
    });
  });

  it("counts a live reservation (permit issued, position not yet visible) as a slot holder", async () => {
    await setPositions(FULL.slice(0, 3));
    const first = await postPlan({ plan_id: "reserve-1", symbol: "BTCUSDT" });
    expect(first.body).toMatchObject({ decision: "ALLOW", slots: { desired: 4, holders: 4 } });
    // BTCUSDT is not open on the exchange yet, but its reservation holds the fourth slot.
    await setRegime("BNBUSDT", "BASE");
    const second = await postPlan({ plan_id: "reserve-2", symbol: "BNBUSDT" });
    expect(second.body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_rotation_below_threshold",
      slots: { desired: 4, holders: 4 },
    });
    await expectNoPermit("reserve-2");
  });

  it.each([
    { action: "FULL_CLOSE_PROPOSED" },
    { action: "PARTIAL_TP" },
    { action: "OPEN", reduceOnly: true },
  ])("allows the close $action (reduceOnly $reduceOnly) even with no policy", async (close) => {
    await redis.del(keys.policy);
    await setPositions(FULL);
    const planId = `close-${close.action}`;
    const { body } = await postPlan({ plan_id: planId, symbol: "SOLUSDT", ...close });
    expect(body).toMatchObject({ decision: "ALLOW", reason: "active_slots_close_allowed" });
    const permit = JSON.parse((await redis.get(keys.permit(planId))) as string);
    expect(permit).toMatchObject({ plan_id: planId, symbol: "SOLUSDT" });
    expect((await events("PLAN_ALLOWED")).map((e) => e.reason)).toEqual([
      "active_slots_close_allowed",
    ]);
  });

  it("allows entries with active_slots_disabled when GOV_ACTIVE_SLOTS_ENABLED=false, even with slots full", async () => {
    await setPositions(FULL);
    const { status, body } = await postPlan(
      { plan_id: "disabled-1", symbol: "BTCUSDT" },
      { GOV_ACTIVE_SLOTS_ENABLED: "false" },
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_disabled",
    });
    expect(await redis.get(keys.permit("disabled-1"))).not.toBeNull();
    expect(await streamEntries(keys.applyPlanStream)).toHaveLength(0);
  });

  it("answers IGNORED to decision HOLD and writes nothing to Redis", async () => {
    const before = await redis.dbsize();
    await bridge("POST", "reset");
    const { status, body } = await postPlan({
      plan_id: "hold-1",
      symbol: "BTCUSDT",
      decision: "HOLD",
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({ plan_id: "hold-1", decision: "IGNORED" });
    expect((await bridge("GET", "stats")).requests).toBe(0);
    expect(await redis.dbsize()).toBe(before);
    await expectNoPermit("hold-1");
  });

  it("writes a block record with plan_id, symbol, reason, at and a TTL of GOV_BLOCK_TTL", async () => {
    const before = Math.floor(Date.now() / 1000);
    await postPlan({ plan_id: "record-1", symbol: "NEARUSDT" });
    expect(await blockRecord("record-1")).toMatchObject({
      plan_id: "record-1",
      symbol: "NEARUSDT",
      reason: "active_slots_not_in_universe",
      at: expect.any(Number),
    });
    const { at } = (await blockRecord("record-1")) as { at: number };
    expect(at).toBeGreaterThanOrEqual(before - 1);
    expect(at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    const ttl = await redis.ttl(keys.block("record-1"));
    // GOV_BLOCK_TTL, less the whole seconds this test has taken since the plan was sent.
    expect(ttl).toBeGreaterThanOrEqual(3600 - (Math.ceil(Date.now() / 1000) - before) - 1);
    expect(ttl).toBeLessThanOrEqual(3600);
    await expectNoPermit("record-1");
  });

  it("emits PLAN_BLOCKED with the reason", async () => {
    await postPlan({ plan_id: "event-1", symbol: "NEARUSDT" });
    const blocked = await events("PLAN_BLOCKED");
    expect(blocked).toHaveLength(1);
    expect(blocked[0]).toMatchObject({
      plan_id: "event-1",
      symbol: "NEARUSDT",
      reason: "active_slots_not_in_universe",
    });
    expect(await events("PLAN_ALLOWED")).toHaveLength(0);
    await expectNoPermit("event-1");
  });

  it("replays a final BLOCK with replayed: true and no new event, even after the cause is gone", async () => {
    const first = await postPlan({ plan_id: "final-1", symbol: "NEARUSDT" });
    expect(first.body).toMatchObject({ decision: "BLOCK", reason: "active_slots_not_in_universe" });
    expect(first.body.replayed).toBeUndefined();

    await setUniverse([...UNIVERSE, "NEARUSDT"]);
    await setRegime("NEARUSDT", "BASE");
    const replay = await postPlan({ plan_id: "final-1", symbol: "NEARUSDT" });
    expect(replay.body).toMatchObject({
      plan_id: "final-1",
      decision: "BLOCK",
      reason: "active_slots_not_in_universe",
      replayed: true,
    });
    expect(await events("PLAN_BLOCKED")).toHaveLength(1);
    expect(await events("PLAN_ALLOWED")).toHaveLength(0);
    await expectNoPermit("final-1");
  });

  it("does not make a *_unavailable BLOCK final: once the fault clears the same plan is re-evaluated and allowed", async () => {
    await faultPositions({ status: 500, times: 1 });
    const first = await postPlan({ plan_id: "retry-1", symbol: "BTCUSDT" });
    expect(first.body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_positions_unavailable",
    });
    await expectNoPermit("retry-1");
    expect(await redis.get(keys.decision("retry-1"))).toBeNull();

    const second = await postPlan({ plan_id: "retry-1", symbol: "BTCUSDT" });
    expect(second.body).toMatchObject({ decision: "ALLOW", reason: "active_slots_slot_free" });
    expect(second.body.replayed).toBeUndefined();
    expect(await redis.get(keys.permit("retry-1"))).not.toBeNull();
  });
});

describe("GET /v1/plans/{plan_id}", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(UNIVERSE);
    await setRegime("BTCUSDT", "BASE");
    await ampleMargin();
  });

  it("shows the permit of an allowed plan", async () => {
    await postPlan({ plan_id: "show-allow", symbol: "BTCUSDT" });
    const { status, body } = await getJson("/v1/plans/show-allow");
    expect(status).toBe(200);
    expect(body).toMatchObject({
      plan_id: "show-allow",
      permit: { plan_id: "show-allow", symbol: "BTCUSDT", reason: "active_slots_slot_free" },
      block: null,
      lock: null,
    });
  });

  it("shows the block record of a blocked plan", async () => {
    await postPlan({ plan_id: "show-block", symbol: "NEARUSDT" });
    const { body } = await getJson("/v1/plans/show-block");
    expect(body).toMatchObject({
      plan_id: "show-block",
      permit: null,
      block: { plan_id: "show-block", reason: "active_slots_not_in_universe" },
      lock: null,
    });
  });

  it("shows the rotation lock of a plan waiting for its close", async () => {
    await setPositions(FULL);
    await postPlan({ plan_id: "show-lock", symbol: "BTCUSDT", score: 2 });
    const { body } = await getJson("/v1/plans/show-lock");
    expect(body).toMatchObject({
      plan_id: "show-lock",
      permit: null,
      block: { reason: "active_slots_waiting_rotation_close" },
      lock: { new_plan_id: "show-lock", new_symbol: "BTCUSDT", close_symbol: "SOLUSDT" },
    });
  });

  it("answers 503 with a JSON error when Redis is down", async () => {
    await bridge("PUT", "fault", { times: 10, status: 500 });
    const { status, body } = await getJson("/v1/plans/show-down");
    await bridge("PUT", "fault", null);
    expect(status).toBe(503);
    expect(body.error).toMatchObject({ code: "dependency_unavailable" });
  });

  it("answers 401 without a bearer token", async () => {
    await postPlan({ plan_id: "show-auth", symbol: "BTCUSDT" });
    const response = await exports.default.fetch(new Request("http://governor/v1/plans/show-auth"));
    expect(response.status).toBe(401);
    const body = (await response.json()) as Record<string, any>;
    expect(body.error).toMatchObject({ code: "unauthorized", message: expect.any(String) });
    expect(body).not.toHaveProperty("permit");
  });

  it("answers 401 with a wrong bearer token", async () => {
    const { status, body } = await getJson("/v1/plans/show-auth", `${env.GOV_READ_TOKEN}x`);
    expect(status).toBe(401);
    expect(body.error.code).toBe("unauthorized");
  });
});
