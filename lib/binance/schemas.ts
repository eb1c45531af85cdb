/**
 * zod schemas for the Binance USD-M futures responses the governor reads.
 * Binance sends decimals as strings; they are parsed to numbers here, and a
 * string that is not a finite number fails validation (fail-closed) instead of
 * becoming NaN downstream. Unlisted fields are dropped.
 *
 * Tolerant where Binance is free to change: a field no gate reads is optional,
 * and a missing, null, empty or malformed value there becomes `undefined`
 * instead of rejecting the whole response. A field a gate reads is required
 * and validated.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */
import { z } from "zod";
import { isRecord, isUnixMs, withQuickCheck } from "../quick-parse.ts";

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

/** A decimal kept as the exact text Binance sent (for quantities echoed back in orders). */
export const decimalTextSchema = z
  .union([z.string(), z.number()])
  .refine(
    (value) => (typeof value === "number" || value.trim() !== "") && Number.isFinite(Number(value)),
    { message: "expected a finite decimal" },
  )
  .transform((value) => (typeof value === "number" ? String(value) : value.trim()));

/** A field no gate reads: any bad value (missing, null, "", garbage) is dropped, never fatal. */
const ignoredDecimal = decimalSchema.optional().catch(undefined);

/** Unix milliseconds. */
const unixMsSchema = z.number().int().nonnegative();

const positionSideSchema = z.enum(["BOTH", "LONG", "SHORT"]);

/** `{code, msg}`: the body of every Binance error response. */
export const errorBodySchema = z.object({ code: z.number().int(), msg: z.string() });

/** @see https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Check-Server-Time */
export const serverTimeSchema = z.object({ serverTime: unixMsSchema });

/**
 * One row of `GET /fapi/v3/positionRisk` (symbols with a position or open orders;
 * hedge mode gives a LONG and a SHORT row per symbol). The status view reads
 * side, amount, entry and mark price, uPnL and updateTime; the rest is optional.
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
  updateTime: unixMsSchema,
  notional: ignoredDecimal,
  leverage: ignoredDecimal,
  initialMargin: ignoredDecimal,
  maintMargin: ignoredDecimal,
  isolatedMargin: ignoredDecimal,
  isolatedWallet: ignoredDecimal,
  liquidationPrice: ignoredDecimal,
  breakEvenPrice: ignoredDecimal,
  marginAsset: z.string().optional().catch(undefined),
});
export const positionRiskListSchema = z.array(positionRiskSchema);
export type PositionRisk = z.output<typeof positionRiskSchema>;

/**
 * One `assets[]` row of `GET /fapi/v3/account`, in the asset's own units. The
 * margin gate reads `asset` and `marginBalance` (single-asset mode: each
 * margin asset is its own pool).
 */
export const accountAssetSchema = z.object({
  asset: z.string().min(1),
  marginBalance: decimalSchema,
  walletBalance: ignoredDecimal,
  unrealizedProfit: ignoredDecimal,
  initialMargin: ignoredDecimal,
  openOrderInitialMargin: ignoredDecimal,
  availableBalance: ignoredDecimal,
});
export type AccountAsset = z.output<typeof accountAssetSchema>;

/**
 * One `positions[]` row of `GET /fapi/v3/account`: every symbol with a
 * position or open orders (one-way mode: BOTH rows; hedge mode: LONG and SHORT).
 * Read: side, amount (also as exact text, for close quantities), uPnL,
 * notional (entry price), initialMargin (margin gate: position + open orders)
 * and updateTime (age fallback).
 */
export const accountPositionSchema = z
  .object({
    symbol: z.string().min(1),
    positionSide: positionSideSchema,
    positionAmt: decimalTextSchema,
    unrealizedProfit: decimalSchema,
    notional: decimalSchema,
    initialMargin: decimalSchema,
    updateTime: unixMsSchema,
    isolatedMargin: ignoredDecimal,
    isolatedWallet: ignoredDecimal,
    maintMargin: ignoredDecimal,
  })
  .transform(({ positionAmt, ...row }) => ({
    ...row,
    positionAmt: Number(positionAmt),
    /** The amount exactly as Binance sent it (no float round trip). */
    positionAmtText: positionAmt,
  }));

/**
 * `GET /fapi/v3/account`. In single-asset mode the totals cover the USDT asset
 * only; in multi-assets mode they are USD sums over all assets, and the
 * initial-margin totals cover cross positions only. The margin gate reads
 * totalInitialMargin, totalMarginBalance, assets[] and positions[] (see
 * lib/risk/margin.ts); the other totals are optional.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Account-Information-V3
 */
export const accountSchema = z.object({
  totalInitialMargin: decimalSchema,
  totalMarginBalance: decimalSchema,
  totalMaintMargin: ignoredDecimal,
  totalWalletBalance: ignoredDecimal,
  totalUnrealizedProfit: ignoredDecimal,
  availableBalance: ignoredDecimal,
  assets: z.array(accountAssetSchema),
  positions: z.array(accountPositionSchema),
});
export type FuturesAccount = z.output<typeof accountSchema>;
export type AccountPosition = FuturesAccount["positions"][number];

// The account is read on every evaluation: a quick check in front of accountSchema
// (lib/quick-parse.ts). Each helper accepts only what its schema accepts.

/** decimalSchema's output, or undefined where it would refuse. */
function quickDecimal(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value !== "string" || value.trim() === "") return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}

/** decimalTextSchema's output, or undefined where it would refuse. */
function quickDecimalText(value: unknown): string | undefined {
  if (quickDecimal(value) === undefined) return undefined;
  return typeof value === "number" ? String(value) : (value as string).trim();
}

const quickName = (value: unknown): value is string => typeof value === "string" && value !== "";
const POSITION_SIDES: ReadonlySet<unknown> = new Set(positionSideSchema.options);

function quickAsset(row: unknown): AccountAsset | undefined {
  if (!isRecord(row) || !quickName(row.asset)) return undefined;
  const marginBalance = quickDecimal(row.marginBalance);
  if (marginBalance === undefined) return undefined;
  return {
    asset: row.asset,
    marginBalance,
    walletBalance: quickDecimal(row.walletBalance),
    unrealizedProfit: quickDecimal(row.unrealizedProfit),
    initialMargin: quickDecimal(row.initialMargin),
    openOrderInitialMargin: quickDecimal(row.openOrderInitialMargin),
    availableBalance: quickDecimal(row.availableBalance),
  };
}

function quickPosition(row: unknown): AccountPosition | undefined {
  if (!isRecord(row) || !quickName(row.symbol) || !POSITION_SIDES.has(row.positionSide)) {
    return undefined;
  }
  const positionAmt = quickDecimalText(row.positionAmt);
  const unrealizedProfit = quickDecimal(row.unrealizedProfit);
  const notional = quickDecimal(row.notional);
  const initialMargin = quickDecimal(row.initialMargin);
  if (
    positionAmt === undefined ||
    unrealizedProfit === undefined ||
    notional === undefined ||
    initialMargin === undefined ||
    !isUnixMs(row.updateTime)
  ) {
    return undefined;
  }
  return {
    symbol: row.symbol,
    positionSide: row.positionSide as AccountPosition["positionSide"],
    unrealizedProfit,
    notional,
    initialMargin,
    updateTime: row.updateTime,
    isolatedMargin: quickDecimal(row.isolatedMargin),
    isolatedWallet: quickDecimal(row.isolatedWallet),
    maintMargin: quickDecimal(row.maintMargin),
    positionAmt: Number(positionAmt),
    positionAmtText: positionAmt,
  };
}

/** Rows of an array, each through `quick`; undefined when any is refused. */
function quickRows<T>(rows: unknown, quick: (row: unknown) => T | undefined): T[] | undefined {
  if (!Array.isArray(rows)) return undefined;
  const out: T[] = [];
  for (const row of rows) {
    const parsed = quick(row);
    if (parsed === undefined) return undefined;
    out.push(parsed);
  }
  return out;
}

function quickAccount(body: unknown): FuturesAccount | undefined {
  if (!isRecord(body)) return undefined;
  const totalInitialMargin = quickDecimal(body.totalInitialMargin);
  const totalMarginBalance = quickDecimal(body.totalMarginBalance);
  const assets = quickRows(body.assets, quickAsset);
  const positions = quickRows(body.positions, quickPosition);
  if (
    totalInitialMargin === undefined ||
    totalMarginBalance === undefined ||
    assets === undefined ||
    positions === undefined
  ) {
    return undefined;
  }
  return {
    totalInitialMargin,
    totalMarginBalance,
    totalMaintMargin: quickDecimal(body.totalMaintMargin),
    totalWalletBalance: quickDecimal(body.totalWalletBalance),
    totalUnrealizedProfit: quickDecimal(body.totalUnrealizedProfit),
    availableBalance: quickDecimal(body.availableBalance),
    assets,
    positions,
  };
}

/** `GET /fapi/v3/account` as accountSchema reads it, checked by hand first. */
export const accountParser = withQuickCheck(accountSchema, quickAccount);
