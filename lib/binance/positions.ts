import { isOpenPosition } from "../rotation/weakness.ts";
import type { FuturesAccount } from "./schemas.ts";

/** An open position as the gates and the weakness score read it. */
export interface OpenPosition {
  symbol: string;
  positionSide: string;
  /** signed: negative for a short */
  positionAmt: number;
  /** the amount exactly as Binance sent it (close quantities are built from it) */
  positionAmtText: string;
  entryPrice: number;
  /** notional / amt */
  markPrice: number;
  unRealizedProfit: number;
  /** unix ms */
  updateTime: number;
}

/**
 * Open positions from `GET /fapi/v3/account`. One account call (weight 5)
 * carries what both the margin gate and the positions snapshot need, so an
 * evaluation makes one Binance call instead of two (positionRisk is also 5).
 * The account rows have no entryPrice; for linear USD-M contracts
 * notional = amt × mark and uPnL = amt × (mark − entry), so
 * entry = (notional − uPnL) / amt, and mark = notional / amt.
 */
export function openPositionsFromAccount(account: FuturesAccount): OpenPosition[] {
  return account.positions.filter(isOpenPosition).map((row) => ({
    symbol: row.symbol,
    positionSide: row.positionSide,
    positionAmt: row.positionAmt,
    positionAmtText: row.positionAmtText,
    entryPrice: (row.notional - row.unrealizedProfit) / row.positionAmt,
    markPrice: row.notional / row.positionAmt,
    unRealizedProfit: row.unrealizedProfit,
    updateTime: row.updateTime,
  }));
}
