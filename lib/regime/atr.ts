/**
 * Average true range, TA-Lib convention (Wilder).
 *
 * True range starts at the second bar, because it needs the previous close:
 * `TR_i = max(h_i − l_i, |h_i − c_{i−1}|, |l_i − c_{i−1}|)` for i ≥ 1.
 * The first ATR is the mean of the first `period` true ranges (bars 1..period)
 * and sits at bar `period`; after that Wilder smoothing:
 * `ATR_i = (ATR_{i−1} × (period − 1) + TR_i) / period`.
 * Needs `period + 1` candles. `result[i]` belongs to `candles[period + i]`, so
 * `result.length === candles.length - period` and `result.at(-1)` is the ATR
 * as of the last candle.
 *
 * @see https://github.com/TA-Lib/ta-lib/blob/main/src/ta_func/ta_ATR.c
 * @see J. Welles Wilder Jr., "New Concepts in Technical Trading Systems" (1978)
 */
import { assertPeriod } from "./ema.ts";
import { InvalidSeriesError, NotEnoughDataError } from "./errors.ts";

export interface HighLowClose {
  readonly high: number;
  readonly low: number;
  readonly close: number;
}

/** True ranges of bars 1..n−1 (bar 0 has no previous close): `result[i]` belongs to `candles[i + 1]`. */
export function trueRanges(candles: readonly HighLowClose[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < candles.length; i++) {
    const { high, low } = candles[i]!;
    const prevClose = candles[i - 1]!.close;
    const tr = Math.max(high - low, Math.abs(high - prevClose), Math.abs(low - prevClose));
    if (!Number.isFinite(tr)) throw new InvalidSeriesError(`ATR: candle ${i} is not finite`);
    out.push(tr);
  }
  return out;
}

export function atr(candles: readonly HighLowClose[], period: number): number[] {
  assertPeriod(period);
  if (candles.length < period + 1) {
    throw new NotEnoughDataError(`ATR${period}`, period + 1, candles.length);
  }
  const tr = trueRanges(candles);

  let sum = 0;
  for (let i = 0; i < period; i++) sum += tr[i]!;
  let prev = sum / period;

  const out = [prev];
  for (let i = period; i < tr.length; i++) {
    prev = (prev * (period - 1) + tr[i]!) / period;
    out.push(prev);
  }
  return out;
}
