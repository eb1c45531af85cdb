/**
 * A deterministic data set for tests, the example and the benchmark (no
 * internet here): Binance-format kline CSV, one file per symbol and month
 * (`{SYMBOL}-1h-{YYYY-MM}.csv`, header row included), and a plan log.
 *
 * Prices follow a regime-switching walk per symbol: steady trends (the
 * governor's TREND_STRONG), slow drifts (BASE) and mean-reverting chop (CHOP),
 * with the shapes of the exchange simulator's presets (dev/exchange-sim/klines.ts).
 * The second symbol follows the first (return correlation ≈ 0.95), so the
 * correlation gate has something to refuse. Plans arrive at random instants:
 * 75 % entries (side, score ~ lognormal around 1, notional, leverage), 25 %
 * closes (a third of them partial).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { prng } from "../dev/exchange-sim/klines.ts";

const HOUR_MS = 3_600_000;

const NAMES: readonly [string, number][] = [
  ["BTCUSDT", 60000],
  ["ETHUSDT", 3000],
  ["SOLUSDT", 150],
  ["BNBUSDT", 550],
  ["XRPUSDT", 0.6],
  ["DOGEUSDT", 0.15],
  ["ADAUSDT", 0.45],
  ["AVAXUSDT", 35],
  ["LINKUSDT", 15],
  ["DOTUSDT", 7],
  ["LTCUSDT", 80],
  ["TRXUSDT", 0.12],
  ["ATOMUSDT", 9],
  ["NEARUSDT", 5],
  ["APTUSDT", 9],
  ["ARBUSDT", 1.1],
  ["OPUSDT", 2.5],
  ["SUIUSDT", 1.2],
  ["FILUSDT", 5],
  ["INJUSDT", 25],
];

type Shape = { drift: number; noise: number; wick: number; meanReversion?: number };
const SHAPES: Record<"TREND" | "BASE" | "CHOP", Shape> = {
  TREND: { drift: 0.006, noise: 0.0015, wick: 0.0025 },
  BASE: { drift: 0.0016, noise: 0.0005, wick: 0.006 },
  CHOP: { drift: 0, noise: 0.02, wick: 0.02, meanReversion: 0.6 },
};

export interface DatasetOptions {
  symbols: number;
  /** unix ms of the first plan; klines start `warmupHours` earlier */
  start: number;
  days: number;
  plans: number;
  seed: number;
  /** hours of klines before the first plan (the regime needs ~100) @default 120 */
  warmupHours?: number;
}

export function symbolNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => NAMES[i]?.[0] ?? `SYM${i + 1}USDT`);
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Log-returns and wick sizes of one regime-switching path. */
function path(count: number, rand: () => number): { moves: number[]; wicks: number[] } {
  const moves: number[] = [];
  const wicks: number[] = [];
  let level = 0;
  while (moves.length < count) {
    const pick = rand();
    const regime = pick < 0.3 ? "TREND" : pick < 0.65 ? "BASE" : "CHOP";
    const shape = SHAPES[regime];
    // Trends lean back toward the starting price, so a year stays within a few ×.
    const lean = Math.max(-0.4, Math.min(0.4, level / 2));
    const sign = rand() < 0.5 + lean ? -1 : 1;
    const hours = regime === "TREND" ? 24 + Math.floor(rand() * 72) : 48 + Math.floor(rand() * 240);
    const anchor = level;
    for (let h = 0; h < hours && moves.length < count; h++) {
      const z = gaussian(rand);
      const next =
        shape.meanReversion === undefined
          ? level + sign * shape.drift + shape.noise * z
          : anchor + shape.meanReversion * (level - anchor) + shape.noise * z;
      moves.push(next - level);
      wicks.push(shape.wick);
      level = next;
    }
  }
  return { moves, wicks };
}

function decimalsFor(price: number): number {
  const magnitude = Math.floor(Math.log10(Math.max(price, 1e-12)));
  return Math.min(8, Math.max(2, 6 - magnitude));
}

/** Binance kline CSV rows (no header) for one symbol. */
function klineRows(
  moves: readonly number[],
  wicks: readonly number[],
  basePrice: number,
  from: number,
  rand: () => number,
): string[] {
  const decimals = decimalsFor(basePrice);
  const rows: string[] = [];
  let open = basePrice;
  for (let i = 0; i < moves.length; i++) {
    const openTime = from + i * HOUR_MS;
    const close = Number((open * Math.exp(moves[i]!)).toFixed(decimals));
    const wick = wicks[i]!;
    const high = Math.max(open, close) * (1 + wick * (0.75 + 0.5 * rand()));
    const low = Math.min(open, close) * (1 - wick * (0.75 + 0.5 * rand()));
    const volume = 1000 + 1000 * rand();
    const quote = volume * close;
    const trades = 500 + Math.floor(1500 * rand());
    const taker = 0.4 + 0.2 * rand();
    rows.push(
      [
        openTime,
        open.toFixed(decimals),
        high.toFixed(decimals),
        low.toFixed(decimals),
        close.toFixed(decimals),
        volume.toFixed(3),
        openTime + HOUR_MS - 1,
        quote.toFixed(4),
        trades,
        (volume * taker).toFixed(3),
        (quote * taker).toFixed(4),
        "0",
      ].join(","),
    );
    open = close;
  }
  return rows;
}

export const KLINE_HEADER =
  "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore";

/** Kline CSV text per file name. */
export function generateKlineFiles(options: DatasetOptions): Map<string, string> {
  const warmup = options.warmupHours ?? 120;
  const from = options.start - warmup * HOUR_MS;
  const count = warmup + options.days * 24;
  const files = new Map<string, string[]>();
  const names = symbolNames(options.symbols);
  let leader: number[] | undefined;
  names.forEach((symbol, i) => {
    const rand = prng(options.seed * 1_000_003 + i * 7919 + 1);
    let { moves, wicks } = path(count, rand);
    if (i === 1 && leader) {
      // Follows the first symbol: its moves plus a little noise of its own.
      const own = leader;
      moves = own.map((m) => m + 0.3 * Math.abs(m) * gaussian(rand));
      wicks = path(count, rand).wicks.map((w) => Math.min(w, 0.01));
    }
    if (i === 0) leader = moves;
    const base = NAMES[i]?.[1] ?? 10 + i;
    klineRows(moves, wicks, base, from, rand).forEach((row, j) => {
      const month = new Date(from + j * HOUR_MS).toISOString().slice(0, 7);
      const name = `${symbol}-1h-${month}.csv`;
      const rows = files.get(name) ?? [KLINE_HEADER];
      rows.push(row);
      files.set(name, rows);
    });
  });
  return new Map([...files].map(([name, rows]) => [name, `${rows.join("\n")}\n`]));
}

/** The plan log, one JSON plan per line, sorted by ts. */
export function generatePlans(options: DatasetOptions): string {
  const rand = prng(options.seed * 2_000_003 + 17);
  const names = symbolNames(options.symbols);
  const span = options.days * 24 * HOUR_MS;
  const times = Array.from({ length: options.plans }, () =>
    Math.floor(options.start + rand() * span),
  ).sort((a, b) => a - b);
  const width = String(options.plans).length;
  return times
    .map((ts, i) => {
      const symbol = names[Math.floor(rand() * names.length)]!;
      const plan_id = `p${options.seed}-${String(i).padStart(width, "0")}`;
      const roll = rand();
      if (roll < 0.25) {
        const partial = roll < 0.25 / 3;
        return JSON.stringify({
          plan_id,
          symbol,
          action: partial ? "PARTIAL_CLOSE_50" : "FULL_CLOSE_PROPOSED",
          decision: "EXECUTE",
          reduceOnly: true,
          ts,
        });
      }
      return JSON.stringify({
        plan_id,
        symbol,
        action: "OPEN",
        decision: "EXECUTE",
        side: rand() < 0.5 ? "LONG" : "SHORT",
        score: Number(Math.exp(0.35 * gaussian(rand)).toFixed(3)),
        notional: [500, 1000, 1000, 2000][Math.floor(rand() * 4)],
        leverage: 5,
        ts,
      });
    })
    .map((line) => `${line}\n`)
    .join("");
}

/** Write `klines/` and `plans.jsonl` under `dir`. */
export function writeDataset(
  dir: string,
  options: DatasetOptions,
): { klines: string; plans: string } {
  const klines = join(dir, "klines");
  mkdirSync(klines, { recursive: true });
  for (const [name, text] of generateKlineFiles(options)) writeFileSync(join(klines, name), text);
  const plans = join(dir, "plans.jsonl");
  writeFileSync(plans, generatePlans(options));
  return { klines, plans };
}
