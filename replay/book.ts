/**
 * The simulated exchange book: one-way positions (positionSide BOTH) filled at
 * the next candle's open, marked at the last closed candle's close. A fill is
 * visible at once (the Apply Layer executes within seconds); its price is only
 * known when that candle opens, so until then the position carries no
 * unrealized PnL and a close's realized PnL is settled into the wallet only
 * then. No fees, funding, liquidations or margin refusals (see the README).
 */
import { isClose, sideSign, type Plan } from "../lib/plans/schema.ts";
import { decimal, type Market } from "./market.ts";

export interface Position {
  symbol: string;
  /** signed: negative for a short */
  amt: number;
  entry: number;
  leverage: number;
  /** unix ms from which the mark applies (the fill candle's open) */
  markFrom: number;
  /** unix ms of the last fill */
  updateTime: number;
}

export interface Fill {
  symbol: string;
  price: number;
  /** unix ms the fill price became known (its candle's open) */
  pricedAt: number;
  /** signed quantity traded */
  amt: number;
  realized: number;
}

/** A starting position (`--positions`): Binance-like, entry price defaulting to the first fill price. */
export interface StartingPosition {
  symbol: string;
  positionAmt: number;
  entryPrice?: number;
  leverage?: number;
}

/** Maintenance margin rate, flat: only reported, nothing is liquidated. */
const MAINT_RATE = 0.004;

export class Book {
  readonly positions = new Map<string, Position>();
  /** Realized PnL booked so far, settled or not (USDT). */
  realized = 0;
  /** Starting wallet balance (USDT). */
  readonly balance: number;
  private settled: number;
  private readonly pending: { at: number; amount: number }[] = [];
  private readonly market: Market;

  constructor(market: Market, balance: number) {
    this.market = market;
    this.balance = balance;
    this.settled = balance;
  }

  /** Put a starting position on the book (entry price: its own, else the fill price). */
  seed(start: StartingPosition, leverage: number, at: number): void {
    const quote = this.price(start.symbol, at);
    const entry = start.entryPrice ?? quote?.price;
    if (entry === undefined || start.positionAmt === 0) return;
    this.positions.set(start.symbol, {
      symbol: start.symbol,
      amt: start.positionAmt,
      entry,
      leverage: start.leverage ?? leverage,
      markFrom: start.entryPrice === undefined ? (quote?.at ?? at) : at,
      updateTime: at,
    });
  }

  /** The fill price at `at`: the next candle's open, else (past the data) the last close. */
  price(symbol: string, at: number): { price: number; at: number } | undefined {
    const next = this.market.nextOpen(symbol, at);
    if (next) return next;
    const mark = this.market.mark(symbol, at);
    return mark === undefined ? undefined : { price: mark, at };
  }

  /** Trade `amt` (signed) at `at`; opposite-side trades reduce, then flip. */
  trade(symbol: string, amt: number, leverage: number, at: number): Fill | undefined {
    const quote = this.price(symbol, at);
    if (!quote || amt === 0) return undefined;
    const { price } = quote;
    const held = this.positions.get(symbol);
    let realized = 0;
    if (!held) {
      this.positions.set(symbol, {
        symbol,
        amt,
        entry: price,
        leverage,
        markFrom: quote.at,
        updateTime: at,
      });
    } else if (Math.sign(held.amt) === Math.sign(amt)) {
      const total = held.amt + amt;
      held.entry = (held.amt * held.entry + amt * price) / total;
      held.amt = total;
      held.leverage = leverage;
      held.markFrom = Math.max(held.markFrom, quote.at);
      held.updateTime = at;
    } else {
      const closing = Math.min(Math.abs(amt), Math.abs(held.amt)) * Math.sign(held.amt);
      realized = closing * (price - held.entry);
      const rest = held.amt + amt;
      if (Math.abs(rest) <= 1e-12) {
        this.positions.delete(symbol);
      } else if (Math.sign(rest) === Math.sign(held.amt)) {
        held.amt = rest;
        held.updateTime = at;
      } else {
        this.positions.set(symbol, {
          symbol,
          amt: rest,
          entry: price,
          leverage,
          markFrom: quote.at,
          updateTime: at,
        });
      }
    }
    if (realized !== 0) {
      this.realized += realized;
      this.pending.push({ at: quote.at, amount: realized });
    }
    return { symbol, price, pricedAt: quote.at, amt, realized };
  }

  /** Open or add to a position worth `notional` USDT at the fill price. */
  enter(symbol: string, side: 1 | -1, notional: number, leverage: number, at: number) {
    const quote = this.price(symbol, at);
    if (!quote || !(notional > 0)) return undefined;
    return this.trade(symbol, (side * notional) / quote.price, leverage, at);
  }

  /** Close `fraction` (0..1] of a position; undefined when nothing is held. */
  reduce(symbol: string, fraction: number, at: number): Fill | undefined {
    const held = this.positions.get(symbol);
    if (!held) return undefined;
    const amt = -held.amt * Math.min(1, Math.max(0, fraction));
    return this.trade(symbol, amt, held.leverage, at);
  }

  wallet(at: number): number {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const item = this.pending[i]!;
      if (item.at <= at) {
        this.settled += item.amount;
        this.pending.splice(i, 1);
      }
    }
    return this.settled;
  }

  /** Mark of a position: its entry until its fill candle opens, then the last close. */
  mark(position: Position, at: number): number {
    if (at < position.markFrom) return position.entry;
    return this.market.mark(position.symbol, at) ?? position.entry;
  }

  unrealized(at: number): number {
    let total = 0;
    for (const p of this.positions.values()) total += p.amt * (this.mark(p, at) - p.entry);
    return total;
  }

  equity(at: number): number {
    return this.wallet(at) + this.unrealized(at);
  }

  openSymbols(): string[] {
    return [...this.positions.keys()].sort();
  }

  /** `GET /fapi/v3/account` as Binance shapes it (decimals as strings). */
  account(at: number) {
    const wallet = this.wallet(at);
    let initial = 0;
    let maint = 0;
    let unrealized = 0;
    const positions = [...this.positions.values()].map((p) => {
      const mark = this.mark(p, at);
      const notional = p.amt * mark;
      const pnl = p.amt * (mark - p.entry);
      const im = Math.abs(notional) / p.leverage;
      initial += im;
      maint += Math.abs(notional) * MAINT_RATE;
      unrealized += pnl;
      return {
        symbol: p.symbol,
        positionSide: "BOTH",
        positionAmt: decimal(p.amt),
        unrealizedProfit: decimal(pnl),
        notional: decimal(notional),
        initialMargin: decimal(im),
        updateTime: p.updateTime,
      };
    });
    const marginBalance = wallet + unrealized;
    return {
      totalInitialMargin: decimal(initial),
      totalMaintMargin: decimal(maint),
      totalWalletBalance: decimal(wallet),
      totalUnrealizedProfit: decimal(unrealized),
      totalMarginBalance: decimal(marginBalance),
      availableBalance: decimal(marginBalance - initial),
      // Single-asset mode, everything margined in USDT.
      assets: [
        {
          asset: "USDT",
          walletBalance: decimal(wallet),
          unrealizedProfit: decimal(unrealized),
          marginBalance: decimal(marginBalance),
          initialMargin: decimal(initial),
          availableBalance: decimal(marginBalance - initial),
        },
      ],
      positions,
    };
  }

  /** `GET /fapi/v3/positionRisk` as Binance shapes it. */
  positionRisk(at: number) {
    return [...this.positions.values()].map((p) => {
      const mark = this.mark(p, at);
      return {
        symbol: p.symbol,
        positionSide: "BOTH",
        positionAmt: decimal(p.amt),
        entryPrice: decimal(p.entry),
        markPrice: decimal(mark),
        unRealizedProfit: decimal(p.amt * (mark - p.entry)),
        notional: decimal(p.amt * mark),
        leverage: decimal(p.leverage),
        updateTime: p.updateTime,
      };
    });
  }
}

/** +1 long, −1 short; a plan without a side is taken as long. */
export function entrySide(plan: Pick<Plan, "side">): 1 | -1 {
  return sideSign(plan.side) === -1 ? -1 : 1;
}

/**
 * How much of a position a close plan closes: FULL_CLOSE_PROPOSED all of it;
 * PARTIAL_* the percentage in its name (PARTIAL_CLOSE_25 → 25 %), else its
 * qty or notional, else half; any other reduceOnly plan its qty or notional,
 * else all of it.
 */
export function closeFraction(plan: Plan, position: Position, price: number): number {
  if (!isClose(plan) || plan.action === "FULL_CLOSE_PROPOSED") return 1;
  const size = Math.abs(position.amt);
  if (plan.action.startsWith("PARTIAL_")) {
    const percent = /(\d+(?:\.\d+)?)$/.exec(plan.action)?.[1];
    if (percent !== undefined) return Math.min(1, Number(percent) / 100);
  }
  if (plan.qty !== undefined && plan.qty > 0) return Math.min(1, plan.qty / size);
  if (plan.notional !== undefined && plan.notional > 0) {
    return Math.min(1, plan.notional / price / size);
  }
  return plan.action.startsWith("PARTIAL_") ? 0.5 : 1;
}
