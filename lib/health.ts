import { readSharedBinanceState, sharedBinanceClient } from "./binance/redis-state.ts";
import type { GovernorContext } from "./context.ts";

interface Probe {
  reachable: boolean;
  latency_ms: number;
  error?: string;
}

async function probe(run: () => Promise<unknown>, now: () => number): Promise<Probe> {
  const started = now();
  try {
    await run();
    return { reachable: true, latency_ms: now() - started };
  } catch (error) {
    return {
      reachable: false,
      latency_ms: now() - started,
      error: error instanceof Error ? error.name : "error",
    };
  }
}

/**
 * Liveness and dependency reachability; never includes secrets. While the
 * shared 429/418 backoff runs, the exchange is not called (a call could turn a
 * 429 into a ban); health reports the backoff instead.
 */
export async function checkHealth(gov: GovernorContext) {
  let backoffUntil = 0;
  let timeOffset = 0;
  const redis = await probe(async () => {
    const state = await readSharedBinanceState(gov);
    backoffUntil = state.backoffUntilMs;
    timeOffset = state.timeOffsetMs;
  }, gov.now);
  const exchange =
    backoffUntil > gov.now()
      ? { reachable: false, latency_ms: 0, error: "backoff", backoff_until: backoffUntil }
      : await probe(
          () =>
            sharedBinanceClient(gov, {
              backoffUntilMs: backoffUntil,
              timeOffsetMs: timeOffset,
            }).serverTime(),
          gov.now,
        );
  return {
    ok: redis.reachable && exchange.reachable,
    mode: gov.config.mode,
    enabled: gov.config.enabled,
    redis,
    exchange,
  };
}
