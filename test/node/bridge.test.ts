/**
 * The Upstash REST bridge driven by the unmodified `@upstash/redis` client
 * over a private redis-server.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startRedisRestBridge, type RedisRestBridge } from "../../dev/bridge/server.ts";
import { freePort } from "../../dev/free-port.ts";
import { startRedisServer, type RedisServerHandle } from "../../dev/redis-server.ts";

const token = `bridge-test-${randomUUID()}`;
let redisServer: RedisServerHandle;
let bridge: RedisRestBridge;
/** One REST request per command (`/`), base64 responses (the client default). */
let direct: Redis;
/** The client default: commands of one tick batched into `/pipeline`. */
let auto: Redis;
/** No `Upstash-Encoding: base64`: the bridge answers with plain UTF-8 strings. */
let plain: Redis;
let plainAuto: Redis;

const key = (name: string): string => `test:bridge:${name}:${randomUUID()}`;

beforeAll(async () => {
  redisServer = await startRedisServer();
  bridge = await startRedisRestBridge({ redisUrl: redisServer.url, token, port: await freePort() });
  const base = { url: bridge.url, token, enableTelemetry: false };
  direct = new Redis({ ...base, enableAutoPipelining: false });
  auto = new Redis({ ...base, enableAutoPipelining: true });
  plain = new Redis({ ...base, enableAutoPipelining: false, responseEncoding: false });
  plainAuto = new Redis({ ...base, enableAutoPipelining: true, responseEncoding: false });
});

afterAll(async () => {
  await bridge?.stop();
  await redisServer?.stop();
});

beforeEach(() => bridge.resetRequestCount());

describe("single commands on /", () => {
  it("SET then GET round-trips, one REST request each", async () => {
    const k = key("single");
    expect(await direct.set(k, "hello")).toBe("OK");
    expect(await direct.get(k)).toBe("hello");
    expect(await plain.get(k)).toBe("hello");
    expect(bridge.requestCountByPath()).toEqual({ "/": 3 });
  });

  it("GET of a missing key is null for every client variant", async () => {
    const k = key("missing");
    expect(await direct.get(k)).toBeNull();
    expect(await auto.get(k)).toBeNull();
    expect(await plain.get(k)).toBeNull();
    expect(await plainAuto.get(k)).toBeNull();
  });

  it("numeric arguments are accepted (EXPIRE, INCRBY, INCRBYFLOAT)", async () => {
    const k = key("numbers");
    expect(await direct.incrby(k, 40)).toBe(40);
    expect(await direct.incrbyfloat(k, 2.5)).toBe(42.5);
    expect(await direct.expire(k, 100)).toBe(1);
    const ttl = await direct.ttl(k);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(100);
  });

  it("SET with EX and NX: the second NX write returns null and keeps the first value", async () => {
    const k = key("nx");
    expect(await direct.set(k, "first", { ex: 60, nx: true })).toBe("OK");
    expect(await direct.set(k, "second", { ex: 60, nx: true })).toBeNull();
    expect(await auto.set(k, "third", { ex: 60, nx: true })).toBeNull();
    expect(await direct.get(k)).toBe("first");
    const ttl = await direct.ttl(k);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it("a Redis error makes the client throw with the Redis message", async () => {
    const k = key("not-int");
    await direct.set(k, "abc");
    await expect(direct.incr(k)).rejects.toThrow(/ERR value is not an integer or out of range/);
    await expect(auto.incr(k)).rejects.toThrow(/ERR value is not an integer or out of range/);
    await expect(plain.incr(k)).rejects.toThrow(/ERR value is not an integer or out of range/);
    expect(await direct.get(k)).toBe("abc");
  });

  it("a wrong token is rejected (401) and never reaches Redis", async () => {
    const k = key("wrong-token");
    const intruder = new Redis({
      url: bridge.url,
      token: "not-the-token",
      enableAutoPipelining: false,
    });
    await expect(intruder.set(k, "x")).rejects.toThrow(/Unauthorized/);
    expect(await direct.exists(k)).toBe(0);
  });
});

describe("hashes, sorted sets, streams", () => {
  it("HSET / HGETALL (the client rebuilds the object from the flat reply)", async () => {
    const k = key("hash");
    expect(await direct.hset(k, { name: "gov", slots: 3, note: "ünï" })).toBe(3);
    expect(await direct.hgetall(k)).toEqual({ name: "gov", slots: 3, note: "ünï" });
    expect(await plain.hgetall(k)).toEqual({ name: "gov", slots: 3, note: "ünï" });
    expect(await auto.hget(k, "name")).toBe("gov");
    expect(await direct.hgetall(key("no-hash"))).toBeNull();
  });

  it("ZADD / ZRANGE with scores / ZREM / ZSCORE", async () => {
    const k = key("zset");
    expect(
      await direct.zadd(
        k,
        { score: 1, member: "a" },
        { score: 2.5, member: "b" },
        { score: 3, member: "c" },
      ),
    ).toBe(3);
    expect(await direct.zrange(k, 0, -1, { withScores: true })).toEqual(["a", 1, "b", 2.5, "c", 3]);
    expect(await plain.zrange(k, 0, -1, { withScores: true })).toEqual(["a", 1, "b", 2.5, "c", 3]);
    expect(await direct.zrem(k, "b")).toBe(1);
    expect(await direct.zrange(k, 0, -1)).toEqual(["a", "c"]);
    expect(await auto.zscore(k, "c")).toBe(3);
    expect(await direct.zcard(k)).toBe(2);
  });

  it("XADD / XRANGE / XREVRANGE", async () => {
    const k = key("stream");
    const first = await direct.xadd(k, "*", { event: "open", qty: 2 });
    const second = await direct.xadd(k, "*", { event: "close", note: "日本 🚀" });
    expect(first).toMatch(/^\d+-\d+$/);
    expect(second).toMatch(/^\d+-\d+$/);
    const forward = await direct.xrange(k, "-", "+");
    expect(Object.keys(forward)).toEqual([first, second]);
    expect(forward).toEqual({
      [first]: { event: "open", qty: 2 },
      [second]: { event: "close", note: "日本 🚀" },
    });
    const backward = await direct.xrevrange(k, "+", "-");
    expect(Object.keys(backward)).toEqual([second, first]);
    expect(await plain.xrange(k, "-", "+", 1)).toEqual({ [first]: { event: "open", qty: 2 } });
    expect(await auto.xlen(k)).toBe(2);
  });
});

describe("base64 response encoding keeps every value exact", () => {
  const values = [
    "ünïcødé 日本 🚀",
    "\u0000\u00ff",
    "aGVsbG8gd29ybGQ=", // looks like base64
    "T0s=", // base64 of "OK"
    "OK",
    'quotes " and \\ backslash\nnewline\ttab',
    "",
  ];

  it.each(values)("round-trips %j through GET, MGET, HGETALL and a pipeline", async (value) => {
    const k = key("exact");
    const h = key("exact-hash");
    await direct.set(k, value);
    await direct.hset(h, { field: value });
    for (const client of [direct, auto, plain, plainAuto]) {
      expect(await client.get(k)).toBe(value);
      expect(await client.mget(k, key("absent"))).toEqual([value, null]);
      expect(await client.hgetall(h)).toEqual({ field: value });
      expect(await client.pipeline().get(k).hget(h, "field").exec()).toEqual([value, value]);
    }
  });

  it("non-ASCII field names and stream entries survive nested (depth 3) encoding", async () => {
    const k = key("nested");
    const id = await direct.xadd(k, "*", { "clé 🔑": "\u0000\u00ff", plain: "aGVsbG8=" });
    for (const client of [direct, plain]) {
      expect(await client.xrange(k, "-", "+")).toEqual({
        [id]: { "clé 🔑": "\u0000\u00ff", plain: "aGVsbG8=" },
      });
    }
  });
});

describe("pipelines and auto-pipelining", () => {
  it("explicit pipeline().exec() is one /pipeline request with results in order", async () => {
    const k = key("pipe");
    const results = await direct.pipeline().set(k, 1).incr(k).get(k).del(k).get(k).exec();
    expect(results).toEqual(["OK", 2, 2, 1, null]);
    expect(bridge.requestCountByPath()).toEqual({ "/pipeline": 1 });
  });

  it("a failing command in a pipeline is reported per command; the others still run", async () => {
    const k = key("pipe-err");
    const other = key("pipe-ok");
    const results = await direct
      .pipeline()
      .set(k, "abc")
      .incr(k)
      .set(other, "fine")
      .exec({ keepErrors: true });
    expect(results[0]).toEqual({ result: "OK", error: undefined });
    expect(results[1]?.error).toMatch(/ERR value is not an integer/);
    expect(results[2]).toEqual({ result: "OK", error: undefined });
    expect(await direct.get(other)).toBe("fine");
    await expect(direct.pipeline().incr(k).exec()).rejects.toThrow(
      /Command 1 \[ incr \] failed: ERR value is not/,
    );
  });

  it("commands issued in the same tick become one /pipeline request", async () => {
    const [a, b, c] = [key("ap-a"), key("ap-b"), key("ap-c")];
    const writes = await Promise.all([
      auto.set(a, "1"),
      auto.set(b, "two"),
      auto.incr(c),
      auto.incr(c),
    ]);
    expect(writes).toEqual(["OK", "OK", 1, 2]);
    expect(bridge.requestCountByPath()).toEqual({ "/pipeline": 1 });

    bridge.resetRequestCount();
    const reads = await Promise.all([auto.get(a), auto.get(b), auto.get(c), auto.exists(a, b, c)]);
    expect(reads).toEqual([1, "two", 2, 3]);
    expect(bridge.requestCount()).toBe(1);
  });

  it("reads and writes of one tick go out as two pipelines (the client keeps them apart)", async () => {
    const k = key("ap-mixed");
    const [setResult, getResult] = await Promise.all([auto.set(k, "v"), auto.get(k)]);
    expect(setResult).toBe("OK");
    // Separate read and write pipelines, sent concurrently: the read may run first.
    expect([null, "v"]).toContain(getResult);
    expect(bridge.requestCountByPath()).toEqual({ "/pipeline": 2 });
  });

  it("a lone command from an auto-pipelining client is still sent to /pipeline", async () => {
    expect(await auto.get(key("lone"))).toBeNull();
    expect(bridge.requestCountByPath()).toEqual({ "/pipeline": 1 });
  });

  it("an error in an auto-pipelined batch fails only that command", async () => {
    const [bad, good] = [key("ap-bad"), key("ap-good")];
    await direct.set(bad, "text");
    bridge.resetRequestCount();
    const outcomes = await Promise.allSettled([
      auto.incr(bad),
      auto.set(good, "ok"),
      auto.incr(good),
    ]);
    expect(outcomes[0]).toMatchObject({ status: "rejected" });
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toMatch(
      /Command failed: ERR value is not an integer/,
    );
    expect(outcomes[1]).toEqual({ status: "fulfilled", value: "OK" });
    expect(outcomes[2]).toMatchObject({ status: "rejected" });
    expect(bridge.requestCount()).toBe(1);
  });
});

describe("transactions (/multi-exec)", () => {
  it("multi().exec() returns every result and is one /multi-exec request", async () => {
    const [k, n] = [key("tx"), key("tx-n")];
    const results = await direct.multi().set(k, "a").get(k).incr(n).incr(n).exec();
    expect(results).toEqual(["OK", "a", 1, 2]);
    expect(bridge.requestCountByPath()).toEqual({ "/multi-exec": 1 });
  });

  it("a runtime error inside EXEC is an error entry; the rest of the transaction applies", async () => {
    const k = key("tx-err");
    const results = await direct
      .multi()
      .set(k, "x")
      .incr(k)
      .append(k, "y")
      .get(k)
      .exec({ keepErrors: true });
    expect(results[0]?.result).toBe("OK");
    expect(results[1]?.error).toMatch(/ERR value is not an integer/);
    expect(results[2]?.result).toBe(2);
    expect(results[3]?.result).toBe("xy");
    await expect(direct.multi().incr(k).exec()).rejects.toThrow(/Command 1 \[ incr \] failed/);
  });

  it("100 concurrent multi().set(k, id).get(k) each read back their own id", async () => {
    const k = key("tx-race");
    const ids = Array.from({ length: 100 }, (_, i) => `tx-${i}-${randomUUID()}`);
    const results = await Promise.all(ids.map((id) => direct.multi().set(k, id).get(k).exec()));
    results.forEach((result, i) => expect(result).toEqual(["OK", ids[i]]));
    expect(bridge.requestCountByPath()).toEqual({ "/multi-exec": 100 });
  });

  it("50 concurrent INCR/INCR/GET transactions see consecutive values that never interleave", async () => {
    const counter = key("tx-counter");
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        plain.multi().incr(counter).incr(counter).get(counter).exec(),
      ),
    );
    const firsts: number[] = [];
    for (const [first, second, read] of results as [number, number, number][]) {
      expect(second).toBe(first + 1);
      expect(read).toBe(second);
      firsts.push(first);
    }
    expect(firsts.sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i + 1));
    expect(await direct.get(counter)).toBe(100);
  });
});

describe("scripts", () => {
  const source = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])";

  it("createScript().exec falls back from EVALSHA to EVAL after SCRIPT FLUSH (NOSCRIPT)", async () => {
    const k = key("script");
    expect(await direct.scriptFlush()).toBe("OK");
    const script = direct.createScript<string>(source);
    bridge.resetRequestCount();
    expect(await script.exec([k], ["v1"])).toBe("v1");
    expect(bridge.requestCountByPath()).toEqual({ "/": 2 }); // EVALSHA -> NOSCRIPT, then EVAL
    bridge.resetRequestCount();
    expect(await script.exec([k], ["v2"])).toBe("v2");
    expect(bridge.requestCountByPath()).toEqual({ "/": 1 }); // EVAL cached it: EVALSHA hits
    expect(await direct.get(k)).toBe("v2");
  });

  it("the fallback also works through auto-pipelining and without base64", async () => {
    const k = key("script-auto");
    for (const client of [auto, plain]) {
      await direct.scriptFlush();
      const script = client.createScript<string>(source);
      expect(await script.exec([k], ["ünï 🚀"])).toBe("ünï 🚀");
    }
  });

  it("a bare EVALSHA of an unknown script throws NOSCRIPT", async () => {
    await expect(direct.evalsha("0".repeat(40), [], [])).rejects.toThrow(/^NOSCRIPT/);
  });

  it("SCRIPT LOAD + EVALSHA return nested arrays, integers and nil exactly", async () => {
    const sha = await direct.scriptLoad("return {1, 'two', {'three', 4, {'fïve'}}, ARGV[1]}");
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(await direct.evalsha(sha, [], ["six"])).toEqual([
      1,
      "two",
      ["three", 4, ["fïve"]],
      "six",
    ]);
    expect(await plain.evalsha(sha, [], ["six"])).toEqual([
      1,
      "two",
      ["three", 4, ["fïve"]],
      "six",
    ]);
  });
});

describe("request timings (/__bridge/timings)", () => {
  it("record the bytes each request sent and received", async () => {
    const headers = { authorization: `Bearer ${token}` };
    const read = async (since: number) => {
      const response = await fetch(`${bridge.url}/__bridge/timings?since=${since}`, { headers });
      return (await response.json()) as {
        count: number;
        timings: { path: string; bytes_in: number; bytes_out: number }[];
      };
    };
    const { count } = await read(0);
    const body = JSON.stringify(["ECHO", "x".repeat(300)]);
    const response = await fetch(`${bridge.url}/`, { method: "POST", headers, body });
    const answer = await response.text();
    const { timings } = await read(count);
    expect(timings).toHaveLength(1);
    expect(timings[0]).toMatchObject({
      path: "/",
      bytes_in: Buffer.byteLength(body),
      bytes_out: Buffer.byteLength(answer),
    });
  });
});
