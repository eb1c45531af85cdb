import { describe, expect, it } from "vitest";
import { atr, trueRanges } from "../../lib/regime/atr.ts";
import {
  DEFAULT_REGIME_THRESHOLDS,
  REGIMES,
  classifyRegime,
  computeRegime,
  desiredSlots,
  minCandles,
} from "../../lib/regime/classify.ts";
import { ema } from "../../lib/regime/ema.ts";
import { InvalidSeriesError, NotEnoughDataError } from "../../lib/regime/errors.ts";

/** |actual − expected| ≤ tolerance, element by element. */
function expectClose(actual: readonly number[], expected: readonly number[], tolerance: number) {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => {
    expect(
      Math.abs(value - expected[i]!),
      `index ${i}: ${value} vs ${expected[i]}`,
    ).toBeLessThanOrEqual(tolerance);
  });
}

const bar = (high: number, low: number, close: number) => ({ high, low, close });

// StockCharts ChartSchool "Moving Averages - Simple and Exponential", spreadsheet
// cs-movavg.xls: 30 closes and their 10-day EMA.
// https://chartschool.stockcharts.com/table-of-contents/technical-indicators-and-overlays/technical-overlays/moving-averages-simple-and-exponential
const STOCKCHARTS_CLOSES = [
  22.27, 22.19, 22.08, 22.17, 22.18, 22.13, 22.23, 22.43, 22.24, 22.29, 22.15, 22.39, 22.38, 22.61,
  23.36, 24.05, 23.75, 23.83, 23.95, 23.63, 23.82, 23.87, 23.65, 23.19, 23.1, 23.33, 22.68, 23.1,
  22.4, 22.17,
];
const STOCKCHARTS_EMA10 = [
  22.22, 22.21, 22.24, 22.27, 22.33, 22.52, 22.79, 22.97, 23.13, 23.28, 23.34, 23.43, 23.51, 23.53,
  23.47, 23.4, 23.39, 23.26, 23.23, 23.08, 22.91,
];

// StockCharts ChartSchool "Average True Range (ATR)", spreadsheet cs-atr.xls:
// QQQQ daily bars, 2010-04-01 .. 2010-05-13.
// https://chartschool.stockcharts.com/table-of-contents/technical-indicators-and-overlays/technical-indicators/average-true-range-atr-and-average-true-range-percent-atrp
const QQQ_HIGH = [
  48.7, 48.72, 48.9, 48.87, 48.82, 49.05, 49.2, 49.35, 49.92, 50.19, 50.12, 49.66, 49.88, 50.19,
  50.36, 50.57, 50.65, 50.43, 49.63, 50.33, 50.29, 50.17, 49.32, 48.5, 48.32, 46.8, 47.8, 48.39,
  48.66, 48.79,
];
const QQQ_LOW = [
  47.79, 48.14, 48.39, 48.37, 48.24, 48.64, 48.94, 48.86, 49.5, 49.87, 49.2, 48.9, 49.43, 49.73,
  49.26, 50.09, 50.3, 49.21, 48.98, 49.61, 49.2, 49.43, 48.08, 47.64, 41.55, 44.28, 47.31, 47.2,
  47.9, 47.73,
];
const QQQ_CLOSE = [
  48.16, 48.61, 48.75, 48.63, 48.74, 49.03, 49.07, 49.32, 49.91, 50.13, 49.53, 49.5, 49.75, 50.03,
  50.31, 50.52, 50.41, 49.34, 49.37, 50.23, 49.24, 49.93, 48.43, 48.18, 46.57, 45.41, 47.77, 47.72,
  48.62, 47.85,
];
const QQQ = QQQ_HIGH.map((h, i) => bar(h, QQQ_LOW[i]!, QQQ_CLOSE[i]!));

describe("ema (TA-Lib convention)", () => {
  it("seeds with the SMA of the first period values, then smooths with k = 2/(period+1)", () => {
    // Hand-computed, period 3 (k = 0.5):
    //   seed at index 2 = (10 + 11 + 12) / 3 = 11
    //   index 3: 11 + 0.5 × (13 − 11) = 12
    //   index 4: 12 + 0.5 × (20 − 12) = 16
    expect(ema([10, 11, 12, 13, 20], 3)).toEqual([11, 12, 16]);
  });

  it("aligns result[i] with values[period − 1 + i]", () => {
    const values = [1, 2, 3, 4, 5, 6, 7];
    expect(ema(values, 4)).toHaveLength(values.length - 4 + 1);
    expect(ema(values, 7)).toEqual([4]);
  });

  it("matches the StockCharts 10-day EMA worked example to full precision where hand-checkable", () => {
    // seed = 222.21 / 10 = 22.221
    // 22.221 + (22.15 − 22.221) × 2/11 = 22.2080909...
    // 22.2080909 + (22.39 − 22.2080909) × 2/11 = 22.2411653...
    expectClose(ema(STOCKCHARTS_CLOSES.slice(0, 12), 10), [22.221, 22.2080909, 22.2411653], 1e-7);
  });

  it("matches the published StockCharts 10-day EMA column (2 decimals)", () => {
    // The sheet shows 2 decimals (±0.005); two rows (22.79 vs 22.7952, 22.91 vs
    // 22.9150) sit a hair past half a cent from the exact value, hence 0.006.
    expectClose(ema(STOCKCHARTS_CLOSES, 10), STOCKCHARTS_EMA10, 0.006);
  });

  it("throws NotEnoughDataError instead of returning NaN when values.length < period", () => {
    expect(() => ema([1, 2, 3], 4)).toThrow(NotEnoughDataError);
    try {
      ema([1, 2, 3], 4);
    } catch (error) {
      expect(error).toMatchObject({ name: "NotEnoughDataError", needed: 4, got: 3 });
    }
  });

  it("rejects non-finite values and non-integer periods", () => {
    expect(() => ema([1, Number.NaN, 3], 2)).toThrow(InvalidSeriesError);
    expect(() => ema([1, 2, 3], 0)).toThrow(RangeError);
    expect(() => ema([1, 2, 3], 1.5)).toThrow(RangeError);
  });
});

describe("atr (TA-Lib convention)", () => {
  // Hand-computed, period 3; bars 1..5 exercise each arm of the true range.
  const HAND = [
    bar(10, 8, 9),
    bar(11, 9, 10.5), // TR = max(2, |11 − 9| = 2, |9 − 9| = 0) = 2
    bar(12, 10, 10), // TR = max(2, 1.5, 0.5) = 2
    bar(10.5, 9.5, 10), // TR = max(1, 0.5, 0.5) = 1
    bar(15, 14, 14.5), // gap up:   TR = max(1, |15 − 10| = 5, |14 − 10| = 4) = 5
    bar(12, 11, 11.5), // gap down: TR = max(1, |12 − 14.5| = 2.5, |11 − 14.5| = 3.5) = 3.5
  ];

  it("starts the true range at the second bar", () => {
    expect(trueRanges(HAND)).toEqual([2, 2, 1, 5, 3.5]);
  });

  it("seeds with the mean of the first period TRs and then applies Wilder smoothing", () => {
    // bar 3: (2 + 2 + 1) / 3          = 5/3
    // bar 4: (5/3 × 2 + 5) / 3        = 25/9
    // bar 5: (25/9 × 2 + 3.5) / 3     = 81.5/27
    expectClose(atr(HAND, 3), [5 / 3, 25 / 9, 81.5 / 27], 1e-12);
  });

  it("matches the reference ATR14 of the StockCharts QQQ data under TA-Lib's convention", () => {
    // Expected values: anandanand84/technicalindicators test/directionalmovement/ATR.js
    // (TA-Lib convention: first ATR at bar 14 = mean of TR_1..TR_14), published to
    // 5 decimals. Its 10th value is 0.76794 where the exact figure is 0.7679344,
    // so the tolerance is 1e-5 rather than half a unit in the 5th place.
    expectClose(
      atr(QQQ, 14),
      [
        0.56786, 0.56158, 0.54647, 0.59458, 0.59854, 0.62436, 0.65762, 0.67707, 0.76085, 0.76794,
        1.19665, 1.29118, 1.36967, 1.35683, 1.32706, 1.30798,
      ],
      1e-5,
    );
  });

  it("reproduces the StockCharts ATR column once bar 0's range counts as a true range", () => {
    // StockCharts counts H − L of the first bar as a TR (TA-Lib does not). A
    // leading bar whose close lies inside bar 0's range makes TA-Lib's TR_1 equal
    // H0 − L0, so both conventions see the same TRs. StockCharts' published ATR
    // (2 decimals) from 2010-04-21 on, as transcribed in CjHare/systematic-trading
    // systematic-trading-maths/src/test/java/com/systematic/trading/maths/indicator/atr/AverageTrueRangeCalculatorTest.java:
    const withLeadingBar = [bar(48.16, 48.16, 48.16), ...QQQ];
    expectClose(
      atr(withLeadingBar, 14),
      [
        0.55, 0.59, 0.59, 0.57, 0.61, 0.62, 0.64, 0.67, 0.69, 0.77, 0.78, 1.21, 1.3, 1.38, 1.37,
        1.34, 1.32,
      ],
      0.005,
    );
  });

  it("needs period + 1 candles", () => {
    expect(atr(QQQ.slice(0, 15), 14)).toHaveLength(1);
    expect(() => atr(QQQ.slice(0, 14), 14)).toThrow(NotEnoughDataError);
  });

  it("throws on a non-finite candle instead of returning NaN", () => {
    expect(() => atr([bar(2, 1, 1.5), bar(Number.NaN, 1, 1.5), bar(2, 1, 1.5)], 2)).toThrow(
      InvalidSeriesError,
    );
  });
});

describe("classifyRegime: thresholds are strict", () => {
  const t = DEFAULT_REGIME_THRESHOLDS;

  it("is TREND_STRONG when trend > 0.05 and atr_pct < 0.02", () => {
    expect(classifyRegime(0.0501, 0.0199, t)).toBe("TREND_STRONG");
  });

  it("is not TREND_STRONG at trend exactly 0.05", () => {
    expect(classifyRegime(0.05, 0.01, t)).toBe("BASE");
  });

  it("is not TREND_STRONG at atr_pct exactly 0.02", () => {
    expect(classifyRegime(0.06, 0.02, t)).toBe("BASE");
  });

  it("is CHOP when atr_pct > 0.03, whatever the trend", () => {
    expect(classifyRegime(0.2, 0.0301, t)).toBe("CHOP");
  });

  it("is not CHOP at atr_pct exactly 0.03", () => {
    expect(classifyRegime(0.03, 0.03, t)).toBe("BASE");
  });

  it("is CHOP when trend < 0.01", () => {
    expect(classifyRegime(0.0099, 0.01, t)).toBe("CHOP");
  });

  it("is not CHOP at trend exactly 0.01", () => {
    expect(classifyRegime(0.01, 0.025, t)).toBe("BASE");
  });

  it("uses the thresholds it is given", () => {
    const loose = { ...t, trendStrongMinTrend: 0.02 };
    expect(classifyRegime(0.03, 0.01, loose)).toBe("TREND_STRONG");
  });
});

describe("computeRegime", () => {
  const t = DEFAULT_REGIME_THRESHOLDS;
  /** n bars whose close grows by `growth` per bar, high/low ±`halfRange` around the close. */
  const series = (n: number, growth: number, halfRange: number) =>
    Array.from({ length: n }, (_, i) => {
      const close = 100 * (1 + growth) ** i;
      return bar(close * (1 + halfRange), close * (1 - halfRange), close);
    });

  it("reports the figures behind the decision: flat market is CHOP with trend 0", () => {
    // Constant close 100, high 101, low 99: both EMAs 100, every TR = 2.
    const regime = computeRegime(
      Array.from({ length: 60 }, () => bar(101, 99, 100)),
      t,
    );
    expect(regime).toEqual({
      name: "CHOP",
      trend: 0,
      atr_pct: 0.02,
      ema_fast: 100,
      ema_slow: 100,
      atr: 2,
      last_close: 100,
      candles: 60,
    });
  });

  it("computes trend from the last EMA20/EMA50 and atr_pct from the last ATR14", () => {
    const candles = series(99, 0.004, 0.003);
    const closes = candles.map((c) => c.close);
    const fast = ema(closes, 20).at(-1)!;
    const slow = ema(closes, 50).at(-1)!;
    const regime = computeRegime(candles, t);
    expect(regime.trend).toBe(Math.abs(fast - slow) / slow);
    expect(regime.atr_pct).toBe(atr(candles, 14).at(-1)! / closes.at(-1)!);
  });

  it("is TREND_STRONG for a steady 1 %/bar climb with tight bars", () => {
    // EMA lag ≈ (n−1)/2 bars: EMA20 trails 9.5 bars, EMA50 24.5 → trend ≈ 15 %;
    // TR ≈ close × (1.002 − 1/1.01) ≈ 1.2 % of the close.
    expect(computeRegime(series(99, 0.01, 0.002), t).name).toBe("TREND_STRONG");
  });

  it("is BASE for a gentle 0.2 %/bar climb with tight bars", () => {
    // trend ≈ 15 bars × 0.2 % ≈ 3 %, atr_pct ≈ 0.6 %.
    expect(computeRegime(series(99, 0.002, 0.002), t).name).toBe("BASE");
  });

  it("is CHOP when bars swing wider than 3 % of the close", () => {
    const wild = Array.from({ length: 99 }, (_, i) => {
      const close = i % 2 === 0 ? 100 : 104;
      return bar(close * 1.01, close * 0.99, close);
    });
    const regime = computeRegime(wild, t);
    expect(regime.atr_pct).toBeGreaterThan(0.03);
    expect(regime.name).toBe("CHOP");
  });

  it("needs max(emaSlow, atrPeriod + 1) closed candles", () => {
    expect(minCandles(t)).toBe(50);
    expect(() => computeRegime(series(49, 0.01, 0.002), t)).toThrow(NotEnoughDataError);
    expect(computeRegime(series(50, 0.01, 0.002), t).candles).toBe(50);
  });

  it("refuses a non-positive last close rather than dividing by it", () => {
    const candles = Array.from({ length: 60 }, () => bar(101, 99, 100));
    candles.push(bar(1, 0, 0));
    expect(() => computeRegime(candles, t)).toThrow(InvalidSeriesError);
  });
});

describe("desiredSlots", () => {
  it("maps each regime to its configured slot count", () => {
    const slots = { BASE: 4, TREND_STRONG: 6, CHOP: 3 };
    expect(REGIMES.map((r) => desiredSlots(r, slots))).toEqual([4, 6, 3]);
  });
});
