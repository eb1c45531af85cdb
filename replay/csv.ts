/**
 * Binance USD-M kline CSV as the public data archive publishes it
 * (data.binance.vision: `futures/um/monthly/klines/{SYMBOL}/{interval}/{SYMBOL}-{interval}-{YYYY-MM}.zip`,
 * unzipped), one or more files per symbol named `{SYMBOL}-{interval}-*.csv`.
 * Columns: open_time, open, high, low, close, volume, close_time, quote_volume,
 * count, taker_buy_volume, taker_buy_quote_volume, ignore. Older files have no
 * header row, newer ones do; both are read. Files of one symbol are joined by
 * time: a candle present in two files is kept once (an overlap, reported, and
 * flagged as conflicting when the files disagree), missing candles are gaps.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { intervalMs, KLINE_INTERVALS, type KlineInterval } from "../lib/market/klines.ts";

/** One symbol's candles, ascending by open time, one per open time (columns, for speed). */
export interface KlineSeries {
  symbol: string;
  interval: KlineInterval;
  /** unix ms */
  openTime: number[];
  open: number[];
  high: number[];
  low: number[];
  close: number[];
  volume: number[];
}

/** Candles missing between two consecutive ones. */
export interface KlineGap {
  symbol: string;
  /** unix ms: open time of the first and of the last missing candle */
  from: number;
  to: number;
  candles: number;
}

/** Candles present twice (in two files, or twice in one). */
export interface KlineOverlap {
  symbol: string;
  files: [string, string];
  candles: number;
  /** of which the two rows disagree (the first file's row is kept) */
  conflicting: number;
}

export interface KlineSet {
  interval: KlineInterval;
  series: Map<string, KlineSeries>;
  gaps: KlineGap[];
  overlaps: KlineOverlap[];
  files: string[];
}

/** A file that cannot be used as it is, with where and why. */
export class KlineFileError extends Error {
  override name = "KlineFileError";
}

const FILE_NAME = /^([A-Z0-9]{2,20})-([0-9]+[mhd])-.+\.csv$/;
const HEADER_FIRST = "open_time";

interface Row {
  openTime: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  file: string;
}

/** Read every `{SYMBOL}-{interval}-*.csv` of `dir` (one interval for all). */
export function readKlineDir(dir: string): KlineSet {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith(".csv"));
  } catch (error) {
    throw new KlineFileError(`cannot read directory ${dir}: ${(error as Error).message}`);
  }
  names.sort();
  if (names.length === 0) throw new KlineFileError(`no *.csv files in ${dir}`);
  const bySymbol = new Map<string, Row[]>();
  let interval: KlineInterval | undefined;
  for (const name of names) {
    const match = FILE_NAME.exec(name);
    const fileInterval = match?.[2] as KlineInterval | undefined;
    if (!match || !fileInterval || !KLINE_INTERVALS.includes(fileInterval)) {
      throw new KlineFileError(
        `${name}: expected a name {SYMBOL}-{interval}-*.csv with interval one of ${KLINE_INTERVALS.join(", ")}`,
      );
    }
    if (interval && fileInterval !== interval) {
      throw new KlineFileError(`${name}: interval ${fileInterval}, other files have ${interval}`);
    }
    interval = fileInterval;
    const symbol = match[1]!;
    const rows = bySymbol.get(symbol) ?? [];
    rows.push(...parseKlineCsv(readFileSync(join(dir, name), "utf8"), name));
    bySymbol.set(symbol, rows);
  }
  const set: KlineSet = {
    interval: interval!,
    series: new Map(),
    gaps: [],
    overlaps: [],
    files: names,
  };
  for (const [symbol, rows] of [...bySymbol].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const joined = joinRows(symbol, rows, set.interval);
    set.series.set(symbol, joined.series);
    set.gaps.push(...joined.gaps);
    set.overlaps.push(...joined.overlaps);
  }
  return set;
}

/** Parse one file's text (with or without the header row). */
export function parseKlineCsv(text: string, file: string): Row[] {
  const rows: Row[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    const cells = line.split(",");
    if (i === 0 && !/^\d/.test(cells[0]!)) {
      if (cells[0]!.trim() !== HEADER_FIRST) {
        throw new KlineFileError(`${file}:1: header must start with ${HEADER_FIRST}`);
      }
      continue;
    }
    rows.push(parseRow(cells, file, i + 1));
  }
  return rows;
}

function parseRow(cells: string[], file: string, line: number): Row {
  const where = `${file}:${line}`;
  if (cells.length < 6)
    throw new KlineFileError(`${where}: expected 12 columns, got ${cells.length}`);
  let openTime = Number(cells[0]);
  if (!Number.isSafeInteger(openTime) || openTime < 0) {
    throw new KlineFileError(`${where}: open_time ${JSON.stringify(cells[0])} is not unix time`);
  }
  // Binance's spot archive moved to microseconds in 2025; accept those too.
  if (openTime >= 1e15) openTime = Math.floor(openTime / 1000);
  const [open, high, low, close, volume] = [1, 2, 3, 4, 5].map((column) => {
    const value = Number(cells[column]);
    if (cells[column]!.trim() === "" || !Number.isFinite(value) || value < 0) {
      throw new KlineFileError(
        `${where}: column ${column + 1} ${JSON.stringify(cells[column])} is not a price/volume`,
      );
    }
    return value;
  }) as [number, number, number, number, number];
  if (high < low) throw new KlineFileError(`${where}: high ${high} is below low ${low}`);
  return { openTime, open, high, low, close, volume, file };
}

function sameCandle(a: Row, b: Row): boolean {
  return (
    a.open === b.open &&
    a.high === b.high &&
    a.low === b.low &&
    a.close === b.close &&
    a.volume === b.volume
  );
}

function joinRows(symbol: string, rows: Row[], interval: KlineInterval) {
  const step = intervalMs(interval);
  // Stable sort: for one open time the row of the first file (by name) comes first.
  rows.sort((a, b) => a.openTime - b.openTime);
  const series: KlineSeries = {
    symbol,
    interval,
    openTime: [],
    open: [],
    high: [],
    low: [],
    close: [],
    volume: [],
  };
  const gaps: KlineGap[] = [];
  const overlaps = new Map<string, KlineOverlap>();
  let kept: Row | undefined;
  for (const row of rows) {
    if (kept && row.openTime === kept.openTime) {
      const key = `${kept.file}\u0000${row.file}`;
      const overlap = overlaps.get(key) ?? {
        symbol,
        files: [kept.file, row.file] as [string, string],
        candles: 0,
        conflicting: 0,
      };
      overlap.candles += 1;
      if (!sameCandle(kept, row)) overlap.conflicting += 1;
      overlaps.set(key, overlap);
      continue;
    }
    if (kept && row.openTime - kept.openTime > step) {
      const missing = Math.round((row.openTime - kept.openTime) / step) - 1;
      if (missing > 0) {
        gaps.push({
          symbol,
          from: kept.openTime + step,
          to: row.openTime - step,
          candles: missing,
        });
      }
    }
    kept = row;
    series.openTime.push(row.openTime);
    series.open.push(row.open);
    series.high.push(row.high);
    series.low.push(row.low);
    series.close.push(row.close);
    series.volume.push(row.volume);
  }
  return { series, gaps, overlaps: [...overlaps.values()] };
}
