/**
 * The demo world: what `npm start` seeds (unless `--empty` or GOV_STACK_EMPTY=1)
 * and what `npm run demo` rebuilds before its rotation. One definition, used by both.
 *
 * Six symbols, each with a visible regime (the exchange simulator's presets),
 * three open positions with different PnL and the governor's entry records for
 * them (entry score and age), so the first plans get real answers:
 *
 *   XRPUSDT (BASE, 4 slots)  3 held            -> ALLOW, the fourth slot
 *   ADAUSDT (BASE, 4 slots)  4 held, score 3   -> rotation: SOLUSDT (−7.5 %) is closed first
 *   ADAUSDT with score 2                       -> BLOCK: 2.30 needed (1.15 × SOLUSDT's 2.00)
 *   DOGEUSDT (CHOP, 3 slots) 4 held            -> BLOCK over capacity
 *
 * The presets' noise is seeded per symbol, so 1h returns of any two of them
 * correlate far below GOV_MAX_CORRELATION (test/node/world.test.ts checks it).
 */
import type { Preset } from "./exchange-sim/klines.ts";

export interface WorldMarket {
  symbol: string;
  preset: Preset;
  /** Last close (and mark price of a position on it). */
  price: number;
  direction?: "up" | "down";
}

export interface WorldPosition {
  symbol: string;
  side: "LONG" | "SHORT";
  qty: number;
  entryPrice: number;
  leverage: number;
  /** Hours since the governor allowed the entry (its entry record). */
  heldHours: number;
  /** The score the entry was allowed with: a rotation needs (1 + θ) × this. */
  entryScore: number;
}

export interface World {
  name: string;
  universe: string[];
  markets: WorldMarket[];
  positions: WorldPosition[];
  /** USDT wallet balance of the simulated account. */
  walletBalance: number;
  /** The next three commands to try in this world (printed on `npm start`'s ready line). */
  tryNext: string[];
}

export const DEMO_WORLD: World = {
  name: "demo",
  universe: ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT"],
  markets: [
    { symbol: "BTCUSDT", preset: "TREND_STRONG", price: 67_250 },
    { symbol: "ETHUSDT", preset: "BASE", price: 3_450 },
    { symbol: "SOLUSDT", preset: "CHOP", price: 148 },
    { symbol: "XRPUSDT", preset: "BASE", price: 0.62 },
    { symbol: "ADAUSDT", preset: "BASE", price: 0.45 },
    { symbol: "DOGEUSDT", preset: "CHOP", price: 0.16 },
  ],
  positions: [
    {
      symbol: "BTCUSDT",
      side: "LONG",
      qty: 0.1,
      entryPrice: 65_000,
      leverage: 5,
      heldHours: 14,
      entryScore: 3,
    },
    {
      symbol: "ETHUSDT",
      side: "LONG",
      qty: 1.5,
      entryPrice: 3_410,
      leverage: 5,
      heldHours: 5,
      entryScore: 2.5,
    },
    {
      symbol: "SOLUSDT",
      side: "LONG",
      qty: 30,
      entryPrice: 160,
      leverage: 5,
      heldHours: 26,
      entryScore: 2,
    },
  ],
  walletBalance: 10_000,
  tryNext: [
    "npm run plan -- --symbol XRPUSDT --score 2",
    "npm run plan -- --symbol ADAUSDT --score 3 --wait",
    "npm run plan -- --symbol DOGEUSDT --score 5 --explain",
  ],
};

/** `npm start -- --empty`: no universe, no klines, no positions (nothing is seeded). */
export const EMPTY_WORLD: World = {
  name: "empty",
  universe: [],
  markets: [],
  positions: [],
  walletBalance: 10_000,
  tryNext: [
    "npm run universe -- BTCUSDT ETHUSDT",
    "npm run plan -- --symbol BTCUSDT --score 2 --explain",
    "npm run demo",
  ],
};

export function marketOf(world: World, symbol: string): WorldMarket {
  const market = world.markets.find((m) => m.symbol === symbol);
  if (!market) throw new Error(`world ${world.name}: no market for ${symbol}`);
  return market;
}

/** Rows for `PUT /__sim/positions`: marked at their market's price. */
export function simPositions(world: World, nowMs: number): Record<string, unknown>[] {
  return world.positions.map((p) => {
    const mark = marketOf(world, p.symbol).price;
    const amount = p.side === "LONG" ? p.qty : -p.qty;
    return {
      symbol: p.symbol,
      positionAmt: String(amount),
      entryPrice: String(p.entryPrice),
      markPrice: String(mark),
      unRealizedProfit: (amount * (mark - p.entryPrice)).toFixed(8),
      leverage: String(p.leverage),
      updateTime: Math.round(nowMs - p.heldHours * 3_600_000),
    };
  });
}

/** `P:governor:entries` values: `{plan_id, score, at}` (at in unix seconds), by symbol. */
export function entryRecords(world: World, nowMs: number): Record<string, string> {
  return Object.fromEntries(
    world.positions.map((p) => [
      p.symbol,
      JSON.stringify({
        plan_id: `world_${p.symbol}`,
        score: p.entryScore,
        at: Math.floor(nowMs / 1000 - p.heldHours * 3600),
      }),
    ]),
  );
}

/** pnl % of a world position at its market's price. */
export function pnlPct(world: World, position: WorldPosition): number {
  const mark = marketOf(world, position.symbol).price;
  const sign = position.side === "LONG" ? 1 : -1;
  return (sign * (mark - position.entryPrice)) / position.entryPrice;
}

/** One line for people: "demo (6 symbols; positions BTCUSDT +3.5 %, ...)". */
export function describeWorld(world: World): string {
  if (world.universe.length === 0 && world.positions.length === 0) {
    return `${world.name} (no universe, no klines, no positions)`;
  }
  const positions = world.positions
    .map((p) => {
      const pct = pnlPct(world, p) * 100;
      return `${p.symbol} ${pct >= 0 ? "+" : "−"}${Math.abs(pct).toFixed(1)} %`;
    })
    .join(", ");
  return `${world.name} (${world.universe.length} symbols; positions ${positions})`;
}

/** The Redis commands seeding needs (an @upstash/redis client has them). */
export interface WorldRedis {
  hset(key: string, values: Record<string, string>): Promise<unknown>;
}

export interface WorldTarget {
  /** Exchange simulator base URL (its control API under /__sim). */
  exchangeUrl: string;
  redis: WorldRedis;
  /** `P:policy:current` and `P:governor:entries`. */
  keys: { policy: string; entries: string };
}

/**
 * Seed `world` into the exchange simulator (klines, positions, account) and
 * Redis (the policy's universe, the governor's entry records). Overwrites what
 * it sets; leaves everything else alone.
 */
export async function seedWorld(world: World, target: WorldTarget, nowMs = Date.now()) {
  const sim = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${target.exchangeUrl.replace(/\/+$/, "")}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) {
      throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`);
    }
    await response.arrayBuffer();
  };
  for (const m of world.markets) {
    await sim("PUT", `/__sim/klines/${m.symbol}`, {
      preset: m.preset,
      base_price: m.price,
      direction: m.direction ?? "up",
    });
  }
  await sim("PUT", "/__sim/positions", simPositions(world, nowMs));
  await sim("PUT", "/__sim/account", { totalWalletBalance: world.walletBalance });
  await target.redis.hset(target.keys.policy, { universe_symbols: JSON.stringify(world.universe) });
  await target.redis.hset(target.keys.entries, entryRecords(world, nowMs));
}
