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

/**
 * runScript for a script that only reads: EVALSHA_RO, falling back to EVAL_RO
 * on NOSCRIPT. Redis refuses any write such a script attempts.
 */
export async function runReadOnlyScript(
  redis: Pick<Redis, "evalshaRo" | "evalRo">,
  script: NamedScript,
  keys: string[],
  ctx: unknown,
): Promise<unknown> {
  const arg = JSON.stringify(ctx);
  const sha = await scriptSha(script);
  try {
    return await redis.evalshaRo(sha, keys, [arg]);
  } catch (error) {
    if (!String((error as Error)?.message ?? error).includes("NOSCRIPT")) throw error;
    return await redis.evalRo(script.source, keys, [arg]);
  }
}
