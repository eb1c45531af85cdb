/**
 * One Redis command over the Upstash REST protocol, without the SDK: POST the
 * command as a JSON array to the database's URL with the bearer token; the
 * answer is `{"result": ...}` or `{"error": "..."}` (non-2xx for an error).
 *
 * The scripts (both round trips of every evaluation) go this way; everything
 * else (pipelines, streams, MGET) goes through @upstash/redis (client.ts). The
 * SDK builds a command object, merges headers and re-reads its options on
 * every call, which was a visible share of an evaluation's CPU
 * (bench/PROFILE.md). What it does that matters is kept here, the same:
 * a timeout over the whole request, one quick retry on a network error (never
 * after the timeout), read-your-writes through `upstash-sync-token`, and no
 * decoding (answers are plain JSON, as `responseEncoding: false` asks).
 */

/** ms a single Redis REST request may take before the evaluation fails closed. */
export const REDIS_TIMEOUT_MS = 2000;
/** ms before the one retry of a request that failed on the network. */
const RETRY_AFTER_MS = 50;

/** Where the commands go, and the read-your-writes token the database last sent. */
export interface RedisRest {
  url: string;
  token: string;
  /** Upstash's `upstash-sync-token`: sent back so a read sees this client's writes. */
  syncToken: string;
}

export function redisRest(redis: { url: string; token: string }): RedisRest {
  return { url: redis.url.replace(/\/$/, ""), token: redis.token, syncToken: "" };
}

/** Redis (or the REST layer in front of it) refused the command; the message is its error. */
export class RedisCommandError extends Error {
  override name = "RedisCommandError";
}

async function send(rest: RedisRest, body: string, signal: AbortSignal): Promise<Response> {
  const init: RequestInit = {
    method: "POST",
    headers: {
      authorization: `Bearer ${rest.token}`,
      "content-type": "application/json",
      "upstash-sync-token": rest.syncToken,
    },
    body,
    signal,
  };
  try {
    return await fetch(rest.url, init);
  } catch (error) {
    if (signal.aborted) throw error;
    await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
    return await fetch(rest.url, init);
  }
}

/** Run one command; returns its `result` as the database sent it (no deserialization). */
export async function restCommand(rest: RedisRest, command: readonly string[]): Promise<unknown> {
  const response = await send(rest, JSON.stringify(command), AbortSignal.timeout(REDIS_TIMEOUT_MS));
  const text = await response.text();
  let answer: { result?: unknown; error?: unknown };
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch {
    throw new RedisCommandError(
      `Redis REST answered HTTP ${response.status} with a body that is not JSON`,
    );
  }
  if (typeof answer?.error === "string") throw new RedisCommandError(answer.error);
  if (!response.ok) throw new RedisCommandError(`Redis REST answered HTTP ${response.status}`);
  if (answer?.result === undefined) throw new RedisCommandError("Redis REST answered no result");
  rest.syncToken = response.headers.get("upstash-sync-token") ?? rest.syncToken;
  return answer.result;
}
