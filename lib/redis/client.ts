import { Redis } from "@upstash/redis/cloudflare";
import type { Config } from "../config.ts";

/** ms a single Redis REST request may take before the evaluation fails closed. */
export const REDIS_TIMEOUT_MS = 2000;

/**
 * The Upstash REST client, configured for a gate: raw strings back (payloads
 * are parsed with zod by their readers), no auto-pipelining (each evaluation
 * batches its own round trips), one quick retry on network errors, a timeout.
 */
export function createRedis(redis: Config["redis"]): Redis {
  return new Redis({
    url: redis.url,
    token: redis.token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
    enableTelemetry: false,
    retry: { retries: 1, backoff: () => 50 },
    signal: () => AbortSignal.timeout(REDIS_TIMEOUT_MS),
  });
}
