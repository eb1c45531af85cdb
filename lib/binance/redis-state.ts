/**
 * The Binance state every invocation shares through Redis (docs/binance.md):
 * the 403/418/429 backoff with its strikes, and the clock offset a -1021
 * resync measured. Here: reading it, the backoff's escalation and its write,
 * and the Binance client of the read paths (status, sweep, health), bound to
 * it. What one isolate remembers of it is ./isolate-state.ts.
 */
import type { Redis } from "@upstash/redis/cloudflare";
import type { GovernorContext } from "../context.ts";
import type { RedisKeys } from "../keys.ts";
import { createBinanceClient, type BinanceClient } from "./client.ts";

/** The shared Binance state every invocation honours (docs/binance.md). */
export interface SharedBinanceState {
  /** unix ms; 0 when no 403/418/429 backoff runs */
  backoffUntilMs: number;
  /** Binance server time − local time, ms */
  timeOffsetMs: number;
}

/** Read the shared backoff and clock offset (one Redis request). */
export async function readSharedBinanceState(gov: GovernorContext): Promise<SharedBinanceState> {
  const pipeline = gov.redis.pipeline();
  pipeline.get(gov.keys.binanceBackoff);
  pipeline.get(gov.keys.binanceTimeOffset);
  const [backoff, offset] = await pipeline.exec();
  return { backoffUntilMs: Number(backoff) || 0, timeOffsetMs: Number(offset) || 0 };
}

/** ms a measured clock offset is kept in Redis. */
export const TIME_OFFSET_TTL_MS = 3_600_000;

/** ms: the escalation never lengthens a backoff past this on its own (a longer Retry-After is honoured). */
export const BACKOFF_ESCALATION_CAP_MS = 3_600_000;
/** ms a strike is remembered after its backoff ends: a repeat within it doubles the next backoff. */
export const STRIKE_MEMORY_MS = 600_000;

/**
 * Backoff for the `strikes`-th consecutive 403/418/429 (1 = the first):
 * Binance's Retry-After, doubled per repeat, capped at
 * BACKOFF_ESCALATION_CAP_MS, never shorter than Retry-After. Binance itself
 * scales IP bans for repeat offenders "from 2 minutes to 3 days".
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info#limits
 */
export function escalatedBackoffMs(strikes: number, retryAfterMs: number): number {
  const doubled = retryAfterMs * 2 ** Math.min(30, Math.max(0, strikes - 1));
  return Math.max(retryAfterMs, Math.min(BACKOFF_ESCALATION_CAP_MS, doubled));
}

/**
 * Persist a backoff Binance asked for, grown by the strikes before it. A
 * backoff still running is the same episode (parallel requests, concurrent
 * invocations): it is only lengthened to this Retry-After, not escalated.
 * Otherwise this is strike n+1 (n remembered until STRIKE_MEMORY_MS after the
 * last backoff ended) and the backoff is escalatedBackoffMs(n+1). Two Redis
 * requests, on the failure path only. Returns the backoff's end (unix ms).
 */
export async function recordBackoff(
  deps: {
    redis: Pick<Redis, "pipeline">;
    keys: Pick<RedisKeys, "binanceBackoff" | "binanceStrikes">;
    now: () => number;
  },
  retryAfterMs: number,
): Promise<number> {
  const { redis, keys } = deps;
  const read = redis.pipeline();
  read.get(keys.binanceBackoff);
  read.get(keys.binanceStrikes);
  const [currentRaw, strikesRaw] = await read.exec();
  const at = deps.now();
  const current = Number(currentRaw) || 0;
  const running = current > at;
  const strikes = (Number(strikesRaw) || 0) + (running ? 0 : 1);
  const until = running
    ? Math.max(current, at + retryAfterMs)
    : at + escalatedBackoffMs(strikes, retryAfterMs);
  const write = redis.pipeline();
  write.set(keys.binanceBackoff, String(until), { px: Math.max(1, until - at) });
  write.set(keys.binanceStrikes, String(strikes), { px: until - at + STRIKE_MEMORY_MS });
  await write.exec();
  return until;
}

/**
 * What every Binance client of the governor starts from: the configured
 * endpoint and credentials, the transport and clock, and a view of the shared
 * backoff and clock offset. The caller adds where what it learns goes.
 */
export function binanceClientOptions(
  deps: Pick<GovernorContext, "config" | "fetch" | "now">,
  state: SharedBinanceState,
) {
  return {
    ...deps.config.binance,
    fetch: deps.fetch,
    now: deps.now,
    backoffUntilMs: state.backoffUntilMs,
    timeOffsetMs: state.timeOffsetMs,
  };
}

/**
 * A Binance client for the read paths (status, sweep, health) that honours the
 * shared backoff and clock offset and writes any new one straight back to Redis.
 */
export function sharedBinanceClient(
  gov: GovernorContext,
  state: SharedBinanceState,
): BinanceClient {
  const { keys, redis } = gov;
  return createBinanceClient({
    ...binanceClientOptions(gov, state),
    onBackoff: (_until, { retryAfterMs }) => recordBackoff(gov, retryAfterMs),
    onTimeOffset: async (offset) => {
      await redis.set(keys.binanceTimeOffset, String(offset), { px: TIME_OFFSET_TTL_MS });
    },
  });
}
