/**
 * Binance USD-M klines: the response schema, closed-candle selection and the
 * instant the next candle closes (the natural expiry of a kline cache: closed
 * candles never change until the next one closes).
 *
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Kline-Candlestick-Data
 */
import { z } from "zod";
import { NotEnoughDataError } from "../regime/errors.ts";
import { isUnixMs, withQuickCheck } from "../quick-parse.ts";

export const KLINE_INTERVALS = [
  "1m",
  "3m",
  "5m",
  "15m",
  "30m",
  "1h",
  "2h",
  "4h",
  "6h",
  "8h",
  "12h",
  "1d",
] as const;
export type KlineInterval = (typeof KLINE_INTERVALS)[number];
export const KlineIntervalSchema = z.enum(KLINE_INTERVALS);

const MINUTE_MS = 60_000;
const INTERVAL_MS: Readonly<Record<KlineInterval, number>> = {
  "1m": MINUTE_MS,
  "3m": 3 * MINUTE_MS,
  "5m": 5 * MINUTE_MS,
  "15m": 15 * MINUTE_MS,
  "30m": 30 * MINUTE_MS,
  "1h": 60 * MINUTE_MS,
  "2h": 120 * MINUTE_MS,
  "4h": 240 * MINUTE_MS,
  "6h": 360 * MINUTE_MS,
  "8h": 480 * MINUTE_MS,
  "12h": 720 * MINUTE_MS,
  "1d": 1440 * MINUTE_MS,
};

/** Length of one candle in ms. */
export function intervalMs(interval: KlineInterval): number {
  return INTERVAL_MS[interval];
}

/** One candle with numeric fields; times are unix ms, `closeTime` is the candle's last ms. */
export interface Candle {
  readonly openTime: number;
  readonly closeTime: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
}

const timeMs = z.number().int().nonnegative();
const nonNegative = z.number().finite().nonnegative();

/** A candle as the governor stores it (e.g. a kline cache read back from Redis). */
export const CandleSchema = z
  .object({
    openTime: timeMs,
    closeTime: timeMs,
    open: nonNegative,
    high: nonNegative,
    low: nonNegative,
    close: nonNegative,
    volume: nonNegative,
  })
  .refine((c) => c.closeTime > c.openTime, "closeTime must be after openTime")
  .refine((c) => c.high >= c.low, "high must not be below low");

/** Binance sends prices and volumes as decimal strings. */
const decimalString = z
  .string()
  .regex(/^\d+(\.\d+)?$/, "expected a non-negative decimal string")
  .transform(Number)
  .pipe(nonNegative);

/**
 * One row of `GET /fapi/v1/klines`: `[openTime, open, high, low, close, volume,
 * closeTime, quoteVolume, trades, takerBuyBase, takerBuyQuote, ignore]`. Fields
 * after closeTime are not used and not checked.
 */
export const KlineRowSchema = z
  .tuple(
    [timeMs, decimalString, decimalString, decimalString, decimalString, decimalString, timeMs],
    z.unknown(),
  )
  .transform(([openTime, open, high, low, close, volume, closeTime]): Candle => ({
    openTime,
    closeTime,
    open,
    high,
    low,
    close,
    volume,
  }))
  .pipe(CandleSchema);

/**
 * The whole `GET /fapi/v1/klines` response: every row as KlineRowSchema reads
 * it. A response is hundreds of rows, so each row goes through `klineRow`:
 * checked by hand first (`quickCandle`, lib/quick-parse.ts), through
 * KlineRowSchema when the quick check does not accept it. Same results, same
 * issues (with the row index in their path), a fraction of the time.
 */
export const KlinesResponseSchema = z.array(z.unknown()).transform((rows, ctx): Candle[] => {
  const candles: Candle[] = [];
  let failed = false;
  for (let i = 0; i < rows.length; i++) {
    const parsed = klineRow.safeParse(rows[i]);
    if (parsed.success) {
      candles.push(parsed.data);
      continue;
    }
    failed = true;
    for (const issue of parsed.error.issues) {
      ctx.addIssue({ ...issue, path: [i, ...issue.path] } as z.core.$ZodRawIssue);
    }
  }
  return failed ? z.NEVER : candles;
});

const DECIMAL_RE = /^\d+(\.\d+)?$/;

/** A decimal string as KlineRowSchema reads it, or undefined. */
function quickDecimalString(value: unknown): number | undefined {
  if (typeof value !== "string" || !DECIMAL_RE.test(value)) return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}

/** A time as KlineRowSchema reads it, or undefined. */
const quickTime = (value: unknown) => (isUnixMs(value) ? value : undefined);

/** The candle of a row every check of KlineRowSchema passes; undefined for any other row. */
function quickCandle(row: unknown): Candle | undefined {
  if (!Array.isArray(row) || row.length < 7) return undefined;
  const openTime = quickTime(row[0]);
  const open = quickDecimalString(row[1]);
  const high = quickDecimalString(row[2]);
  const low = quickDecimalString(row[3]);
  const close = quickDecimalString(row[4]);
  const volume = quickDecimalString(row[5]);
  const closeTime = quickTime(row[6]);
  if (
    openTime === undefined ||
    open === undefined ||
    high === undefined ||
    low === undefined ||
    close === undefined ||
    volume === undefined ||
    closeTime === undefined ||
    !(closeTime > openTime) ||
    !(high >= low)
  ) {
    return undefined;
  }
  return { openTime, closeTime, open, high, low, close, volume };
}

/** One kline row as KlineRowSchema reads it, checked by hand first. */
const klineRow = withQuickCheck(KlineRowSchema, quickCandle);

/**
 * The candles that have closed by `nowMs`, in ascending openTime. Binance's
 * last row is the candle still forming (closeTime ≥ now); its high/low/close
 * would move the indicators every request, so it is dropped.
 */
export function closedCandles(candles: readonly Candle[], nowMs: number): Candle[] {
  return candles.filter((c) => c.closeTime < nowMs).sort((a, b) => a.openTime - b.openTime);
}

/**
 * The first instant after `nowMs` at which a candle closes, i.e. when the set of
 * closed candles next changes. A candle closes at `closeTime + 1` (the open of
 * the next one). Given candles, their own length and phase are used (taken
 * from the last one); given an interval, Binance's UTC-aligned boundaries.
 */
export function nextCloseAfter(source: KlineInterval | readonly Candle[], nowMs: number): number {
  let anchor: number;
  let length: number;
  if (typeof source === "string") {
    anchor = 0;
    length = intervalMs(source);
  } else {
    const last = source.at(-1);
    if (last === undefined) throw new NotEnoughDataError("nextCloseAfter", 1, 0);
    anchor = last.openTime;
    length = last.closeTime - last.openTime + 1;
  }
  return anchor + (Math.floor((nowMs - anchor) / length) + 1) * length;
}
