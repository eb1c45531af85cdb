import { describe, expect, it } from "vitest";
import { alignedReturns, logReturns, pearson } from "../../lib/market/returns.ts";

const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 0, 1);

/** Consecutive 1h candles from `start` with the given closes. */
const hourly = (start: number, closes: readonly number[]) =>
  closes.map((close, i) => ({
    openTime: start + i * HOUR,
    closeTime: start + (i + 1) * HOUR - 1,
    close,
  }));

describe("logReturns", () => {
  it("is ln(close_t / close_t−1), keyed by the openTime of candle t", () => {
    const returns = logReturns(hourly(T0, [100, 110, 99]));
    expect([...returns.keys()]).toEqual([T0 + HOUR, T0 + 2 * HOUR]);
    expect(returns.get(T0 + HOUR)).toBeCloseTo(Math.log(1.1), 15);
    expect(returns.get(T0 + 2 * HOUR)).toBeCloseTo(Math.log(0.9), 15);
  });

  it("skips a pair across a gap in the candles", () => {
    const gapped = [...hourly(T0, [100, 101]), ...hourly(T0 + 3 * HOUR, [150, 151])];
    expect([...logReturns(gapped).keys()]).toEqual([T0 + HOUR, T0 + 4 * HOUR]);
  });

  it("skips pairs with a non-positive close instead of producing NaN or -Infinity", () => {
    const returns = logReturns(hourly(T0, [100, 0, 50, 55]));
    expect([...returns.keys()]).toEqual([T0 + 3 * HOUR]);
  });

  it("sorts its input by openTime first", () => {
    const candles = hourly(T0, [100, 110, 121]);
    const reversed = [...candles].reverse();
    expect(logReturns(reversed)).toEqual(logReturns(candles));
  });
});

describe("alignedReturns", () => {
  it("pairs returns over the same candles only, ascending", () => {
    const a = new Map([
      [T0 + 3 * HOUR, 0.03],
      [T0 + HOUR, 0.01],
      [T0 + 2 * HOUR, 0.02],
    ]);
    const b = new Map([
      [T0 + 2 * HOUR, -0.2],
      [T0 + HOUR, -0.1],
      [T0 + 4 * HOUR, -0.4],
    ]);
    expect(alignedReturns(a, b)).toEqual({
      openTimes: [T0 + HOUR, T0 + 2 * HOUR],
      x: [0.01, 0.02],
      y: [-0.1, -0.2],
    });
  });

  it("lines up two symbols' candles that start at different times", () => {
    const a = logReturns(hourly(T0, [100, 101, 102, 103]));
    const b = logReturns(hourly(T0 + 2 * HOUR, [50, 51, 52]));
    expect(alignedReturns(a, b).openTimes).toEqual([T0 + 3 * HOUR]);
  });
});

describe("pearson", () => {
  it("matches a textbook worked example (r = 0.529809)", () => {
    // Age vs glucose level, n = 6: Σx = 247, Σy = 486, Σxy = 20485, Σx² = 11409,
    // Σy² = 40022 → r = 2868 / 5413.27 = 0.529809.
    // https://byjus.com/question-answer/find-the-value-of-the-correlation-coefficient-from-the-following-table-begin-array-c-c
    // (the same example as Statistics How To, "Correlation Coefficient: Simple Definition, Formula, Easy Steps").
    const r = pearson([43, 21, 25, 42, 57, 59], [99, 65, 79, 75, 87, 81]);
    expect(Math.abs(r! - 0.529809)).toBeLessThan(5e-7);
  });

  it("matches Anscombe's quartet, data set I (r = 0.816)", () => {
    // F. J. Anscombe, "Graphs in Statistical Analysis", The American Statistician
    // 27(1), 1973, pp. 17–21: every set has correlation 0.816 (3 decimals).
    const x = [10, 8, 13, 9, 11, 14, 6, 4, 12, 7, 5];
    const y = [8.04, 6.95, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84, 4.82, 5.68];
    expect(Math.abs(pearson(x, y)! - 0.816)).toBeLessThan(5e-4);
  });

  it("is exactly ±1 for perfectly linear samples", () => {
    expect(pearson([1, 2, 3, 4], [10, 20, 30, 40])).toBe(1);
    expect(pearson([1, 2, 3, 4], [-2, -4, -6, -8])).toBe(-1);
  });

  it("is null when a sample has zero variance", () => {
    // 0.1 × 3 / 3 is not exactly 0.1 in floating point; constancy is tested exactly.
    expect(pearson([0.1, 0.1, 0.1], [1, 2, 3])).toBeNull();
    expect(pearson([1, 2, 3], [7, 7, 7])).toBeNull();
  });

  it("is null with fewer pairs than the minimum", () => {
    expect(pearson([1, 2], [2, 4])).toBeNull();
    expect(pearson([1, 2, 3], [2, 4, 5])).not.toBeNull();
    expect(pearson([1, 2, 3], [2, 4, 5], 4)).toBeNull();
    expect(pearson([], [])).toBeNull();
  });

  it("refuses samples of different lengths or with non-finite values", () => {
    expect(() => pearson([1, 2, 3], [1, 2])).toThrow(RangeError);
    expect(() => pearson([1, Number.NaN, 3], [1, 2, 3])).toThrow(RangeError);
  });
});
