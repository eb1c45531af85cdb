import { randomBytes } from "node:crypto";
import { startRedisServer, type RedisServerHandle } from "./redis-server.ts";
import { startRedisRestBridge, type RedisRestBridge } from "./bridge/server.ts";
import { startExchangeSim, type ExchangeSimHandle } from "./exchange-sim/index.ts";

/** Dev credentials: fresh random values each run, never committed. */
export interface DevCredentials {
  redisToken: string;
  apiKey: string;
  apiSecret: string;
  webhookSecret: string;
  readToken: string;
}

export function devCredentials(): DevCredentials {
  const hex = (n: number) => randomBytes(n).toString("hex");
  return {
    redisToken: `dev_${hex(16)}`,
    apiKey: `dev_${hex(16)}`,
    apiSecret: hex(32),
    webhookSecret: `dev_${hex(16)}`,
    readToken: `dev_${hex(16)}`,
  };
}

export interface LocalServices {
  redis: RedisServerHandle;
  bridge: RedisRestBridge;
  exchange: ExchangeSimHandle;
  credentials: DevCredentials;
  stop(): Promise<void>;
}

/**
 * The governor's dependencies, all on 127.0.0.1: a private redis-server, the
 * Upstash REST bridge in front of it, and the Binance simulator with the Apply
 * Layer simulator attached.
 */
export async function startLocalServices(
  options: {
    redisPort?: number;
    restPort?: number;
    exchangePort?: number;
    keyPrefix?: string;
  } = {},
): Promise<LocalServices> {
  const credentials = devCredentials();
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const service of started.reverse()) await service.stop().catch(() => undefined);
  };
  try {
    const redis = await startRedisServer({ port: options.redisPort });
    started.push(redis);
    const bridge = await startRedisRestBridge({
      redisUrl: redis.url,
      token: credentials.redisToken,
      port: options.restPort,
    });
    started.push(bridge);
    const exchange = await startExchangeSim({
      port: options.exchangePort,
      apiKey: credentials.apiKey,
      apiSecret: credentials.apiSecret,
      redisUrl: redis.url,
      keyPrefix: options.keyPrefix ?? "quantum",
    });
    started.push(exchange);
    return { redis, bridge, exchange, credentials, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
