import { randomBytes } from "node:crypto";
import { startRedisServer, type RedisServerHandle } from "./redis-server.ts";
import { startRedisRestBridge, type RedisRestBridge } from "./bridge/server.ts";
import {
  startExchangeSim,
  type ExchangeSimHandle,
  type ExchangeSimOptions,
} from "./exchange-sim/index.ts";
import { startApplySim, type ApplySim } from "./apply-sim/apply-sim.ts";

/** Dev credentials: fresh random values each run, never committed. */
export interface DevCredentials {
  redisToken: string;
  apiKey: string;
  apiSecret: string;
  webhookSecret: string;
  readToken: string;
  adminToken: string;
}

export function devCredentials(): DevCredentials {
  const hex = (n: number) => randomBytes(n).toString("hex");
  return {
    redisToken: `dev_${hex(16)}`,
    apiKey: `dev_${hex(16)}`,
    apiSecret: hex(32),
    webhookSecret: `dev_${hex(16)}`,
    readToken: `dev_${hex(16)}`,
    adminToken: `dev_admin_${hex(16)}`,
  };
}

/** The exchange simulator, and the Apply Layer simulator executing close plans against it. */
export interface SimulatedExchange extends ExchangeSimHandle {
  /** Started when a Redis was given; stop() stops it with the exchange. */
  applySim: ApplySim | undefined;
}

/**
 * The exchange simulator; with `redisUrl`, also the Apply Layer simulator,
 * reading the plans of `keyPrefix` (default "quantum") from that Redis and
 * executing them against the exchange simulator's state.
 */
export async function startSimulatedExchange(
  options: ExchangeSimOptions & { redisUrl?: string; keyPrefix?: string },
): Promise<SimulatedExchange> {
  const exchange = await startExchangeSim(options);
  let applySim: ApplySim | undefined;
  if (options.redisUrl) {
    try {
      applySim = await startApplySim({
        redisUrl: options.redisUrl,
        keyPrefix: options.keyPrefix ?? "quantum",
        state: exchange.state,
      });
    } catch (e) {
      await exchange.stop();
      throw e;
    }
  }
  let stopped: Promise<void> | undefined;
  return {
    ...exchange,
    applySim,
    stop() {
      stopped ??= (async () => {
        await applySim?.stop();
        await exchange.stop();
      })();
      return stopped;
    },
  };
}

export interface LocalServices {
  redis: RedisServerHandle;
  bridge: RedisRestBridge;
  exchange: SimulatedExchange;
  credentials: DevCredentials;
  stop(): Promise<void>;
}

export interface ServicesOptions {
  redisPort?: number;
  restPort?: number;
  exchangePort?: number;
  keyPrefix?: string;
  /** Use this Upstash REST endpoint instead of a local redis-server + bridge. */
  remoteRedis?: { url: string; token: string };
  /** Use this Binance endpoint instead of the exchange simulator. */
  remoteExchange?: { url: string; apiKey: string; apiSecret: string };
}

/** What the governor talks to, local or remote; handles only for what was started here. */
export interface DevServices {
  redis: RedisServerHandle | undefined;
  bridge: RedisRestBridge | undefined;
  exchange: SimulatedExchange | undefined;
  redisRest: { url: string; token: string };
  exchangeApi: { url: string; apiKey: string; apiSecret: string };
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
  const services = await startDevServices(options);
  const { redis, bridge, exchange } = services;
  if (!redis || !bridge || !exchange) throw new Error("startLocalServices: a service is missing");
  return { redis, bridge, exchange, credentials: services.credentials, stop: services.stop };
}

/**
 * Like startLocalServices, but Redis and/or the exchange may be real remote
 * services. The Apply Layer simulator needs both the local Redis and the
 * exchange simulator, so it only runs when both are local.
 */
export async function startDevServices(options: ServicesOptions = {}): Promise<DevServices> {
  const credentials = devCredentials();
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const service of started.splice(0).reverse()) {
      await service.stop().catch(() => undefined);
    }
  };
  try {
    let redis: RedisServerHandle | undefined;
    let bridge: RedisRestBridge | undefined;
    let redisRest = options.remoteRedis;
    if (!redisRest) {
      redis = await startRedisServer({ port: options.redisPort });
      started.push(redis);
      bridge = await startRedisRestBridge({
        redisUrl: redis.url,
        token: credentials.redisToken,
        port: options.restPort,
      });
      started.push(bridge);
      redisRest = { url: bridge.url, token: credentials.redisToken };
    }
    let exchange: SimulatedExchange | undefined;
    let exchangeApi = options.remoteExchange;
    if (!exchangeApi) {
      exchange = await startSimulatedExchange({
        port: options.exchangePort,
        apiKey: credentials.apiKey,
        apiSecret: credentials.apiSecret,
        redisUrl: redis?.url,
        keyPrefix: options.keyPrefix ?? "quantum",
      });
      started.push(exchange);
      exchangeApi = {
        url: exchange.url,
        apiKey: credentials.apiKey,
        apiSecret: credentials.apiSecret,
      };
    }
    return { redis, bridge, exchange, redisRest, exchangeApi, credentials, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
