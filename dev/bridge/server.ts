/**
 * The project's own Upstash REST bridge (the README (Local stack)): speaks the Upstash REST
 * protocol used by `@upstash/redis` 1.39 and forwards to a real redis-server.
 * The protocol itself is protocol.ts; this file is its HTTP server, with
 * request counts, timings, injected faults and the control routes.
 *
 *   POST /            ["set","k","v"]                 -> {"result": X}
 *   POST /pipeline    [["set","k","v"],["get","k"]]   -> [{"result": X} | {"error": "..."}]
 *   POST /multi-exec  same, atomically (MULTI/EXEC on a dedicated connection)
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { errorMessage } from "./encoding.ts";
import { openRestProtocol, type Reply, type RestProtocolOptions } from "./protocol.ts";
import { listen } from "../listen.ts";
import { wallClockMs } from "../wall-clock.ts";

/** The protocol's options (protocol.ts; it keeps its own connection), and where to listen. */
export interface RedisRestBridgeOptions extends Omit<RestProtocolOptions, "connection"> {
  /** 0 or omitted: a free port chosen by the kernel. */
  port?: number;
  host?: string;
}

/** Injected failure for the next `times` requests (any path unless `path` is given). */
export interface BridgeFault {
  times: number;
  /** HTTP status to answer with (default 500); 0 = no error, only the delay. */
  status?: number;
  /** Wait this long before answering (or before handling, when status is 0). */
  delayMs?: number;
  /** Only requests to this path ("/", "/pipeline", "/multi-exec"). */
  path?: string;
  /**
   * Hold the request until `release()` (or POST /__bridge/release), then go on
   * as `status` says: a dependency slower than any timeout, without a timer to race.
   */
  hold?: boolean;
}

export interface RedisRestBridge {
  url: string;
  port: number;
  /** HTTP requests received since start / the last reset (every path and outcome). */
  requestCount(): number;
  /** The same, per path ("/", "/pipeline", "/multi-exec", ...). */
  requestCountByPath(): Record<string, number>;
  resetRequestCount(): void;
  /** Answer the next `n` requests with `status` (default 500) and a JSON error. */
  failNext(n: number, status?: number): void;
  setFault(fault: BridgeFault | null): void;
  /** Requests a `hold` fault is holding now. */
  held(): number;
  /** Let every held request go on. */
  release(): void;
  /** Requests received and not yet answered (control routes excluded). */
  inFlight(): number;
  /** Resolves once no request is in flight (at once when none is). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisRestBridge(
  options: RedisRestBridgeOptions,
): Promise<RedisRestBridge> {
  const host = options.host ?? "127.0.0.1";
  const protocol = await openRestProtocol(options);

  let counts: Record<string, number> = {};
  let fault: BridgeFault | null = null;
  const holding = new Set<() => void>();
  const release = () => {
    for (const go of holding) go();
    holding.clear();
  };
  /** Start and end of each Redis request (benchmark: sequential round trips), oldest dropped first. */
  const timings: RequestTiming[] = [];
  let timingCount = 0;
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  const idle = () =>
    inFlight === 0 ? Promise.resolve() : new Promise<void>((done) => idleWaiters.push(done));

  async function handle(req: IncomingMessage): Promise<Reply> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (path.startsWith("/__bridge/")) return control(req, path);
    counts[path] = (counts[path] ?? 0) + 1;

    if (fault && fault.times > 0 && (fault.path === undefined || fault.path === path)) {
      const current = fault;
      current.times -= 1;
      if (current.times <= 0) fault = null;
      if (current.delayMs) await new Promise((r) => setTimeout(r, current.delayMs));
      if (current.hold) await new Promise<void>((go) => holding.add(go));
      const status = current.status ?? 500;
      if (status !== 0) return { status, body: { error: `ERR injected fault (HTTP ${status})` } };
    }

    return protocol.handle({
      method: req.method ?? "GET",
      path,
      authorization: req.headers.authorization,
      encoding: req.headers["upstash-encoding"]?.toString(),
      body: (limit) => readBody(req, limit),
    });
  }

  /**
   * Control routes for tests and benchmarks running elsewhere (e.g. inside
   * workerd), same bearer token: GET /__bridge/stats, GET /__bridge/timings?since=N
   * (start/end of each Redis request from the N-th on), POST /__bridge/reset,
   * PUT /__bridge/fault (a BridgeFault, or null to clear), POST /__bridge/release
   * (held requests go on). Not counted.
   */
  async function control(req: IncomingMessage, path: string): Promise<Reply> {
    if (!protocol.authorized(req.headers.authorization)) {
      return { status: 401, body: { error: "Unauthorized: invalid or missing bearer token" } };
    }
    if (path === "/__bridge/stats" && req.method === "GET") {
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      return { status: 200, body: { requests: total, by_path: counts } };
    }
    if (path === "/__bridge/timings" && req.method === "GET") {
      const since = Number(new URL(req.url ?? "/", "http://bridge").searchParams.get("since") ?? 0);
      const first = timingCount - timings.length;
      return {
        status: 200,
        body: { count: timingCount, timings: timings.slice(Math.max(0, since - first)) },
      };
    }
    if (path === "/__bridge/reset" && req.method === "POST") {
      counts = {};
      return { status: 200, body: { ok: true } };
    }
    if (path === "/__bridge/release" && req.method === "POST") {
      const released = holding.size;
      release();
      return { status: 200, body: { ok: true, released } };
    }
    if (path === "/__bridge/fault" && req.method === "PUT") {
      const raw = await readBody(req, 64 * 1024);
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw ?? "");
      } catch {
        return { status: 400, body: { error: "ERR fault body is not valid JSON" } };
      }
      if (parsed !== null && !isFault(parsed)) {
        return {
          status: 400,
          body: { error: "ERR fault needs {times, status?, delayMs?, path?, hold?}" },
        };
      }
      fault = parsed;
      return { status: 200, body: { ok: true } };
    }
    return { status: 404, body: { error: `ERR unknown control route ${req.method} ${path}` } };
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const tracked = !(req.url ?? "/").startsWith("/__bridge/");
    if (tracked) inFlight += 1;
    const startedAt = wallClockMs();
    if (tracked) {
      res.once("finish", () => {
        timings.push({
          path: (req.url ?? "/").split("?")[0] ?? "/",
          started_at: startedAt,
          ended_at: wallClockMs(),
          bytes_in: Number(req.headers["content-length"] ?? 0),
          bytes_out: Number(res.getHeader("content-length") ?? 0),
        });
        timingCount += 1;
        if (timings.length > MAX_TIMINGS) timings.shift();
      });
    }
    handle(req)
      .then(
        (reply) => send(res, reply),
        (error: unknown) =>
          send(res, { status: 500, body: { error: `ERR bridge: ${errorMessage(error)}` } }),
      )
      .finally(() => {
        if (!tracked) return;
        inFlight -= 1;
        if (inFlight > 0) return;
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const done of waiters) done();
      });
  });
  server.keepAliveTimeout = 30_000;
  const { port, url } = await listen(server, options.port, host);

  return {
    url,
    port,
    requestCount: () => Object.values(counts).reduce((sum, n) => sum + n, 0),
    requestCountByPath: () => ({ ...counts }),
    resetRequestCount: () => {
      counts = {};
    },
    failNext: (n, status = 500) => {
      fault = n > 0 ? { times: n, status } : null;
    },
    setFault: (next) => {
      fault = next && next.times > 0 ? { ...next } : null;
    },
    held: () => holding.size,
    release,
    inFlight: () => inFlight,
    idle,
    async stop() {
      release();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await protocol.close();
    },
  };
}

/** The body as UTF-8 text, or null when it exceeds `limit` bytes (the rest is discarded). */
function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
    // A client that went away before its body was read (e.g. it gave up while a fault held
    // the request) never sends the rest: stop waiting for it.
    const gone = () => reject(new Error("the client closed the connection"));
    if (req.destroyed && !req.readableEnded) gone();
    req.on("close", () => {
      if (!req.readableEnded) gone();
    });
  });
}

/** One Redis REST request as the bridge saw it: unix ms with sub-ms precision. */
export interface RequestTiming {
  path: string;
  started_at: number;
  ended_at: number;
  bytes_in: number;
  bytes_out: number;
}

const MAX_TIMINGS = 20_000;

function send(res: ServerResponse, reply: Reply): void {
  const payload = JSON.stringify(reply.body);
  // setHeader, not writeHead's object: the timings read it back with getHeader (bytes_out).
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", Buffer.byteLength(payload));
  res.writeHead(reply.status);
  res.end(payload);
}

function isFault(value: unknown): value is BridgeFault {
  if (typeof value !== "object" || value === null) return false;
  const f = value as Record<string, unknown>;
  return (
    Number.isInteger(f.times) &&
    (f.status === undefined || Number.isInteger(f.status)) &&
    (f.delayMs === undefined || typeof f.delayMs === "number") &&
    (f.path === undefined || typeof f.path === "string") &&
    (f.hold === undefined || typeof f.hold === "boolean")
  );
}
