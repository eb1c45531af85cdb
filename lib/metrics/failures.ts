/**
 * Dependency failures on their way into `governor_dependency_failures_total`.
 *
 * The counters live in Redis and are written by the deciding scripts, so a
 * failure is counted by the script call that follows it: an evaluation passes
 * the failures it met (Binance, klines) in its deciding script's context. A
 * failure that no script can record when it happens (Redis itself failed, or
 * the deciding call failed) waits in this isolate's memory and is added by the
 * isolate's next deciding script that Redis runs. An isolate evicted before
 * then loses what it held; a call whose answer was lost after Redis ran it may
 * count its failures twice. Policy failures are counted by the scripts
 * themselves (a decision `active_slots_no_policy`).
 */
import type { Dependency } from "./series.ts";

export type Failures = Partial<Record<Dependency, number>>;

const waiting: Failures = {};

/** One more failure of `dependency`, to be recorded by a later script call. */
export function noteFailure(dependency: Dependency, n = 1): void {
  waiting[dependency] = (waiting[dependency] ?? 0) + n;
}

/** Failures that are waiting, plus `also`; the waiting ones are handed over (taken). */
function takeWaiting(also: Failures): Failures {
  const out: Failures = { ...also };
  for (const [dependency, n] of Object.entries(waiting) as [Dependency, number][]) {
    out[dependency] = (out[dependency] ?? 0) + n;
    delete waiting[dependency];
  }
  return out;
}

/**
 * Run a script call that records `failures` (those of this evaluation plus the
 * isolate's waiting ones). When the call fails, they wait again, with one more
 * Redis failure; a conflict answer (`isRecorded`) means the script ran.
 */
export async function recordingFailures<T>(
  failures: Failures,
  call: (failures: Failures) => Promise<T>,
  isRecorded: (error: unknown) => boolean = () => false,
): Promise<T> {
  const handed = takeWaiting(failures);
  try {
    return await call(handed);
  } catch (error) {
    if (!isRecorded(error)) {
      for (const [dependency, n] of Object.entries(handed) as [Dependency, number][]) {
        noteFailure(dependency, n);
      }
      noteFailure("redis");
    }
    throw error;
  }
}
