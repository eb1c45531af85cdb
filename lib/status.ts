/**
 * The operators' view of the controller (SPEC §7 `GET /v1/status`, and the
 * dashboard at `GET /`): regime and desired slots, slot holders, open positions
 * with their weakness, reservations, rotation locks with their countdown, the
 * latest gate figures and recent governor events.
 *
 * `readStatus` does the I/O (three Redis round trips, the trading state and one
 * Binance call made alongside the second); `buildStatus` turns what was read into the view and
 * is a function of its inputs, so the view is tested at fixed instants.
 */
import { z } from "zod";
import { sharedBinanceClient } from "./binance/shared.ts";
import type { PositionRisk } from "./binance/schemas.ts";
import type { Config } from "./config.ts";
import type { GovernorContext } from "./context.ts";
import { stateStoreFailure } from "./errors.ts";
import { parseEntries } from "./rotation/entries.ts";
import { parseUniverse } from "./evaluate/gates.ts";
import { readMarketCache, type MarketCache } from "./market/cache.ts";
import { toHash, toStreamEntries, type StreamEntry } from "./redis/replies.ts";
import { REGIMES, desiredSlots } from "./regime/classify.ts";
import { isOpenPosition, rankVictims, type EntryRecord } from "./rotation/weakness.ts";
import {
  readTradingState,
  TradingStateSchema,
  type TradingState,
} from "./operators/trading-state.ts";

/** Locks listed (oldest first); the count of all indexed locks is reported beside them. */
export const MAX_LOCKS_SHOWN = 200;
/** Newest governor events listed. */
export const EVENTS_SHOWN = 30;

const RegimeViewSchema = z.object({
  symbol: z.string(),
  name: z.enum(REGIMES),
  trend: z.number(),
  atr_pct: z.number(),
  desired_slots: z.number().int(),
});

const HolderSchema = z.object({
  symbol: z.string(),
  kind: z
    .enum(["position", "reservation", "rotation"])
    .describe(
      "position: open on the exchange; reservation: permit issued, position not yet visible; rotation: claimed by a lock, being closed.",
    ),
  plan_id: z
    .string()
    .nullable()
    .describe("The reservation's plan, or the lock (new entry's plan) that claimed the slot."),
});

const PositionViewSchema = z.object({
  symbol: z.string(),
  side: z.enum(["LONG", "SHORT", "HEDGED"]),
  position_amt: z.number().describe("Net signed amount over the symbol's rows."),
  entry_price: z.number().describe("Notional-weighted over the symbol's rows."),
  mark_price: z.number(),
  unrealized_pnl: z.number(),
  pnl_pct: z.number().describe("unRealizedProfit / (|positionAmt| × entryPrice)"),
  age_hours: z
    .number()
    .describe("Since the governor's entry record, else the position's updateTime."),
  age_penalty: z.number(),
  weakness: z
    .number()
    .describe(
      "−pnl_pct + age_penalty: the weakest unclaimed position is the next rotation victim.",
    ),
  entry_score: z
    .number()
    .nullable()
    .describe(
      "The score the governor recorded when it allowed the entry; null when it has no record.",
    ),
  victim_rank: z
    .number()
    .int()
    .nullable()
    .describe("1 = the next rotation victim; null for a position a rotation already claimed."),
  rotating_out_for: z
    .string()
    .nullable()
    .describe("plan_id of the lock rotating this position out, if any."),
});

const ReservationViewSchema = z.object({
  symbol: z.string(),
  plan_id: z.string(),
  expires_at_ms: z.number().describe("unix ms"),
  expires_in_s: z.number().int(),
});

const LockViewSchema = z.object({
  plan_id: z.string(),
  new_symbol: z.string(),
  new_plan_id: z.string(),
  close_symbol: z.string(),
  close_plan_id: z.string(),
  created_at: z.number().int().describe("unix seconds"),
  age_s: z.number().int(),
  ttl_s: z.number().int(),
  timeout_in_s: z
    .number()
    .int()
    .describe(
      "Seconds until the rotation times out; negative once it has (until a sweep or evaluation records it).",
    ),
  state: z
    .enum(["waiting_close", "close_confirmed", "timed_out"])
    .describe("timed_out and close_confirmed last until a sweep or evaluation records them."),
  new_score: z.number().nullable(),
  victim_weakness: z.number().nullable(),
});

const EventViewSchema = z
  .object({
    id: z.string(),
    at_ms: z.number().describe("unix ms, from the stream entry id"),
    event: z.string(),
  })
  .catchall(z.union([z.string(), z.number()]))
  .describe(
    "The event's own fields as strings: plan_id, symbol, reason, new_symbol, close_symbol, lock_age, ...",
  );

export const StatusSchema = z.object({
  at: z.number().describe("unix ms, the governor's clock when the view was built"),
  mode: z.enum(["enforce", "shadow"]),
  enabled: z.boolean(),
  trading_state: TradingStateSchema.describe(
    "ACTIVE, REDUCING or HALTED, with who set it, why and when (GET /v1/trading-state).",
  ),
  universe: z
    .array(z.string())
    .nullable()
    .describe(
      "Allowed symbols from the policy; null when the policy is missing or malformed (every entry blocks).",
    ),
  regime: RegimeViewSchema.nullable().describe(
    "The regime that sets the slot count now: the latest evaluated symbol's (or the newest lock's).",
  ),
  regimes: z
    .array(RegimeViewSchema)
    .describe(
      "Cached regimes of the symbols that matter now (holders, lock entries, latest evaluation).",
    ),
  slots: z.object({
    desired: z.number().int().nullable().describe("Slots the current regime allows."),
    holders: z.number().int().nullable().describe("null when open positions could not be read"),
    free: z.number().int().nullable(),
    state: z
      .enum(["free", "full", "over_capacity", "unknown"])
      .describe(
        "free: entries allowed; full: an entry needs a rotation; over_capacity: entries wait.",
      ),
    by_regime: z.object({ BASE: z.number(), TREND_STRONG: z.number(), CHOP: z.number() }),
    holder_symbols: z.array(z.string()),
    holder_detail: z.array(HolderSchema),
  }),
  settings: z.object({
    rotation_threshold: z.number(),
    lock_ttl_s: z.number().int(),
    max_correlation: z.number(),
    max_margin_usage_pct: z.number(),
  }),
  positions: z
    .array(PositionViewSchema)
    .nullable()
    .describe("Weakest first; null when Binance could not be read (see positions_error)."),
  positions_error: z.string().nullable(),
  reservations: z.array(ReservationViewSchema),
  locks: z.array(LockViewSchema).describe("Oldest first."),
  orphaned_locks: z
    .array(z.string())
    .describe(
      "Indexed locks whose key is gone (or unreadable); a sweep drops a gone one and releases its claim.",
    ),
  locks_total: z.number().int(),
  last_gates: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe("Correlation and margin figures of the latest evaluation that reached those gates."),
  events: z.array(EventViewSchema).describe("Newest first."),
});

export type Status = z.infer<typeof StatusSchema>;
export type PositionView = z.infer<typeof PositionViewSchema>;
export type LockView = z.infer<typeof LockViewSchema>;

/** A rotation lock as the slot script writes it (lib/redis/lua.ts), read back. */
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

const ReservationRecordSchema = z.object({ plan_id: z.string(), expires_at_ms: z.number() });

const LastGatesSchema = z.looseObject({ symbol: z.string().optional() });

/** Everything `buildStatus` reads, as fetched. */
export interface StatusInputs {
  universe: string | null;
  /** symbol -> reservation JSON */
  reservations: Record<string, string>;
  /** lock plan_id -> claimed (close) symbol */
  claims: Record<string, string>;
  /** indexed lock plan_ids, oldest first, with each lock's JSON (null when the key is gone) */
  locks: { planId: string; raw: string | null; closeConfirmed: boolean }[];
  locksTotal: number;
  /** newest first */
  events: StreamEntry[];
  entries: ReadonlyMap<string, EntryRecord>;
  lastGates: string | null;
  positions: { ok: true; rows: PositionRisk[] } | { ok: false; error: string };
  /** valid market caches by symbol */
  markets: ReadonlyMap<string, MarketCache>;
  /** @default { state: "ACTIVE" } */
  tradingState?: TradingState;
}

export type StatusSettings = Pick<
  Config,
  "mode" | "enabled" | "slots" | "agePenalty" | "rotationThreshold" | "maxCorrelation"
> & { ttl: Pick<Config["ttl"], "lock">; maxMarginUsagePct: number };

function parseJson(raw: string | null): unknown {
  if (raw === null) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

/** The locks that parse, with their JSON; the lock keys that are gone. */
function parseLocks(inputs: StatusInputs) {
  const records: { planId: string; record: LockRecord; closeConfirmed: boolean }[] = [];
  const orphaned: string[] = [];
  for (const { planId, raw, closeConfirmed } of inputs.locks) {
    const parsed = LockRecordSchema.safeParse(parseJson(raw));
    if (parsed.success) records.push({ planId, record: parsed.data, closeConfirmed });
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
  for (const symbol of Object.keys(inputs.reservations)) symbols.add(symbol);
  for (const symbol of Object.values(inputs.claims)) symbols.add(symbol);
  return [...symbols];
}

/** The operators' view from what was read, at `nowMs` (unix ms). */
export function buildStatus(inputs: StatusInputs, settings: StatusSettings, nowMs: number): Status {
  const nowS = Math.floor(nowMs / 1000);
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

  // Claims: lock plan_id -> close symbol. A claimed symbol keeps its slot until the rotation ends.
  const claimedBy = new Map<string, string>();
  for (const [planId, symbol] of Object.entries(inputs.claims)) claimedBy.set(symbol, planId);

  let positions: PositionView[] | null = null;
  const openSymbols = new Set<string>();
  if (inputs.positions.ok) {
    const rows = inputs.positions.rows.filter(isOpenPosition);
    for (const row of rows) openSymbols.add(row.symbol);
    const ranked = rankVictims(rows, inputs.entries, nowMs, {
      agePenaltyPerHour: settings.agePenalty.perHour,
      agePenaltyCap: settings.agePenalty.cap,
    });
    let rank = 0;
    positions = ranked.map((victim) => {
      const legs = victim.positions;
      const size = legs.reduce((sum, p) => sum + Math.abs(p.positionAmt), 0);
      const net = legs.reduce((sum, p) => sum + p.positionAmt, 0);
      const weighted = (price: (p: PositionRisk) => number) =>
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
        age_penalty: victim.age_penalty,
        weakness: victim.weakness,
        entry_score: victim.entry_score,
        victim_rank: claim === null ? ++rank : null,
        rotating_out_for: claim,
      };
    });
  }

  const reservations = Object.entries(inputs.reservations).flatMap(([symbol, raw]) => {
    const parsed = ReservationRecordSchema.safeParse(parseJson(raw));
    if (!parsed.success || parsed.data.expires_at_ms <= nowMs) return [];
    const { plan_id, expires_at_ms } = parsed.data;
    return [
      { symbol, plan_id, expires_at_ms, expires_in_s: Math.ceil((expires_at_ms - nowMs) / 1000) },
    ];
  });

  // The slot script's holders (lib/redis/lua.ts): open ∪ live reservations ∪ claimed.
  const holderDetail = new Map<string, z.infer<typeof HolderSchema>>();
  for (const symbol of openSymbols)
    holderDetail.set(symbol, { symbol, kind: "position", plan_id: null });
  for (const r of reservations) {
    if (!holderDetail.has(r.symbol))
      holderDetail.set(r.symbol, { symbol: r.symbol, kind: "reservation", plan_id: r.plan_id });
  }
  for (const [symbol, planId] of claimedBy) {
    holderDetail.set(symbol, { symbol, kind: "rotation", plan_id: planId });
  }
  const holderSymbols = [...holderDetail.keys()].sort();
  const holders = inputs.positions.ok ? holderSymbols.length : null;
  const desired = regime?.desired_slots ?? null;
  const slotState =
    holders === null || desired === null
      ? "unknown"
      : holders < desired
        ? "free"
        : holders === desired
          ? "full"
          : "over_capacity";

  const locks = records.map(({ planId, record, closeConfirmed }): LockView => {
    const createdAt = Math.floor(record.created_at);
    const ageS = nowS - createdAt;
    const ttlS = Math.floor(record.ttl_s ?? settings.ttl.lock);
    const timeoutInS = ttlS - ageS;
    return {
      plan_id: planId,
      new_symbol: record.new_symbol,
      new_plan_id: record.new_plan_id,
      close_symbol: record.close_symbol,
      close_plan_id: record.close_plan_id,
      created_at: createdAt,
      age_s: ageS,
      ttl_s: ttlS,
      timeout_in_s: timeoutInS,
      state: closeConfirmed ? "close_confirmed" : timeoutInS < 0 ? "timed_out" : "waiting_close",
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
      holder_symbols: holderSymbols,
      holder_detail: holderSymbols.map((symbol) => holderDetail.get(symbol)!),
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
    locks_total: inputs.locksTotal,
    last_gates: lastGates.success && inputs.lastGates !== null ? lastGates.data : null,
    events,
  };
}

/**
 * Read the view. Redis failures answer 503 (StateStoreError); a Binance failure
 * (including the shared 429/418 backoff, which is honoured: no request is sent
 * while it runs) leaves positions null with the error's name.
 */
export async function readStatus(gov: GovernorContext): Promise<Status> {
  const { keys, config, redis } = gov;
  const first = redis.pipeline();
  first.hget(keys.policy, "universe_symbols");
  first.hgetall(keys.reservations);
  first.hgetall(keys.claims);
  first.zrange(keys.lockIndex, 0, MAX_LOCKS_SHOWN - 1);
  first.zcard(keys.lockIndex);
  first.xrevrange(keys.eventsStream, "+", "-", EVENTS_SHOWN);
  first.hgetall(keys.entries);
  first.get(keys.lastGates);
  first.get(keys.binanceBackoff);
  first.get(keys.binanceTimeOffset);
  const [
    universe,
    reservations,
    claims,
    lockIds,
    locksTotal,
    events,
    entries,
    lastGates,
    backoffUntil,
    timeOffset,
  ] = (await first.exec().catch(stateStoreFailure)) as [
    string | null,
    unknown,
    unknown,
    string[],
    number,
    unknown,
    unknown,
    string | null,
    string | null,
    string | null,
  ];

  const readLocks = async () => {
    if (lockIds.length === 0) return [];
    const second = redis.pipeline();
    for (const id of lockIds) second.get(keys.rotationLock(id));
    return (await second.exec().catch(stateStoreFailure)) as (string | null)[];
  };
  const [lockRaws, positions, tradingState] = await Promise.all([
    readLocks(),
    readPositions(gov, Number(backoffUntil) || 0, Number(timeOffset) || 0),
    readTradingState(gov),
  ]);

  const inputs: StatusInputs = {
    universe,
    reservations: toHash(reservations),
    claims: toHash(claims),
    locks: lockIds.map((planId, i) => ({
      planId,
      raw: lockRaws[i] ?? null,
      closeConfirmed: false,
    })),
    locksTotal: Number(locksTotal) || 0,
    events: toStreamEntries(events),
    entries: parseEntries(entries),
    lastGates,
    positions,
    markets: new Map(),
    tradingState,
  };

  // Round 3: regimes of the symbols that matter, and which locks' closes are confirmed.
  const symbols = statusSymbols(inputs);
  const closes = parseLocks(inputs).records;
  const third = redis.pipeline();
  for (const symbol of symbols) third.get(keys.klines(symbol, config.regime.interval));
  for (const { record } of closes) third.hexists(keys.confirmed, record.close_plan_id);
  const reads =
    symbols.length + closes.length > 0
      ? ((await third.exec().catch(stateStoreFailure)) as unknown[])
      : [];
  const now = gov.now();
  const markets = new Map<string, MarketCache>();
  symbols.forEach((symbol, i) => {
    const cache = readMarketCache(reads[i] as string | null, now);
    if (cache) markets.set(symbol, cache);
  });
  const confirmed = new Set(
    closes.filter((_, i) => Number(reads[symbols.length + i]) === 1).map((c) => c.planId),
  );
  const locks = inputs.locks.map((lock) => ({
    ...lock,
    closeConfirmed: confirmed.has(lock.planId),
  }));
  return buildStatus({ ...inputs, locks, markets }, config, now);
}

/** Open positions from positionRisk, sharing the evaluation's clock offset and 429/418 backoff. */
async function readPositions(
  gov: GovernorContext,
  backoffUntilMs: number,
  timeOffsetMs: number,
): Promise<StatusInputs["positions"]> {
  const binance = sharedBinanceClient(gov, { backoffUntilMs, timeOffsetMs });
  try {
    return { ok: true, rows: await binance.positionRisk() };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.name : "error" };
  }
}
