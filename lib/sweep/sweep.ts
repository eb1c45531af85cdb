import { z } from "zod";
import type { GovernorContext } from "../context.ts";
import { runScript, scriptContext, scriptKeys, SCRIPTS } from "../redis/scripts.ts";
import { readSharedBinanceState, sharedBinanceClient } from "../binance/shared.ts";
import { openPositionsFromAccount } from "../binance/positions.ts";

/** Locks resolved per script call: Redis requests grow with N / batch, not N. */
export const SWEEP_BATCH = 250;
/** apply.result pages (of 500) read per script call while catching up. */
export const SWEEP_MAX_PAGES = 20;
/** Bound on catch-up calls per sweep (500 k entries); the next minute's sweep continues. */
const MAX_CATCH_UP_CALLS = 50;

const BatchStatsSchema = z.object({
  checked: z.number(),
  completed: z.number(),
  timed_out: z.number(),
  orphans: z.number(),
  waiting: z.number(),
  reservations_dropped: z.number(),
  caught_up: z.boolean(),
  locks: z.number(),
  more: z.boolean(),
  completed_plans: z.union([z.array(z.string()), z.object({}).strict()]),
});

export interface SweepReport {
  locks_checked: number;
  completed: number;
  timed_out: number;
  orphans: number;
  waiting: number;
  reservations_dropped: number;
  completed_plans: string[];
  redis_requests: number;
  duration_ms: number;
  /** Whether the positions snapshot completions need could be read. */
  positions: "read" | "unavailable" | "not_needed";
}

/**
 * Open symbols from one account call; undefined when Binance cannot be asked
 * (backoff, outage): confirmed locks then wait, timeouts still proceed.
 */
async function openSymbolsNow(gov: GovernorContext): Promise<string[] | undefined> {
  try {
    const binance = sharedBinanceClient(gov, await readSharedBinanceState(gov));
    return [...new Set(openPositionsFromAccount(await binance.account()).map((p) => p.symbol))];
  } catch {
    return undefined;
  }
}

/**
 * SPEC §6: read confirmations to the end of apply.result, then resolve every
 * indexed lock in batches (complete, time out, or drop the orphan), using the
 * same atomic transitions as the evaluation path. One log line per sweep.
 */
export async function sweepLocks(
  gov: GovernorContext,
  options: { batch?: number; maxPages?: number } = {},
): Promise<SweepReport> {
  const batch = options.batch ?? SWEEP_BATCH;
  const started = Date.now();
  const report: SweepReport = {
    locks_checked: 0,
    completed: 0,
    timed_out: 0,
    orphans: 0,
    waiting: 0,
    reservations_dropped: 0,
    completed_plans: [],
    redis_requests: 0,
    duration_ms: 0,
    positions: "not_needed",
  };
  let openSymbols: string[] | undefined;
  const call = async (offset: number, size: number, dropReservations = false) => {
    report.redis_requests += 1;
    const answer = await runScript(gov.redis, SCRIPTS.sweepLocks, scriptKeys(gov.keys), {
      ...scriptContext(gov),
      offset,
      batch: size,
      max_pages: options.maxPages ?? SWEEP_MAX_PAGES,
      drop_reservations: dropReservations,
      open_symbols: openSymbols,
      slots: gov.config.slots,
      market_prefix: gov.keys.klines("", gov.config.regime.interval),
    });
    return BatchStatsSchema.parse(typeof answer === "string" ? JSON.parse(answer) : answer);
  };

  // Catch up with apply.result first, so no lock is judged on a partial read.
  let stats = await call(0, 0, true);
  report.reservations_dropped += stats.reservations_dropped;
  for (let round = 1; !stats.caught_up && round < MAX_CATCH_UP_CALLS; round++) {
    stats = await call(0, 0);
  }

  // Completing a lock needs the holders, as in the evaluation: one account call.
  if (stats.locks > 0) {
    report.redis_requests += 1;
    openSymbols = await openSymbolsNow(gov);
    report.positions = openSymbols ? "read" : "unavailable";
  }

  let offset = 0;
  for (;;) {
    stats = await call(offset, batch);
    report.locks_checked += stats.checked;
    report.completed += stats.completed;
    report.timed_out += stats.timed_out;
    report.orphans += stats.orphans;
    report.waiting += stats.waiting;
    if (Array.isArray(stats.completed_plans)) report.completed_plans.push(...stats.completed_plans);
    if (!stats.more) break;
    // Resolved locks left the index; the ones still waiting keep their places.
    offset += stats.waiting;
  }
  report.duration_ms = Date.now() - started;
  console.log(
    JSON.stringify({
      msg: "governor.sweep",
      ...report,
      completed_plans: report.completed_plans.slice(0, 50),
    }),
  );
  return report;
}
