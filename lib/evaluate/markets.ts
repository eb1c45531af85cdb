import type { Config } from "../config.ts";
import type { RedisKeys } from "../keys.ts";
import type { BinanceClient } from "../binance/client.ts";
import { closedCandles, nextCloseAfter } from "../market/klines.ts";
import { marketCacheEntry, type MarketCache } from "../market/cache.ts";
import { computeRegime, DEFAULT_REGIME_THRESHOLDS } from "../regime/classify.ts";
import type { CacheWrite } from "../rotation/scripts.ts";
import type { Fetched } from "./gates.ts";
import type { Failures } from "../metrics/failures.ts";

export interface MarketSource {
  binance: BinanceClient;
  config: Config;
  keys: RedisKeys;
  /** unix ms */
  now: () => number;
  /** Valid caches already read from Redis, by symbol. */
  cached: ReadonlyMap<string, MarketCache>;
  /** Fetched markets are queued here, to be cached by the next script call. */
  writes: CacheWrite[];
  /** A failed klines request is noted here (once per evaluation), for its deciding script to count. */
  failures?: Failures;
}

/**
 * A symbol's market: the cache, else (cold path) klines from Binance, the
 * regime computed, and the entry queued for caching until the next candle
 * closes. One fetch per symbol per call of the returned function's owner.
 */
export function marketFetcher(source: MarketSource): (symbol: string) => Promise<MarketCache> {
  const pending = new Map<string, Promise<MarketCache>>();
  return (symbol) => {
    const cached = source.cached.get(symbol);
    if (cached) return Promise.resolve(cached);
    let fetching = pending.get(symbol);
    if (!fetching) {
      fetching = fetchMarket(symbol, source);
      pending.set(symbol, fetching);
    }
    return fetching;
  };
}

/** Markets of several symbols, each settled on its own (one failure blocks only its gate). */
export async function marketsOf(
  symbols: readonly string[],
  marketOf: (symbol: string) => Promise<MarketCache>,
): Promise<Map<string, Fetched<MarketCache>>> {
  const results = await Promise.allSettled(symbols.map(marketOf));
  return new Map(symbols.map((symbol, i) => [symbol, settled(results[i]!)]));
}

/** A settled call as the gates read it; a typed error's `detail` (e.g. restricted_location) is kept. */
export function settled<T>(result: PromiseSettledResult<T>): Fetched<T> {
  if (result.status === "fulfilled") return { ok: true, value: result.value };
  const detail = (result.reason as { detail?: unknown } | null)?.detail;
  return {
    ok: false,
    error: describe(result.reason),
    ...(typeof detail === "string" ? { detail } : {}),
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

async function fetchMarket(symbol: string, source: MarketSource): Promise<MarketCache> {
  const { interval, lookback } = source.config.regime;
  const rows = await source.binance.klines(symbol, interval, lookback).catch((error: unknown) => {
    if (source.failures) source.failures.klines = 1;
    throw error;
  });
  const now = source.now();
  const closed = closedCandles(rows, now);
  const regime = computeRegime(closed, { ...DEFAULT_REGIME_THRESHOLDS, ...source.config.regime });
  const expiresAt = nextCloseAfter(interval, now);
  const entry = marketCacheEntry(regime, closed, expiresAt);
  source.writes.push([
    source.keys.marketCache(symbol, interval),
    JSON.stringify(entry),
    expiresAt - now,
    true,
  ]);
  return entry;
}
