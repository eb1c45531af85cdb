import { alignedReturns, logReturns, pearson } from "../market/returns.ts";

/** Fewest common 1h returns the correlation gate decides on (docs/contract.md §3 step 6). */
export const MIN_COMMON_RETURNS = 30;

/** Closes of one symbol: [openTime ms, close], oldest first (the market cache's shape). */
export type Closes = readonly (readonly [number, number])[];

export interface OpenLeg {
  symbol: string;
  /** +1 long, −1 short, 0 unknown (e.g. hedge mode with both sides). */
  sign: 1 | -1 | 0;
  /** null when its klines could not be had. */
  closes: Closes | null;
}

export type PairCorrelation =
  | { symbol: string; status: "ok"; value: number; samples: number }
  | { symbol: string; status: "limit"; value: number; samples: number }
  | { symbol: string; status: "unavailable"; samples: number };

/**
 * Log returns of a closes series, computed once per series object: a market
 * cache's closes are shared by every evaluation of the isolate until the next
 * candle (lib/market/held.ts), and never change.
 */
const returnsMemo = new WeakMap<Closes, { candleMs: number; returns: Map<number, number> }>();

function returnsOf(closes: Closes, candleMs: number): ReadonlyMap<number, number> {
  const memo = returnsMemo.get(closes);
  if (memo?.candleMs === candleMs) return memo.returns;
  const returns = logReturns(
    closes.map(([openTime, close]) => ({ openTime, closeTime: openTime + candleMs - 1, close })),
  );
  returnsMemo.set(closes, { candleMs, returns });
  return returns;
}

/** Pearson's r of two return series (by their memoised objects), computed once per pair. */
const pairMemo = new WeakMap<
  ReadonlyMap<number, number>,
  WeakMap<ReadonlyMap<number, number>, { r: number | null; samples: number }>
>();

function pairOf(
  a: ReadonlyMap<number, number>,
  b: ReadonlyMap<number, number>,
): { r: number | null; samples: number } {
  let byLeg = pairMemo.get(a);
  if (!byLeg) pairMemo.set(a, (byLeg = new WeakMap()));
  let pair = byLeg.get(b);
  if (!pair) {
    const { x, y } = alignedReturns(a, b);
    pair = { r: pearson(x, y, MIN_COMMON_RETURNS), samples: x.length };
    byLeg.set(b, pair);
  }
  return pair;
}

/**
 * Direction-adjusted Pearson correlation of aligned log returns between the
 * candidate and each open leg: r × sign(candidate) × sign(leg) when both signs
 * are known (a long and a short of correlated coins hedge). A value above
 * `maxCorrelation` is a "limit"; fewer than 30 common returns is "unavailable".
 */
export function correlations(input: {
  candidate: { closes: Closes; sign: 1 | -1 | 0 };
  legs: readonly OpenLeg[];
  maxCorrelation: number;
  candleMs: number;
}): PairCorrelation[] {
  const candidate = returnsOf(input.candidate.closes, input.candleMs);
  return input.legs.map((leg): PairCorrelation => {
    if (leg.closes === null) return { symbol: leg.symbol, status: "unavailable", samples: 0 };
    const { r, samples } = pairOf(candidate, returnsOf(leg.closes, input.candleMs));
    if (r === null) return { symbol: leg.symbol, status: "unavailable", samples };
    const signs = input.candidate.sign * leg.sign;
    const value = signs === 0 ? r : r * signs;
    const status = value > input.maxCorrelation ? "limit" : "ok";
    return { symbol: leg.symbol, status, value, samples };
  });
}
