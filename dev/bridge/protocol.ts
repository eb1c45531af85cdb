/**
 * The Upstash REST protocol against a real redis-server, without HTTP: what
 * the bridge (server.ts) answers once it has a request's method, path,
 * headers and body. server.ts serves it over HTTP; the replay (replay/store.ts)
 * calls it in-process from the `fetch` its `@upstash/redis` client uses.
 *
 *   POST /            ["set","k","v"]                 -> {"result": X}
 *   POST /pipeline    [["set","k","v"],["get","k"]]   -> [{"result": X} | {"error": "..."}]
 *   POST /multi-exec  same, atomically (MULTI/EXEC on a dedicated connection)
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Redis } from "ioredis";
import {
  BadRequest,
  encodeReply,
  errorMessage,
  isReplyError,
  refusal,
  toCommand,
  toCommandList,
  type RedisCommand,
} from "./encoding.ts";
import { ConnectionPool, openConnection } from "./pool.ts";

export interface RestProtocolOptions {
  redisUrl: string;
  token: string;
  /** Dedicated connections for concurrent transactions (default 16). */
  transactionConnections?: number;
  /** Largest accepted request body (default 10 MB). */
  maxBodyBytes?: number;
  /**
   * A connected ioredis connection (made by pool.ts's openConnection) to run
   * single commands and pipelines on, kept open by its owner: whoever shares
   * it knows its own commands reach Redis in order with the protocol's.
   * Default: a connection of the protocol's own.
   */
  connection?: Redis;
}

/** One REST request as the protocol reads it. */
export interface RestRequest {
  method: string;
  /** "/", "/pipeline" or "/multi-exec" (anything else is 404) */
  path: string;
  /** the Authorization header */
  authorization: string | undefined;
  /** the Upstash-Encoding header */
  encoding: string | undefined;
  /** The body as UTF-8 text, or null when it exceeds `limit` bytes; read only once the request is admitted. */
  body(limit: number): Promise<string | null>;
}

export interface Reply {
  status: number;
  body: unknown;
}

export interface RestProtocol {
  /** Whether an Authorization header carries the token (constant time). */
  authorized(header: string | undefined): boolean;
  /** Answer one request: 401, 405, 404, 413, 400 or the commands' replies. */
  handle(request: RestRequest): Promise<Reply>;
  close(): Promise<void>;
}

const ROUTES = new Set(["/", "/pipeline", "/multi-exec"]);

/** Connect to redis-server (one shared connection; a pool for transactions) and speak the protocol. */
export async function openRestProtocol(options: RestProtocolOptions): Promise<RestProtocol> {
  if (!options.token) throw new Error("the Upstash REST bridge needs a non-empty token");
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const expectedToken = digest(options.token);
  const shared = options.connection ?? openConnection(options.redisUrl);
  if (!options.connection) {
    try {
      await shared.connect();
    } catch (error) {
      shared.disconnect();
      throw new Error(`cannot connect to Redis at ${options.redisUrl}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }
  const pool = new ConnectionPool(options.redisUrl, options.transactionConnections ?? 16);
  const authorized = (header: string | undefined) => isAuthorized(header, expectedToken);

  async function handle(request: RestRequest): Promise<Reply> {
    const { path } = request;
    if (!authorized(request.authorization)) {
      return { status: 401, body: { error: "Unauthorized: invalid or missing bearer token" } };
    }
    if (request.method !== "POST")
      return { status: 405, body: { error: "ERR only POST is supported" } };
    if (!ROUTES.has(path)) return { status: 404, body: { error: `ERR unknown endpoint ${path}` } };

    const raw = await request.body(maxBodyBytes);
    if (raw === null)
      return { status: 413, body: { error: `ERR request body larger than ${maxBodyBytes} bytes` } };
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return { status: 400, body: { error: "ERR request body is not valid JSON" } };
    }
    const base64 = String(request.encoding ?? "").toLowerCase() === "base64";
    try {
      if (path === "/") return await single(toCommand(parsed), base64);
      if (path === "/pipeline") return await pipeline(toCommandList(parsed), base64);
      return await transaction(toCommandList(parsed), base64);
    } catch (error) {
      if (error instanceof BadRequest || isReplyError(error))
        return { status: 400, body: { error: error.message } };
      return { status: 500, body: { error: `ERR bridge: ${errorMessage(error)}` } };
    }
  }

  async function single(command: RedisCommand, base64: boolean): Promise<Reply> {
    const refused = refusal(command);
    if (refused) throw new BadRequest(refused);
    const reply = await shared.callBuffer(command.name, ...command.args);
    return { status: 200, body: { result: encodeReply(reply, base64) } };
  }

  async function pipeline(commands: RedisCommand[], base64: boolean): Promise<Reply> {
    // Not atomic (nor is Upstash's): commands go out in order on the shared connection.
    const settled = await Promise.allSettled(
      commands.map((command) => {
        const refused = refusal(command);
        return refused
          ? Promise.reject(new BadRequest(refused))
          : shared.callBuffer(command.name, ...command.args);
      }),
    );
    const body = settled.map((outcome) => {
      if (outcome.status === "fulfilled") return { result: encodeReply(outcome.value, base64) };
      if (outcome.reason instanceof BadRequest || isReplyError(outcome.reason))
        return { error: outcome.reason.message };
      throw outcome.reason;
    });
    return { status: 200, body };
  }

  async function transaction(commands: RedisCommand[], base64: boolean): Promise<Reply> {
    for (const command of commands) {
      const refused = refusal(command);
      if (refused) throw new BadRequest(refused);
    }
    const connection = await pool.acquire();
    let healthy = false;
    try {
      const sent = [
        connection.callBuffer("MULTI"),
        ...commands.map((command) => connection.callBuffer(command.name, ...command.args)),
        connection.callBuffer("EXEC"),
      ];
      const settled = await Promise.allSettled(sent);
      const exec = settled[settled.length - 1];
      // Everything came back as Redis replies: the connection is out of MULTI and reusable.
      healthy = settled.every((s) => s.status === "fulfilled" || isReplyError(s.reason));
      if (!exec || exec.status === "rejected") {
        const reason: unknown = exec?.reason;
        if (!isReplyError(reason)) throw reason;
        const firstQueueError = settled.find(
          (s, i) => i < settled.length - 1 && s.status === "rejected",
        );
        const detail =
          firstQueueError?.status === "rejected" ? `: ${errorMessage(firstQueueError.reason)}` : "";
        throw new BadRequest(`${reason.message}${detail}`);
      }
      if (!Array.isArray(exec.value)) throw new BadRequest("EXECABORT transaction aborted");
      const body = exec.value.map((reply: unknown) =>
        isReplyError(reply) ? { error: reply.message } : { result: encodeReply(reply, base64) },
      );
      return { status: 200, body };
    } finally {
      pool.release(connection, healthy);
    }
  }

  return {
    authorized,
    handle,
    async close() {
      await pool.close();
      if (!options.connection) await shared.quit().catch(() => shared.disconnect());
    },
  };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** Constant-time bearer token check (both sides hashed to equal length first). */
function isAuthorized(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer (.+)$/i.exec(header ?? "");
  const given = digest(match?.[1] ?? "");
  return timingSafeEqual(given, expected) && match !== null;
}
