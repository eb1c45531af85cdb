/**
 * The replay's private state store: a real `redis-server` on a free port
 * behind the project's Upstash REST bridge, reached by the governor with the
 * unmodified `@upstash/redis` client it uses in production (the same Lua
 * scripts, the same protocol). The replay's own bookkeeping (what the
 * governor wrote, the Apply Layer's confirmations, flushing between runs)
 * talks to redis-server directly, as the local stack's Apply Layer simulator does.
 */
import { randomBytes } from "node:crypto";
import { Redis as DirectRedis } from "ioredis";
import type { Redis } from "@upstash/redis/cloudflare";
import { startRedisServer } from "../dev/redis-server.ts";
import { startRedisRestBridge } from "../dev/bridge/server.ts";
import { createRedis } from "../lib/redis/client.ts";

export interface ReplayStore {
  /** the bridge's URL and its token (random per replay, never printed) */
  rest: { url: string; token: string };
  /** the governor's client, through the bridge */
  redis: Redis;
  /** the replay's own connection to redis-server */
  direct: DirectRedis;
  /** HTTP requests the bridge has answered so far */
  requests(): number;
  stop(): Promise<void>;
}

export async function startReplayStore(): Promise<ReplayStore> {
  const server = await startRedisServer();
  // An interrupted replay leaves no redis-server behind.
  const killServer = () => server.process.kill("SIGKILL");
  process.once("exit", killServer);
  const token = randomBytes(24).toString("hex");
  try {
    const bridge = await startRedisRestBridge({ redisUrl: server.url, token, port: 0 });
    const rest = { url: bridge.url, token };
    const direct = new DirectRedis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await direct.connect();
    return {
      rest,
      redis: createRedis(rest),
      direct,
      requests: () => bridge.requestCount(),
      async stop() {
        direct.disconnect();
        await bridge.stop();
        await server.stop();
        process.off("exit", killServer);
      },
    };
  } catch (error) {
    await server.stop();
    process.off("exit", killServer);
    throw error;
  }
}
