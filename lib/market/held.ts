/**
 * Market caches this isolate has already parsed and validated, by Redis key,
 * with the digest of their text (its SHA-1, which the cache carries in front:
 * lib/rotation/lua/prelude.ts), so the state read (READ_STATE) need not send
 * an unchanged cache again: the evaluation offers the digests it holds, the
 * script answers `markets_held` for each cache whose text in Redis has that
 * very digest, and the evaluation uses its parsed copy. Redis stays the truth:
 * a cache rewritten since (another digest) comes whole, a copy this isolate
 * does not hold is simply not offered, and a held copy past its expiry is not
 * used (as readMarketCache would refuse the text).
 *
 * A cache changes once per candle, so at 100 open positions this takes the
 * state read's answer from hundreds of KB (and its JSON and zod parsing) to a
 * few hundred bytes on every evaluation but the first after a candle closes.
 */
import { readMarketCache, type MarketCache } from "./cache.ts";

interface Held {
  /** digest of the cache text as Redis holds it (its SHA-1), as READ_STATE sent it */
  digest: string;
  cache: MarketCache;
}

/** By market cache key (the key prefix, the interval and the symbol). */
const held = new Map<string, Held>();
/**
 * Caches kept at most (oldest first out): the open positions and the recent
 * candidates; a parsed cache with its memoised returns is about 10 KB.
 */
const MAX_HELD = 512;
/** By market key prefix: the symbols the last state read returned caches for. */
const lastSymbols = new Map<string, readonly string[]>();

/** What one evaluation offers: the copies it may use if the script says they are current. */
export type Offer = ReadonlyMap<string, Held>;

/**
 * The held copies of `symbol` and of the symbols the last read of `prefix`
 * returned (the open positions, the entries), not yet expired.
 */
export function offerMarkets(prefix: string, symbol: string, nowMs: number): Offer {
  const offer = new Map<string, Held>();
  const consider = (s: string) => {
    const copy = held.get(prefix + s);
    if (!copy) return;
    if (copy.cache.expires_at_ms <= nowMs) held.delete(prefix + s);
    else offer.set(s, copy);
  };
  consider(symbol);
  for (const s of lastSymbols.get(prefix) ?? []) consider(s);
  return offer;
}

/** The offer as the script reads it: symbol -> digest. */
export function offeredDigests(offer: Offer): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const [symbol, copy] of offer) digests[symbol] = copy.digest;
  return digests;
}

/**
 * The valid market caches of a state read's answer: the ones sent (parsed,
 * validated, and held with their digest from now on) and the offered copies
 * the script found current.
 */
export function takeMarkets(
  prefix: string,
  answer: {
    markets: Record<string, string>;
    digests: Record<string, string>;
    held: Iterable<string>;
  },
  offer: Offer,
  nowMs: number,
): Map<string, MarketCache> {
  const markets = new Map<string, MarketCache>();
  for (const [symbol, raw] of Object.entries(answer.markets)) {
    const cache = readMarketCache(raw, nowMs);
    const digest = answer.digests[symbol];
    held.delete(prefix + symbol);
    if (!cache) continue;
    markets.set(symbol, cache);
    if (digest) hold(prefix + symbol, { digest, cache: frozen(cache) });
  }
  for (const symbol of answer.held) {
    // The copy offered (not whatever this isolate holds now): the script compared its digest.
    const copy = offer.get(symbol);
    if (copy && copy.cache.expires_at_ms > nowMs) markets.set(symbol, copy.cache);
  }
  lastSymbols.set(prefix, [...markets.keys()]);
  return markets;
}

function hold(key: string, copy: Held): void {
  held.set(key, copy);
  if (held.size > MAX_HELD) held.delete(held.keys().next().value!);
}

/** Shared between evaluations from now on: nothing may change it. */
function frozen(cache: MarketCache): MarketCache {
  for (const close of cache.closes) Object.freeze(close);
  Object.freeze(cache.closes);
  Object.freeze(cache.regime);
  return Object.freeze(cache);
}

/** Forget every held cache (tests). */
export function forgetHeldMarkets(): void {
  held.clear();
  lastSymbols.clear();
}
