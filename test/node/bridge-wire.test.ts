/**
 * The Upstash REST bridge at the HTTP level: exact wire format, status codes,
 * fault injection and the CLI entry point.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { request } from "node:http";
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startRedisRestBridge, type RedisRestBridge } from "../../dev/bridge/server.ts";
import { freePort } from "../../dev/free-port.ts";
import { startRedisServer, type RedisServerHandle } from "../../dev/redis-server.ts";
import { waitUntil } from "../support/wait.ts";

const token = `bridge-wire-${randomUUID()}`;
let redisServer: RedisServerHandle;
let bridge: RedisRestBridge;

const key = (name: string): string => `test:wire:${name}:${randomUUID()}`;
const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");

interface WireResponse {
  status: number;
  body: unknown;
  text: string;
}

async function post(
  path: string,
  body: unknown,
  options: { base64?: boolean; auth?: string | null; raw?: boolean; url?: string } = {},
): Promise<WireResponse> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const auth = options.auth === undefined ? `Bearer ${token}` : options.auth;
  if (auth !== null) headers.authorization = auth;
  if (options.base64) headers["upstash-encoding"] = "base64";
  const res = await fetch(`${options.url ?? bridge.url}${path}`, {
    method: "POST",
    headers,
    body: options.raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as unknown, text };
}

beforeAll(async () => {
  redisServer = await startRedisServer();
  bridge = await startRedisRestBridge({ redisUrl: redisServer.url, token, port: await freePort() });
});

afterAll(async () => {
  await bridge?.stop();
  await redisServer?.stop();
});

beforeEach(() => {
  bridge.setFault(null);
  bridge.resetRequestCount();
});

describe("wire format", () => {
  it("single command: {result} with plain strings, or base64 with Upstash-Encoding", async () => {
    const k = key("wire");
    expect(await post("/", ["set", k, "ünï 🚀"])).toMatchObject({
      status: 200,
      text: '{"result":"OK"}',
    });
    expect(await post("/", ["get", k])).toMatchObject({ status: 200, body: { result: "ünï 🚀" } });
    expect(await post("/", ["get", k], { base64: true })).toMatchObject({
      status: 200,
      body: { result: b64("ünï 🚀") },
    });
    expect(await post("/", ["strlen", k], { base64: true })).toMatchObject({
      body: { result: 10 },
    });
  });

  it('a nil reply keeps the result key: exactly {"result":null}', async () => {
    expect((await post("/", ["get", key("nil")])).text).toBe('{"result":null}');
    expect((await post("/", ["get", key("nil")], { base64: true })).text).toBe('{"result":null}');
  });

  it("numbers and booleans in a command are sent to Redis as their text", async () => {
    const k = key("num");
    expect((await post("/", ["set", k, 12.5])).body).toEqual({ result: "OK" });
    expect((await post("/", ["incrbyfloat", k, 0.5])).body).toEqual({ result: "13" });
    expect((await post("/", ["set", k, true])).body).toEqual({ result: "OK" });
    expect((await post("/", ["get", k])).body).toEqual({ result: "true" });
  });

  it("HGETALL is a flat RESP2 array, every string base64 encoded", async () => {
    const k = key("hash");
    await post("/", ["hset", k, "f1", "v1", "f2", "2"]);
    expect((await post("/", ["hgetall", k])).body).toEqual({ result: ["f1", "v1", "f2", "2"] });
    expect((await post("/", ["hgetall", k], { base64: true })).body).toEqual({
      result: [b64("f1"), b64("v1"), b64("f2"), b64("2")],
    });
  });

  it("XRANGE is [[id, [field, value, ...]], ...] with strings encoded at depth 3", async () => {
    const k = key("stream");
    const { body } = await post("/", ["xadd", k, "*", "a", "1", "b", "x"]);
    const id = (body as { result: string }).result;
    expect((await post("/", ["xrange", k, "-", "+"])).body).toEqual({
      result: [[id, ["a", "1", "b", "x"]]],
    });
    expect((await post("/", ["xrange", k, "-", "+"], { base64: true })).body).toEqual({
      result: [[b64(id), [b64("a"), b64("1"), b64("b"), b64("x")]]],
    });
  });

  it("ZRANGE WITHSCORES returns scores as strings; integers and nil stay unencoded in arrays", async () => {
    const k = key("zset");
    await post("/", ["zadd", k, 1.5, "m"]);
    expect((await post("/", ["zrange", k, 0, -1, "WITHSCORES"], { base64: true })).body).toEqual({
      result: [b64("m"), b64("1.5")],
    });
    expect((await post("/", ["eval", "return {1, false, 'x'}", 0], { base64: true })).body).toEqual(
      {
        result: [1, null, b64("x")],
      },
    );
  });

  it("bytes that are not UTF-8 survive exactly in base64 mode", async () => {
    const k = key("binary");
    await post("/", ["eval", "return redis.call('SET', KEYS[1], '\\255\\254\\000A')", 1, k]);
    expect((await post("/", ["strlen", k])).body).toEqual({ result: 4 });
    expect((await post("/", ["get", k], { base64: true })).body).toEqual({
      result: Buffer.from([0xff, 0xfe, 0x00, 0x41]).toString("base64"),
    });
  });

  it("pipeline: 200 with one {result}/{error} entry per command, errors never encoded", async () => {
    const k = key("pipe");
    const res = await post(
      "/pipeline",
      [
        ["set", k, "abc"],
        ["incr", k],
        ["get", k],
        ["subscribe", "chan"],
      ],
      { base64: true },
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { result: b64("OK") },
      { error: "ERR value is not an integer or out of range" },
      { result: b64("abc") },
      { error: "ERR command 'subscribe' is not supported by the REST bridge" },
    ]);
  });

  it("multi-exec: per-command results, runtime errors as {error} entries", async () => {
    const k = key("tx");
    const res = await post("/multi-exec", [
      ["set", k, "abc"],
      ["incr", k],
      ["append", k, "d"],
    ]);
    expect(res).toMatchObject({
      status: 200,
      body: [
        { result: "OK" },
        { error: "ERR value is not an integer or out of range" },
        { result: 4 },
      ],
    });
  });

  it("multi-exec with a queueing error is 400 EXECABORT and applies nothing", async () => {
    const k = key("abort");
    const res = await post("/multi-exec", [["set", k, "v"], ["get"], ["notacommand", "x"]]);
    expect(res.status).toBe(400);
    expect((res.body as { error: string }).error).toMatch(
      /^EXECABORT Transaction discarded.*wrong number of arguments/,
    );
    expect((await post("/", ["exists", k])).body).toEqual({ result: 0 });
    // The dedicated connection went back to the pool in a clean state.
    expect((await post("/multi-exec", [["set", k, "after"]])).body).toEqual([{ result: "OK" }]);
    expect((await post("/", ["get", k])).body).toEqual({ result: "after" });
  });

  it("a large body (2 MB value in a pipeline) round-trips", async () => {
    const k = key("large");
    const value = "x".repeat(2 * 1024 * 1024) + "🚀";
    const res = await post("/pipeline", [
      ["set", k, value],
      ["get", k],
    ]);
    expect(res.status).toBe(200);
    expect((res.body as { result: string }[])[1]?.result).toBe(value);
  });
});

describe("errors and status codes", () => {
  it("a Redis error on / is 400 with the Redis message", async () => {
    const k = key("err");
    await post("/", ["set", k, "abc"]);
    const res = await post("/", ["incr", k], { base64: true });
    expect(res).toMatchObject({
      status: 400,
      body: { error: "ERR value is not an integer or out of range" },
    });
    expect(await post("/", ["evalsha", "f".repeat(40), 0])).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^NOSCRIPT /) },
    });
  });

  it("wrong, missing or malformed credentials are 401 JSON and run nothing", async () => {
    const k = key("auth");
    for (const auth of ["Bearer wrong", null, token, `Basic ${token}`, "Bearer "]) {
      const res = await post("/", ["set", k, "x"], { auth });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: expect.any(String) });
    }
    expect((await post("/", ["exists", k])).body).toEqual({ result: 0 });
    expect(bridge.requestCount()).toBe(6);
  });

  it("malformed JSON, a non-array body and bad arguments are 400 JSON errors", async () => {
    expect(await post("/", "{not json", { raw: true })).toMatchObject({
      status: 400,
      body: { error: expect.any(String) },
    });
    expect(await post("/", { cmd: "get" })).toMatchObject({ status: 400 });
    expect(await post("/", [])).toMatchObject({ status: 400 });
    expect(await post("/", ["set", "k", { nested: 1 }])).toMatchObject({ status: 400 });
    expect(await post("/pipeline", [])).toMatchObject({ status: 400 });
    expect(await post("/pipeline", ["get", "k"])).toMatchObject({ status: 400 });
  });

  it("refuses commands that would block or change the shared connection", async () => {
    for (const command of [
      ["blpop", "q", 0],
      ["select", 1],
      ["multi"],
      ["subscribe", "c"],
      ["xread", "BLOCK", 0, "STREAMS", "s", "$"],
    ]) {
      const res = await post("/", command);
      expect(res.status).toBe(400);
      expect((res.body as { error: string }).error).toMatch(/not supported by the REST bridge/);
    }
    expect(await post("/multi-exec", [["watch", "k"]])).toMatchObject({ status: 400 });
    // The shared connection still works and is still on db 0.
    const k = key("db0");
    await post("/", ["set", k, "here"]);
    expect((await post("/", ["get", k])).body).toEqual({ result: "here" });
  });

  it("unknown paths are 404 and non-POST methods 405", async () => {
    expect(await post("/nope", ["get", "k"])).toMatchObject({ status: 404 });
    const res = await fetch(`${bridge.url}/`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(405);
    expect(await res.json()).toEqual({ error: expect.any(String) });
  });

  it("bodies over maxBodyBytes are refused with 413", async () => {
    const small = await startRedisRestBridge({
      redisUrl: redisServer.url,
      token,
      maxBodyBytes: 1024,
    });
    try {
      expect(
        await post("/", ["set", key("small"), "x".repeat(100)], { url: small.url }),
      ).toMatchObject({ status: 200 });
      expect(
        await post("/", ["set", key("big"), "x".repeat(5000)], { url: small.url }),
      ).toMatchObject({
        status: 413,
        body: { error: expect.any(String) },
      });
    } finally {
      await small.stop();
    }
  });
});

describe("counters and fault injection", () => {
  it("counts every request per path and resets", async () => {
    await post("/", ["ping"]);
    await post("/pipeline", [["ping"], ["ping"]]);
    await post("/multi-exec", [["ping"]]);
    await post("/", ["ping"], { auth: "Bearer bad" });
    expect(bridge.requestCount()).toBe(4);
    expect(bridge.requestCountByPath()).toEqual({ "/": 2, "/pipeline": 1, "/multi-exec": 1 });
    bridge.resetRequestCount();
    expect(bridge.requestCount()).toBe(0);
  });

  it("failNext(n) answers the next n requests with 500 and then recovers", async () => {
    const client = new Redis({
      url: bridge.url,
      token,
      enableAutoPipelining: false,
      enableTelemetry: false,
    });
    const k = key("fault");
    bridge.failNext(2);
    await expect(client.set(k, "v")).rejects.toThrow(/injected fault/);
    expect(await post("/", ["get", k])).toMatchObject({
      status: 500,
      body: { error: expect.any(String) },
    });
    expect(await client.set(k, "v")).toBe("OK");
    expect(await client.get(k)).toBe("v");
    expect(bridge.requestCount()).toBe(4);
  });

  it("setFault can target one path, use another status, or only delay", async () => {
    bridge.setFault({ times: 1, status: 503, path: "/pipeline" });
    expect(await post("/", ["ping"])).toMatchObject({ status: 200 });
    expect(await post("/pipeline", [["ping"]])).toMatchObject({ status: 503 });
    expect(await post("/pipeline", [["ping"]])).toMatchObject({ status: 200 });

    bridge.setFault({ times: 1, status: 0, delayMs: 150 });
    const started = performance.now();
    expect(await post("/", ["ping"])).toMatchObject({ status: 200, body: { result: "PONG" } });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("holds a request until released, and reports what is in flight", async () => {
    bridge.setFault({ times: 1, status: 0, hold: true });
    const pending = post("/", ["ping"]);
    await waitUntil(() => bridge.held() === 1, "the request held");
    expect(bridge.inFlight()).toBe(1);
    let idle = false;
    const idled = bridge.idle().then(() => (idle = true));
    // Other requests are served meanwhile (the fault was for one request).
    expect(await post("/", ["echo", "meanwhile"])).toMatchObject({ status: 200 });
    expect(idle).toBe(false);
    bridge.release();
    expect(await pending).toMatchObject({ status: 200, body: { result: "PONG" } });
    await idled;
    expect([bridge.held(), bridge.inFlight()]).toEqual([0, 0]);
  });

  it("drops a held request whose client went away before sending its whole body", async () => {
    bridge.setFault({ times: 1, status: 0, hold: true });
    const req = request(`${bridge.url}/`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "transfer-encoding": "chunked" },
    });
    req.on("error", () => {});
    req.write('["se');
    await waitUntil(() => bridge.held() === 1, "the request held");
    req.destroy();
    bridge.release();
    await bridge.idle();
    expect(bridge.inFlight()).toBe(0);
  });

  it("holds and releases through the control routes too", async () => {
    const control = (method: string, route: string, body?: unknown) =>
      fetch(`${bridge.url}/__bridge/${route}`, {
        method,
        headers: { authorization: `Bearer ${token}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as unknown }));
    expect(await control("PUT", "fault", { times: 1, status: 503, hold: true })).toMatchObject({
      status: 200,
    });
    const pending = post("/", ["ping"]);
    await waitUntil(() => bridge.held() === 1, "the request held");
    expect(await control("POST", "release")).toEqual({
      status: 200,
      body: { ok: true, released: 1 },
    });
    expect(await pending).toMatchObject({ status: 503 });
    expect(await control("PUT", "fault", { times: 1, hold: "yes" })).toMatchObject({
      status: 400,
    });
  });
});

describe("CLI entry point", () => {
  it("node dev/bridge/main.ts serves on REDIS_REST_PORT and stops on SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ["dev/bridge/main.ts"], {
      env: {
        ...process.env,
        REDIS_URL: redisServer.url,
        REDIS_REST_TOKEN: "cli-token",
        REDIS_REST_PORT: String(port),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = once(child, "exit");
    try {
      let output = "";
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line: ${output}`)), 10_000);
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes("\n")) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once("exit", () => reject(new Error(`exited early: ${output}`)));
      });
      expect(output.trim()).toContain(`url=http://127.0.0.1:${port}`);
      const client = new Redis({
        url: `http://127.0.0.1:${port}`,
        token: "cli-token",
        enableTelemetry: false,
      });
      expect(await client.echo("via cli")).toBe("via cli");
    } finally {
      child.kill("SIGTERM");
    }
    const [code] = await exited;
    expect(code).toBe(0);
  });

  it("exits with a usage message when REDIS_URL or the token is missing", async () => {
    const child = spawn(process.execPath, ["dev/bridge/main.ts"], {
      env: { ...process.env, REDIS_URL: "", REDIS_REST_TOKEN: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = await once(child, "exit");
    expect(code).toBe(2);
    expect(stderr).toMatch(/usage/);
  });
});
