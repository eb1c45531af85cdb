/**
 * Projected initial-margin usage (docs/contract.md §3 step 7), from what Binance documents
 * for `GET /fapi/v3/account` in both account modes, with no need to know which
 * mode the account is in:
 *
 *   usage = (initial margin + plan notional / leverage) / margin balance
 *
 *   initial margin = max(totalInitialMargin, Σ positions[].initialMargin)
 *   margin balance = max(totalMarginBalance, Σ assets[].marginBalance of USD stablecoins)
 *
 * Why: the totals are "only for USDT asset" in single-asset mode, and in
 * multi-assets mode the initial-margin totals are "the sum of USD value of all
 * cross positions/open order initial margin". Neither covers isolated
 * positions or (single-asset) positions margined in USDC. Every row of
 * `positions[]` (one-way BOTH rows, hedge LONG and SHORT rows, cross and
 * isolated, rows with only open orders) carries the initial margin its
 * position and open orders require, so their sum counts them all; the max
 * never reports less than Binance's own total.
 * The margin balance: in single-asset mode each stablecoin is its own pool,
 * and totalMarginBalance is USDT's alone (an account holding only USDC shows
 * 0), so the pools' sum is the larger; in multi-assets mode totalMarginBalance
 * is "total margin balance in USD" over every asset (non-stable collateral
 * included), so it is the larger. An asset's margin balance is its wallet
 * (isolated wallets included) plus its unrealized PnL. Stablecoins count at 1 USD.
 *
 * Positions margined in an asset that is not a USD stablecoin (a symbol quoted
 * in BTC) cannot be added in USD: the gate cannot judge (fail closed). A plan
 * notional without leverage is counted at leverage 1 (fail closed); no
 * notional adds nothing. A non-positive margin balance cannot be judged.
 *
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Account-Information-V3
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V3
 */
import type { FuturesAccount } from "../binance/schemas.ts";

/** Margin assets valued at 1 USD. */
export const USD_STABLECOINS: readonly string[] = ["USDT", "USDC", "FDUSD", "BUSD"];

export interface MarginUsage {
  usage: number;
  /** USD the plan adds: notional / leverage */
  added: number;
  /** USD, before the plan */
  initial_margin: number;
  /** USD */
  margin_balance: number;
}

export type MarginVerdict =
  ({ ok: true } & MarginUsage) | { ok: false; details: Record<string, unknown> };

/**
 * The margin asset of a USD-M symbol: its quote asset, the suffix it ends with
 * (BTCUSDT → USDT, BTCUSDC → USDC). Account rows carry no marginAsset field.
 */
export function marginAssetOf(symbol: string, assets: readonly string[]): string | undefined {
  const known = [...new Set([...USD_STABLECOINS, ...assets])].sort((a, b) => b.length - a.length);
  return known.find((asset) => symbol.endsWith(asset) && symbol.length > asset.length);
}

export function projectedMarginUsage(input: {
  account: FuturesAccount;
  notional?: number;
  leverage?: number;
}): MarginVerdict {
  const { account } = input;
  const assetNames = account.assets.map((a) => a.asset);

  let rowsInitial = 0;
  for (const row of account.positions) {
    if (row.initialMargin === 0) continue;
    const asset = marginAssetOf(row.symbol, assetNames);
    if (asset === undefined || !USD_STABLECOINS.includes(asset)) {
      return { ok: false, details: { error: "non_usd_margin_asset", symbol: row.symbol, asset } };
    }
    rowsInitial += row.initialMargin;
  }
  const initial = Math.max(account.totalInitialMargin, rowsInitial);

  const stablePools = account.assets
    .filter((a) => USD_STABLECOINS.includes(a.asset))
    .reduce((sum, a) => sum + a.marginBalance, 0);
  const balance = Math.max(account.totalMarginBalance, stablePools);
  if (!(balance > 0)) {
    return { ok: false, details: { error: "no_margin_balance", margin_balance: balance } };
  }
  const added = input.notional !== undefined ? input.notional / (input.leverage ?? 1) : 0;
  return {
    ok: true,
    usage: (initial + added) / balance,
    added,
    initial_margin: initial,
    margin_balance: balance,
  };
}
