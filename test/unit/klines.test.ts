import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type Candle,
  CandleSchema,
  KlineIntervalSchema,
  KlineRowSchema,
  KlinesResponseSchema,
  closedCandles,
  intervalMs,
  nextCloseAfter,
} from "../../lib/market/klines.ts";
import { NotEnoughDataError } from "../../lib/regime/errors.ts";

const HOUR = 3_600_000;
// 2024-01-01T00:00:00Z, a UTC hour boundary.
const T0 = Date.UTC(2024, 0, 1);

/** A Binance-shaped 1h kline row opening at `openTime`. */
const row = (openTime: number, close = "100.5") => [
  openTime,
  "100.0",
  "101.25",
  "99.5",
  close,
  "1234.567",
  openTime + HOUR - 1,
  "123456.78",
  42,
  "600.1",
  "60000.2",
  "0",
];

const candle = (openTime: number, lengthMs = HOUR): Candle => ({
  openTime,
  closeTime: openTime + lengthMs - 1,
  open: 1,
  high: 1,
  low: 1,
  close: 1,
  volume: 1,
});

describe("KlineRowSchema", () => {
  it("parses the row from Binance's documentation into numbers", () => {
    // Example response of GET /fapi/v1/klines, Binance USDⓈ-M Futures docs.
    const documented = [
      1499040000000,
      "0.01634790",
      "0.80000000",
      "0.01575800",
      "0.01577100",
      "148976.11427815",
      1499644799999,
      "2434.19055334",
      308,
      "1756.87402397",
      "28.46694368",
      "17928899.62484339",
    ];
    expect(KlineRowSchema.parse(documented)).toEqual({
      openTime: 1499040000000,
      closeTime: 1499644799999,
      open: 0.0163479,
      high: 0.8,
      low: 0.015758,
      close: 0.015771,
      volume: 148976.11427815,
    });
  });

  it("needs only the first seven fields", () => {
    expect(KlineRowSchema.parse(row(T0).slice(0, 7)).close).toBe(100.5);
  });

  it("rejects prices that are not decimal strings", () => {
    expect(KlineRowSchema.safeParse(row(T0, "abc")).success).toBe(false);
    expect(KlineRowSchema.safeParse(row(T0, "-1")).success).toBe(false);
    expect(KlineRowSchema.safeParse(row(T0, "")).success).toBe(false);
    const numeric = [...row(T0)];
    numeric[4] = 100.5;
    expect(KlineRowSchema.safeParse(numeric).success).toBe(false);
  });

  it("rejects a row cut short or with a high below its low", () => {
    expect(KlineRowSchema.safeParse(row(T0).slice(0, 6)).success).toBe(false);
    const inverted = [...row(T0)];
    inverted[2] = "98";
    expect(KlineRowSchema.safeParse(inverted).success).toBe(false);
  });

  it("rejects a candle that closes before it opens", () => {
    const backwards = [...row(T0)];
    backwards[6] = T0 - 1;
    expect(KlineRowSchema.safeParse(backwards).success).toBe(false);
  });

  it("parses a whole response", () => {
    expect(KlinesResponseSchema.parse([row(T0), row(T0 + HOUR)])).toHaveLength(2);
    expect(KlinesResponseSchema.safeParse({ code: -1121, msg: "Invalid symbol." }).success).toBe(
      false,
    );
  });
});

describe("KlinesResponseSchema", () => {
  /** Row-by-row zod: what KlinesResponseSchema's quick check must agree with. */
  const reference = z.array(KlineRowSchema);
  const decimal = fc.oneof(
    fc.stringMatching(/^\d{1,6}(\.\d{1,8})?$/),
    fc.constantFrom("", "-1", "1.", ".5", "1e3", "abc", " 1", "9".repeat(400)),
  );
  const time = fc.oneof(
    fc.integer({ min: 0, max: 2 ** 42 }),
    fc.constantFrom(-1, 1.5, 2 ** 60, Number.NaN, "1700000000000"),
  );
  const field = fc.oneof(decimal, time, fc.constant(null));
  const rowOf = fc.oneof(
    fc.tuple(time, decimal, decimal, decimal, decimal, decimal, time, decimal, fc.nat()),
    fc.array(field, { maxLength: 9 }),
    fc.constantFrom(null, "row", { 0: T0 }),
  );

  it("accepts, builds and refuses exactly as KlineRowSchema does row by row", () => {
    fc.assert(
      fc.property(fc.array(rowOf, { maxLength: 5 }), (rows) => {
        const quick = KlinesResponseSchema.safeParse(rows);
        const slow = reference.safeParse(rows);
        expect(quick.success).toBe(slow.success);
        if (slow.success) expect(quick.data).toEqual(slow.data);
        else expect(quick.error!.issues).toEqual(slow.error.issues);
      }),
      { numRuns: 2000 },
    );
  });

  it("names the row and field of every bad row", () => {
    const bad = [row(T0), row(T0 + HOUR, "abc"), [...row(T0 + 2 * HOUR)].slice(0, 5)];
    const result = KlinesResponseSchema.safeParse(bad);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((issue) => issue.path)).toEqual(
      reference.safeParse(bad).error!.issues.map((issue) => issue.path),
    );
    expect(result.error!.issues[0]!.path).toEqual([1, 4]);
  });
});

describe("CandleSchema", () => {
  it("round-trips a parsed candle (a kline cache read back)", () => {
    const parsed = KlineRowSchema.parse(row(T0));
    expect(CandleSchema.parse(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
  });
});

describe("closedCandles", () => {
  const candles = [candle(T0), candle(T0 + HOUR), candle(T0 + 2 * HOUR)];
  const lastClose = T0 + 3 * HOUR - 1;

  it("drops the candle still open (closeTime >= now)", () => {
    expect(closedCandles(candles, lastClose).map((c) => c.openTime)).toEqual([T0, T0 + HOUR]);
  });

  it("keeps a candle from the millisecond after its closeTime", () => {
    expect(closedCandles(candles, lastClose + 1)).toHaveLength(3);
  });

  it("returns candles in ascending openTime", () => {
    const shuffled = [candles[2]!, candles[0]!, candles[1]!];
    expect(closedCandles(shuffled, lastClose + 1).map((c) => c.openTime)).toEqual([
      T0,
      T0 + HOUR,
      T0 + 2 * HOUR,
    ]);
  });
});

describe("intervalMs", () => {
  it("knows Binance's intervals", () => {
    expect(intervalMs("1m")).toBe(60_000);
    expect(intervalMs("15m")).toBe(900_000);
    expect(intervalMs("1h")).toBe(HOUR);
    expect(intervalMs("4h")).toBe(4 * HOUR);
    expect(intervalMs("1d")).toBe(24 * HOUR);
  });

  it("validates interval names at the config boundary", () => {
    expect(KlineIntervalSchema.parse("1h")).toBe("1h");
    expect(KlineIntervalSchema.safeParse("1w").success).toBe(false);
    expect(KlineIntervalSchema.safeParse("60m").success).toBe(false);
  });
});

describe("nextCloseAfter", () => {
  it("is the next UTC-aligned boundary for an interval", () => {
    expect(nextCloseAfter("1h", T0 + 25 * 60_000)).toBe(T0 + HOUR);
    expect(nextCloseAfter("4h", T0 + 5 * HOUR)).toBe(T0 + 8 * HOUR);
    expect(nextCloseAfter("1d", T0 + 13 * HOUR)).toBe(T0 + 24 * HOUR);
  });

  it("is strictly after now, even exactly on a boundary", () => {
    // At T0 + 1h the previous candle has just closed; the next close is an hour away.
    expect(nextCloseAfter("1h", T0 + HOUR)).toBe(T0 + 2 * HOUR);
    expect(nextCloseAfter("1h", T0 + HOUR - 1)).toBe(T0 + HOUR);
  });

  it("follows the candles' own length and phase when given candles", () => {
    const closed = [candle(T0), candle(T0 + HOUR)];
    // Fetched a few seconds after the second candle closed.
    expect(nextCloseAfter(closed, T0 + 2 * HOUR + 5_000)).toBe(T0 + 3 * HOUR);
    // Stale cache: skips ahead to the first close after now.
    expect(nextCloseAfter(closed, T0 + 5 * HOUR + 1)).toBe(T0 + 6 * HOUR);
    const fiveMinutes = [candle(T0, 5 * 60_000)];
    expect(nextCloseAfter(fiveMinutes, T0 + 7 * 60_000)).toBe(T0 + 10 * 60_000);
  });

  it("agrees with the interval form for Binance-aligned candles", () => {
    const closed = [candle(T0), candle(T0 + HOUR)];
    for (const now of [T0 + 2 * HOUR, T0 + 2 * HOUR + 1, T0 + 3 * HOUR - 1]) {
      expect(nextCloseAfter(closed, now)).toBe(nextCloseAfter("1h", now));
    }
  });

  it("throws NotEnoughDataError without candles", () => {
    expect(() => nextCloseAfter([], T0)).toThrow(NotEnoughDataError);
  });
});
