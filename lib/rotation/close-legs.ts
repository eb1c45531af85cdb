/**
 * The orders that close a rotation victim, one per open side, as an Apply
 * Layer can send them unchanged. Binance closes a hedge-mode position one side
 * at a time: each order names positionSide LONG or SHORT (a LONG is closed by
 * a SELL, a SHORT by a BUY); in one-way mode the single BOTH position is
 * closed by the opposite side. Quantities are the exact position amounts,
 * floored to the symbol's LOT_SIZE stepSize.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information
 */
import { absDecimal, floorToStep } from "../binance/lot-size.ts";

export interface CloseLeg {
  position_side: "LONG" | "SHORT" | "BOTH";
  side: "BUY" | "SELL";
  /** exact decimal text: the position amount as Binance sent it, then on the step size */
  qty: string;
}

/** A victim as ranked by the gates: legs carry raw position amounts. */
export interface VictimLegs {
  symbol: string;
  weakness: number;
  pnl_pct: number;
  legs: CloseLeg[];
}

/**
 * A victim as the slot script receives it (lib/rotation/lua/evaluate-slots.ts).
 * `side`/`position_side`/`qty` are the first leg's (the only one in one-way
 * mode); with two legs `legs_json` carries both, and the close plan gains the
 * fields `legs` (that JSON) and `leg_count`. No `legs` at all: the step size is
 * unknown, and the script must not start this rotation.
 */
export interface SlotVictim {
  symbol: string;
  weakness: number;
  pnl_pct: number;
  close_side?: "BUY" | "SELL";
  position_side?: CloseLeg["position_side"];
  qty?: string;
  legs?: CloseLeg[];
  legs_json?: string;
  leg_count?: number;
}

/** One leg per open row; LONG before SHORT, so the first leg is stable. */
export function closeLegs(
  rows: readonly { positionSide: string; positionAmt: number; positionAmtText: string }[],
): CloseLeg[] {
  const order = { LONG: 0, BOTH: 1, SHORT: 2 } as const;
  return rows
    .map((row) => ({
      position_side: row.positionSide as CloseLeg["position_side"],
      side: row.positionAmt > 0 ? ("SELL" as const) : ("BUY" as const),
      qty: absDecimal(row.positionAmtText),
    }))
    .sort((a, b) => order[a.position_side] - order[b.position_side]);
}

/**
 * Put each victim's legs on its symbol's step size. A victim whose step size is
 * unknown (or whose amount floors to zero) keeps no legs: fail closed.
 */
export function onStepSizes(
  victims: readonly VictimLegs[],
  stepSizes: ReadonlyMap<string, string>,
): SlotVictim[] {
  return victims.map((victim) => {
    const base = { symbol: victim.symbol, weakness: victim.weakness, pnl_pct: victim.pnl_pct };
    const step = stepSizes.get(victim.symbol);
    if (step === undefined) return base;
    const legs: CloseLeg[] = [];
    for (const leg of victim.legs) {
      const qty = floorToStep(leg.qty, step);
      if (qty === null) return base;
      legs.push({ ...leg, qty });
    }
    const first = legs[0];
    if (!first) return base;
    return {
      ...base,
      close_side: first.side,
      position_side: first.position_side,
      qty: first.qty,
      legs,
      leg_count: legs.length,
      ...(legs.length > 1 ? { legs_json: JSON.stringify(legs) } : {}),
    };
  });
}
