import { beforeEach, describe, expect, it } from "vitest";
import {
  faultPositions,
  keys,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  simRequests,
} from "./helpers.ts";

const ACCOUNT = "/fapi/v3/account";
const TIME = "/fapi/v1/time";

/**
 * The account call starts beside the state read once the isolate knows the
 * shared Binance state (lib/binance/isolate-state.ts); the read confirms it.
 * Each test first evaluates a plan so the isolate has a memory to speculate with.
 */
describe("the account call beside the state read", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setRegime("SOLUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
    const warm = await postPlan({ plan_id: "spec-warm", symbol: "BTCUSDT" });
    expect(warm.body).toMatchObject({ decision: "ALLOW" });
  });

  it("a backoff the read shows and the isolate did not know discards the account answer: BLOCK, no permit", async () => {
    // Another isolate was told to back off: only Redis knows.
    const until = Date.now() + 60_000;
    await redis.set(keys.binanceBackoff, String(until), { px: 60_000 });
    const seen = (await simRequests()).count;

    const { body } = await postPlan({ plan_id: "spec-backoff-a", symbol: "SOLUSDT" });

    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_positions_unavailable",
    });
    expect(String(body.details?.error)).toMatch(/backoff/i);
    expect(await redis.get(keys.permit("spec-backoff-a"))).toBeNull();
    // The speculative call went out (its answer was good, and unused) ...
    const during = (await simRequests(seen)).requests;
    expect(during.map((r) => [r.path, r.status])).toEqual([[ACCOUNT, 200]]);

    // ... and now the isolate knows: the next evaluation sends nothing while the backoff runs.
    const next = (await simRequests()).count;
    const again = await postPlan({ plan_id: "spec-backoff-b", symbol: "SOLUSDT" });
    expect(again.body).toMatchObject({ reason: "active_slots_positions_unavailable" });
    expect((await simRequests(next)).requests).toEqual([]);
  });

  it("an entry the last read's universe excludes starts no early call: a universe block spends no weight", async () => {
    const seen = (await simRequests()).count;
    const { body } = await postPlan({ plan_id: "spec-outside", symbol: "DOGEUSDT" });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_not_in_universe" });
    expect((await simRequests(seen)).requests).toEqual([]);
  });

  it("a stale clock offset in memory: Binance refuses the timestamp, the client resyncs, the entry is allowed", async () => {
    // Another isolate resynced: Redis holds the right offset, this isolate still has 0.
    await sim("PUT", "/__sim/clock", { skew_ms: 600_000 });
    await redis.set(keys.binanceTimeOffset, "600000", { px: 3_600_000 });
    const seen = (await simRequests()).count;

    const { body } = await postPlan({ plan_id: "spec-skew-a", symbol: "BTCUSDT", score: 2 });

    expect(body).toMatchObject({ decision: "ALLOW" });
    const during = (await simRequests(seen)).requests;
    expect(during.map((r) => [r.path, r.status])).toEqual([
      [ACCOUNT, 400],
      [TIME, 200],
      [ACCOUNT, 200],
    ]);

    // The memory took the resync: the next evaluation signs right the first time.
    const next = (await simRequests()).count;
    const again = await postPlan({ plan_id: "spec-skew-b", symbol: "BTCUSDT", score: 2 });
    expect(again.body).toMatchObject({ decision: "ALLOW" });
    expect((await simRequests(next)).requests.map((r) => [r.path, r.status])).toEqual([
      [ACCOUNT, 200],
    ]);
  });

  it("without an early call (the last read was HALTED) the account call signs with the offset the read gave", async () => {
    // The last read saw HALTED: this isolate starts no account call before the next read.
    await redis.set(
      keys.tradingState,
      JSON.stringify({ state: "HALTED", reason: "test", actor: "ops", at: Date.now() }),
    );
    const halted = await postPlan({ plan_id: "spec-halted", symbol: "BTCUSDT", score: 2 });
    expect(halted.body).toMatchObject({ decision: "BLOCK", reason: "active_slots_halted" });
    // Trading resumes; another isolate resynced meanwhile: only Redis has the offset.
    await redis.del(keys.tradingState);
    await sim("PUT", "/__sim/clock", { skew_ms: 600_000 });
    await redis.set(keys.binanceTimeOffset, "600000", { px: 3_600_000 });
    const seen = (await simRequests()).count;

    const { body } = await postPlan({ plan_id: "spec-offset", symbol: "BTCUSDT", score: 2 });

    expect(body).toMatchObject({ decision: "ALLOW" });
    expect((await simRequests(seen)).requests.map((r) => [r.path, r.status])).toEqual([
      [ACCOUNT, 200],
    ]);
  });

  it("a replayed final decision answers as before; the speculative call only spends its weight", async () => {
    const first = await postPlan({ plan_id: "spec-replay", symbol: "SOLUSDT" });
    expect(first.body).toMatchObject({ decision: "ALLOW" });
    const before = await simRequests();

    const replay = await postPlan({ plan_id: "spec-replay", symbol: "SOLUSDT" });

    expect(replay.body).toMatchObject({ ...first.body, replayed: true });
    const after = await simRequests(before.count);
    expect(after.total_weight - before.total_weight).toBeLessThanOrEqual(5);
  });

  it("a plan this isolate saw become final is replayed without an account call: no weight", async () => {
    const first = await postPlan({ plan_id: "spec-final", symbol: "SOLUSDT" });
    expect(first.body).toMatchObject({ decision: "ALLOW" });
    const before = await simRequests();

    const replay = await postPlan({ plan_id: "spec-final", symbol: "SOLUSDT" });

    expect(replay.body).toMatchObject({ ...first.body, replayed: true });
    const after = await simRequests(before.count);
    expect(after.requests).toEqual([]);
    expect(after.total_weight - before.total_weight).toBe(0);
  });

  it("a final decision gone from Redis is evaluated again: the account call follows the read", async () => {
    const first = await postPlan({ plan_id: "spec-gone", symbol: "SOLUSDT" });
    expect(first.body).toMatchObject({ decision: "ALLOW" });
    // The decision cache is gone (expired early, flushed): the isolate's memory is only a guess.
    await redis.del(keys.decision("spec-gone"));
    const before = await simRequests();

    const again = await postPlan({ plan_id: "spec-gone", symbol: "SOLUSDT" });

    expect(again.body.replayed).toBeUndefined();
    expect(again.body).toMatchObject({ decision: "ALLOW" });
    expect((await simRequests(before.count)).requests.map((r) => r.path)).toEqual([ACCOUNT]);
  });

  it("a BLOCK that is not final (waiting, unavailable) is not remembered: the next one speculates", async () => {
    await faultPositions({ status: 500, times: 1 });
    const failed = await postPlan({ plan_id: "spec-unavailable", symbol: "SOLUSDT" });
    expect(failed.body).toMatchObject({ reason: "active_slots_positions_unavailable" });
    const before = await simRequests();

    await postPlan({ plan_id: "spec-unavailable", symbol: "SOLUSDT" });

    expect((await simRequests(before.count)).requests.map((r) => r.path)).toEqual([ACCOUNT]);
  });
});
