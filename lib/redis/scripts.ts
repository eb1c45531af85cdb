import type { Redis } from "@upstash/redis/cloudflare";

/** A Lua script and its name (the registry is lib/rotation/scripts.ts). */
export interface NamedScript {
  name: string;
  source: string;
}
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

export type ScriptRedis = Pick<Redis, "evalsha" | "eval">;

type Eval = (script: string, keys: string[], args: string[]) => Promise<unknown>;

/** EVALSHA, and on NOSCRIPT the source itself (which also loads it). */
async function evalWithFallback(
  bySha: Eval,
  bySource: Eval,
  script: NamedScript,
  keys: string[],
  ctx: unknown,
): Promise<unknown> {
  const arg = JSON.stringify(ctx);
  const sha = await scriptSha(script);
  try {
    return await bySha(sha, keys, [arg]);
  } catch (error) {
    if (!String((error as Error)?.message ?? error).includes("NOSCRIPT")) throw error;
    return await bySource(script.source, keys, [arg]);
  }
}

/**
 * Run a script by EVALSHA, falling back to EVAL (which also loads it) when
 * Redis answers NOSCRIPT. Returns the script's JSON answer, unparsed.
 */
export function runScript(
  redis: ScriptRedis,
  script: NamedScript,
  keys: string[],
  ctx: unknown,
): Promise<unknown> {
  return evalWithFallback(
    (sha, k, a) => redis.evalsha(sha, k, a),
    (source, k, a) => redis.eval(source, k, a),
    script,
    keys,
    ctx,
  );
}

/**
 * runScript for a script that only reads: EVALSHA_RO, falling back to EVAL_RO
 * on NOSCRIPT. Redis refuses any write such a script attempts.
 */
export function runReadOnlyScript(
  redis: Pick<Redis, "evalshaRo" | "evalRo">,
  script: NamedScript,
  keys: string[],
  ctx: unknown,
): Promise<unknown> {
  return evalWithFallback(
    (sha, k, a) => redis.evalshaRo(sha, k, a),
    (source, k, a) => redis.evalRo(source, k, a),
    script,
    keys,
    ctx,
  );
}
