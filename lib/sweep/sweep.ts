import { z } from "zod";
import type { GovernorContext } from "../context.ts";
import { runScript } from "../redis/scripts.ts";
import { scriptContext, scriptKeys, SCRIPTS, type CacheWrite } from "../rotation/scripts.ts";
import type { CompletionVerdict } from "../evaluate/gates.ts";
import { completionGates, planOfLock, type CompletionGates } from "./completion.ts";
import { noteFailure, recordingFailures, type Failures } from "../metrics/failures.ts";

/** Locks resolved per script call: Redis requests grow with N / batch, not N. */
export const SWEEP_BATCH = 250;
/** apply.result pages (of 500) read per script call while catching up. */
export const SWEEP_MAX_PAGES = 20;
/** Bound on catch-up calls per sweep (500 k entries); the next minute's sweep continues. */
const MAX_CATCH_UP_CALLS = 50;

const CatchUpSchema = z.object({
  caught_up: z.boolean(),
  locks: z.number(),
  reservations_dropped: z.number(),
});
const LocksSchema = z.union([
  z.array(z.tuple([z.string(), z.union([z.string(), z.literal(false)]), z.boolean()])),
  z.object({}).strict(),
]);
const BatchStatsSchema = z.object({
  checked: z.number(),
  completed: z.number(),
  timed_out: z.number(),
  cancelled: z.number(),
  orphans: z.number(),
  waiting: z.number(),
  completed_plans: z.union([z.array(z.string()), z.object({}).strict()]),
});

export interface SweepReport {
  locks_checked: number;
  completed: number;
  timed_out: number;
  cancelled: number;
  orphans: number;
  waiting: number;
  reservations_dropped: number;
  completed_plans: string[];
  redis_requests: number;
  duration_ms: number;
  /** apply.result read to its end: locks may time out (never on a partial read). */
  caught_up: boolean;
  /** Whether the positions snapshot completions need could be read. */
  positions: "read" | "unavailable" | "not_needed";
}

/**
 * The cron sweep: read confirmations to the end of apply.result, then resolve
 * every indexed lock in batches (complete, time out, or drop the orphan)
 * through the same atomic transitions as the evaluation path, with the gates
 * run again for each waiting plan on data as of now. One log line per sweep.
 */
export async function sweepLocks(
  gov: GovernorContext,
  options: { batch?: number; maxPages?: number; maxCatchUpCalls?: number } = {},
): Promise<SweepReport> {
  const batch = options.batch ?? SWEEP_BATCH;
  const maxPages = options.maxPages ?? SWEEP_MAX_PAGES;
  const started = Date.now();
  const report: SweepReport = {
    locks_checked: 0,
    completed: 0,
    timed_out: 0,
    cancelled: 0,
    orphans: 0,
    waiting: 0,
    reservations_dropped: 0,
    completed_plans: [],
    redis_requests: 0,
    duration_ms: 0,
    caught_up: false,
    positions: "not_needed",
  };
  const run = async (
    script: (typeof SCRIPTS)[keyof typeof SCRIPTS],
    ctx: object,
    writes?: CacheWrite[],
    failures?: Failures,
  ) => {
    report.redis_requests += 1;
    const call = (all?: Failures) =>
      runScript(gov.redis, script, scriptKeys(gov.keys), {
        ...scriptContext(gov, writes),
        ...ctx,
        failures: all,
      });
    // SWEEP_LOCKS records the failures met since the last call (docs/contract.md §10).
    const answer = failures
      ? await recordingFailures(failures, call)
      : await call().catch((error: unknown) => {
          noteFailure("redis");
          throw error;
        });
    return typeof answer === "string" ? JSON.parse(answer) : answer;
  };

  // Catch up with apply.result first, so no lock is judged on a partial read.
  let catchUp = CatchUpSchema.parse(
    await run(SCRIPTS.sweepCatchUp, { max_pages: maxPages, drop_reservations: true }),
  );
  report.reservations_dropped = catchUp.reservations_dropped;
  const maxCalls = options.maxCatchUpCalls ?? MAX_CATCH_UP_CALLS;
  for (let round = 1; !catchUp.caught_up && round < maxCalls; round++) {
    catchUp = CatchUpSchema.parse(await run(SCRIPTS.sweepCatchUp, { max_pages: maxPages }));
  }
  report.caught_up = catchUp.caught_up;

  let gates: CompletionGates | undefined;
  let offset = 0;
  while (catchUp.locks > 0) {
    const read = LocksSchema.parse(await run(SCRIPTS.readLocks, { offset, batch }));
    const locks = Array.isArray(read) ? read : [];
    if (locks.length === 0) break;
    if (!gates) {
      gates = await completionGates(gov);
      report.positions = gates.openSymbols ? "read" : "unavailable";
    }
    // Only a confirmed close can complete: judge those plans, let the others wait or time out.
    const judged = locks.flatMap(([planId, raw, confirmed]) => {
      const plan = confirmed && raw !== false ? planOfLock(raw) : null;
      return plan ? [{ planId, plan }] : [];
    });
    const verdictList = await gates.verdicts(judged.map((j) => j.plan));
    const verdicts: Record<string, CompletionVerdict | null> = Object.fromEntries(
      judged.map((j, i) => [j.planId, verdictList[i] ?? null]),
    );
    const stats = BatchStatsSchema.parse(
      await run(
        SCRIPTS.sweepLocks,
        {
          plan_ids: locks.map(([planId]) => planId),
          verdicts,
          open_symbols: gates.openSymbols,
          caught_up: catchUp.caught_up,
          ...gates.observed,
        },
        gates.writes.splice(0),
        takeAll(gates.failures),
      ),
    );
    report.locks_checked += stats.checked;
    report.completed += stats.completed;
    report.timed_out += stats.timed_out;
    report.cancelled += stats.cancelled;
    report.orphans += stats.orphans;
    report.waiting += stats.waiting;
    if (Array.isArray(stats.completed_plans)) report.completed_plans.push(...stats.completed_plans);
    if (locks.length < batch) break;
    // Resolved locks left the index; the ones still waiting keep their places.
    offset += stats.waiting;
  }
  if (gates) report.redis_requests += gates.redisRequests;
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

/** The failures counted so far, handed over (the object is emptied). */
function takeAll(failures: Failures): Failures {
  const out = { ...failures };
  for (const key of Object.keys(failures)) delete failures[key as keyof Failures];
  return out;
}
