/**
 * Slots and rotation: every atomic Redis step of the governor, one Lua script
 * per file in ./lua, registered here with the context they read.
 *
 * A rotation's states (lock = `P:rotation:lock:{plan_id}`):
 *
 * | from    | event                                          | to          | entry          |
 * |---------|------------------------------------------------|-------------|----------------|
 * | —       | slots full, candidate strong enough            | waiting     | BLOCK waiting  |
 * | waiting | close confirmed (symbol matches, victim gone   | complete    | ALLOW if every |
 * |         | from the exchange), gates pass                 |             | gate passes    |
 * | waiting | close confirmed, a gate blocks now             | not granted | BLOCK (reason) |
 * | waiting | no effective confirmation within the lock TTL  | timed out   | BLOCK timeout  |
 * | waiting | the plan's decision became final (a BLOCK)     | cancelled   | that BLOCK     |
 *
 * Events: ROTATION_LOCK_CREATED, then exactly one of ROTATION_COMPLETE
 * (`granted` true/false), ROTATION_TIMEOUT or ROTATION_CANCELLED. A timed-out
 * or cancelled rotation whose close was not confirmed appends a cancellation
 * of its close plan to apply.plan. Both the evaluation and the sweep make
 * these transitions through the same Lua (`resolve_lock` in ./lua/locks.ts),
 * which acts on a lock's phase (`lock_phase`); the status view (STATUS_VIEW,
 * read-only) reports that same phase, so it says what the next sweep will do.
 * The same steps count each start and end in `governor_rotations_total`
 * (started, completed, not_granted for not granted or cancelled, timed_out;
 * docs/contract.md §10).
 */
import type { Config } from "../config.ts";
import type { RedisKeys } from "../keys.ts";
import type { NamedScript } from "../redis/scripts.ts";
import { EVALUATE_SLOTS } from "./lua/evaluate-slots.ts";
import { inlineConstants, SCRIPT_KEY_NAMES } from "./lua/prelude.ts";
import { READ_STATE } from "./lua/read-state.ts";
import { RECORD_DECISION } from "./lua/record-decision.ts";
import { STATUS_VIEW } from "./lua/status-view.ts";
import { READ_LOCKS, SWEEP_CATCH_UP, SWEEP_LOCKS } from "./lua/sweep-locks.ts";
import { READ_TRADING_STATE, SET_TRADING_STATE } from "../operators/lua/set-trading-state.ts";
import { CLAIM_ALERTS, SETTLE_ALERTS } from "../operators/lua/alert-outbox.ts";

/** A script as registered: the text Redis runs (constants inlined, ./lua/prelude.ts). */
const script = (name: string, source: string): NamedScript => ({
  name,
  source: inlineConstants(source),
});

export const SCRIPTS = {
  readState: script("read_state", READ_STATE),
  recordDecision: script("record_decision", RECORD_DECISION),
  evaluateSlots: script("evaluate_slots", EVALUATE_SLOTS),
  sweepCatchUp: script("sweep_catch_up", SWEEP_CATCH_UP),
  readLocks: script("read_locks", READ_LOCKS),
  statusView: script("status_view", STATUS_VIEW),
  sweepLocks: script("sweep_locks", SWEEP_LOCKS),
  // Operators' controls (lib/operators/lua).
  setTradingState: script("set_trading_state", SET_TRADING_STATE),
  readTradingState: script("read_trading_state", READ_TRADING_STATE),
  claimAlerts: script("claim_alerts", CLAIM_ALERTS),
  settleAlerts: script("settle_alerts", SETTLE_ALERTS),
} satisfies Record<string, NamedScript>;

/** The fixed KEYS every script receives, in SCRIPT_KEY_NAMES order. */
export function scriptKeys(keys: RedisKeys): string[] {
  return SCRIPT_KEY_NAMES.map((name) => keys[name]);
}

/** Per-plan key prefixes handed to scripts so key names live only in lib/keys.ts. */
function planKeyPrefixes(keys: RedisKeys) {
  return {
    lock: keys.rotationLock(""),
    permit: keys.permit(""),
    block: keys.block(""),
    decision: keys.decision(""),
    history: keys.history(""),
  };
}

/**
 * A value to cache alongside a decision, written by the script: [key, value,
 * ttl ms], and for a market cache `true`: the script puts the text's digest in
 * front of it (lib/rotation/lua/prelude.ts).
 */
export type CacheWrite = [string, string, number, true?];

/** Context every script reads (see ./lua/prelude.ts). */
export function scriptContext(
  deps: { config: Config; keys: RedisKeys; now: () => number },
  writes: CacheWrite[] = [],
) {
  const { ttl } = deps.config;
  return {
    now_ms: String(deps.now()),
    keys: planKeyPrefixes(deps.keys),
    shadow: deps.config.mode === "shadow",
    // Counters and history (lib/metrics/lua/counters.ts); off only for the bench's comparison.
    metrics: deps.config.metrics,
    cache_writes: writes,
    alert_cooldown_s: deps.config.alerts.cooldownS,
    ttl: {
      permit: ttl.permit,
      block: ttl.block,
      decision: ttl.decision,
      reservation: ttl.reservation,
      lock: ttl.lock,
      // The key outlives its logical timeout, so a timeout is observed, never silently expired.
      lock_redis: ttl.lock * 2 + 300,
    },
  };
}
