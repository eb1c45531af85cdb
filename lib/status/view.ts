/**
 * The operators' view (`GET /v1/status`, the dashboard) from what was read:
 * a function of its inputs, so it is tested at fixed instants (./read.ts does
 * the reading). Holders, reservations and lock states are not derived here:
 * STATUS_VIEW (lib/rotation/lua/status-view.ts) reports them by the deciding
 * scripts' own rules, and this file only shapes them.
 */
import type { TradingState } from "../operators/trading-state.ts";
import { z } from "zod";
import type { OpenPosition } from "../binance/positions.ts";
import type { Config } from "../config.ts";
import { parseUniverse } from "../evaluate/gates.ts";
import type { MarketCache } from "../market/cache.ts";
import { deadLettersView } from "../queue/dead-letters.ts";
import type { StreamEntry } from "../redis/replies.ts";
import { desiredSlots } from "../regime/classify.ts";
import { rankVictims, type EntryRecord } from "../rotation/weakness.ts";
import {
  RegimeViewSchema,
  type HolderView,
  type LockView,
  type PositionView,
  type Status,
} from "./schema.ts";

/** The phases `lock_phase` (lib/rotation/lua/locks.ts) gives a lock. */
export const LOCK_PHASES = [
  "waiting",
  "closed",
  "confirmed_unverified",
  "victim_open",
  "expired",
  "decided",
] as const;
export type LockPhase = (typeof LOCK_PHASES)[number];

/** The state shown for each phase: what the next sweep (or resubmission) does. */
const STATE_OF_PHASE: Record<LockPhase, LockView["state"]> = {
  waiting: "waiting_close",
  closed: "close_confirmed",
  confirmed_unverified: "close_unverified",
  victim_open: "victim_still_open",
  expired: "timing_out",
  decided: "cancelling",
};

/** What STATUS_VIEW answered: the slots and locks as the deciding scripts see them. */
export interface SlotsAndLocks {
  /** Slot holders; the open positions among them only when those could be read. */
  holders: HolderView[];
  holderCount: number;
  /** Live reservations. */
  reservations: { symbol: string; plan_id: string; expires_at_ms: number }[];
  /** The first indexed locks, oldest first; raw null: no live lock. */
  locks: {
    planId: string;
    raw: string | null;
    phase: LockPhase | null;
    confirmationId: string | null;
  }[];
  locksTotal: number;
  /** apply.result was read to its end past the shared cursor. */
  confirmationsReadToEnd: boolean;
}

/** Everything `buildStatus` reads, as fetched. */
export interface StatusInputs {
  universe: string | null;
  slotsAndLocks: SlotsAndLocks;
  /** newest first */
  events: StreamEntry[];
  entries: ReadonlyMap<string, EntryRecord>;
  lastGates: string | null;
  positions: { ok: true; rows: OpenPosition[] } | { ok: false; error: string };
  /** valid market caches by symbol */
  markets: ReadonlyMap<string, MarketCache>;
  /** newest first */
  deadLetters?: StreamEntry[];
  /** @default { state: "ACTIVE" } */
  tradingState?: TradingState;
}

export type StatusSettings = Pick<
  Config,
  "mode" | "enabled" | "slots" | "agePenalty" | "rotationThreshold" | "maxCorrelation"
> & { ttl: Pick<Config["ttl"], "lock">; maxMarginUsagePct: number };

/** A rotation lock as the slot script writes it (lib/rotation/lua/evaluate-slots.ts), read back. */
const LockRecordSchema = z.looseObject({
  new_symbol: z.string(),
  new_plan_id: z.string(),
  close_symbol: z.string(),
  close_plan_id: z.string(),
  /** unix seconds */
  created_at: z.number(),
  // The fields below only add to the view: a malformed one must not hide the lock.
  /** seconds */
  ttl_s: z.number().optional().catch(undefined),
  new_score: z.number().nullish().catch(null),
  victim_weakness: z.number().nullish().catch(null),
  regime: RegimeViewSchema.omit({ symbol: true }).optional().catch(undefined),
});
type LockRecord = z.infer<typeof LockRecordSchema>;

const LastGatesSchema = z.looseObject({ symbol: z.string().optional() });

function parseJson(raw: string | null): unknown {
  if (raw === null) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

/** The live locks that parse, with their phase; the indexed ones without a live lock. */
function parseLocks(inputs: StatusInputs) {
  const records: {
    planId: string;
    record: LockRecord;
    phase: LockPhase;
    confirmationId: string | null;
  }[] = [];
  const orphaned: string[] = [];
  for (const { planId, raw, phase, confirmationId } of inputs.slotsAndLocks.locks) {
    const parsed = LockRecordSchema.safeParse(parseJson(raw));
    if (parsed.success && phase !== null)
      records.push({ planId, record: parsed.data, phase, confirmationId });
    else orphaned.push(planId);
  }
  return { records, orphaned };
}

/** Symbols whose regime the view shows: the latest evaluated one, lock entries, slot holders. */
export function statusSymbols(inputs: StatusInputs): string[] {
  const symbols = new Set<string>();
  const lastSymbol = LastGatesSchema.safeParse(parseJson(inputs.lastGates));
  if (lastSymbol.success && lastSymbol.data.symbol) symbols.add(lastSymbol.data.symbol);
  for (const { record } of parseLocks(inputs).records) symbols.add(record.new_symbol);
  if (inputs.positions.ok) for (const row of inputs.positions.rows) symbols.add(row.symbol);
  for (const { symbol } of inputs.slotsAndLocks.holders) symbols.add(symbol);
  for (const { symbol } of inputs.slotsAndLocks.reservations) symbols.add(symbol);
  return [...symbols];
}

/** The operators' view from what was read, at `nowMs` (unix ms). */
export function buildStatus(inputs: StatusInputs, settings: StatusSettings, nowMs: number): Status {
  const nowS = Math.floor(nowMs / 1000);
  const { slotsAndLocks } = inputs;
  const { records, orphaned } = parseLocks(inputs);

  const regimeOf = (symbol: string) => {
    const cache = inputs.markets.get(symbol);
    if (!cache) return null;
    const { name, trend, atr_pct } = cache.regime;
    return { symbol, name, trend, atr_pct, desired_slots: desiredSlots(name, settings.slots) };
  };
  const regimes = statusSymbols(inputs).flatMap((symbol) => regimeOf(symbol) ?? []);
  const lastGates = LastGatesSchema.safeParse(parseJson(inputs.lastGates));
  const lastSymbol = lastGates.success ? lastGates.data.symbol : undefined;
  const newestLock = records.at(-1)?.record;
  const lastRegime = lastSymbol ? regimeOf(lastSymbol) : null;
  const regime =
    lastRegime ??
    (newestLock?.regime ? { symbol: newestLock.new_symbol, ...newestLock.regime } : null);

  // A claimed symbol keeps its slot until the rotation ends.
  const claimedBy = new Map<string, string>();
  for (const holder of slotsAndLocks.holders)
    if (holder.kind === "rotation" && holder.plan_id) claimedBy.set(holder.symbol, holder.plan_id);

  let positions: PositionView[] | null = null;
  if (inputs.positions.ok) {
    const ranked = rankVictims(inputs.positions.rows, inputs.entries, nowMs, {
      agePenaltyPerHour: settings.agePenalty.perHour,
      agePenaltyCap: settings.agePenalty.cap,
    });
    let rank = 0;
    positions = ranked.map((victim) => {
      const legs = victim.positions;
      const size = legs.reduce((sum, p) => sum + Math.abs(p.positionAmt), 0);
      const net = legs.reduce((sum, p) => sum + p.positionAmt, 0);
      const weighted = (price: (p: OpenPosition) => number) =>
        size > 0 ? legs.reduce((sum, p) => sum + Math.abs(p.positionAmt) * price(p), 0) / size : 0;
      const claim = claimedBy.get(victim.symbol) ?? null;
      return {
        symbol: victim.symbol,
        side:
          legs.some((p) => p.positionAmt > 0) && legs.some((p) => p.positionAmt < 0)
            ? "HEDGED"
            : net < 0
              ? "SHORT"
              : "LONG",
        position_amt: net,
        entry_price: weighted((p) => p.entryPrice),
        mark_price: weighted((p) => p.markPrice),
        unrealized_pnl: legs.reduce((sum, p) => sum + p.unRealizedProfit, 0),
        pnl_pct: victim.pnl_pct,
        age_hours: victim.age_hours,
        age_source: victim.age_source,
        age_penalty: victim.age_penalty,
        weakness: victim.weakness,
        entry_score: victim.entry_score,
        victim_rank: claim === null ? ++rank : null,
        rotating_out_for: claim,
      };
    });
  }

  const reservations = slotsAndLocks.reservations.map(({ symbol, plan_id, expires_at_ms }) => ({
    symbol,
    plan_id,
    expires_at_ms,
    expires_in_s: Math.ceil((expires_at_ms - nowMs) / 1000),
  }));

  const holderDetail = [...slotsAndLocks.holders].sort((a, b) =>
    a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0,
  );
  const holders = inputs.positions.ok ? slotsAndLocks.holderCount : null;
  const desired = regime?.desired_slots ?? null;
  const slotState =
    holders === null || desired === null
      ? "unknown"
      : holders < desired
        ? "free"
        : holders === desired
          ? "full"
          : "over_capacity";

  const locks = records.map(({ planId, record, phase, confirmationId }): LockView => {
    const createdAt = Math.floor(record.created_at);
    const ageS = nowS - createdAt;
    const ttlS = Math.floor(record.ttl_s ?? settings.ttl.lock);
    return {
      plan_id: planId,
      new_symbol: record.new_symbol,
      new_plan_id: record.new_plan_id,
      close_symbol: record.close_symbol,
      close_plan_id: record.close_plan_id,
      created_at: createdAt,
      age_s: ageS,
      ttl_s: ttlS,
      timeout_in_s: ttlS - ageS,
      state: STATE_OF_PHASE[phase],
      confirmation_id: confirmationId,
      new_score: record.new_score ?? null,
      victim_weakness: record.victim_weakness ?? null,
    };
  });

  const events = inputs.events.map((entry) => ({
    ...entry.fields,
    id: entry.id,
    at_ms: Number(entry.id.split("-")[0]) || 0,
    event: entry.fields.event ?? "",
  }));

  return {
    at: nowMs,
    mode: settings.mode,
    enabled: settings.enabled,
    trading_state: inputs.tradingState ?? { state: "ACTIVE" },
    universe: inputs.universe === null ? null : [...(parseUniverse(inputs.universe) ?? [])],
    regime,
    regimes,
    slots: {
      desired,
      holders,
      free: holders === null || desired === null ? null : Math.max(0, desired - holders),
      state: slotState,
      by_regime: { ...settings.slots },
      holder_symbols: holderDetail.map((h) => h.symbol),
      holder_detail: holderDetail,
    },
    settings: {
      rotation_threshold: settings.rotationThreshold,
      lock_ttl_s: settings.ttl.lock,
      max_correlation: settings.maxCorrelation,
      max_margin_usage_pct: settings.maxMarginUsagePct,
    },
    positions,
    positions_error: inputs.positions.ok ? null : inputs.positions.error,
    reservations,
    locks,
    orphaned_locks: orphaned,
    locks_total: slotsAndLocks.locksTotal,
    confirmations_read_to_end: slotsAndLocks.confirmationsReadToEnd,
    last_gates: lastGates.success && inputs.lastGates !== null ? lastGates.data : null,
    events,
    dead_letters: deadLettersView(inputs.deadLetters ?? []),
  };
}
