/**
 * The replay's state store: the unmodified `@upstash/redis` client, its
 * requests answered in-process by the bridge's protocol on a private
 * redis-server (replay/rest-fetch.ts), and every other fetch left alone.
 */
import { Redis } from "@upstash/redis/cloudflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReplayStore, type ReplayStore } from "../../replay/store.ts";

let store: ReplayStore;
const before = globalThis.fetch;

beforeAll(async () => {
  store = await startReplayStore();
});

afterAll(async () => {
  await store?.stop();
});

describe("replay store", () => {
  it("answers single commands, pipelines and transactions, base64 as the client asks", async () => {
    const { redis, direct } = store;
    const start = store.requests();
    expect(await redis.set("k", "välue")).toBe("OK");
    expect(await redis.get("k")).toBe("välue");
    const pipeline = redis.pipeline();
    pipeline.incr("n");
    pipeline.hset("h", { a: "1" });
    expect(await pipeline.exec()).toEqual([1, 1]);
    const multi = redis.multi();
    multi.incr("n");
    multi.get("n");
    expect(await multi.exec()).toEqual([2, "2"]);
    expect(await direct.hget("h", "a")).toBe("1");
    expect(store.requests() - start).toBe(4);
  });

  it("refuses a wrong token (401) and answers Redis errors as the bridge does", async () => {
    const wrong = new Redis({ url: store.rest.url, token: "wrong", enableTelemetry: false });
    await expect(wrong.get("k")).rejects.toThrow(/Unauthorized/);
    await store.direct.set("text", "abc");
    await expect(store.redis.incr("text")).rejects.toThrow(/not an integer/);
  });

  it("routes only its own origin; other requests reach the fetch that was there", async () => {
    expect(globalThis.fetch).not.toBe(before);
    await expect(fetch("http://127.0.0.1:1/")).rejects.toThrow(/fetch failed/);
    const other = await startReplayStore();
    try {
      expect(other.rest.url).not.toBe(store.rest.url);
      await other.redis.set("k", "other");
      expect(await store.redis.get("k")).toBe("välue");
    } finally {
      await other.stop();
    }
    expect(await store.redis.get("k")).toBe("välue");
  });

  it("puts the global fetch back when the last store stops", async () => {
    const extra = await startReplayStore();
    await extra.stop();
    expect(globalThis.fetch).not.toBe(before);
    await store.stop();
    expect(globalThis.fetch).toBe(before);
    store = await startReplayStore();
    expect(await store.redis.get("k")).toBeNull();
  });
});
