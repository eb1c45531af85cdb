/**
 * Kline (candlestick) data for the exchange simulator: Binance intervals,
 * Binance-shaped rows, request selection (startTime/endTime/limit) and the
 * deterministic regime presets (TREND_STRONG, CHOP, BASE).
 *
 * A Binance USD-M kline row:
 * [openTime, "open", "high", "low", "close", "volume", closeTime,
 *  "quoteAssetVolume", numberOfTrades, "takerBuyBaseVolume", "takerBuyQuoteVolume", "0"]
 */

export type KlineRow = [
  number,
  string,
  string,
  string,
  string,
  string,
  number,
  string,
  number,
  string,
  string,
  string,
];

export const PRESETS = ["TREND_STRONG", "CHOP", "BASE"] as const;
export type Preset = (typeof PRESETS)[number];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Binance USD-M kline intervals and their lengths in ms (1M approximated as 30 days). */
export const INTERVAL_MS: Readonly<Record<string, number>> = {
  "1m": MINUTE,
  "3m": 3 * MINUTE,
  "5m": 5 * MINUTE,
  "15m": 15 * MINUTE,
  "30m": 30 * MINUTE,
  "1h": HOUR,
  "2h": 2 * HOUR,
  "4h": 4 * HOUR,
  "6h": 6 * HOUR,
  "8h": 8 * HOUR,
  "12h": 12 * HOUR,
  "1d": DAY,
  "3d": 3 * DAY,
  "1w": 7 * DAY,
  "1M": 30 * DAY,
};

export function isInterval(value: string): boolean {
  return Object.prototype.hasOwnProperty.call(INTERVAL_MS, value);
}

export function intervalMs(interval: string): number {
  const ms = INTERVAL_MS[interval];
  if (ms === undefined) throw new Error(`unknown interval ${interval}`);
  return ms;
}

/** Open time of the candle containing `t` (weeks start on Monday, as on Binance). */
export function candleOpenTime(t: number, interval: string): number {
  const ms = intervalMs(interval);
  const offset = interval === "1w" ? 4 * DAY : 0; // 1970-01-05 was a Monday
  return Math.floor((t - offset) / ms) * ms + offset;
}

/** Binance request weight of GET /fapi/v1/klines by its `limit`. */
export function klinesWeight(limit: number): number {
  if (limit < 100) return 1;
  if (limit < 500) return 2;
  if (limit <= 1000) return 5;
  return 10;
}

/** Rows a klines request returns: rows sorted by openTime, filtered, capped at `limit`. */
export function selectRows(
  rows: readonly KlineRow[],
  query: { startTime?: number; endTime?: number; limit: number },
): KlineRow[] {
  const filtered = rows.filter(
    (row) =>
      (query.startTime === undefined || row[0] >= query.startTime) &&
      (query.endTime === undefined || row[0] <= query.endTime),
  );
  if (query.startTime !== undefined) return filtered.slice(0, query.limit);
  return filtered.slice(Math.max(0, filtered.length - query.limit));
}

// ---------------------------------------------------------------------------
// Normalising rows given through the control API

/** A row as accepted by the control API: numbers or numeric strings, 6 to 12 entries. */
export type KlineRowInput = ReadonlyArray<number | string>;

function toNum(value: number | string | undefined, what: string): number {
  const n = typeof value === "number" ? value : Number(value);
  if (value === undefined || value === "" || !Number.isFinite(n)) {
    throw new Error(`kline ${what} is not a number: ${String(value)}`);
  }
  return n;
}

function toDecimalString(value: number | string | undefined, what: string): string {
  if (typeof value === "string") {
    toNum(value, what);
    return value;
  }
  return String(toNum(value, what));
}

/** Normalise a control-API row into a full 12-field Binance row. */
export function normalizeRow(input: KlineRowInput, interval: string): KlineRow {
  if (input.length < 6 || input.length > 12) {
    throw new Error(`kline row must have 6 to 12 fields, got ${input.length}`);
  }
  const openTime = Math.trunc(toNum(input[0], "openTime"));
  const open = toDecimalString(input[1], "open");
  const high = toDecimalString(input[2], "high");
  const low = toDecimalString(input[3], "low");
  const close = toDecimalString(input[4], "close");
  const volume = toDecimalString(input[5], "volume");
  const closeTime =
    input[6] !== undefined
      ? Math.trunc(toNum(input[6], "closeTime"))
      : openTime + intervalMs(interval) - 1;
  const avg = (Number(open) + Number(high) + Number(low) + Number(close)) / 4;
  const quoteVolume =
    input[7] !== undefined
      ? toDecimalString(input[7], "quoteVolume")
      : fmtQty(Number(volume) * avg);
  const trades = input[8] !== undefined ? Math.trunc(toNum(input[8], "trades")) : 0;
  const takerBase =
    input[9] !== undefined ? toDecimalString(input[9], "takerBuyBase") : fmtQty(Number(volume) / 2);
  const takerQuote =
    input[10] !== undefined
      ? toDecimalString(input[10], "takerBuyQuote")
      : fmtQty((Number(volume) / 2) * avg);
  const ignore = input[11] !== undefined ? String(input[11]) : "0";
  if (Number(high) < Number(low)) throw new Error(`kline at ${openTime}: high < low`);
  return [
    openTime,
    open,
    high,
    low,
    close,
    volume,
    closeTime,
    quoteVolume,
    trades,
    takerBase,
    takerQuote,
    ignore,
  ];
}

// ---------------------------------------------------------------------------
// Deterministic presets

export interface PresetSpec {
  preset: Preset;
  /** Number of rows generated, the last one being the still-open candle (default 150). */
  count: number;
  /** Price of the last close (default 100). */
  basePrice: number;
  /** Trend direction for TREND_STRONG and BASE (default up). */
  direction: "up" | "down";
  /** Seed for the per-symbol noise; default derived from the symbol, so two symbols are uncorrelated. */
  seed: string;
}

/**
 * Shape of each preset, per candle (measured on the closed candles, over
 * many seeds, both directions, 99 or 149 closed candles):
 * - TREND_STRONG: steady drift 0.6 %/candle, small noise and wicks
 *   => trend = |EMA20-EMA50|/EMA50 in 0.078..0.105, ATR% in 0.009..0.013.
 * - BASE: drift 0.16 %/candle, tiny close noise, wider wicks
 *   => trend in 0.021..0.027, ATR% in 0.0127..0.0144.
 * - CHOP: mean-reverting log price (AR(1), sigma 2 %), 2 % wicks
 *   => ATR% in 0.05..0.066 (trend mostly < 0.017, irrelevant).
 * The noise is seeded per symbol, so log returns of two symbols are
 * (close to) uncorrelated even with the same preset.
 */
const SHAPES: Record<
  Preset,
  { drift: number; noise: number; wick: number; meanReversion?: number }
> = {
  TREND_STRONG: { drift: 0.006, noise: 0.0015, wick: 0.0025 },
  BASE: { drift: 0.0016, noise: 0.0005, wick: 0.006 },
  CHOP: { drift: 0, noise: 0.02, wick: 0.02, meanReversion: 0.6 },
};

/** FNV-1a 32-bit hash. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32 PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function priceDecimals(price: number): number {
  const magnitude = Math.floor(Math.log10(Math.max(Math.abs(price), 1e-12)));
  return Math.min(8, Math.max(2, 6 - magnitude));
}

function fmtPrice(value: number, decimals: number): string {
  return value.toFixed(decimals);
}

function fmtQty(value: number): string {
  return value.toFixed(3);
}

/**
 * Generate a preset's rows so that the last row is the candle open at `now`
 * (openTime aligned to the interval, closeTime > now). Deterministic for a
 * given spec and interval: only the time axis moves with `now`.
 */
export function generatePreset(spec: PresetSpec, interval: string, now: number): KlineRow[] {
  const shape = SHAPES[spec.preset];
  const ms = intervalMs(interval);
  const rand = prng(hash32(`${spec.preset}|${spec.direction}|${spec.seed}`));
  const count = spec.count;
  const sign = spec.direction === "down" ? -1 : 1;

  // Log closes x[0..count-1]; x[-1] = 0 is the first open.
  const logs: number[] = [];
  let x = 0;
  for (let i = 0; i < count; i++) {
    const z = gaussian(rand);
    if (shape.meanReversion !== undefined) {
      x = shape.meanReversion * x + shape.noise * z;
    } else {
      x = x + sign * shape.drift + shape.noise * z;
    }
    logs.push(x);
  }
  const last = logs[count - 1] ?? 0;
  const scale = spec.basePrice / Math.exp(last);
  const decimals = priceDecimals(spec.basePrice);
  const currentOpen = candleOpenTime(now, interval);

  const rows: KlineRow[] = [];
  let prevClose = scale; // exp(0) * scale
  for (let i = 0; i < count; i++) {
    const openTime = currentOpen - (count - 1 - i) * ms;
    const open = prevClose;
    const close = scale * Math.exp(logs[i] ?? 0);
    const wickUp = shape.wick * (0.75 + 0.5 * rand());
    const wickDown = shape.wick * (0.75 + 0.5 * rand());
    const high = Math.max(open, close) * (1 + wickUp);
    const low = Math.min(open, close) * (1 - wickDown);
    const volume = 1000 + 1000 * rand();
    const avg = (open + high + low + close) / 4;
    const takerShare = 0.4 + 0.2 * rand();
    const trades = 500 + Math.floor(1500 * rand());
    rows.push([
      openTime,
      fmtPrice(open, decimals),
      fmtPrice(high, decimals),
      fmtPrice(low, decimals),
      fmtPrice(close, decimals),
      fmtQty(volume),
      openTime + ms - 1,
      fmtQty(volume * avg),
      trades,
      fmtQty(volume * takerShare),
      fmtQty(volume * takerShare * avg),
      "0",
    ]);
    prevClose = Number(fmtPrice(close, decimals));
  }
  return rows;
}
