import type { Redis } from "@upstash/redis/cloudflare";
import type { Config } from "../config.ts";
import type { RedisKeys } from "../keys.ts";
import {
  EVALUATE_SLOTS,
  READ_STATE,
  RECORD_DECISION,
  SCRIPT_KEY_NAMES,
  SWEEP_LOCKS,
} from "./lua.ts";

export interface NamedScript {
  name: string;
  source: string;
}

export const SCRIPTS = {
  readState: { name: "read_state", source: READ_STATE },
  recordDecision: { name: "record_decision", source: RECORD_DECISION },
  evaluateSlots: { name: "evaluate_slots", source: EVALUATE_SLOTS },
  sweepLocks: { name: "sweep_locks", source: SWEEP_LOCKS },
} as const satisfies Record<string, NamedScript>;

const shaCache = new Map<string, Promise<string>>();

/** SHA-1 hex of a script, as Redis computes it for EVALSHA. */
export function scriptSha(script: NamedScript): Promise<string> {
  let sha = shaCache.get(script.source);
  if (!sha) {
    sha = crypto.subtle
      .digest("SHA-1", new TextEncoder().encode(script.source))
      .then((buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join(""));
    shaCache.set(script.source, sha);
  }
  return sha;
}

/** The fixed KEYS every script receives, in SCRIPT_KEY_NAMES order. */
export function scriptKeys(keys: RedisKeys): string[] {
  return SCRIPT_KEY_NAMES.map((name) => keys[name]);
}

/** Per-plan key prefixes handed to scripts so key names live only in lib/keys.ts. */
export function planKeyPrefixes(keys: RedisKeys) {
  return {
    lock: keys.rotationLock(""),
    permit: keys.permit(""),
    block: keys.block(""),
    decision: keys.decision(""),
  };
}

export type ScriptRedis = Pick<Redis, "evalsha" | "eval">;

/**
 * Run a script by EVALSHA, falling back to EVAL (which also loads it) when
 * Redis answers NOSCRIPT. Returns the script's JSON answer, unparsed.
 */
export async function runScript(
  redis: ScriptRedis,
  script: NamedScript,
  keys: string[],
  ctx: unknown,
): Promise<unknown> {
  const arg = JSON.stringify(ctx);
  const sha = await scriptSha(script);
  try {
    return await redis.evalsha(sha, keys, [arg]);
  } catch (error) {
    if (!String((error as Error)?.message ?? error).includes("NOSCRIPT")) throw error;
    return await redis.eval(script.source, keys, [arg]);
  }
}

/** A value to cache alongside a decision, written by the script: [key, value, ttl ms]. */
export type CacheWrite = [string, string, number];

/** Context every decision-writing script reads (see PRELUDE in lib/redis/lua.ts). */
export function scriptContext(
  deps: { config: Config; keys: RedisKeys; now: () => number },
  writes: CacheWrite[] = [],
) {
  const { ttl } = deps.config;
  return {
    now_ms: String(deps.now()),
    keys: planKeyPrefixes(deps.keys),
    shadow: deps.config.mode === "shadow",
    cache_writes: writes,
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
