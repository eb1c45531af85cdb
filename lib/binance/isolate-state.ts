/**
 * What this isolate last learnt of the shared Binance state (docs/binance.md: the
 * backoff and the clock offset live in Redis), so an evaluation can start its
 * account call while the state read is still in flight: the chain becomes
 * max(Redis, Binance) + Redis instead of Redis + Binance + Redis.
 *
 * The memory is a guess; Redis stays the truth. The read confirms it: a
 * backoff the read shows and the isolate did not know discards the account
 * answer (the evaluation fails closed as it would have without the guess). A
 * stale clock offset is harmless: Binance refuses the timestamp (-1021) and
 * the client resyncs, as it does when Redis holds a stale offset.
 */
import type { SharedBinanceState } from "./redis-state.ts";

/**
 * By scope (the backoff key: one per key prefix, i.e. per governor sharing a
 * Redis key space): the last state this isolate saw.
 */
const remembered = new Map<string, SharedBinanceState>();

/** The state to speculate with, or undefined when none is known yet (first evaluation). */
export function rememberedBinanceState(scope: string): SharedBinanceState | undefined {
  return remembered.get(scope);
}

/** Record what the read found, or what this isolate's client changed (resync, backoff). */
export function rememberBinanceState(scope: string, state: Partial<SharedBinanceState>): void {
  const known = remembered.get(scope) ?? { backoffUntilMs: 0, timeOffsetMs: 0 };
  remembered.set(scope, { ...known, ...state });
}

/**
 * Take in what the state read found. `known` is what the evaluation
 * speculated with (undefined: nothing was known). What this isolate's client
 * learnt while the read was in flight (a resync's offset, a 429's backoff) is
 * newer than the read, which may predate it; everything else the read
 * overrides, so a memory gone stale (a backoff key deleted early) lasts one read.
 */
export function rememberRead(
  scope: string,
  read: SharedBinanceState,
  known: SharedBinanceState | undefined,
): void {
  const current = remembered.get(scope);
  if (!current) {
    remembered.set(scope, { backoffUntilMs: read.backoffUntilMs, timeOffsetMs: read.timeOffsetMs });
    return;
  }
  const backoffLearnt = current.backoffUntilMs !== known?.backoffUntilMs;
  const offsetLearnt = current.timeOffsetMs !== known?.timeOffsetMs;
  remembered.set(scope, {
    backoffUntilMs: backoffLearnt
      ? Math.max(read.backoffUntilMs, current.backoffUntilMs)
      : read.backoffUntilMs,
    timeOffsetMs: offsetLearnt ? current.timeOffsetMs : read.timeOffsetMs,
  });
}

/** Forget everything (tests). */
export function forgetBinanceStates(): void {
  remembered.clear();
}

/**
 * Whether an account call may start before the read: only on a known state
 * with no backoff running (a remembered backoff means no call at all, and the
 * read says whether it still holds).
 */
export function maySpeculate(known: SharedBinanceState, nowMs: number): boolean {
  return known.backoffUntilMs <= nowMs;
}

/** What the last state read of a scope said of the gates that need no Binance call. */
export interface LastGateInputs {
  /** REDUCING or HALTED */
  tradingBlocked: boolean;
  /** the policy's raw universe */
  universe: string | null;
}

const lastReads = new Map<string, LastGateInputs>();

export function rememberGateInputs(scope: string, inputs: LastGateInputs): void {
  lastReads.set(scope, inputs);
}

export function lastGateInputs(scope: string): LastGateInputs | undefined {
  return lastReads.get(scope);
}

/**
 * What the read says of a speculative account answer: `discard` when a backoff
 * runs that the call did not honour (another isolate was told to stop), else
 * `keep`. A different clock offset does not discard: Binance accepted the
 * timestamp, or refused it and the client resynced.
 */
export function confirmSpeculation(read: SharedBinanceState, nowMs: number): "keep" | "discard" {
  return read.backoffUntilMs > nowMs ? "discard" : "keep";
}

/**
 * Plans whose decision this isolate saw become final (answered or replayed),
 * by scope and plan id, until their decision cache expires: a resubmission is
 * a replay, so no account call starts beside its state read (it would spend
 * its weight for nothing). Only the speculation is skipped: the read still
 * decides, and if it finds no final decision (the cache went early) the
 * evaluation makes its account call after the read, as a first one does.
 */
const finalPlans = new Map<string, number>();
/** Plan ids kept at most (oldest first out). */
const MAX_FINAL_PLANS = 4096;

export function rememberFinalPlan(scope: string, planId: string, untilMs: number): void {
  const key = `${scope}\u0000${planId}`;
  finalPlans.delete(key);
  finalPlans.set(key, untilMs);
  if (finalPlans.size > MAX_FINAL_PLANS) finalPlans.delete(finalPlans.keys().next().value!);
}

/** Whether this isolate last saw the plan's decision final, and its cache may still hold it. */
export function knownFinalPlan(scope: string, planId: string, nowMs: number): boolean {
  const key = `${scope}\u0000${planId}`;
  const until = finalPlans.get(key);
  if (until === undefined) return false;
  if (until > nowMs) return true;
  finalPlans.delete(key);
  return false;
}

/** Forget the final plans (tests). */
export function forgetFinalPlans(): void {
  finalPlans.clear();
}
