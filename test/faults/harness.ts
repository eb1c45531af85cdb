/**
 * The governor for real, with its dependencies in this process so the tests
 * can break them: a private redis-server (killable, restartable on its port),
 * the Upstash REST bridge (stoppable, restartable on its port, fault
 * injection), the Binance + Apply Layer simulators; and `node dev/stack.ts`
 * pointed at them (UPSTASH_REDIS_REST_URL / BINANCE_BASE_URL), which runs the
 * governor in workerd through `wrangler dev`.
 */
import { Redis as IORedis } from "ioredis";
import { expect } from "vitest";
import { startRedisRestBridge, type RedisRestBridge } from "../../dev/bridge/server.ts";
import { startRedisServer, type RedisServerHandle } from "../../dev/redis-server.ts";
import {
  startLocalServices,
  startSimulatedExchange,
  type LocalServices,
  type SimulatedExchange,
} from "../../dev/services.ts";
import { startPrivateStack, type PrivateStack } from "../../dev/stack-client.ts";
import { redisKeys } from "../../lib/keys.ts";
import { stackClients, type Loose, type StackClients } from "../../bench/clients.ts";
import { waitUntil } from "../support/wait.ts";

export const keys = redisKeys("quantum");
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface FaultWorld {
  services: LocalServices;
  governor: PrivateStack;
  c: StackClients;
  /** Direct connection for arranging and inspecting state (survives a redis-server restart). */
  redis: IORedis;
  /** The bridge the governor talks to now (it may have been restarted). */
  bridge(): RedisRestBridge;
  /** Stop the REST bridge: the endpoint refuses connections. */
  stopBridge(): Promise<void>;
  /** Start a new bridge on the same port with the same token. */
  startBridge(): Promise<void>;
  /** SIGKILL redis-server. */
  killRedis(): void;
  /** A fresh, empty redis-server on the same port. */
  restartRedis(): Promise<void>;
  /** Stop the exchange simulator (connections refused) / start a fresh one on its port. */
  stopExchange(): Promise<void>;
  startExchange(): Promise<void>;
  /** SIGSTOP / SIGCONT redis-server: a stalled Redis that later carries on. */
  pauseRedis(): void;
  resumeRedis(): void;
  stop(): Promise<void>;
}

export async function startFaultWorld(): Promise<FaultWorld> {
  const services = await startLocalServices({ keyPrefix: "quantum" });
  const { credentials } = services;
  let bridge: RedisRestBridge = services.bridge;
  let bridgeRunning = true;
  let redisServer: RedisServerHandle = services.redis;
  let exchange: SimulatedExchange | null = services.exchange;
  const extraRedis: RedisServerHandle[] = [];
  let governor: PrivateStack;
  try {
    governor = await startPrivateStack({
      env: {
        UPSTASH_REDIS_REST_URL: bridge.url,
        UPSTASH_REDIS_REST_TOKEN: credentials.redisToken,
        BINANCE_BASE_URL: services.exchange.url,
        BINANCE_API_KEY: credentials.apiKey,
        BINANCE_API_SECRET: credentials.apiSecret,
      },
    });
  } catch (error) {
    await services.stop();
    throw error;
  }
  // Safety net: never leave a redis-server of ours behind, even if stop() is skipped.
  const killLeftovers = () => {
    for (const server of [services.redis, ...extraRedis]) {
      if (server.process.exitCode === null) server.process.kill("SIGKILL");
    }
  };
  process.once("exit", killLeftovers);
  const redis = new IORedis(services.redis.url, { maxRetriesPerRequest: 3 });
  redis.on("error", () => {});
  const c = stackClients(governor.info);

  return {
    services,
    governor,
    c,
    redis,
    bridge: () => bridge,
    async stopBridge() {
      if (!bridgeRunning) return;
      bridgeRunning = false;
      await bridge.stop();
    },
    async startBridge() {
      if (bridgeRunning) return;
      bridge = await startRedisRestBridge({
        redisUrl: redisServer.url,
        token: credentials.redisToken,
        port: bridge.port,
      });
      bridgeRunning = true;
    },
    killRedis() {
      redisServer.process.kill("SIGKILL");
    },
    async stopExchange() {
      await exchange?.stop();
      exchange = null;
    },
    async startExchange() {
      if (exchange) return;
      exchange = await startSimulatedExchange({
        port: services.exchange.port,
        apiKey: credentials.apiKey,
        apiSecret: credentials.apiSecret,
        redisUrl: redisServer.url,
        keyPrefix: "quantum",
      });
    },
    pauseRedis() {
      redisServer.process.kill("SIGSTOP");
    },
    resumeRedis() {
      redisServer.process.kill("SIGCONT");
    },
    async restartRedis() {
      redisServer = await startRedisServer({ port: redisServer.port });
      extraRedis.push(redisServer);
    },
    async stop() {
      redisServer.process.kill("SIGCONT");
      redis.disconnect();
      try {
        await governor.stop();
        if (bridge !== services.bridge && bridgeRunning) await bridge.stop();
        if (exchange && exchange !== services.exchange) await exchange.stop();
        await services.stop();
      } finally {
        for (const server of extraRedis) await server.stop();
        process.off("exit", killLeftovers);
      }
    },
  };
}

let planSeq = 0;
/** A plan id unique in its first 8 characters (rotation close plan ids are built from them). */
export function planId(tag: string): string {
  planSeq += 1;
  return `${String(planSeq).padStart(4, "0")}${Date.now().toString(36).slice(-4)}-${tag}`;
}

/** Empty Redis, simulator reset, no faults; universe, BTCUSDT in BASE, one open position. */
export async function arrange(
  w: FaultWorld,
  options: {
    universe?: string[];
    positions?: { symbol: string; amt: number; pnl?: number }[];
  } = {},
): Promise<void> {
  w.bridge().setFault(null);
  await w.redis.flushall();
  await w.c.sim("POST", "/__sim/reset");
  await setUniverse(w, options.universe ?? ["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
  await w.c.sim("PUT", "/__sim/klines/BTCUSDT", { preset: "BASE" });
  await setPositions(w, options.positions ?? [{ symbol: "ETHUSDT", amt: 1 }]);
}

export async function setUniverse(w: FaultWorld, symbols: string[]): Promise<void> {
  await w.redis.hset(keys.policy, "universe_symbols", JSON.stringify(symbols));
}

export async function setPositions(
  w: FaultWorld,
  positions: { symbol: string; amt: number; pnl?: number }[],
): Promise<void> {
  const now = Date.now();
  await w.c.sim(
    "PUT",
    "/__sim/positions",
    positions.map((p) => {
      const pnl = p.pnl ?? 0;
      return {
        symbol: p.symbol,
        positionAmt: String(p.amt),
        entryPrice: "100",
        markPrice: String(100 + pnl / p.amt),
        unRealizedProfit: String(pnl),
        updateTime: now - 3_600_000,
      };
    }),
  );
}

/** The signed endpoints open positions may come from (the governor reads the account). */
export const POSITION_ENDPOINTS = ["/fapi/v3/account", "/fapi/v3/positionRisk"] as const;

export async function faultPositions(
  w: FaultWorld,
  fault: {
    status?: number;
    delay_ms?: number;
    times?: number;
    body?: string;
    retry_after?: number;
  },
): Promise<void> {
  await w.c.sim(
    "PUT",
    "/__sim/faults",
    POSITION_ENDPOINTS.map((path) => ({ path, ...fault })),
  );
}

/**
 * Let every request the exchange simulator holds in a fault's delay go on, and
 * wait until it has been answered. Returns how many were held.
 */
export async function releaseHeldExchangeRequests(w: FaultWorld): Promise<number> {
  const { released } = (await w.c.sim("POST", "/__sim/faults/release")) as { released: number };
  await waitUntil(
    async () => ((await w.c.sim("GET", "/__sim/state")) as Loose).held_requests === 0,
    "the released exchange requests answered",
  );
  return released;
}

export async function clearFaults(w: FaultWorld): Promise<void> {
  await w.c.sim("DELETE", "/__sim/faults");
  w.bridge().setFault(null);
}

/** POST a fresh plan for BTCUSDT (or `plan`'s fields) and return the answer. */
export async function post(w: FaultWorld, plan: Record<string, unknown>) {
  return w.c.postPlan({ symbol: "BTCUSDT", ...plan });
}

export async function expectAllowed(w: FaultWorld, id = planId("ok"), symbol = "BTCUSDT") {
  const answer = await post(w, { plan_id: id, symbol });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.body).toMatchObject({ plan_id: id, decision: "ALLOW" });
  expect(await w.redis.get(keys.permit(id))).not.toBeNull();
  return answer;
}

/** A BLOCK with exactly this reason, nothing granted for the plan. */
export async function expectBlocked(w: FaultWorld, id: string, reason: string, plan = {}) {
  const answer = await post(w, { plan_id: id, ...plan });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.body).toMatchObject({ plan_id: id, decision: "BLOCK", reason });
  expect(await w.redis.get(keys.permit(id))).toBeNull();
  const block = JSON.parse((await w.redis.get(keys.block(id))) ?? "null") as Loose;
  expect(block).toMatchObject({ plan_id: id, reason });
  return answer;
}

/** A 503 JSON error, nothing granted. */
export function expectUnavailable(answer: { status: number; body: Loose }) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(503);
  expect(answer.body.error).toMatchObject({
    code: "dependency_unavailable",
    message: expect.any(String),
  });
}

/** All lock keys, found without KEYS (a test-side SCAN). */
export async function lockKeys(w: FaultWorld): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await w.redis.scan(cursor, "MATCH", keys.rotationLock("*"), "COUNT", 500);
    cursor = next;
    found.push(...batch);
  } while (cursor !== "0");
  return found;
}

/**
 * Nothing left behind for plans that were not allowed: no permit, no
 * reservation, no lock, no claim, no lock index entry; and (with
 * `noLocksAtAll`) no rotation state of any plan.
 */
export async function expectNothingDangling(
  w: FaultWorld,
  blockedPlanIds: string[],
  options: { noLocksAtAll?: boolean } = { noLocksAtAll: true },
): Promise<void> {
  const reservations = await w.redis.hgetall(keys.reservations);
  const reservedBy = Object.values(reservations).map(
    (raw) => (JSON.parse(raw) as { plan_id: string }).plan_id,
  );
  const claims = await w.redis.hgetall(keys.claims);
  const indexed = await w.redis.zrange(keys.lockIndex, 0, -1);
  for (const id of blockedPlanIds) {
    expect(await w.redis.get(keys.permit(id)), `permit of ${id}`).toBeNull();
    expect(reservedBy, `reservation of ${id}`).not.toContain(id);
    expect(await w.redis.exists(keys.rotationLock(id)), `lock of ${id}`).toBe(0);
    expect(Object.keys(claims), `claim of ${id}`).not.toContain(id);
    expect(indexed, `lock index entry of ${id}`).not.toContain(id);
  }
  if (options.noLocksAtAll) {
    expect(await lockKeys(w)).toEqual([]);
    expect(claims).toEqual({});
    expect(indexed).toEqual([]);
    expect(await w.redis.hgetall(keys.closePlans)).toEqual({});
  }
}

/** Simulator requests logged from index `since` on. */
export async function simRequests(w: FaultWorld, since = 0) {
  return (await w.c.sim("GET", `/__sim/requests?since=${since}`)) as {
    count: number;
    total_weight: number;
    requests: { path: string; status: number; weight: number; query: Record<string, string> }[];
  };
}
