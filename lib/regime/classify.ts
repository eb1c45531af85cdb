/**
 * Market regime of one symbol from its closed candles (docs/contract.md §3 step 5).
 *
 * trend   = |EMA_fast − EMA_slow| / EMA_slow   (last values; EMA20 / EMA50 by default)
 * atr_pct = ATR / last close                    (ATR14 by default)
 *
 * TREND_STRONG if trend > trendStrongMinTrend and atr_pct < trendStrongMaxAtrPct;
 * else CHOP if atr_pct > chopMinAtrPct or trend < chopMaxTrend; else BASE.
 * Every comparison is strict: a value exactly at a threshold does not cross it.
 */
import { atr, type HighLowClose } from "./atr.ts";
import { ema } from "./ema.ts";
import { InvalidSeriesError, NotEnoughDataError } from "./errors.ts";

export const REGIMES = ["BASE", "TREND_STRONG", "CHOP"] as const;
export type RegimeName = (typeof REGIMES)[number];

export interface RegimeThresholds {
  /** TREND_STRONG needs trend strictly above this. @default 0.05 */
  readonly trendStrongMinTrend: number;
  /** TREND_STRONG needs atr_pct strictly below this. @default 0.02 */
  readonly trendStrongMaxAtrPct: number;
  /** CHOP when atr_pct is strictly above this. @default 0.03 */
  readonly chopMinAtrPct: number;
  /** CHOP when trend is strictly below this. @default 0.01 */
  readonly chopMaxTrend: number;
  /** Fast EMA period. @default 20 */
  readonly emaFast: number;
  /** Slow EMA period. @default 50 */
  readonly emaSlow: number;
  /** ATR period. @default 14 */
  readonly atrPeriod: number;
}

export const DEFAULT_REGIME_THRESHOLDS: RegimeThresholds = {
  trendStrongMinTrend: 0.05,
  trendStrongMaxAtrPct: 0.02,
  chopMinAtrPct: 0.03,
  chopMaxTrend: 0.01,
  emaFast: 20,
  emaSlow: 50,
  atrPeriod: 14,
};

export interface Regime {
  readonly name: RegimeName;
  /** |ema_fast − ema_slow| / ema_slow */
  readonly trend: number;
  /** atr / last_close */
  readonly atr_pct: number;
  readonly ema_fast: number;
  readonly ema_slow: number;
  readonly atr: number;
  readonly last_close: number;
  /** How many closed candles the figures were computed from. */
  readonly candles: number;
}

export type RegimeSlots = Readonly<Record<RegimeName, number>>;

/** The fewest closed candles `computeRegime` accepts with these thresholds. */
export function minCandles(thresholds: RegimeThresholds): number {
  return Math.max(thresholds.emaFast, thresholds.emaSlow, thresholds.atrPeriod + 1);
}

export function computeRegime(
  closedCandles: readonly HighLowClose[],
  thresholds: RegimeThresholds,
): Regime {
  const needed = minCandles(thresholds);
  if (closedCandles.length < needed) {
    throw new NotEnoughDataError("regime", needed, closedCandles.length);
  }
  const closes = closedCandles.map((c) => c.close);
  const emaFast = ema(closes, thresholds.emaFast).at(-1)!;
  const emaSlow = ema(closes, thresholds.emaSlow).at(-1)!;
  const lastAtr = atr(closedCandles, thresholds.atrPeriod).at(-1)!;
  const lastClose = closes.at(-1)!;
  // Both are denominators; a non-positive price is bad data, not a regime.
  if (!(emaSlow > 0) || !(lastClose > 0)) {
    throw new InvalidSeriesError(
      `regime: non-positive price (ema_slow ${emaSlow}, close ${lastClose})`,
    );
  }

  const trend = Math.abs(emaFast - emaSlow) / emaSlow;
  const atrPct = lastAtr / lastClose;
  return {
    name: classifyRegime(trend, atrPct, thresholds),
    trend,
    atr_pct: atrPct,
    ema_fast: emaFast,
    ema_slow: emaSlow,
    atr: lastAtr,
    last_close: lastClose,
    candles: closedCandles.length,
  };
}

export function classifyRegime(
  trend: number,
  atrPct: number,
  thresholds: RegimeThresholds,
): RegimeName {
  if (trend > thresholds.trendStrongMinTrend && atrPct < thresholds.trendStrongMaxAtrPct) {
    return "TREND_STRONG";
  }
  if (atrPct > thresholds.chopMinAtrPct || trend < thresholds.chopMaxTrend) return "CHOP";
  return "BASE";
}

/** How many concurrent positions the regime allows (GOV_ACTIVE_SLOTS_{BASE,TREND_STRONG,CHOP}). */
export function desiredSlots(regime: RegimeName, slots: RegimeSlots): number {
  return slots[regime];
}
