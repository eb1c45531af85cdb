import { z } from "zod";
import type { Config } from "../config.ts";
import type { FuturesAccount } from "../binance/schemas.ts";
import { openPositionsFromAccount } from "../binance/positions.ts";
import type { MarketCache } from "../market/cache.ts";
import { intervalMs } from "../market/klines.ts";
import { desiredSlots } from "../regime/classify.ts";
import { rankVictims, type EntryRecord } from "../rotation/weakness.ts";
import { correlations, type PairCorrelation } from "../risk/correlation.ts";
import { projectedMarginUsage } from "../risk/margin.ts";
import { closeLegs, type VictimLegs } from "../rotation/close-legs.ts";
import { sideSign, type Plan } from "../plans/schema.ts";
import { isFinal, REASONS, type Reason } from "../plans/reasons.ts";
import type { DecisionBody } from "../plans/decision.ts";

export type Fetched<T> =
  | { ok: true; value: T }
  /** `detail`: a machine-readable cause worth its own field (e.g. "restricted_location"). */
  | { ok: false; error: string; detail?: string };

/** Everything the side-effect-free gates look at, gathered before they run. */
export interface Snapshot {
  account: Fetched<FuturesAccount>;
  /** Market caches of the plan's symbol and of every open symbol. */
  markets: ReadonlyMap<string, Fetched<MarketCache>>;
  entries: ReadonlyMap<string, EntryRecord>;
}

/** The one correlation failure a rotation may still clear by closing that very symbol. */
export interface RequiredVictim {
  symbol: string;
  reason: Reason;
  details: Record<string, unknown>;
}

/** Inputs of the atomic slot step (EVALUATE_SLOTS). */
export interface SlotStep {
  desired: number;
  openSymbols: string[];
  victims: VictimLegs[];
  regime: NonNullable<DecisionBody["regime"]>;
  requiredVictim: RequiredVictim | null;
}

/** Figures the status page shows from the latest evaluation. */
export interface GateFigures {
  correlations: PairCorrelation[];
  margin: { usage: number; added: number; cap: number } | null;
}

export type GateOutcome =
  | {
      kind: "block";
      reason: Reason;
      details?: Record<string, unknown>;
      regime?: SlotStep["regime"];
      figures?: GateFigures;
    }
  | { kind: "slots"; step: SlotStep; figures: GateFigures };

const UniverseSchema = z.array(z.string().regex(/^[A-Z0-9]{2,20}$/));

/**
 * The last universe parsed, by its raw text: a policy changes rarely,
 * evaluations often. `digest`: the text's SHA-1 as a state read gave it, which
 * the next read offers so that an unchanged universe is not sent again
 * (lib/rotation/lua/read-state.ts).
 */
let lastUniverse: { raw: string; symbols: ReadonlySet<string> | null; digest?: string } | undefined;

/** Parse the policy's universe; null when missing or malformed (fail closed). */
export function parseUniverse(raw: string | null): ReadonlySet<string> | null {
  if (raw === null) return null;
  if (lastUniverse?.raw === raw) return lastUniverse.symbols;
  const symbols = parseUniverseText(raw);
  lastUniverse = { raw, symbols };
  return symbols;
}

/** Hold a universe text with the SHA-1 a state read gave for it. */
export function holdUniverse(raw: string, digest: string): void {
  parseUniverse(raw);
  lastUniverse!.digest = digest;
}

/** The universe text this isolate holds with its digest, if a state read gave one. */
export function heldUniverse(): { raw: string; digest: string } | undefined {
  const held = lastUniverse;
  return held?.digest === undefined ? undefined : { raw: held.raw, digest: held.digest };
}

function parseUniverseText(raw: string): Set<string> | null {
  try {
    const parsed = UniverseSchema.safeParse(JSON.parse(raw));
    return parsed.success ? new Set(parsed.data) : null;
  } catch {
    return null;
  }
}

/**
 * docs/contract.md §3 step 3, from Redis alone, so a plan outside the universe costs no
 * Binance weight. Null when the symbol is allowed.
 */
export function universeGate(
  plan: Pick<Plan, "symbol">,
  rawUniverse: string | null,
): Reason | null {
  const universe = parseUniverse(rawUniverse);
  if (universe === null) return REASONS.noPolicy;
  if (!universe.has(plan.symbol)) return REASONS.notInUniverse;
  return null;
}

/**
 * docs/contract.md §3 steps 4–7 for one entry plan whose symbol passed the universe:
 * the checks with no side effects, in order. Either a BLOCK, or the inputs of
 * the atomic slot step (step 8).
 */
export function runGates(
  plan: Plan,
  snapshot: Snapshot,
  config: Config,
  nowMs: number,
): GateOutcome {
  // 4. Positions (from the account call, which also feeds the margin gate).
  if (!snapshot.account.ok) {
    return {
      kind: "block",
      reason: REASONS.positionsUnavailable,
      details: { error: snapshot.account.error, detail: snapshot.account.detail },
    };
  }
  const account = snapshot.account.value;
  const open = openPositionsFromAccount(account);

  // 5. Regime of the plan's symbol.
  const market = snapshot.markets.get(plan.symbol);
  if (!market?.ok) {
    return {
      kind: "block",
      reason: REASONS.regimeUnavailable,
      details: {
        error: market?.error ?? "no market data",
        detail: market && !market.ok ? market.detail : undefined,
      },
    };
  }
  const figures = market.value.regime;
  const desired = desiredSlots(figures.name, config.slots);
  const regime = {
    name: figures.name,
    trend: figures.trend,
    atr_pct: figures.atr_pct,
    desired_slots: desired,
  };

  // 6. Correlation with every other open position.
  const netBySymbol = new Map<string, number>();
  for (const p of open) netBySymbol.set(p.symbol, (netBySymbol.get(p.symbol) ?? 0) + p.positionAmt);
  const pairs = correlations({
    candidate: { closes: market.value.closes, sign: sideSign(plan.side) },
    legs: [...netBySymbol]
      .filter(([symbol]) => symbol !== plan.symbol)
      .map(([symbol, net]) => {
        const leg = snapshot.markets.get(symbol);
        return {
          symbol,
          sign: Math.sign(net) as 1 | -1 | 0,
          closes: leg?.ok ? leg.value.closes : null,
        };
      }),
    maxCorrelation: config.maxCorrelation,
    candleMs: intervalMs(config.regime.interval),
  });
  const failing = pairs.filter((p) => p.status !== "ok");
  const worst = failing.find((p) => p.status === "limit") ?? failing[0];
  const correlationBlock = worst && {
    reason: worst.status === "limit" ? REASONS.correlationLimit : REASONS.correlationUnavailable,
    details: {
      symbol: worst.symbol,
      value: "value" in worst ? worst.value : null,
      samples: worst.samples,
      max: config.maxCorrelation,
    },
  };

  // 7. Margin, projected with the plan's own notional.
  const projected = projectedMarginUsage({
    account,
    notional: plan.notional,
    leverage: plan.leverage,
  });
  const gateFigures: GateFigures = {
    correlations: pairs,
    margin: projected.ok
      ? { usage: projected.usage, added: projected.added, cap: config.maxMarginUsagePct }
      : null,
  };
  const block = (reason: Reason, details?: Record<string, unknown>): GateOutcome => ({
    kind: "block",
    reason,
    details,
    regime,
    figures: gateFigures,
  });
  // Two failing pairs cannot both be rotated out: block now.
  if (correlationBlock && failing.length > 1)
    return block(correlationBlock.reason, correlationBlock.details);
  if (!projected.ok) return block(REASONS.marginUnavailable, projected.details);
  if (projected.usage > config.maxMarginUsagePct) {
    return block(REASONS.marginCap, { usage: projected.usage, cap: config.maxMarginUsagePct });
  }

  const victims = rankVictims(open, snapshot.entries, nowMs, {
    agePenaltyPerHour: config.agePenalty.perHour,
    agePenaltyCap: config.agePenalty.cap,
  }).map((v) => ({
    symbol: v.symbol,
    weakness: v.weakness,
    pnl_pct: v.pnl_pct,
    // One close leg per open side; quantities on the step size are applied later (lib/rotation/close-legs.ts).
    legs: closeLegs(v.positions),
  }));
  return {
    kind: "slots",
    figures: gateFigures,
    step: {
      desired,
      openSymbols: [...netBySymbol.keys()],
      victims,
      regime,
      // One failing pair passes only if the rotation closes exactly that position (decided atomically).
      requiredVictim: correlationBlock
        ? {
            symbol: worst!.symbol,
            reason: correlationBlock.reason,
            details: correlationBlock.details,
          }
        : null,
    },
  };
}

/**
 * The gates for a waiting rotation's plan, on data as of its completion (the
 * slot step then checks capacity atomically). A final BLOCK ends the rotation
 * without an entry; a gate that cannot be evaluated leaves it waiting.
 */
export type CompletionVerdict =
  | { desired: number; required_victim?: RequiredVictim }
  | { block: { reason: Reason; details?: Record<string, unknown> } }
  | { unknown: Reason };

export function completionVerdict(
  plan: Plan,
  rawUniverse: string | null,
  snapshot: Snapshot,
  config: Config,
  nowMs: number,
): CompletionVerdict {
  const outside = universeGate(plan, rawUniverse);
  if (outside) return { block: { reason: outside } };
  const outcome = runGates(plan, snapshot, config, nowMs);
  if (outcome.kind === "slots") {
    const { desired, requiredVictim } = outcome.step;
    return requiredVictim ? { desired, required_victim: requiredVictim } : { desired };
  }
  if (!isFinal("BLOCK", outcome.reason)) return { unknown: outcome.reason };
  return { block: { reason: outcome.reason, details: outcome.details } };
}
