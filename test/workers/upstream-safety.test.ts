/**
 * Regressions for the ways an ordinary, retrying Apply Layer broke the gate:
 * each test names the defect, reproduces it through the real runtime (workerd,
 * real Redis, the exchange simulator) and asserts the promise now kept.
 */
import { createExecutionContext, createScheduledController, env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index.ts";
import { governorContext } from "../../lib/context.ts";
import { sweepLocks } from "../../lib/sweep/sweep.ts";
import { evaluatePlan } from "../../lib/evaluate/evaluate.ts";
import { scriptSha } from "../../lib/redis/scripts.ts";
import { SCRIPTS } from "../../lib/rotation/scripts.ts";
import type { Redis } from "@upstash/redis/cloudflare";
import {
  events,
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
  streamEntries,
  beforeSlotScript,
} from "./helpers.ts";

const HELD = ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"];
const CANDIDATES = ["BTCUSDT", "BNBUSDT", "DOGEUSDT", "LTCUSDT"];
const TTL_MS = 120_000;
const gov = governorContext(env);

async function sweepAt(scheduledTime: number) {
  await worker.scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), env);
}

interface Lock {
  created_at: number;
  close_plan_id: string;
  close_symbol: string;
}

async function lockOf(planId: string): Promise<Lock | null> {
  const raw = await redis.get(keys.rotationLock(planId));
  return raw ? (JSON.parse(raw as string) as Lock) : null;
}

async function openRows(): Promise<{ symbol: string; positionAmt: string }[]> {
  return (await sim("GET", "/__sim/positions")) as { symbol: string; positionAmt: string }[];
}

/** Close `symbol` on the exchange (all of it, or down to `remaining`). */
async function closeOnExchange(symbol: string, remaining = 0) {
  const rows = await openRows();
  await sim(
    "PUT",
    "/__sim/positions",
    remaining === 0
      ? rows.filter((row) => row.symbol !== symbol)
      : rows.map((row) =>
          row.symbol === symbol ? { ...row, positionAmt: String(remaining) } : row,
        ),
  );
}

async function appendResult(fields: Record<string, string>) {
  await redis.xadd(keys.applyResultStream, "*", {
    executed: "true",
    reduceOnly: "true",
    ...fields,
  });
}

/**
 * A Redis client that runs `meanwhile` just before the slot script: a change
 * made by someone else between the gates and the atomic decision.
 */
async function changingBeforeSlots(meanwhile: () => Promise<unknown>): Promise<Redis> {
  return beforeSlotScript(gov.redis, await scriptSha(SCRIPTS.evaluateSlots), meanwhile);
}

async function decisionEvents(planId: string) {
  return (await events()).filter(
    (e) => (e.event === "PLAN_ALLOWED" || e.event === "PLAN_BLOCKED") && e.plan_id === planId,
  );
}

async function rotationPlans() {
  return (await streamEntries(keys.applyPlanStream)).filter((p) => p.rotation_trigger === "true");
}

describe("upstream behaviour that broke the gate (regressions)", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse([...HELD, ...CANDIDATES]);
    await sim("PUT", "/__sim/apply", { auto: false });
    for (const symbol of CANDIDATES) await setRegime(symbol, "BASE");
    await setPositions(HELD.map((symbol, i) => ({ symbol, amt: 1, pnl: -i })));
  });

  describe("1. one incoming symbol, one rotation", () => {
    it("a re-proposal of the incoming symbol under a new plan_id starts no second rotation", async () => {
      const first = await postPlan({ plan_id: "inflight-1", symbol: "BTCUSDT", score: 3 });
      expect(first.body.reason).toBe("active_slots_waiting_rotation_close");
      for (const planId of ["inflight-2", "inflight-3", "inflight-4"]) {
        const retry = await postPlan({ plan_id: planId, symbol: "BTCUSDT", score: 5 });
        expect(retry.body).toMatchObject({
          decision: "BLOCK",
          reason: "active_slots_rotation_in_flight",
          details: { lock_plan_id: "inflight-1", close_plan_id: first.body.rotation.close_plan_id },
        });
      }
      expect(await rotationPlans()).toHaveLength(1);
      expect(await events("ROTATION_LOCK_CREATED")).toHaveLength(1);
    });

    it("concurrent proposals of one symbol under different ids start exactly one rotation", async () => {
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          postPlan({ plan_id: `burst-${i}`, symbol: "BTCUSDT", score: 3 }),
        ),
      );
      const reasons = answers.map((a) => a.body.reason).sort();
      expect(reasons.filter((r) => r === "active_slots_waiting_rotation_close")).toHaveLength(1);
      expect(reasons.filter((r) => r === "active_slots_rotation_in_flight")).toHaveLength(5);
      expect(await rotationPlans()).toHaveLength(1);
    });

    it("the blocked re-proposal is not final: once the rotation ended it is evaluated afresh", async () => {
      await postPlan({ plan_id: "again-1", symbol: "BTCUSDT", score: 3 });
      expect(
        (await postPlan({ plan_id: "again-2", symbol: "BTCUSDT", score: 3 })).body.reason,
      ).toBe("active_slots_rotation_in_flight");
      const lock = (await lockOf("again-1"))!;
      await closeOnExchange(lock.close_symbol);
      await appendResult({ plan_id: lock.close_plan_id, symbol: lock.close_symbol });
      await sweepAt(Date.now());
      expect(await redis.get(keys.permit("again-1"))).not.toBeNull();
      // BTC now holds the slot the rotation granted: the other plan may add to it.
      const after = await postPlan({ plan_id: "again-2", symbol: "BTCUSDT", score: 3 });
      expect(after.body).toMatchObject({
        decision: "ALLOW",
        reason: "active_slots_symbol_holds_slot",
      });
      expect(await rotationPlans()).toHaveLength(1);
    });
  });

  describe("victim choice", () => {
    it("a position whose permit is still usable is not rotated out, even when weakest", async () => {
      // ADAUSDT is the weakest (pnl -3); an entry on it is allowed (it holds a slot) ...
      const add = await postPlan({ plan_id: "permit-ada", symbol: "ADAUSDT", score: 1 });
      expect(add.body).toMatchObject({
        decision: "ALLOW",
        reason: "active_slots_symbol_holds_slot",
      });
      // ... so a rotation must pick the next weakest: the permit would reopen ADA after its close.
      const rotation = await postPlan({ plan_id: "permit-btc", symbol: "BTCUSDT", score: 3 });
      expect(rotation.body.rotation.close_symbol).toBe("XRPUSDT");
    });
  });

  describe("2. completion is an evaluation", () => {
    it("a rotation confirmed after its symbol left the universe completes without an entry", async () => {
      await postPlan({ plan_id: "gone-1", symbol: "BTCUSDT", score: 3 });
      const lock = (await lockOf("gone-1"))!;
      await setUniverse([...HELD, "BNBUSDT"]);
      await closeOnExchange(lock.close_symbol);
      await appendResult({ plan_id: lock.close_plan_id, symbol: lock.close_symbol });
      await sweepAt(Date.now());

      expect(await redis.get(keys.permit("gone-1"))).toBeNull();
      const [complete] = await events("ROTATION_COMPLETE");
      expect(complete).toMatchObject({ granted: "false", reason: "active_slots_not_in_universe" });
      const replay = await postPlan({ plan_id: "gone-1", symbol: "BTCUSDT", score: 3 });
      expect(replay.body).toMatchObject({
        decision: "BLOCK",
        reason: "active_slots_not_in_universe",
        replayed: true,
      });
    });

    it("a rotation confirmed after the regime tightened completes without an entry (over capacity)", async () => {
      await postPlan({ plan_id: "tight-1", symbol: "BTCUSDT", score: 3 });
      const lock = (await lockOf("tight-1"))!;
      // BTC's next candle says CHOP (3 slots): 3 positions stay open after the close.
      await setRegime("BTCUSDT", "CHOP");
      await redis.del(keys.marketCache("BTCUSDT", "1h"));
      await closeOnExchange(lock.close_symbol);
      await appendResult({ plan_id: lock.close_plan_id, symbol: lock.close_symbol });
      await sweepAt(Date.now());

      expect(await redis.get(keys.permit("tight-1"))).toBeNull();
      expect(await events("ROTATION_COMPLETE")).toEqual([
        expect.objectContaining({ granted: "false", reason: "active_slots_over_capacity" }),
      ]);
      expect(await redis.hlen(keys.claims)).toBe(0);
    });

    it("a universe change between the gates and the slot script is seen by the script", async () => {
      await postPlan({ plan_id: "race-1", symbol: "BTCUSDT", score: 3 });
      const lock = (await lockOf("race-1"))!;
      await closeOnExchange(lock.close_symbol);
      await appendResult({ plan_id: lock.close_plan_id, symbol: lock.close_symbol });
      const client = await changingBeforeSlots(() => setUniverse(HELD));
      const { body } = await evaluatePlan(
        { plan_id: "race-1", symbol: "BTCUSDT", action: "OPEN", decision: "EXECUTE", score: 3 },
        { ...gov, redis: client },
      );
      expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_not_in_universe" });
      expect(await redis.get(keys.permit("race-1"))).toBeNull();

      await setUniverse([...HELD, ...CANDIDATES]);
      const entry = await evaluatePlan(
        { plan_id: "race-2", symbol: "DOGEUSDT", action: "OPEN", decision: "EXECUTE" },
        { ...gov, redis: await changingBeforeSlots(() => setUniverse(HELD)) },
      );
      expect(entry.body).toMatchObject({
        decision: "BLOCK",
        reason: "active_slots_not_in_universe",
      });
    });

    it("the sweep does not grant an entry the margin cap now refuses", async () => {
      await postPlan({
        plan_id: "margin-1",
        symbol: "BTCUSDT",
        score: 3,
        notional: 500,
        leverage: 5,
      });
      const lock = (await lockOf("margin-1"))!;
      await sim("PUT", "/__sim/account", {
        totalInitialMargin: "9000",
        totalMarginBalance: "10000",
      });
      await closeOnExchange(lock.close_symbol);
      await appendResult({ plan_id: lock.close_plan_id, symbol: lock.close_symbol });
      await sweepAt(Date.now());

      expect(await redis.get(keys.permit("margin-1"))).toBeNull();
      expect((await decisionEvents("margin-1")).at(-1)).toMatchObject({
        event: "PLAN_BLOCKED",
        reason: "active_slots_margin_cap",
      });
      expect(await redis.zcard(keys.lockIndex)).toBe(0);
    });

    it("a final BLOCK recorded while the rotation waits is kept: the lock ends and its close plan is cancelled", async () => {
      await postPlan({
        plan_id: "final-1",
        symbol: "BTCUSDT",
        score: 3,
        notional: 500,
        leverage: 5,
      });
      const lock = (await lockOf("final-1"))!;
      await sim("PUT", "/__sim/account", {
        totalInitialMargin: "9000",
        totalMarginBalance: "10000",
      });
      const resubmitted = await postPlan({
        plan_id: "final-1",
        symbol: "BTCUSDT",
        score: 3,
        notional: 500,
        leverage: 5,
      });
      expect(resubmitted.body).toMatchObject({
        decision: "BLOCK",
        reason: "active_slots_margin_cap",
      });
      expect(await lockOf("final-1")).toBeNull();
      expect(await events("ROTATION_CANCELLED")).toEqual([
        expect.objectContaining({ new_plan_id: "final-1", reason: "active_slots_margin_cap" }),
      ]);
      const cancellation = (await streamEntries(keys.applyPlanStream)).at(-1);
      expect(cancellation).toMatchObject({
        plan_id: lock.close_plan_id,
        decision: "CANCEL",
        rotation_cancel: "true",
      });

      // The close happens anyway, later: still no ALLOW for the plan.
      await sim("PUT", "/__sim/account", { totalInitialMargin: "0", totalMarginBalance: "10000" });
      await closeOnExchange(lock.close_symbol);
      await appendResult({ plan_id: lock.close_plan_id, symbol: lock.close_symbol });
      await sweepAt(Date.now());
      const again = await postPlan({
        plan_id: "final-1",
        symbol: "BTCUSDT",
        score: 3,
        notional: 500,
        leverage: 5,
      });
      expect(again.body).toMatchObject({ reason: "active_slots_margin_cap", replayed: true });
      expect(await redis.get(keys.permit("final-1"))).toBeNull();
    });
  });

  describe("3. a confirmation must match", () => {
    it("a confirmation naming another symbol does not free the slot, and is reported", async () => {
      await postPlan({ plan_id: "wrongsym-1", symbol: "BTCUSDT", score: 3 });
      const lock = (await lockOf("wrongsym-1"))!;
      await appendResult({ plan_id: lock.close_plan_id, symbol: "ETHUSDT" });
      await sweepAt(Date.now());

      expect(await redis.get(keys.permit("wrongsym-1"))).toBeNull();
      expect(await lockOf("wrongsym-1")).not.toBeNull();
      expect(await events("ROTATION_CONFIRMATION_REJECTED")).toEqual([
        expect.objectContaining({ reason: "symbol_mismatch", result_symbol: "ETHUSDT" }),
      ]);
      await sweepAt(lock.created_at * 1000 + TTL_MS + 1000);
      expect(await events("ROTATION_TIMEOUT")).toHaveLength(1);
    });

    it("a result not executed, or not reduce-only, confirms nothing even once the victim closed otherwise", async () => {
      await postPlan({ plan_id: "notexec-1", symbol: "BTCUSDT", score: 3 });
      const lock = (await lockOf("notexec-1"))!;
      await closeOnExchange(lock.close_symbol); // a stop-loss, not the close plan
      await appendResult({
        plan_id: lock.close_plan_id,
        symbol: lock.close_symbol,
        executed: "false",
      });
      await appendResult({
        plan_id: lock.close_plan_id,
        symbol: lock.close_symbol,
        reduceOnly: "false",
      });
      await sweepAt(Date.now());

      expect(await redis.get(keys.permit("notexec-1"))).toBeNull();
      expect(await lockOf("notexec-1")).not.toBeNull();
      expect((await events("ROTATION_CONFIRMATION_REJECTED")).map((e) => e.reason)).toEqual([
        "not_executed",
        "not_reduce_only",
      ]);
      await appendResult({ plan_id: lock.close_plan_id, symbol: lock.close_symbol });
      await sweepAt(Date.now());
      expect(await redis.get(keys.permit("notexec-1"))).not.toBeNull();
    });

    it("a partial close (the victim still open) keeps the lock waiting, then it times out and is cancelled", async () => {
      await postPlan({ plan_id: "partial-1", symbol: "BTCUSDT", score: 3 });
      const lock = (await lockOf("partial-1"))!;
      await closeOnExchange(lock.close_symbol, 0.4);
      await appendResult({ plan_id: lock.close_plan_id, symbol: lock.close_symbol });
      await sweepAt(Date.now());
      const resubmitted = await postPlan({ plan_id: "partial-1", symbol: "BTCUSDT", score: 3 });
      expect(resubmitted.body.reason).toBe("active_slots_waiting_rotation_close");
      expect(await events("ROTATION_CONFIRMATION_REJECTED")).toEqual([
        expect.objectContaining({ reason: "victim_still_open" }),
      ]);

      await sweepAt(lock.created_at * 1000 + TTL_MS + 1000);
      expect(await events("ROTATION_TIMEOUT")).toEqual([
        expect.objectContaining({ close_state: "open" }),
      ]);
      expect((await streamEntries(keys.applyPlanStream)).at(-1)).toMatchObject({
        plan_id: lock.close_plan_id,
        decision: "CANCEL",
        reason: "timeout",
      });
      expect(await redis.get(keys.permit("partial-1"))).toBeNull();
    });

    it("a confirmed close the sweep cannot verify (positions unavailable) past the TTL times out as close_state unknown", async () => {
      await postPlan({ plan_id: "unverified-1", symbol: "BTCUSDT", score: 3 });
      const lock = (await lockOf("unverified-1"))!;
      await closeOnExchange(lock.close_symbol);
      await appendResult({ plan_id: lock.close_plan_id, symbol: lock.close_symbol });
      await faultPositions({ status: 503 });

      await sweepAt(lock.created_at * 1000 + TTL_MS + 1000);
      expect(await events("ROTATION_TIMEOUT")).toEqual([
        expect.objectContaining({ close_state: "unknown" }),
      ]);
      expect(await events("ROTATION_COMPLETE")).toEqual([]);
      expect(await redis.get(keys.permit("unverified-1"))).toBeNull();
    });

    it("a confirmation appended before the lock (an older rotation's, same close plan id) does not count", async () => {
      await postPlan({ plan_id: "collide-a", symbol: "BTCUSDT", score: 3 });
      const first = (await lockOf("collide-a"))!;
      await sweepAt(first.created_at * 1000 + TTL_MS + 1000); // times out, close never happened
      // A result of that old close plan is already on the stream ...
      await appendResult({ plan_id: first.close_plan_id, symbol: first.close_symbol });
      // ... when a plan sharing the first 8 characters rotates the same victim out.
      const second = await postPlan({ plan_id: "collide-b", symbol: "BNBUSDT", score: 3 });
      expect(second.body.rotation.close_plan_id).toBe(first.close_plan_id);
      expect(await events("ROTATION_LOCK_CREATED")).toEqual([
        expect.anything(),
        expect.objectContaining({ new_plan_id: "collide-b", close_plan_id_reused: "true" }),
      ]);
      await sweepAt(Date.now());
      expect(await redis.get(keys.permit("collide-b"))).toBeNull();
      expect(await lockOf("collide-b")).not.toBeNull();
    });
  });

  describe("4. typed configuration", () => {
    it("GOV_ACTIVE_SLOTS_ENABLED = false as a JSON boolean switches the controller off", async () => {
      const answer = await postPlan(
        { plan_id: "typed-1", symbol: "BTCUSDT", score: 0 },
        {
          GOV_ACTIVE_SLOTS_ENABLED: false,
        },
      );
      expect(answer.body).toMatchObject({ decision: "ALLOW", reason: "active_slots_disabled" });
    });

    it("GOV_MAX_MARGIN_USAGE_PCT = 0.3 as a JSON number is the cap", async () => {
      await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
      await sim("PUT", "/__sim/account", {
        totalInitialMargin: "4000",
        totalMarginBalance: "10000",
      });
      const answer = await postPlan(
        { plan_id: "typed-2", symbol: "BTCUSDT", score: 0 },
        {
          GOV_MAX_MARGIN_USAGE_PCT: 0.3,
        },
      );
      expect(answer.body).toMatchObject({ decision: "BLOCK", reason: "active_slots_margin_cap" });
    });

    it("an invalid value refuses to run: 503 config_invalid naming the variable", async () => {
      const answer = await postPlan(
        { plan_id: "typed-3", symbol: "BTCUSDT" },
        {
          GOV_ROTATION_THRESHOLD: "",
        },
      );
      expect(answer.status).toBe(503);
      expect(answer.body.error.code).toBe("config_invalid");
      expect(answer.body.error.message).toContain("GOV_ROTATION_THRESHOLD");
      expect(await redis.get(keys.permit("typed-3"))).toBeNull();
    });
  });

  describe("5. replay is for the same plan", () => {
    it("a different plan under a used plan_id gets 409 and nothing is granted", async () => {
      await setPositions([]);
      const first = await postPlan({ plan_id: "reuse-1", symbol: "BTCUSDT", qty: 1 });
      expect(first.body.decision).toBe("ALLOW");
      await redis.del(keys.permit("reuse-1"));

      for (const other of [
        { symbol: "ETHUSDT", qty: 1 },
        { symbol: "NOTLISTED", qty: 1 },
        { symbol: "BTCUSDT", qty: 2 },
        { symbol: "BTCUSDT", qty: 1, side: "SHORT" },
      ]) {
        const answer = await postPlan({ plan_id: "reuse-1", ...other });
        expect(answer.status).toBe(409);
        expect(answer.body.error.code).toBe("plan_id_conflict");
      }
      expect(await redis.get(keys.permit("reuse-1"))).toBeNull();
      expect(await events("PLAN_ID_CONFLICT")).toHaveLength(4);
      const same = await postPlan({ plan_id: "reuse-1", symbol: "BTCUSDT", qty: 1 });
      expect(same.body).toMatchObject({ decision: "ALLOW", replayed: true });
    });

    it("a waiting rotation's plan_id reused for another plan gets 409 and the lock stays", async () => {
      await postPlan({ plan_id: "reuse-lock", symbol: "BTCUSDT", score: 3 });
      const answer = await postPlan({ plan_id: "reuse-lock", symbol: "DOGEUSDT", score: 3 });
      expect(answer.status).toBe(409);
      expect(await lockOf("reuse-lock")).toMatchObject({ close_symbol: expect.any(String) });
      expect(await rotationPlans()).toHaveLength(1);
    });

    it("a close under an entry's plan_id is refused too", async () => {
      await setPositions([]);
      await postPlan({ plan_id: "reuse-close", symbol: "BTCUSDT" });
      const close = await postPlan({
        plan_id: "reuse-close",
        symbol: "BTCUSDT",
        action: "FULL_CLOSE_PROPOSED",
        reduceOnly: true,
      });
      expect(close.status).toBe(409);
    });
  });

  describe("6. no anonymous dependency calls", () => {
    it("GET /v1/health without the read token is liveness only: no Redis, no Binance", async () => {
      const before = await simRequests();
      for (let i = 0; i < 20; i++) {
        const response = await worker.fetch(
          new Request("http://governor/v1/health"),
          env,
          createExecutionContext(),
        );
        expect(response.status).toBe(200);
        const body = (await response.json()) as Record<string, unknown>;
        expect(body).toMatchObject({ ok: true, live: true });
        expect(body.exchange).toBeUndefined();
      }
      expect((await simRequests(before.count)).requests).toEqual([]);
    });
  });

  describe("lower severity", () => {
    it("a lock whose key expired unobserved still gets ROTATION_TIMEOUT and a final decision", async () => {
      await postPlan({ plan_id: "expired-1", symbol: "BTCUSDT", score: 3 });
      const lock = (await lockOf("expired-1"))!;
      await redis.del(keys.rotationLock("expired-1")); // as if it expired: the sweep was down
      const late = lock.created_at * 1000 + (2 * 120 + 300 + 60) * 1000;
      await sweepAt(late);

      expect(await events("ROTATION_TIMEOUT")).toEqual([
        expect.objectContaining({ new_plan_id: "expired-1" }),
      ]);
      const decision = JSON.parse((await redis.get(keys.decision("expired-1"))) as string);
      expect(decision.response).toMatchObject({
        decision: "BLOCK",
        reason: "active_slots_rotation_timeout",
      });
      expect(await redis.hlen(keys.claims)).toBe(0);
    });

    it("a sweep that has not read apply.result to its end times nothing out", async () => {
      await postPlan({ plan_id: "backlog-1", symbol: "BTCUSDT", score: 3 });
      const lock = (await lockOf("backlog-1"))!;
      const pipeline = redis.pipeline();
      for (let i = 0; i < 1200; i++) {
        pipeline.xadd(keys.applyResultStream, "*", { plan_id: `other-${i}`, executed: "true" });
      }
      await pipeline.exec();
      await closeOnExchange(lock.close_symbol);
      await appendResult({ plan_id: lock.close_plan_id, symbol: lock.close_symbol });

      const late = lock.created_at * 1000 + TTL_MS + 1000;
      const partial = await sweepLocks(
        { ...gov, now: () => late },
        { maxPages: 1, maxCatchUpCalls: 1 },
      );
      expect(partial.caught_up).toBe(false);
      expect(partial.timed_out).toBe(0);
      expect(await lockOf("backlog-1")).not.toBeNull();

      const full = await sweepLocks({ ...gov, now: () => late });
      expect(full).toMatchObject({ caught_up: true, completed: 1, timed_out: 0 });
    });
  });
});
