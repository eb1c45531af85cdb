/**
 * Prices at a virtual instant, from the klines read by csv.ts, without looking
 * ahead: the mark is the close of the last candle closed by then, a fill takes
 * the open of the next candle, and a klines request sees closed candles plus
 * the still-open one reduced to its open (its future high/low/close stay hidden).
 */
import { intervalMs, KLINE_INTERVALS, type KlineInterval } from "../lib/market/klines.ts";
import type { KlineSeries, KlineSet } from "./csv.ts";

/** A requested kline interval the data cannot serve (finer than, or not a multiple of, the data's). */
export class IntervalError extends Error {
  override name = "IntervalError";
}

/** First index i with values[i] > x (values ascending). */
export function upperBound(values: readonly number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A decimal as Binance writes it: plain digits, never exponent notation. */
export function decimal(value: number): string {
  const text = String(value);
  if (!text.includes("e")) return text;
  return value.toFixed(12).replace(/\.?0+$/, "");
}

export class Market {
  readonly interval: KlineInterval;
  /** ms per data candle */
  readonly step: number;
  readonly symbols: readonly string[];
  private readonly series: ReadonlyMap<string, KlineSeries>;
  private readonly aggregated = new Map<string, KlineSeries>();
  private readonly rowText = new Map<KlineSeries, { text: string; offsets: number[] }>();

  constructor(set: KlineSet) {
    this.interval = set.interval;
    this.step = intervalMs(set.interval);
    this.series = set.series;
    this.symbols = [...set.series.keys()].sort();
  }

  has(symbol: string): boolean {
    return this.series.has(symbol);
  }

  /** Open time of the earliest candle and the instant the latest one closes (unix ms). */
  span(): { from: number; to: number } {
    let from = Infinity;
    let to = -Infinity;
    for (const s of this.series.values()) {
      if (s.openTime.length === 0) continue;
      from = Math.min(from, s.openTime[0]!);
      to = Math.max(to, s.openTime.at(-1)! + this.step);
    }
    return { from, to };
  }

  /** Close of the last candle closed by `at`; undefined before the first one. */
  mark(symbol: string, at: number): number | undefined {
    const s = this.series.get(symbol);
    if (!s) return undefined;
    const i = upperBound(s.openTime, at - this.step) - 1;
    return i >= 0 ? s.close[i] : undefined;
  }

  /** Open of the first candle opening at or after `at`, and when it opens; undefined past the data. */
  nextOpen(symbol: string, at: number): { price: number; at: number } | undefined {
    const s = this.series.get(symbol);
    if (!s) return undefined;
    const i = upperBound(s.openTime, at - 1);
    return i < s.openTime.length ? { price: s.open[i]!, at: s.openTime[i]! } : undefined;
  }

  /**
   * `GET /fapi/v1/klines` at `at`: the latest `limit` candles of `interval`
   * (UTC-aligned, aggregated from finer data), as Binance's JSON rows.
   */
  klinesJson(symbol: string, interval: string, limit: number, at: number): string {
    const s = this.seriesFor(symbol, interval);
    const length = intervalMs(interval as KlineInterval);
    const last = upperBound(s.openTime, at) - 1;
    if (last < 0) return "[]";
    const first = Math.max(0, last - limit + 1);
    const forming = s.openTime[last]! + length > at;
    const closedEnd = forming ? last : last + 1;
    const parts: string[] = [];
    if (closedEnd > first) {
      const { text, offsets } = this.closedRows(s, length);
      parts.push(text.slice(offsets[first], offsets[closedEnd]! - 1));
    }
    if (forming) parts.push(formingRow(s, last, length));
    return `[${parts.join(",")}]`;
  }

  /** Every row of a series as one string and where each starts: a request is one slice. */
  private closedRows(s: KlineSeries, length: number): { text: string; offsets: number[] } {
    let rows = this.rowText.get(s);
    if (!rows) {
      const texts = s.openTime.map((_, i) => closedRow(s, i, length));
      const offsets = [0];
      for (const text of texts) offsets.push(offsets.at(-1)! + text.length + 1);
      rows = { text: texts.join(","), offsets };
      this.rowText.set(s, rows);
    }
    return rows;
  }

  private seriesFor(symbol: string, interval: string): KlineSeries {
    const base = this.series.get(symbol);
    if (!base) throw new IntervalError(`no klines for ${symbol}`);
    if (interval === this.interval) return base;
    if (!(KLINE_INTERVALS as readonly string[]).includes(interval)) {
      throw new IntervalError(`unknown interval ${interval}`);
    }
    const length = intervalMs(interval as KlineInterval);
    if (length < this.step || length % this.step !== 0) {
      throw new IntervalError(`${interval} klines cannot be built from ${this.interval} data`);
    }
    const key = `${symbol}|${interval}`;
    let series = this.aggregated.get(key);
    if (!series) this.aggregated.set(key, (series = aggregate(base, interval as KlineInterval)));
    return series;
  }
}

/** Candles of a coarser interval (Binance's boundaries are multiples of its length since epoch). */
function aggregate(base: KlineSeries, interval: KlineInterval): KlineSeries {
  const length = intervalMs(interval);
  const out: KlineSeries = {
    symbol: base.symbol,
    interval,
    openTime: [],
    open: [],
    high: [],
    low: [],
    close: [],
    volume: [],
  };
  for (let i = 0; i < base.openTime.length; i++) {
    const bucket = Math.floor(base.openTime[i]! / length) * length;
    const j = out.openTime.length - 1;
    if (j >= 0 && out.openTime[j] === bucket) {
      out.high[j] = Math.max(out.high[j]!, base.high[i]!);
      out.low[j] = Math.min(out.low[j]!, base.low[i]!);
      out.close[j] = base.close[i]!;
      out.volume[j] = out.volume[j]! + base.volume[i]!;
    } else {
      out.openTime.push(bucket);
      out.open.push(base.open[i]!);
      out.high.push(base.high[i]!);
      out.low.push(base.low[i]!);
      out.close.push(base.close[i]!);
      out.volume.push(base.volume[i]!);
    }
  }
  return out;
}

function row(
  openTime: number,
  length: number,
  prices: [number, number, number, number],
  volume: number,
): string {
  const [o, h, l, c] = prices.map(decimal);
  const v = decimal(volume);
  const quote = decimal(volume * prices[3]);
  return `[${openTime},"${o}","${h}","${l}","${c}","${v}",${openTime + length - 1},"${quote}",0,"0","0","0"]`;
}

function closedRow(s: KlineSeries, i: number, length: number): string {
  return row(
    s.openTime[i]!,
    length,
    [s.open[i]!, s.high[i]!, s.low[i]!, s.close[i]!],
    s.volume[i]!,
  );
}

/** The still-open candle: only its open is known at this instant. */
function formingRow(s: KlineSeries, i: number, length: number): string {
  const open = s.open[i]!;
  return row(s.openTime[i]!, length, [open, open, open, open], 0);
}
