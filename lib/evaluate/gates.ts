import { z } from "zod";
import type { Config } from "../config.ts";
import type { PositionRisk } from "../binance/schemas.ts";
import type { MarketCache } from "../market/cache.ts";
import { desiredSlots } from "../regime/classify.ts";
import { isOpenPosition, rankVictims, type EntryRecord } from "../rotation/weakness.ts";
import type { Plan } from "../plans/schema.ts";
import { REASONS, type Reason } from "../plans/reasons.ts";
import type { DecisionBody } from "../plans/decision.ts";

/** Everything the side-effect-free gates look at, gathered before they run. */
export interface Snapshot {
  /** Raw `universe_symbols` of the policy hash, or null when absent. */
  universe: string | null;
  positions: { ok: true; rows: PositionRisk[] } | { ok: false; error: string };
  market: { ok: true; cache: MarketCache } | { ok: false; error: string };
  entries: ReadonlyMap<string, EntryRecord>;
}

/** Inputs of the atomic slot step (EVALUATE_SLOTS). */
export interface SlotStep {
  desired: number;
  openSymbols: string[];
  victims: {
    symbol: string;
    weakness: number;
    pnl_pct: number;
    close_side: "BUY" | "SELL";
    position_side: string;
    qty: string;
  }[];
  regime: NonNullable<DecisionBody["regime"]>;
}

export type GateOutcome =
  | {
      kind: "block";
      reason: Reason;
      details?: Record<string, unknown>;
      regime?: SlotStep["regime"];
    }
  | { kind: "slots"; step: SlotStep };

const UniverseSchema = z.array(z.string().regex(/^[A-Z0-9]{2,20}$/));

/** Parse the policy's universe; null when missing or malformed (fail closed). */
export function parseUniverse(raw: string | null): Set<string> | null {
  if (raw === null) return null;
  try {
    const parsed = UniverseSchema.safeParse(JSON.parse(raw));
    return parsed.success ? new Set(parsed.data) : null;
  } catch {
    return null;
  }
}

/**
 * SPEC §5 steps 3–7 for one entry plan: the checks with no side effects, in
 * order. Either a BLOCK, or the inputs of the atomic slot step.
 */
export function runGates(
  plan: Plan,
  snapshot: Snapshot,
  config: Config,
  nowMs: number,
): GateOutcome {
  const universe = parseUniverse(snapshot.universe);
  if (universe === null) return { kind: "block", reason: REASONS.noPolicy };
  if (!universe.has(plan.symbol)) return { kind: "block", reason: REASONS.notInUniverse };

  if (!snapshot.positions.ok) {
    return {
      kind: "block",
      reason: REASONS.positionsUnavailable,
      details: { error: snapshot.positions.error },
    };
  }
  if (!snapshot.market.ok) {
    return {
      kind: "block",
      reason: REASONS.regimeUnavailable,
      details: { error: snapshot.market.error },
    };
  }
  const { regime: figures } = snapshot.market.cache;
  const desired = desiredSlots(figures.name, config.slots);
  const regime = {
    name: figures.name,
    trend: figures.trend,
    atr_pct: figures.atr_pct,
    desired_slots: desired,
  };

  // Steps 6 (correlation) and 7 (margin) plug in here, before any side effect.

  const open = snapshot.positions.rows.filter(isOpenPosition);
  const victims = rankVictims(open, snapshot.entries, nowMs, {
    agePenaltyPerHour: config.agePenalty.perHour,
    agePenaltyCap: config.agePenalty.cap,
  }).map((v) => {
    const net = v.positions.reduce((sum, p) => sum + p.positionAmt, 0);
    const qty = v.positions.reduce((sum, p) => sum + Math.abs(p.positionAmt), 0);
    return {
      symbol: v.symbol,
      weakness: v.weakness,
      pnl_pct: v.pnl_pct,
      close_side: net >= 0 ? ("SELL" as const) : ("BUY" as const),
      position_side:
        v.positions.length > 1 ? "BOTH_SIDES" : (v.positions[0]?.positionSide ?? "BOTH"),
      qty: String(qty),
    };
  });
  return {
    kind: "slots",
    step: { desired, openSymbols: [...new Set(open.map((p) => p.symbol))], victims, regime },
  };
}
