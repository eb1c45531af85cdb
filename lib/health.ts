import { createBinanceClient } from "./binance/client.ts";
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
  const redis = await probe(async () => {
    backoffUntil = Number(await gov.redis.get(gov.keys.binanceBackoff)) || 0;
  }, gov.now);
  const backoffActive = backoffUntil > gov.now();
  const exchange = backoffActive
    ? { reachable: false, latency_ms: 0, error: "backoff", backoff_until: backoffUntil }
    : await probe(
        () => createBinanceClient({ ...gov.config.binance, timeoutMs: 2000 }).serverTime(),
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
