/**
 * Weakness of an open position: how much it deserves to give its slot to a new
 * entry (docs/contract.md §3 step 8). Losing and old positions are weak:
 *
 *   pnl_pct     = unRealizedProfit / (|positionAmt| × entryPrice)   (0 when the notional is 0)
 *   age_penalty = min(agePenaltyCap, agePenaltyPerHour × age_hours)
 *   weakness    = −pnl_pct + age_penalty
 *
 * Age runs from the governor's own entry record (`at`, unix seconds) when it
 * has one (`age_source: "entry_record"`). Otherwise the only evidence Binance
 * gives is the position's `updateTime` (unix ms), which moves with every fill,
 * funding and margin change: it is when the position last changed, not when it
 * opened, so that age is a lower bound (`age_source: "update_time"`).
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V3
 */

/** Where a position's age comes from: the governor's entry record, or Binance's last-change time. */
export type AgeSource = "entry_record" | "update_time";

/** @default 0.002 (0.2 % of weakness per hour held) */
export const DEFAULT_AGE_PENALTY_PER_HOUR = 0.002;
/** @default 0.05 (age never adds more than 5 %) */
export const DEFAULT_AGE_PENALTY_CAP = 0.05;

/** |positionAmt| above this is an open position (docs/contract.md §3 step 4). */
const OPEN_EPSILON = 1e-8;
const HOUR_MS = 3_600_000;

/** The fields of an open position (from the Binance account call, lib/binance/positions.ts) that weakness reads. */
export interface WeaknessPosition {
  readonly symbol: string;
  readonly positionAmt: number;
  readonly entryPrice: number;
  readonly unRealizedProfit: number;
  /** unix ms */
  readonly updateTime: number;
}

/** The governor's record of the entry it allowed on a symbol. */
export interface EntryRecord {
  /** unix seconds */
  readonly at: number;
  readonly score: number;
}

export interface AgePenaltySettings {
  readonly agePenaltyPerHour: number;
  readonly agePenaltyCap: number;
}

export interface Weakness {
  readonly pnl_pct: number;
  readonly age_hours: number;
  readonly age_source: AgeSource;
  readonly age_penalty: number;
  readonly weakness: number;
}

export interface Victim<P extends WeaknessPosition> extends Weakness {
  readonly symbol: string;
  /** The victim's recorded entry score; null when the governor has no record. */
  readonly entry_score: number | null;
  /** The open rows of the symbol (two in hedge mode when long and short are both open). */
  readonly positions: readonly P[];
}

export function isOpenPosition(position: Pick<WeaknessPosition, "positionAmt">): boolean {
  return Math.abs(position.positionAmt) > OPEN_EPSILON;
}

/** Weakness of one position. */
export function weakness(
  position: WeaknessPosition,
  entry: EntryRecord | undefined,
  nowMs: number,
  settings: AgePenaltySettings,
): Weakness {
  return symbolWeakness([position], entry, nowMs, settings);
}

/**
 * Weakness of the rows of one symbol taken together (a slot is a symbol):
 * pnl over the summed notional, age from the entry record or the oldest row.
 */
export function symbolWeakness(
  positions: readonly WeaknessPosition[],
  entry: EntryRecord | undefined,
  nowMs: number,
  settings: AgePenaltySettings,
): Weakness {
  let pnl = 0;
  let notional = 0;
  let oldestUpdate = Infinity;
  for (const p of positions) {
    pnl += p.unRealizedProfit;
    notional += Math.abs(p.positionAmt) * p.entryPrice;
    oldestUpdate = Math.min(oldestUpdate, p.updateTime);
  }
  const pnlPct = notional > 0 ? pnl / notional : 0;
  const sinceMs = entry !== undefined ? entry.at * 1000 : oldestUpdate;
  // A clock a little behind Binance's must not make a position younger than new.
  const ageHours = Number.isFinite(sinceMs) ? Math.max(0, nowMs - sinceMs) / HOUR_MS : 0;
  const agePenalty = Math.min(settings.agePenaltyCap, settings.agePenaltyPerHour * ageHours);
  return {
    pnl_pct: pnlPct,
    age_hours: ageHours,
    age_source: entry !== undefined ? "entry_record" : "update_time",
    age_penalty: agePenalty,
    weakness: -pnlPct + agePenalty,
  };
}

/**
 * Open positions by symbol, weakest first: highest weakness, ties to the
 * oldest, then to the alphabetically first symbol, so concurrent evaluations
 * agree on the order. Rows that are not open are ignored.
 */
export function rankVictims<P extends WeaknessPosition>(
  positions: readonly P[],
  entries: ReadonlyMap<string, EntryRecord>,
  nowMs: number,
  settings: AgePenaltySettings,
): Victim<P>[] {
  const bySymbol = new Map<string, P[]>();
  for (const p of positions) {
    if (!isOpenPosition(p)) continue;
    const rows = bySymbol.get(p.symbol);
    if (rows) rows.push(p);
    else bySymbol.set(p.symbol, [p]);
  }
  return [...bySymbol]
    .map(([symbol, rows]): Victim<P> => {
      const entry = entries.get(symbol);
      return {
        symbol,
        entry_score: entry?.score ?? null,
        positions: rows,
        ...symbolWeakness(rows, entry, nowMs, settings),
      };
    })
    .sort(weakestFirst);
}

function weakestFirst(a: Victim<WeaknessPosition>, b: Victim<WeaknessPosition>): number {
  if (a.weakness !== b.weakness) return b.weakness - a.weakness;
  if (a.age_hours !== b.age_hours) return b.age_hours - a.age_hours;
  return a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0;
}
