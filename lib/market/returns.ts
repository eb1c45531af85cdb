/**
 * Log returns and their Pearson correlation, for the correlation gate
 * (docs/contract.md §3 step 6: 1h log returns of the candidate vs each open position).
 */

export interface ClosePoint {
  readonly openTime: number;
  readonly closeTime: number;
  readonly close: number;
}

/**
 * `ln(close_t / close_{t−1})` keyed by the openTime of candle t. Only
 * consecutive pairs count (candle t opens the ms after t−1 closes), so a gap
 * in the data never passes for one candle's return. Pairs with a non-positive
 * close are skipped (the log is undefined).
 */
export function logReturns(candles: readonly ClosePoint[]): Map<number, number> {
  const sorted = [...candles].sort((a, b) => a.openTime - b.openTime);
  const out = new Map<number, number>();
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.openTime !== prev.closeTime + 1) continue;
    if (!(prev.close > 0) || !(cur.close > 0)) continue;
    out.set(cur.openTime, Math.log(cur.close / prev.close));
  }
  return out;
}

export interface AlignedReturns {
  /** Open times present in both series, ascending. */
  readonly openTimes: number[];
  readonly x: number[];
  readonly y: number[];
}

/** The returns of `a` and `b` over the same candles (open times in both), ascending. */
export function alignedReturns(
  a: ReadonlyMap<number, number>,
  b: ReadonlyMap<number, number>,
): AlignedReturns {
  const openTimes = [...a.keys()].filter((t) => b.has(t)).sort((p, q) => p - q);
  return {
    openTimes,
    x: openTimes.map((t) => a.get(t)!),
    y: openTimes.map((t) => b.get(t)!),
  };
}

/**
 * Fewest pairs `pearson` correlates by default. Two points always give ±1, so
 * three is the least that says anything; the gate may ask for more.
 * @default 3
 */
export const PEARSON_MIN_SAMPLES = 3;

/**
 * Pearson's r of two equally long samples, or null when it is undefined or
 * meaningless: fewer than `minSamples` pairs, or either sample constant (zero
 * variance). Two-pass (means first) for numerical stability.
 *
 * @see https://en.wikipedia.org/wiki/Pearson_correlation_coefficient
 */
export function pearson(
  x: readonly number[],
  y: readonly number[],
  minSamples: number = PEARSON_MIN_SAMPLES,
): number | null {
  if (x.length !== y.length) {
    throw new RangeError(`pearson: samples differ in length (${x.length} vs ${y.length})`);
  }
  if (![...x, ...y].every(Number.isFinite)) throw new RangeError("pearson: non-finite sample");
  const n = x.length;
  if (n < Math.max(2, minSamples)) return null;
  // Test constancy exactly: a float mean of identical values can differ from
  // them by an ulp, which would turn zero variance into rounding noise.
  if (isConstant(x) || isConstant(y)) return null;

  const meanX = x.reduce((s, v) => s + v, 0) / n;
  const meanY = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - meanX;
    const dy = y[i]! - meanY;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return null;
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.min(1, Math.max(-1, r));
}

function isConstant(values: readonly number[]): boolean {
  return values.every((v) => v === values[0]);
}
