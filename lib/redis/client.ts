import { Redis } from "@upstash/redis/cloudflare";
import type { Config } from "../config.ts";
import { REDIS_TIMEOUT_MS, redisRest, restCommand, type RedisRest } from "./rest.ts";

type Script = (script: string, keys: string[], args: string[]) => Promise<unknown>;

/**
 * The Upstash REST client, configured for a gate: raw strings back (payloads
 * are parsed with zod by their readers), no auto-pipelining (each evaluation
 * batches its own round trips), one quick retry on network errors, a timeout.
 * Answers come as plain JSON strings, not base64 (`responseEncoding: false`):
 * every value the governor stores is JSON text, and decoding base64 byte by
 * byte in JS was a visible share of an evaluation's CPU (bench/PROFILE.md).
 *
 * Its four script commands (EVAL, EVALSHA and their read-only forms: both
 * round trips of every evaluation) go over the thin REST call of rest.ts with
 * the same timeout, retry and read-your-writes token; the SDK's per-call work
 * (a command object, merged headers) showed in the profile (bench/PROFILE.md).
 */
class GovernorRedis extends Redis {
  readonly #rest: RedisRest;

  constructor(redis: Config["redis"]) {
    super({
      url: redis.url,
      token: redis.token,
      automaticDeserialization: false,
      responseEncoding: false,
      enableAutoPipelining: false,
      enableTelemetry: false,
      retry: { retries: 1, backoff: () => 50 },
      signal: () => AbortSignal.timeout(REDIS_TIMEOUT_MS),
    });
    this.#rest = redisRest(redis);
  }

  /** A script command; the read-your-writes token is the SDK's, shared both ways. */
  #script(name: string): Script {
    return async (script, keys, args) => {
      this.#rest.syncToken = this.readYourWritesSyncToken ?? "";
      const result = await restCommand(this.#rest, [
        name,
        script,
        String(keys.length),
        ...keys,
        ...args,
      ]);
      this.readYourWritesSyncToken = this.#rest.syncToken;
      return result;
    };
  }

  override eval = this.#script("EVAL") as Redis["eval"];
  override evalsha = this.#script("EVALSHA") as Redis["evalsha"];
  override evalRo = this.#script("EVAL_RO") as Redis["evalRo"];
  override evalshaRo = this.#script("EVALSHA_RO") as Redis["evalshaRo"];
}

export function createRedis(redis: Config["redis"]): Redis {
  return new GovernorRedis(redis);
}
