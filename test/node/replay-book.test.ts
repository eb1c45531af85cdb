/**
 * The simulated book and the in-process exchange, read through the governor's
 * own Binance client (lib/binance/client.ts), at fixed virtual instants.
 */
import { describe, expect, it } from "vitest";
import { createBinanceClient } from "../../lib/binance/client.ts";
import { openPositionsFromAccount } from "../../lib/binance/positions.ts";
import { closedCandles } from "../../lib/market/klines.ts";
import { Book, closeFraction } from "../../replay/book.ts";
import type { KlineSeries, KlineSet } from "../../replay/csv.ts";
import { exchangeFetch } from "../../replay/exchange.ts";
import { Market } from "../../replay/market.ts";
import { ReplayPlanSchema } from "../../replay/plans.ts";

const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 2, 1);

/** Hourly candles: open = 100 + i, close = 100 + i + 0.5. */
function series(symbol: string, count: number, step = HOUR): KlineSeries {
  const index = Array.from({ length: count }, (_, i) => i);
  return {
    symbol,
    interval: step === HOUR ? "1h" : "15m",
    openTime: index.map((i) => T0 + i * step),
    open: index.map((i) => 100 + i),
    high: index.map((i) => 102 + i),
    low: index.map((i) => 99 + i),
    close: index.map((i) => 100.5 + i),
    volume: index.map(() => 10),
  };
}

function market(step = HOUR, count = 10): Market {
  const set: KlineSet = {
    interval: step === HOUR ? "1h" : "15m",
    series: new Map([["BTCUSDT", series("BTCUSDT", count, step)]]),
    gaps: [],
    overlaps: [],
    files: [],
  };
  return new Market(set);
}

function client(m: Market, book: Book, at: () => number) {
  return createBinanceClient({
    baseUrl: "http://exchange.replay.invalid",
    apiKey: "key",
    apiSecret: "secret",
    fetch: exchangeFetch(m, book, at),
    now: at,
  });
}

describe("replay book", () => {
  it("fills an entry at the next candle's open and marks it only once that candle opened", () => {
    const book = new Book(market(), 10_000);
    const fill = book.enter("BTCUSDT", 1, 1030, 5, T0 + 2 * HOUR + 600_000);
    expect(fill).toMatchObject({ price: 103, pricedAt: T0 + 3 * HOUR, amt: 10 });
    // Before 03:00 the fill price is not known yet: no unrealized PnL.
    expect(book.unrealized(T0 + 2 * HOUR + 900_000)).toBe(0);
    // At 04:30 the last closed candle (03:00-04:00) closed at 103.5.
    expect(book.unrealized(T0 + 4.5 * HOUR)).toBeCloseTo(10 * 0.5, 9);
  });

  it("settles a close's realized PnL into the wallet when its fill price becomes known", () => {
    const book = new Book(market(), 10_000);
    book.enter("BTCUSDT", 1, 1000, 5, T0); // 10 at 100
    const close = book.reduce("BTCUSDT", 1, T0 + 4 * HOUR + 1); // at 105
    expect(close?.realized).toBeCloseTo(50, 9);
    expect(book.positions.size).toBe(0);
    expect(book.wallet(T0 + 4.5 * HOUR)).toBe(10_000);
    expect(book.wallet(T0 + 5 * HOUR)).toBeCloseTo(10_050, 9);
    expect(book.realized).toBeCloseTo(50, 9);
  });

  it("adds to a held position at the average price and flips on a larger opposite trade", () => {
    const book = new Book(market(), 10_000);
    book.trade("BTCUSDT", 10, 5, T0); // 10 at 100
    book.trade("BTCUSDT", 10, 5, T0 + 2 * HOUR); // 10 more at 102
    expect(book.positions.get("BTCUSDT")).toMatchObject({ amt: 20, entry: 101 });
    const flip = book.trade("BTCUSDT", -30, 5, T0 + 4 * HOUR); // at 104
    expect(flip?.realized).toBeCloseTo(20 * 3, 9);
    expect(book.positions.get("BTCUSDT")).toMatchObject({ amt: -10, entry: 104 });
  });

  it("serves the account to the governor's client so that entry = (notional − uPnL) / amt", async () => {
    const m = market();
    const book = new Book(m, 10_000);
    book.enter("BTCUSDT", -1, 1000, 4, T0); // short 10 at 100
    let now = T0 + 3 * HOUR + 1; // mark 102.5
    const account = await client(m, book, () => now).account();
    expect(account.totalInitialMargin).toBeCloseTo(1025 / 4, 9);
    expect(account.totalUnrealizedProfit).toBeCloseTo(-25, 9);
    expect(account.totalMarginBalance).toBeCloseTo(10_000 - 25, 9);
    const [position] = openPositionsFromAccount(account);
    expect(position).toMatchObject({ symbol: "BTCUSDT", positionAmt: -10 });
    expect(position!.entryPrice).toBeCloseTo(100, 9);
    // Single-asset mode: one USDT pool, as Binance lists it under assets[].
    expect(book.account(now).assets).toEqual([
      expect.objectContaining({ asset: "USDT", marginBalance: "9975", initialMargin: "256.25" }),
    ]);
    now = T0 + 5 * HOUR + 1;
    const risk = await client(m, book, () => now).positionRisk();
    expect(risk[0]).toMatchObject({ symbol: "BTCUSDT", markPrice: 104.5, entryPrice: 100 });
  });

  it("answers klines up to the virtual instant, the still-open candle reduced to its open", async () => {
    const m = market();
    const book = new Book(m, 10_000);
    const now = T0 + 5 * HOUR + 1_200_000;
    const rows = await client(m, book, () => now).klines("BTCUSDT", "1h", 3);
    expect(rows.map((r) => r.openTime)).toEqual([3, 4, 5].map((i) => T0 + i * HOUR));
    expect(rows[1]).toMatchObject({ open: 104, high: 106, low: 103, close: 104.5 });
    expect(rows[2]).toMatchObject({ open: 105, high: 105, low: 105, close: 105, volume: 0 });
    expect(closedCandles(rows, now)).toHaveLength(2);
  });

  it("builds 1h klines from 15m data, UTC-aligned", async () => {
    const m = market(900_000, 12);
    const rows = await client(m, new Book(m, 1), () => T0 + 3 * HOUR).klines("BTCUSDT", "1h", 10);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({
      openTime: T0,
      open: 100,
      high: 105,
      low: 99,
      close: 103.5,
      volume: 40,
    });
  });

  it("lists every symbol in exchangeInfo with a LOT_SIZE step", async () => {
    const m = market();
    const response = await exchangeFetch(
      m,
      new Book(m, 1),
      () => T0,
    )("http://exchange.replay.invalid/fapi/v1/exchangeInfo");
    const info = (await response.json()) as { symbols: { symbol: string; filters: unknown[] }[] };
    expect(info.symbols).toEqual([
      expect.objectContaining({
        symbol: "BTCUSDT",
        filters: [expect.objectContaining({ filterType: "LOT_SIZE", stepSize: "0.00000001" })],
      }),
    ]);
  });

  it("refuses unknown symbols and intervals finer than the data with Binance's errors", async () => {
    const m = market();
    const binance = client(m, new Book(m, 1), () => T0 + 5 * HOUR);
    await expect(binance.klines("ETHUSDT", "1h", 5)).rejects.toMatchObject({ code: -1121 });
    await expect(binance.klines("BTCUSDT", "15m", 5)).rejects.toMatchObject({ code: -1120 });
  });
});

describe("replay close plans", () => {
  const held = { symbol: "BTCUSDT", amt: 10, entry: 100, leverage: 5, markFrom: 0, updateTime: 0 };
  const plan = (fields: Record<string, unknown>) =>
    ReplayPlanSchema.parse({
      plan_id: "c1",
      symbol: "BTCUSDT",
      decision: "EXECUTE",
      ts: 0,
      ...fields,
    });

  it("closes all, a named percentage, a qty or a notional", () => {
    expect(closeFraction(plan({ action: "FULL_CLOSE_PROPOSED" }), held, 100)).toBe(1);
    expect(closeFraction(plan({ action: "PARTIAL_CLOSE_25" }), held, 100)).toBe(0.25);
    expect(closeFraction(plan({ action: "PARTIAL_TP", qty: 4 }), held, 100)).toBe(0.4);
    expect(closeFraction(plan({ action: "PARTIAL_TP" }), held, 100)).toBe(0.5);
    expect(
      closeFraction(plan({ action: "CLOSE", reduceOnly: true, notional: 300 }), held, 100),
    ).toBe(0.3);
    expect(closeFraction(plan({ action: "CLOSE", reduceOnly: true }), held, 100)).toBe(1);
  });
});
