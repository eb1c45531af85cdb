import { describe, expect, it } from "vitest";
import { parseConfig } from "../../lib/config.ts";
import { runGates, universeGate, type Snapshot } from "../../lib/evaluate/gates.ts";
import type { FuturesAccount } from "../../lib/binance/schemas.ts";
import type { MarketCache } from "../../lib/market/cache.ts";
import { isFinal } from "../../lib/plans/reasons.ts";

const config = parseConfig({
  UPSTASH_REDIS_REST_URL: "http://127.0.0.1:1",
  UPSTASH_REDIS_REST_TOKEN: "t",
  BINANCE_API_KEY: "k",
  BINANCE_API_SECRET: "s",
  GOV_WEBHOOK_SECRET: "w",
  GOV_READ_TOKEN: "r",
});
const NOW = 1_764_000_000_000;
const HOUR = 3_600_000;

function market(name: MarketCache["regime"]["name"], closes: number[]): MarketCache {
  const start = Math.floor(NOW / HOUR) * HOUR - closes.length * HOUR;
  return {
    expires_at_ms: NOW + HOUR,
    regime: {
      name,
      trend: 0.02,
      atr_pct: 0.015,
      ema_fast: 1,
      ema_slow: 1,
      atr: 1,
      last_close: 1,
      candles: 99,
    },
    closes: closes.map((c, i) => [start + i * HOUR, c] as [number, number]),
  };
}

function account(
  positions: { symbol: string; amt: number }[],
  totals = { im: 0, balance: 10_000 },
): FuturesAccount {
  return {
    totalInitialMargin: totals.im,
    totalMaintMargin: 0,
    totalWalletBalance: totals.balance,
    totalUnrealizedProfit: 0,
    totalMarginBalance: totals.balance,
    availableBalance: totals.balance,
    assets: [{ asset: "USDT", marginBalance: totals.balance }],
    positions: positions.map((p) => ({
      symbol: p.symbol,
      positionSide: "BOTH",
      positionAmt: p.amt,
      positionAmtText: String(p.amt),
      unrealizedProfit: 0,
      notional: p.amt * 100,
      initialMargin: 0,
      updateTime: NOW - HOUR,
    })),
  } as FuturesAccount;
}

const zigzag = (n: number, phase = 0) =>
  Array.from({ length: n }, (_, i) => 100 + Math.sin(i * 0.7 + phase) * 2 + i * 0.01);

function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    account: { ok: true, value: account([]) },
    markets: new Map([["BTCUSDT", { ok: true, value: market("BASE", zigzag(99)) }]]),
    entries: new Map(),
    ...overrides,
  };
}

const plan = {
  plan_id: "p1",
  symbol: "BTCUSDT",
  action: "OPEN",
  decision: "EXECUTE",
  side: "LONG" as const,
};

describe("runGates (docs/contract.md §3 steps 3–7, pure)", () => {
  it("universeGate: no policy, malformed policy, symbol outside, symbol inside", () => {
    expect(universeGate(plan, null)).toBe("active_slots_no_policy");
    expect(universeGate(plan, "{not json")).toBe("active_slots_no_policy");
    expect(universeGate(plan, JSON.stringify(["ETHUSDT"]))).toBe("active_slots_not_in_universe");
    expect(universeGate(plan, JSON.stringify(["BTCUSDT"]))).toBeNull();
  });

  it("checks positions before the regime", () => {
    const outcome = runGates(
      plan,
      snapshot({ account: { ok: false, error: "down" }, markets: new Map() }),
      config,
      NOW,
    );
    expect(outcome).toMatchObject({ kind: "block", reason: "active_slots_positions_unavailable" });
  });

  it("hands the slot step the desired slots of the regime and the open symbols", () => {
    const outcome = runGates(
      plan,
      snapshot({
        account: { ok: true, value: account([{ symbol: "ETHUSDT", amt: 1 }]) },
        markets: new Map([
          ["BTCUSDT", { ok: true, value: market("CHOP", zigzag(99)) }],
          ["ETHUSDT", { ok: true, value: market("BASE", zigzag(99, 2)) }],
        ]),
      }),
      config,
      NOW,
    );
    expect(outcome.kind).toBe("slots");
    if (outcome.kind !== "slots") return;
    expect(outcome.step.desired).toBe(3);
    expect(outcome.step.openSymbols).toEqual(["ETHUSDT"]);
    expect(outcome.step.requiredVictim).toBeNull();
  });

  it("leaves one over-correlated position to the slot step as the required victim", () => {
    const outcome = runGates(
      plan,
      snapshot({
        account: { ok: true, value: account([{ symbol: "ETHUSDT", amt: 1 }]) },
        markets: new Map([
          ["BTCUSDT", { ok: true, value: market("BASE", zigzag(99)) }],
          ["ETHUSDT", { ok: true, value: market("BASE", zigzag(99)) }],
        ]),
      }),
      config,
      NOW,
    );
    expect(outcome.kind).toBe("slots");
    if (outcome.kind !== "slots") return;
    expect(outcome.step.requiredVictim).toMatchObject({
      symbol: "ETHUSDT",
      reason: "active_slots_correlation_limit",
    });
    // Finality is derived from the reason (the slot step's NON_FINAL set).
    expect(isFinal("BLOCK", outcome.step.requiredVictim!.reason)).toBe(true);
  });

  it("blocks at once when two open positions are over the correlation limit", () => {
    const outcome = runGates(
      plan,
      snapshot({
        account: {
          ok: true,
          value: account([
            { symbol: "ETHUSDT", amt: 1 },
            { symbol: "SOLUSDT", amt: 2 },
          ]),
        },
        markets: new Map([
          ["BTCUSDT", { ok: true, value: market("BASE", zigzag(99)) }],
          ["ETHUSDT", { ok: true, value: market("BASE", zigzag(99)) }],
          ["SOLUSDT", { ok: true, value: market("BASE", zigzag(99)) }],
        ]),
      }),
      config,
      NOW,
    );
    expect(outcome).toMatchObject({ kind: "block", reason: "active_slots_correlation_limit" });
  });
});
