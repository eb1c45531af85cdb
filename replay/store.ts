/**
 * The replay's private state store: a real `redis-server` on a free port
 * behind the project's Upstash REST bridge, reached with the unmodified
 * `@upstash/redis` client the governor uses (the same Lua scripts, the same
 * protocol). Started once per replay, flushed between runs.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "@upstash/redis/cloudflare";
import { startRedisServer } from "../dev/redis-server.ts";
import { startRedisRestBridge } from "../dev/bridge/server.ts";
import { createRedis } from "../lib/redis/client.ts";

export interface ReplayStore {
  /** the bridge's URL and its token (random per replay, never printed) */
  rest: { url: string; token: string };
  redis: Redis;
  /** HTTP requests the bridge has answered so far */
  requests(): number;
  stop(): Promise<void>;
}

export async function startReplayStore(): Promise<ReplayStore> {
  const server = await startRedisServer();
  const token = randomBytes(24).toString("hex");
  try {
    const bridge = await startRedisRestBridge({ redisUrl: server.url, token, port: 0 });
    const rest = { url: bridge.url, token };
    return {
      rest,
      redis: createRedis(rest),
      requests: () => bridge.requestCount(),
      async stop() {
        await bridge.stop();
        await server.stop();
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
