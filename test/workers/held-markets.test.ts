/**
 * What the state read does not send again (lib/rotation/lua/read-state.ts):
 * a market cache or a universe the isolate already holds is answered by its
 * digest, not its text; a held market cache is recognised from the digest
 * written in front of its text, not by hashing the text on every read. Redis
 * stays the truth: a cache deleted, rewritten with another digest, or written
 * without one (by hand, by an older version), and a universe changed, are
 * read again.
 */
import { beforeEach, describe, expect, it } from "vitest";
import {
  bridge,
  keys,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  simRequests,
} from "./helpers.ts";

const CACHE = keys.marketCache("BTCUSDT", "1h");
/** What the prelude writes in front of a market cache's text. */
const HEAD = /^\{"digest":"([0-9a-f]{40})",/;

async function sha1(text: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text)));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A stored cache's text without its digest, and that digest. */
function split(stored: string): { plain: string; digest: string } {
  const head = HEAD.exec(stored);
  if (!head) throw new Error(`no digest in front of ${stored.slice(0, 60)}`);
  return { plain: `{${stored.slice(head[0].length)}`, digest: head[1]! };
}

/** `plain` with its digest in front, as the prelude writes a market cache. */
async function withDigest(plain: string): Promise<string> {
  return `{"digest":"${await sha1(plain)}",${plain.slice(1)}`;
}

/** Rewrite the cache's text, keeping its TTL. */
async function rewriteCache(text: string): Promise<void> {
  const ttl = await redis.pttl(CACHE);
  await redis.set(CACHE, text, { px: ttl });
}

/** Two evaluations: the first caches BTCUSDT's regime, the second holds it in the isolate. */
async function holdBtcRegime(): Promise<string> {
  await postPlan({ plan_id: "held-a", symbol: "BTCUSDT" });
  const second = await postPlan({ plan_id: "held-b", symbol: "BTCUSDT" });
  expect(second.body).toMatchObject({ decision: "ALLOW", regime: { name: "BASE" } });
  return (await redis.get<string>(CACHE))!;
}

describe("what the state read holds back", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("a market cache is written with its digest in front: the SHA-1 of the text without it", async () => {
    await postPlan({ plan_id: "digest-1", symbol: "BTCUSDT" });

    const { plain, digest } = split((await redis.get<string>(CACHE))!);
    expect(digest).toBe(await sha1(plain));
    expect(JSON.parse(plain)).toMatchObject({ regime: { name: "BASE" } });
  });

  it("a held cache deleted in Redis is fetched again", async () => {
    await holdBtcRegime();
    await redis.del(CACHE);
    const from = (await simRequests()).count;

    const { body } = await postPlan({ plan_id: "held-c", symbol: "BTCUSDT" });

    expect(body).toMatchObject({ decision: "ALLOW", regime: { name: "BASE" } });
    const klines = (await simRequests(from)).requests.filter((r) => r.path === "/fapi/v1/klines");
    expect(klines.map((r) => r.query.symbol)).toEqual(["BTCUSDT"]);
  });

  it("a held cache rewritten with another text and its digest in front is read again", async () => {
    const { plain } = split(await holdBtcRegime());
    const chop = plain.replace('"name":"BASE"', '"name":"CHOP"');
    expect(chop).not.toBe(plain);
    await rewriteCache(await withDigest(chop));

    const { body } = await postPlan({ plan_id: "held-c", symbol: "BTCUSDT" });

    expect(body).toMatchObject({ regime: { name: "CHOP" } });
  });

  it("a held cache rewritten without a digest in front (by hand, by an older version) is read again", async () => {
    const { plain } = split(await holdBtcRegime());
    await rewriteCache(plain.replace('"name":"BASE"', '"name":"CHOP"'));

    const { body } = await postPlan({ plan_id: "held-c", symbol: "BTCUSDT" });

    expect(body).toMatchObject({ regime: { name: "CHOP" } });
  });

  it("the same cache without its digest in front is still held, by the SHA-1 of its text", async () => {
    const { plain } = split(await holdBtcRegime());
    await rewriteCache(plain);
    const from = (await timings(0)).count;

    const { body } = await postPlan({ plan_id: "plain-1", symbol: "BTCUSDT" });

    expect(body).toMatchObject({ decision: "ALLOW", regime: { name: "BASE" } });
    const [read] = (await timings(from)).timings;
    expect(read!.bytes_out).toBeLessThan(plain.length);
  });

  it("the state read answers a market cache the isolate already holds by its digest, not its text", async () => {
    // The first evaluation caches BTCUSDT's regime, the second reads it whole (and the isolate keeps it).
    await postPlan({ plan_id: "held-1", symbol: "BTCUSDT" });
    await postPlan({ plan_id: "held-2", symbol: "BTCUSDT" });
    const from = (await timings(0)).count;

    const { body } = await postPlan({ plan_id: "held-3", symbol: "BTCUSDT" });

    expect(body.decision).toBe("ALLOW");
    const [read] = (await timings(from)).timings;
    const cache = (await redis.get(keys.marketCache("BTCUSDT", "1h"))) as string;
    expect(JSON.stringify(cache).length).toBeGreaterThan(1000);
    expect(read!.bytes_out).toBeLessThan(JSON.stringify(cache).length);
  });

  it("the state read answers a universe the isolate already holds by its digest, not its text", async () => {
    // 500 symbols: far larger than the rest of the answer.
    const padding = Array.from({ length: 498 }, (_, i) => `PAD${String(i).padStart(3, "0")}USDT`);
    await setUniverse(["BTCUSDT", "ETHUSDT", ...padding]);
    const universeBytes = JSON.stringify(JSON.stringify(["BTCUSDT", "ETHUSDT", ...padding])).length;
    await postPlan({ plan_id: "universe-1", symbol: "BTCUSDT" });
    const from = (await timings(0)).count;

    const { body } = await postPlan({ plan_id: "universe-2", symbol: "BTCUSDT" });

    expect(body.decision).toBe("ALLOW");
    const [read] = (await timings(from)).timings;
    expect(universeBytes).toBeGreaterThan(5000);
    expect(read!.bytes_out).toBeLessThan(universeBytes);
  });

  it("a universe changed in Redis binds the next plan although the isolate holds the old one", async () => {
    await postPlan({ plan_id: "universe-old", symbol: "BTCUSDT" });
    await postPlan({ plan_id: "universe-held", symbol: "BTCUSDT" });
    await setUniverse(["ETHUSDT"]);

    const { body } = await postPlan({ plan_id: "universe-new", symbol: "BTCUSDT" });

    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_not_in_universe" });
    await setUniverse(["BTCUSDT", "ETHUSDT"]);
    const back = await postPlan({ plan_id: "universe-back", symbol: "BTCUSDT" });
    expect(back.body).toMatchObject({ decision: "ALLOW" });
  });
});

async function timings(since: number) {
  return (await bridge("GET", `timings?since=${since}`)) as unknown as {
    count: number;
    timings: { bytes_out: number }[];
  };
}
