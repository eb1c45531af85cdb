/**
 * The replay's private state store: a real `redis-server` on a free port,
 * reached by the governor with the unmodified `@upstash/redis` client it uses
 * in production (the same Lua scripts, the same protocol). The client's
 * requests are answered in-process by the project's Upstash REST bridge
 * protocol (dev/bridge/protocol.ts, see rest-fetch.ts): the same code the
 * HTTP bridge runs, without a socket and HTTP parsing per request. The
 * replay's own bookkeeping (what the governor wrote, the Apply Layer's
 * confirmations, flushing between runs) talks to redis-server directly, as the
 * local stack's Apply Layer simulator does, on the connection the protocol
 * sends the governor's commands on.
 */
import { randomBytes } from "node:crypto";
import type { Redis as DirectRedis } from "ioredis";
import type { Redis } from "@upstash/redis/cloudflare";
import { startRedisServer } from "../dev/redis-server.ts";
import { openConnection } from "../dev/bridge/pool.ts";
import { openRestProtocol, type RestProtocol } from "../dev/bridge/protocol.ts";
import { createRedis } from "../lib/redis/client.ts";
import { serveInProcess } from "./rest-fetch.ts";

export interface ReplayStore {
  /** the REST URL (answered in-process) and its token (random per replay, never printed) */
  rest: { url: string; token: string };
  /** the governor's client */
  redis: Redis;
  /**
   * The replay's own connection to redis-server. The governor's single
   * commands and pipelines go through it too, so a command sent here before
   * an evaluation starts runs before anything the evaluation sends.
   */
  direct: DirectRedis;
  /** REST requests answered so far */
  requests(): number;
  stop(): Promise<void>;
}

export async function startReplayStore(): Promise<ReplayStore> {
  const server = await startRedisServer();
  // An interrupted replay leaves no redis-server behind.
  const killServer = () => server.process.kill("SIGKILL");
  process.once("exit", killServer);
  const token = randomBytes(24).toString("hex");
  let unserve = () => {};
  let protocol: RestProtocol | undefined;
  const direct = openConnection(server.url);
  try {
    await direct.connect();
    protocol = await openRestProtocol({ redisUrl: server.url, token, connection: direct });
    const { handle } = protocol;
    let requests = 0;
    const counted: RestProtocol = {
      ...protocol,
      handle: (request) => {
        requests += 1;
        return handle(request);
      },
    };
    const rest = { url: `http://redis-${randomBytes(6).toString("hex")}.replay.invalid`, token };
    unserve = serveInProcess(rest.url, counted);
    return {
      rest,
      redis: createRedis(rest),
      direct,
      requests: () => requests,
      async stop() {
        unserve();
        await counted.close();
        direct.disconnect();
        await server.stop();
        process.off("exit", killServer);
      },
    };
  } catch (error) {
    unserve();
    await protocol?.close();
    direct.disconnect();
    await server.stop();
    process.off("exit", killServer);
    throw error;
  }
}
