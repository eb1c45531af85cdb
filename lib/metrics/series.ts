/**
 * What the governor counts (docs/contract.md §10), in one place: the fields of
 * the counters hash `P:governor:metrics` and of the per-minute history hashes
 * `P:governor:history:{minute}`, the histogram's buckets and the outcome
 * classes. The deciding Lua scripts write these fields (./lua/counters.ts is
 * generated from this file); the exposition (./exposition.ts) and the history
 * (./history.ts) read them.
 */
import { isFinal, REASONS, type Reason } from "../plans/reasons.ts";

/** How a rotation ended, or that it started: `governor_rotations_total{outcome}`. */
export const ROTATION_OUTCOMES = ["started", "completed", "not_granted", "timed_out"] as const;
export type RotationOutcome = (typeof ROTATION_OUTCOMES)[number];

/** `governor_dependency_failures_total{dependency}`. */
export const DEPENDENCIES = ["binance", "redis", "klines", "policy"] as const;
export type Dependency = (typeof DEPENDENCIES)[number];

/** Decisions per minute in the history: ALLOW, a final BLOCK, a BLOCK that waits, a dependency out. */
export const HISTORY_OUTCOMES = ["allow", "block", "wait", "unavailable"] as const;
export type HistoryOutcome = (typeof HISTORY_OUTCOMES)[number];

/**
 * Upper bounds (seconds) of `governor_evaluation_duration_seconds`: Prometheus'
 * default buckets, which span a warm evaluation (milliseconds) to the Binance
 * (3 s) and Redis (2 s) timeouts.
 */
export const DURATION_BUCKETS_S = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/** Seconds a per-minute history hash lives: the 24 hours it serves, plus an hour. */
export const HISTORY_TTL_S = 25 * 3600;

/** Prefixes of the counters' fields: `{prefix}{label}` (decisions: `{prefix}{decision}|{reason}`). */
export const PREFIX = {
  decisions: "decisions|",
  rotations: "rotations|",
  failures: "dependency_failures|",
  /** Non-cumulative: the evaluations whose duration fell in this bucket alone. */
  durationBucket: "evaluation_duration|le|",
} as const;

/** Field names, shared by the scripts that write them and the readers. */
export const FIELD = {
  decision: (decision: string, reason: string) => `${PREFIX.decisions}${decision}|${reason}`,
  rotation: (outcome: string) => `${PREFIX.rotations}${outcome}`,
  failure: (dependency: string) => `${PREFIX.failures}${dependency}`,
  durationBucket: (le: string) => `${PREFIX.durationBucket}${le}`,
  durationSumMs: "evaluation_duration|sum_ms",
  slotsDesired: "slots|desired",
  slotHolders: "slots|holders",
  /** unix ms of the decision the slot figures come from (counters hash only). */
  slotsAt: "slots|at_ms",
  /** History hashes: decisions of the minute by outcome (`decisions|allow`), rotations as above. */
  historyDecision: (outcome: string) => `${PREFIX.decisions}${outcome}`,
} as const;

/** The `le` label of a bucket bound: 0.005 -> "0.005", 1 -> "1". */
export function bucketLabel(bound: number): string {
  return String(bound);
}

/** The history class of a decision: ALLOW, a final BLOCK, a waiting one, or a dependency out. */
export function historyOutcome(decision: "ALLOW" | "BLOCK", reason: Reason): HistoryOutcome {
  if (decision === "ALLOW") return "allow";
  if (isFinal("BLOCK", reason)) return "block";
  return reason.endsWith("_unavailable") ? "unavailable" : "wait";
}

/** The history class of every BLOCK reason (ALLOW is always "allow"). */
export function blockOutcomes(): [Reason, HistoryOutcome][] {
  return Object.values(REASONS).map((reason) => [reason, historyOutcome("BLOCK", reason)]);
}
