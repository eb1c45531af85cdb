/**
 * The status view and the board as functions of what was read, at fixed
 * instants: countdowns, timeouts, expired reservations, holders, unknowns.
 */
import { describe, expect, it } from "vitest";
import { renderBoard } from "../../lib/dashboard/render.ts";
import type { MarketCache } from "../../lib/market/cache.ts";
import {
  StatusSchema,
  buildStatus,
  type StatusInputs,
  type StatusSettings,
} from "../../lib/status.ts";

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

function row(symbol: string, amt: number, pnl: number, hours: number) {
  return {
    symbol,
    positionSide: "BOTH" as const,
    positionAmt: amt,
    entryPrice: 100,
    markPrice: 100 + pnl / amt,
    unRealizedProfit: pnl,
    notional: amt * (100 + pnl / amt),
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
    close_plan_id: `rot_${planId.slice(0, 8)}_${closeSymbol}`,
    created_at: createdAtS,
    ttl_s: 120,
    new_score: 2,
    victim_weakness: 0.09,
    regime: { name: "CHOP", trend: 0.005, atr_pct: 0.04, desired_slots: 3 },
  });
}

function inputs(overrides: Partial<StatusInputs> = {}): StatusInputs {
  return {
    universe: JSON.stringify(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]),
    reservations: {},
    claims: {},
    locks: [],
    locksTotal: 0,
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

describe("buildStatus", () => {
  it("counts a lock's countdown from its creation and TTL", () => {
    const status = buildStatus(
      inputs({
        claims: { "plan-a": "SOLUSDT" },
        locks: [
          { planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 45), closeConfirmed: false },
        ],
        locksTotal: 1,
      }),
      SETTINGS,
      NOW,
    );
    expect(status.locks).toEqual([
      expect.objectContaining({ age_s: 45, ttl_s: 120, timeout_in_s: 75, state: "waiting_close" }),
    ]);
    expect(StatusSchema.parse(status)).toEqual(status);
  });

  it("marks a lock past its TTL as timed out, with a negative countdown", () => {
    const status = buildStatus(
      inputs({
        locks: [
          { planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 125), closeConfirmed: false },
        ],
      }),
      SETTINGS,
      NOW,
    );
    expect(status.locks[0]).toMatchObject({ timeout_in_s: -5, state: "timed_out" });
  });

  it("keeps a lock exactly at its TTL waiting (a timeout is strictly older)", () => {
    const status = buildStatus(
      inputs({
        locks: [
          { planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 120), closeConfirmed: false },
        ],
      }),
      SETTINGS,
      NOW,
    );
    expect(status.locks[0]).toMatchObject({ timeout_in_s: 0, state: "waiting_close" });
  });

  it("shows a confirmed close as such", () => {
    const status = buildStatus(
      inputs({
        locks: [
          { planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 10), closeConfirmed: true },
        ],
      }),
      SETTINGS,
      NOW,
    );
    expect(status.locks[0]!.state).toBe("close_confirmed");
  });

  it("reports an indexed lock whose key is gone as orphaned, not as a lock", () => {
    const status = buildStatus(
      inputs({ locks: [{ planId: "gone", raw: null, closeConfirmed: false }], locksTotal: 1 }),
      SETTINGS,
      NOW,
    );
    expect(status.locks).toEqual([]);
    expect(status.orphaned_locks).toEqual(["gone"]);
  });

  it("drops expired reservations and counts live ones as holders", () => {
    const status = buildStatus(
      inputs({
        reservations: {
          ADAUSDT: JSON.stringify({ plan_id: "p-ada", expires_at_ms: NOW + 30_500 }),
          DOTUSDT: JSON.stringify({ plan_id: "p-dot", expires_at_ms: NOW }),
        },
      }),
      SETTINGS,
      NOW,
    );
    expect(status.reservations).toEqual([
      { symbol: "ADAUSDT", plan_id: "p-ada", expires_at_ms: NOW + 30_500, expires_in_s: 31 },
    ]);
    expect(status.slots).toMatchObject({ desired: 4, holders: 4, free: 0, state: "full" });
  });

  it("keeps a claimed slot held after its position closed", () => {
    const status = buildStatus(
      inputs({
        positions: { ok: true, rows: [row("ETHUSDT", 1, 5, 2), row("XRPUSDT", 3, 3, 1)] },
        claims: { "plan-a": "SOLUSDT" },
      }),
      SETTINGS,
      NOW,
    );
    expect(status.slots.holder_detail).toContainEqual({
      symbol: "SOLUSDT",
      kind: "rotation",
      plan_id: "plan-a",
    });
    expect(status.slots.holders).toBe(3);
    expect(status.slots.state).toBe("free");
  });

  it("says over capacity when the regime tightened below the holders", () => {
    const status = buildStatus(
      inputs({ markets: new Map([["BTCUSDT", market("CHOP")]]) }),
      { ...SETTINGS, slots: { ...SETTINGS.slots, CHOP: 2 } },
      NOW,
    );
    expect(status.slots).toMatchObject({ desired: 2, holders: 3, state: "over_capacity" });
  });

  it("ranks positions weakest first and skips the claimed one", () => {
    const status = buildStatus(inputs({ claims: { "plan-a": "SOLUSDT" } }), SETTINGS, NOW);
    expect(status.positions!.map((p) => [p.symbol, p.victim_rank, p.rotating_out_for])).toEqual([
      ["SOLUSDT", null, "plan-a"],
      ["XRPUSDT", 1, null],
      ["ETHUSDT", 2, null],
    ]);
    expect(status.positions![0]!.weakness).toBeCloseTo(0.08 + 0.01, 10);
  });

  it("does not pretend there are no positions when Binance could not be read", () => {
    const status = buildStatus(
      inputs({ positions: { ok: false, error: "BinanceBackoffActiveError" } }),
      SETTINGS,
      NOW,
    );
    expect(status.positions).toBeNull();
    expect(status.positions_error).toBe("BinanceBackoffActiveError");
    expect(status.slots).toMatchObject({ holders: null, free: null, state: "unknown" });
  });

  it("falls back to the newest lock's regime when the evaluated symbol has no live cache", () => {
    const status = buildStatus(
      inputs({
        markets: new Map(),
        locks: [
          { planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 10), closeConfirmed: false },
        ],
      }),
      SETTINGS,
      NOW,
    );
    expect(status.regime).toMatchObject({ symbol: "BTCUSDT", name: "CHOP", desired_slots: 3 });
  });

  it("reads a missing policy as no universe", () => {
    expect(buildStatus(inputs({ universe: null }), SETTINGS, NOW).universe).toBeNull();
  });
});

describe("renderBoard", () => {
  const status = buildStatus(
    inputs({
      claims: { "plan-a": "SOLUSDT" },
      locks: [
        { planId: "plan-a", raw: lock("plan-a", "SOLUSDT", NOW_S - 45), closeConfirmed: false },
      ],
    }),
    SETTINGS,
    NOW,
  );

  it("shows the countdown as it stands at the instant rendered", () => {
    expect(renderBoard(status, NOW)).toContain('data-testid="countdown">1:15<');
    expect(renderBoard(status, NOW + 15_000)).toContain('data-testid="countdown">1:00<');
    expect(renderBoard(status, NOW + 80_000)).toContain(
      'data-testid="countdown">timed out 0:05 ago<',
    );
  });

  it("escapes what it shows", () => {
    const hostile = buildStatus(
      inputs({
        events: [
          { id: `${NOW}-0`, fields: { event: "PLAN_BLOCKED", symbol: "<img src=x>", reason: "r" } },
        ],
      }),
      SETTINGS,
      NOW,
    );
    const html = renderBoard(hostile, NOW);
    expect(html).not.toContain("<img src=x>");
    expect(html).toContain("&lt;img src=x&gt;");
  });
});
