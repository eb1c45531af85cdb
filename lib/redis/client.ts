import { Redis } from "@upstash/redis/cloudflare";
import type { Config } from "../config.ts";

/** ms a single Redis REST request may take before the evaluation fails closed. */
export const REDIS_TIMEOUT_MS = 2000;

/**
 * The Upstash REST client, configured for a gate: raw strings back (payloads
 * are parsed with zod by their readers), no auto-pipelining (each evaluation
 * batches its own round trips), one quick retry on network errors, a timeout.
 * Answers come as plain JSON strings, not base64 (`responseEncoding: false`):
 * every value the governor stores is JSON text, and decoding base64 byte by
 * byte in JS was a visible share of an evaluation's CPU (bench/PROFILE.md).
 */
export function createRedis(redis: Config["redis"]): Redis {
  return new Redis({
    url: redis.url,
    token: redis.token,
    automaticDeserialization: false,
    responseEncoding: false,
    enableAutoPipelining: false,
    enableTelemetry: false,
    retry: { retries: 1, backoff: () => 50 },
    signal: () => AbortSignal.timeout(REDIS_TIMEOUT_MS),
  });
}
