/**
 * Exponential moving average, TA-Lib convention.
 *
 * Seed: the simple average of the first `period` values, placed at input index
 * `period - 1`; then `ema = prev + k × (value − prev)` with `k = 2 / (period + 1)`.
 * Output is aligned to the input's tail: `result[i]` belongs to
 * `values[period - 1 + i]`, so `result.length === values.length - period + 1`
 * and `result.at(-1)` is the EMA of the last value.
 *
 * @see https://github.com/TA-Lib/ta-lib/blob/main/src/ta_func/ta_EMA.c (TA_COMPATIBILITY_DEFAULT: SMA seed)
 * @see https://chartschool.stockcharts.com/table-of-contents/technical-indicators-and-overlays/technical-overlays/moving-averages-simple-and-exponential
 */
import { InvalidSeriesError, NotEnoughDataError } from "./errors.ts";

export function ema(values: readonly number[], period: number): number[] {
  assertPeriod(period);
  if (values.length < period) throw new NotEnoughDataError(`EMA${period}`, period, values.length);
  assertFinite(values, `EMA${period}`);

  const k = 2 / (period + 1);
  let sum = 0;
  for (let i = 0; i < period; i++) sum += values[i]!;
  let prev = sum / period;

  const out = [prev];
  for (let i = period; i < values.length; i++) {
    prev = (values[i]! - prev) * k + prev;
    out.push(prev);
  }
  return out;
}

/** A period is a positive integer; anything else is a programming error. */
export function assertPeriod(period: number): void {
  if (!Number.isInteger(period) || period < 1) {
    throw new RangeError(`period must be a positive integer, got ${period}`);
  }
}

function assertFinite(values: readonly number[], indicator: string): void {
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad !== -1) throw new InvalidSeriesError(`${indicator}: value at index ${bad} is not finite`);
}
