/**
 * Reading the operators' view: one Redis pipeline, one Binance call (the
 * account, the source evaluations read positions from), the read-only
 * STATUS_VIEW script (holders and lock states by the deciding scripts' own
 * rules), and the market caches of the symbols shown. ./view.ts shapes it.
 */
import { readTradingState } from "../operators/trading-state.ts";
import { z } from "zod";
import { openPositionsFromAccount } from "../binance/positions.ts";
import { sharedBinanceClient, type SharedBinanceState } from "../binance/redis-state.ts";
import type { GovernorContext } from "../context.ts";
import { stateStoreFailure } from "../errors.ts";
import { readMarketCache, type MarketCache } from "../market/cache.ts";
import { DEAD_LETTERS_SHOWN } from "../queue/dead-letters.ts";
import { toStreamEntries } from "../redis/replies.ts";
import { runReadOnlyScript } from "../redis/scripts.ts";
import { parseEntries } from "../rotation/entries.ts";
import { scriptContext, scriptKeys, SCRIPTS } from "../rotation/scripts.ts";
import { HOLDER_KINDS, type Status } from "./schema.ts";
import {
  buildStatus,
  LOCK_PHASES,
  statusSymbols,
  type SlotsAndLocks,
  type StatusInputs,
} from "./view.ts";

/** Locks listed (oldest first); the count of all indexed locks is reported beside them. */
export const MAX_LOCKS_SHOWN = 200;
/** Newest governor events listed. */
export const EVENTS_SHOWN = 30;
/**
 * apply.result pages (of 500) past the shared cursor the view reads for
 * confirmations the sweep has not read yet. The sweep reads them every minute,
 * so the unread tail is short; a longer one is reported
 * (confirmations_read_to_end). Each status read scans it again, and a dashboard
 * reads every 5 s: 2,000 entries bound what a read costs Redis.
 */
export const STATUS_RESULT_PAGES = 4;

/** Lua encodes an empty table as `{}`: read it as an empty list. */
function luaList<T extends z.ZodType>(item: T) {
  return z.preprocess(
    (value) =>
      value !== null && typeof value === "object" && Object.keys(value).length === 0 ? [] : value,
    z.array(item),
  );
}
const orFalse = <T extends z.ZodType>(schema: T) => z.union([schema, z.literal(false)]);
const nullIfFalse = <T>(value: T | false): T | null => (value === false ? null : value);

/** STATUS_VIEW's answer (lib/rotation/lua/status-view.ts). */
const StatusViewAnswerSchema = z.object({
  holders: luaList(z.tuple([z.string(), z.enum(HOLDER_KINDS), orFalse(z.string())])),
  holder_count: z.number().int(),
  reservations: luaList(z.tuple([z.string(), orFalse(z.string()), z.number()])),
  locks: luaList(
    z.tuple([z.string(), orFalse(z.string()), orFalse(z.enum(LOCK_PHASES)), orFalse(z.string())]),
  ),
  locks_total: z.number().int(),
  results_read_to_end: z.boolean(),
});

/**
 * Slot holders, reservations and the first locks with their phases, at
 * `gov.now()`, as the deciding scripts see them. `openSymbols`: the exchange's
 * open symbols; undefined when it could not be read (the holders then lack the
 * positions, and a confirmed close cannot be checked against the exchange).
 */
export async function readSlotsAndLocks(
  gov: Pick<GovernorContext, "redis" | "keys" | "config" | "now">,
  openSymbols: readonly string[] | undefined,
): Promise<SlotsAndLocks> {
  const answer = await runReadOnlyScript(gov.redis, SCRIPTS.statusView, scriptKeys(gov.keys), {
    ...scriptContext(gov),
    ...(openSymbols ? { open_symbols: openSymbols } : {}),
    max_locks: MAX_LOCKS_SHOWN,
    max_pages: STATUS_RESULT_PAGES,
  }).catch(stateStoreFailure);
  const view = StatusViewAnswerSchema.parse(
    typeof answer === "string" ? JSON.parse(answer) : answer,
  );
  return {
    holders: view.holders.map(([symbol, kind, planId]) => ({
      symbol,
      kind,
      plan_id: nullIfFalse(planId),
    })),
    holderCount: view.holder_count,
    reservations: view.reservations.flatMap(([symbol, planId, expiresAtMs]) =>
      planId === false ? [] : [{ symbol, plan_id: planId, expires_at_ms: expiresAtMs }],
    ),
    locks: view.locks.map(([planId, raw, phase, confirmationId]) => ({
      planId,
      raw: nullIfFalse(raw),
      phase: nullIfFalse(phase),
      confirmationId: nullIfFalse(confirmationId),
    })),
    locksTotal: view.locks_total,
    confirmationsReadToEnd: view.results_read_to_end,
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
  first.xrevrange(keys.eventsStream, "+", "-", EVENTS_SHOWN);
  first.hgetall(keys.entries);
  first.get(keys.lastGates);
  first.get(keys.binanceBackoff);
  first.get(keys.binanceTimeOffset);
  first.xrevrange(keys.deadLetters, "+", "-", DEAD_LETTERS_SHOWN);
  const [universe, events, entries, lastGates, backoffUntil, timeOffset, deadLetters] = (await first
    .exec()
    .catch(stateStoreFailure)) as [
    string | null,
    unknown,
    unknown,
    string | null,
    string | null,
    string | null,
    unknown,
  ];

  const [positions, tradingState] = await Promise.all([
    readPositions(gov, {
      backoffUntilMs: Number(backoffUntil) || 0,
      timeOffsetMs: Number(timeOffset) || 0,
    }),
    readTradingState(gov),
  ]);
  const openSymbols = positions.ok
    ? [...new Set(positions.rows.map((row) => row.symbol))]
    : undefined;
  // One instant for the lock states and the countdowns shown beside them.
  const nowMs = gov.now();
  const slotsAndLocks = await readSlotsAndLocks({ ...gov, now: () => nowMs }, openSymbols);

  const inputs: StatusInputs = {
    universe,
    slotsAndLocks,
    events: toStreamEntries(events),
    entries: parseEntries(entries),
    lastGates,
    positions,
    markets: new Map(),
    deadLetters: toStreamEntries(deadLetters),
    tradingState,
  };

  // The regimes of the symbols that matter.
  const symbols = statusSymbols(inputs);
  const caches =
    symbols.length > 0
      ? await redis
          .mget<(string | null)[]>(
            ...symbols.map((s) => keys.marketCache(s, config.regime.interval)),
          )
          .catch(stateStoreFailure)
      : [];
  const markets = new Map<string, MarketCache>();
  symbols.forEach((symbol, i) => {
    const cache = readMarketCache(caches[i], nowMs);
    if (cache) markets.set(symbol, cache);
  });
  return buildStatus({ ...inputs, markets }, config, nowMs);
}

/** Open positions from the account (as evaluations read them), honouring the shared backoff. */
async function readPositions(
  gov: GovernorContext,
  state: SharedBinanceState,
): Promise<StatusInputs["positions"]> {
  const binance = sharedBinanceClient(gov, state);
  try {
    return { ok: true, rows: openPositionsFromAccount(await binance.account()) };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.name : "error" };
  }
}
