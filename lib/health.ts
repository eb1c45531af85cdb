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

/** Liveness and dependency reachability; never includes secrets or URLs with credentials. */
export async function checkHealth(gov: GovernorContext) {
  const binance = createBinanceClient({ ...gov.config.binance, timeoutMs: 2000 });
  const [redis, exchange] = await Promise.all([
    probe(() => gov.redis.ping(), gov.now),
    probe(() => binance.serverTime(), gov.now),
  ]);
  return {
    ok: redis.reachable && exchange.reachable,
    mode: gov.config.mode,
    enabled: gov.config.enabled,
    redis,
    exchange,
  };
}
