/**
 * The status view and the board as functions of what was read, at fixed
 * instants: countdowns, timeouts, expired reservations, holders, unknowns.
 * Holders, reservations and lock states come from the real STATUS_VIEW script
 * over Redis state arranged for each case, run at the same fixed instant.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { OpenPosition } from "../../lib/binance/positions.ts";
import { governorContext } from "../../lib/context.ts";
import { renderBoard } from "../../lib/dashboard/render.ts";
import type { MarketCache } from "../../lib/market/cache.ts";
import { closePlanId } from "../../lib/rotation/close-plan-id.ts";
import { readSlotsAndLocks } from "../../lib/status/read.ts";
import { StatusSchema, type Status } from "../../lib/status/schema.ts";
import { buildStatus, type StatusInputs, type StatusSettings } from "../../lib/status/view.ts";
import { redis } from "./helpers.ts";

const gov = governorContext(env);

/** 2026-01-05T12:00:00Z */
const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
const NOW_S = NOW / 1000;
const HOUR = 3_600_000;

const SETTINGS: StatusSettings = {
  mode: "enforce",
  enabled: true,
  slots: { BASE: 4, TREND_STRONG: 6, CHOP: 3 },
  agePenalty: { perHour: 0.002, cap: 0.05 },
  rotationThreshold: 0.15,
  maxCorrelation: 0.8,
  maxMarginUsagePct: 0.65,
  ttl: { lock: 120 },
};

function row(symbol: string, amt: number, pnl: number, hours: number): OpenPosition {
  return {
    symbol,
    positionSide: "BOTH",
    positionAmt: amt,
    positionAmtText: String(amt),
    entryPrice: 100,
    markPrice: 100 + pnl / amt,
    unRealizedProfit: pnl,
    updateTime: NOW - hours * HOUR,
  };
}

function market(name: "BASE" | "TREND_STRONG" | "CHOP"): MarketCache {
  return {
    expires_at_ms: NOW + HOUR,
    regime: {
      name,
      trend: 0.02,
      atr_pct: 0.015,
      ema_fast: 101,
      ema_slow: 100,
      atr: 1.5,
      last_close: 100,
      candles: 99,
    },
    closes: [],
  };
}

function lock(planId: string, closeSymbol: string, createdAtS: number) {
  return JSON.stringify({
    new_symbol: "BTCUSDT",
    new_plan_id: planId,
    close_symbol: closeSymbol,
    close_plan_id: closePlanId(planId, closeSymbol),
    created_at: createdAtS,
    scan_from: "0-0",
    ttl_s: 120,
    new_score: 2,
    victim_weakness: 0.09,
    regime: { name: "CHOP", trend: 0.005, atr_pct: 0.04, desired_slots: 3 },
  });
}

type Inputs = Omit<StatusInputs, "slotsAndLocks">;

function inputs(overrides: Partial<Inputs> = {}): Inputs {
  return {
    universe: JSON.stringify(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]),
    events: [],
    entries: new Map(),
    lastGates: JSON.stringify({
      symbol: "BTCUSDT",
      plan_id: "p-1",
      correlations: [],
      margin: null,
    }),
    positions: {
      ok: true,
      rows: [row("ETHUSDT", 1, 5, 2), row("SOLUSDT", 2, -16, 5), row("XRPUSDT", 3, 3, 1)],
    },
    markets: new Map([["BTCUSDT", market("BASE")]]),
    ...overrides,
  };
}

/** Governor state in Redis, as the scripts write it. */
interface Arranged {
  /** symbol -> reservation JSON */
  reservations?: Record<string, string>;
  /** lock plan_id -> claimed (close) symbol */
  claims?: Record<string, string>;
  /** indexed locks, oldest first, with their JSON (null: indexed, key and copy gone) */
  locks?: { planId: string; raw: string | null }[];
  /** close_plan_id -> confirming apply.result id */
  confirmed?: Record<string, string>;
}

async function arrange(state: Arranged): Promise<void> {
  const { keys } = gov;
  await redis.flushall();
  if (state.reservations) await redis.hset(keys.reservations, state.reservations);
  if (state.claims) await redis.hset(keys.claims, state.claims);
  if (state.confirmed) await redis.hset(keys.confirmed, state.confirmed);
  for (const [i, { planId, raw }] of (state.locks ?? []).entries()) {
    await redis.zadd(keys.lockIndex, { score: i + 1, member: planId });
    if (raw === null) continue;
    await redis.set(keys.rotationLock(planId), raw);
    await redis.hset(keys.lockData, { [planId]: raw });
  }
}

/** The view at `nowMs` of the arranged state and what else was read. */
async function statusOf(
  state: Arranged = {},
  overrides: Partial<Inputs> = {},
  settings: StatusSettings = SETTINGS,
  nowMs = NOW,
): Promise<Status> {
  await arrange(state);
  const read = inputs(overrides);
  const open = read.positions.ok ? read.positions.rows.map((p) => p.symbol) : undefined;
  const slotsAndLocks = await readSlotsAndLocks({ ...gov, now: () => nowMs }, open);
  return buildStatus({ ...read, slotsAndLocks }, settings, nowMs);
}

describe("buildStatus", () => {
  it("counts a lock's countdown from its creation and TTL", async () => {
    const status = await statusOf({
      claims: { "plan-a": "SOLUSDT" },
      locks: [{ planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 45) }],
    });
    expect(status.locks).toEqual([
      expect.objectContaining({ age_s: 45, ttl_s: 120, timeout_in_s: 75, state: "waiting_close" }),
    ]);
    expect(status.locks_total).toBe(1);
    expect(StatusSchema.parse(status)).toEqual(status);
  });

  it("marks a lock past its TTL as timing out, with a negative countdown", async () => {
    const status = await statusOf({
      locks: [{ planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 125) }],
    });
    expect(status.locks[0]).toMatchObject({ timeout_in_s: -5, state: "timing_out" });
  });

  it("keeps a lock exactly at its TTL waiting (a timeout is strictly older)", async () => {
    const status = await statusOf({
      locks: [{ planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 120) }],
    });
    expect(status.locks[0]).toMatchObject({ timeout_in_s: 0, state: "waiting_close" });
  });

  it("shows a confirmed close as such once the victim is gone from the exchange", async () => {
    const status = await statusOf(
      {
        locks: [{ planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 10) }],
        confirmed: { "rot_plan-a_SOLUSDT": "1-0" },
      },
      { positions: { ok: true, rows: [row("ETHUSDT", 1, 5, 2), row("XRPUSDT", 3, 3, 1)] } },
    );
    expect(status.locks[0]!.state).toBe("close_confirmed");
    expect(status.locks[0]!.confirmation_id).toBe("1-0");
  });

  it("reports an indexed lock whose key is gone as orphaned, not as a lock", async () => {
    const status = await statusOf({ locks: [{ planId: "gone", raw: null }] });
    expect(status.locks).toEqual([]);
    expect(status.orphaned_locks).toEqual(["gone"]);
    expect(status.locks_total).toBe(1);
  });

  it("reports an unreadable lock as orphaned", async () => {
    const status = await statusOf({ locks: [{ planId: "bad", raw: "{not json" }] });
    expect(status.locks).toEqual([]);
    expect(status.orphaned_locks).toEqual(["bad"]);
  });

  it("drops expired reservations and counts live ones as holders", async () => {
    const status = await statusOf({
      reservations: {
        ADAUSDT: JSON.stringify({ plan_id: "p-ada", expires_at_ms: NOW + 30_500 }),
        DOTUSDT: JSON.stringify({ plan_id: "p-dot", expires_at_ms: NOW }),
      },
    });
    expect(status.reservations).toEqual([
      { symbol: "ADAUSDT", plan_id: "p-ada", expires_at_ms: NOW + 30_500, expires_in_s: 31 },
    ]);
    expect(status.slots).toMatchObject({ desired: 4, holders: 4, free: 0, state: "full" });
  });

  it("keeps a claimed slot held after its position closed", async () => {
    const status = await statusOf(
      { claims: { "plan-a": "SOLUSDT" } },
      { positions: { ok: true, rows: [row("ETHUSDT", 1, 5, 2), row("XRPUSDT", 3, 3, 1)] } },
    );
    expect(status.slots.holder_detail).toContainEqual({
      symbol: "SOLUSDT",
      kind: "rotation",
      plan_id: "plan-a",
    });
    expect(status.slots.holders).toBe(3);
    expect(status.slots.state).toBe("free");
  });

  it("says over capacity when the regime tightened below the holders", async () => {
    const status = await statusOf(
      {},
      { markets: new Map([["BTCUSDT", market("CHOP")]]) },
      { ...SETTINGS, slots: { ...SETTINGS.slots, CHOP: 2 } },
    );
    expect(status.slots).toMatchObject({ desired: 2, holders: 3, state: "over_capacity" });
  });

  it("ranks positions weakest first and skips the claimed one", async () => {
    const status = await statusOf({ claims: { "plan-a": "SOLUSDT" } });
    expect(status.positions!.map((p) => [p.symbol, p.victim_rank, p.rotating_out_for])).toEqual([
      ["SOLUSDT", null, "plan-a"],
      ["XRPUSDT", 1, null],
      ["ETHUSDT", 2, null],
    ]);
    expect(status.positions![0]!.weakness).toBeCloseTo(0.08 + 0.01, 10);
  });

  it("does not pretend there are no positions when Binance could not be read", async () => {
    const status = await statusOf(
      {},
      { positions: { ok: false, error: "BinanceBackoffActiveError" } },
    );
    expect(status.positions).toBeNull();
    expect(status.positions_error).toBe("BinanceBackoffActiveError");
    expect(status.slots).toMatchObject({ holders: null, free: null, state: "unknown" });
  });

  it("falls back to the newest lock's regime when the evaluated symbol has no live cache", async () => {
    const status = await statusOf(
      { locks: [{ planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 10) }] },
      { markets: new Map() },
    );
    expect(status.regime).toMatchObject({ symbol: "BTCUSDT", name: "CHOP", desired_slots: 3 });
  });

  it("reads a missing policy as no universe", async () => {
    expect((await statusOf({}, { universe: null })).universe).toBeNull();
  });
});

describe("renderBoard", () => {
  let status: Status;
  beforeAll(async () => {
    status = await statusOf({
      claims: { "plan-a": "SOLUSDT" },
      locks: [{ planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 45) }],
    });
  });

  it("shows the countdown as it stands at the instant rendered", () => {
    expect(renderBoard(status, NOW)).toContain('data-testid="countdown">1:15<');
    expect(renderBoard(status, NOW + 15_000)).toContain('data-testid="countdown">1:00<');
    expect(renderBoard(status, NOW + 80_000)).toContain(
      'data-testid="countdown">timed out 0:05 ago<',
    );
  });

  it("never shows a confirmed close as timed out, however old the lock", async () => {
    const confirmed = await statusOf(
      {
        locks: [{ planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 300) }],
        confirmed: { "rot_plan-a_SOLUSDT": "1-0" },
      },
      { positions: { ok: true, rows: [row("ETHUSDT", 1, 5, 2)] } },
    );
    expect(confirmed.locks[0]).toMatchObject({ state: "close_confirmed", timeout_in_s: -180 });
    const html = renderBoard(confirmed, NOW);
    expect(html).not.toContain("timed out");
    expect(html).toContain('data-testid="countdown">confirmed<');
    expect(html).toContain(
      "close confirmed: the next sweep or resubmission completes the rotation",
    );
  });

  it("escapes what it shows", async () => {
    const hostile = await statusOf(
      {},
      {
        events: [
          { id: `${NOW}-0`, fields: { event: "PLAN_BLOCKED", symbol: "<img src=x>", reason: "r" } },
        ],
      },
    );
    const html = renderBoard(hostile, NOW);
    expect(html).not.toContain("<img src=x>");
    expect(html).toContain("&lt;img src=x&gt;");
  });
});
