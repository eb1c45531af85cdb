import type { GovernorContext } from "../context.ts";
import { createBinanceClient, type BinanceClient } from "./client.ts";

/** The shared Binance state every invocation honours (SPEC §8). */
export interface SharedBinanceState {
  /** unix ms; 0 when no 429/418 backoff runs */
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

/**
 * A Binance client for the read paths (status, sweep) that honours the shared
 * backoff and clock offset and writes any new one straight back to Redis. The
 * evaluation instead batches these writes into its decision script.
 */
export function sharedBinanceClient(
  gov: GovernorContext,
  state: SharedBinanceState,
): BinanceClient {
  const { keys, redis } = gov;
  return createBinanceClient({
    ...gov.config.binance,
    fetch: gov.fetch,
    now: gov.now,
    backoffUntilMs: state.backoffUntilMs,
    timeOffsetMs: state.timeOffsetMs,
    onBackoff: async (until) => {
      await redis.set(keys.binanceBackoff, String(until), { px: Math.max(1, until - gov.now()) });
    },
    onTimeOffset: async (offset) => {
      await redis.set(keys.binanceTimeOffset, String(offset), { px: 3_600_000 });
    },
  });
}
