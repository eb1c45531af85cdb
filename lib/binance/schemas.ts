/**
 * zod schemas for the Binance USD-M futures responses the governor reads.
 * Binance sends decimals as strings; they are parsed to numbers here, and a
 * string that is not a finite number fails validation (fail-closed) instead of
 * becoming NaN downstream. Unlisted fields are dropped.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */
import { z } from "zod";

/** A decimal as Binance sends it ("0.385", occasionally a JSON number), parsed to a finite number. */
export const decimalSchema = z
  .union([z.string(), z.number()])
  .refine(
    (value) => (typeof value === "number" || value.trim() !== "") && Number.isFinite(Number(value)),
    {
      message: "expected a finite decimal",
    },
  )
  .transform((value) => Number(value));

/** Unix milliseconds. */
const unixMsSchema = z.number().int().nonnegative();

const positionSideSchema = z.enum(["BOTH", "LONG", "SHORT"]);

/** `{code, msg}`: the body of every Binance error response. */
export const errorBodySchema = z.object({ code: z.number().int(), msg: z.string() });

/** @see https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Check-Server-Time */
export const serverTimeSchema = z.object({ serverTime: unixMsSchema });

/**
 * One row of `GET /fapi/v3/positionRisk` (symbols with a position or open orders;
 * hedge mode gives a LONG and a SHORT row per symbol). v3 no longer reports
 * leverage; it stays optional for venues that still do.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V3
 */
export const positionRiskSchema = z.object({
  symbol: z.string().min(1),
  positionSide: positionSideSchema,
  /** Signed: negative for a short. */
  positionAmt: decimalSchema,
  entryPrice: decimalSchema,
  markPrice: decimalSchema,
  unRealizedProfit: decimalSchema,
  notional: decimalSchema,
  updateTime: unixMsSchema,
  leverage: decimalSchema.optional(),
  initialMargin: decimalSchema.optional(),
  maintMargin: decimalSchema.optional(),
  liquidationPrice: decimalSchema.optional(),
  breakEvenPrice: decimalSchema.optional(),
  marginAsset: z.string().optional(),
});
export const positionRiskListSchema = z.array(positionRiskSchema);
export type PositionRisk = z.output<typeof positionRiskSchema>;

/**
 * `GET /fapi/v3/account`. The totals cover USDT only in single-asset mode
 * (all assets in USD in multi-assets mode).
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Account-Information-V3
 */
export const accountSchema = z.object({
  totalInitialMargin: decimalSchema,
  totalMaintMargin: decimalSchema,
  totalWalletBalance: decimalSchema,
  totalUnrealizedProfit: decimalSchema,
  totalMarginBalance: decimalSchema,
  availableBalance: decimalSchema,
  positions: z.array(
    z.object({
      symbol: z.string().min(1),
      positionSide: positionSideSchema,
      positionAmt: decimalSchema,
      unrealizedProfit: decimalSchema,
      notional: decimalSchema,
      initialMargin: decimalSchema,
      updateTime: unixMsSchema,
    }),
  ),
});
export type FuturesAccount = z.output<typeof accountSchema>;
