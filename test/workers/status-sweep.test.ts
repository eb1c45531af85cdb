/**
 * The status view says what the next sweep will do with each lock, because both
 * read the lock's phase from the same Lua (`lock_phase`, lib/rotation/lua/locks.ts).
 * For each situation: read the status at an instant, then sweep at that instant,
 * and check the sweep did what the status said (complete, wait, time out, cancel).
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { governorContext } from "../../lib/context.ts";
import { renderBoard } from "../../lib/dashboard/render.ts";
import { toHash } from "../../lib/redis/replies.ts";
import { readStatus, STATUS_RESULT_PAGES } from "../../lib/status/read.ts";
import type { LockView, Status } from "../../lib/status/schema.ts";
import { sweepLocks, type SweepReport } from "../../lib/sweep/sweep.ts";
import {
  events,
  faultPositions,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
} from "./helpers.ts";

const gov = governorContext(env);
const { keys } = gov;
const HELD = ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"];
/** The weakest of HELD (pnl −3): every rotation here closes it. */
const VICTIM = "ADAUSDT";
const ROTATION_ENDS = ["ROTATION_COMPLETE", "ROTATION_TIMEOUT", "ROTATION_CANCELLED"];

/** What the sweep does with a lock in each state the status shows. */
const OUTCOME: Record<LockView["state"], "completed" | "waiting" | "timed_out" | "cancelled"> = {
  waiting_close: "waiting",
  close_confirmed: "completed",
  close_unverified: "waiting",
  victim_still_open: "waiting",
  timing_out: "timed_out",
  cancelling: "cancelled",
};
const END_EVENT = {
  completed: "ROTATION_COMPLETE",
  timed_out: "ROTATION_TIMEOUT",
  cancelled: "ROTATION_CANCELLED",
} as const;

interface Lock {
  created_at: number;
  close_plan_id: string;
  close_symbol: string;
}

/** Start a rotation for `planId`: slots are full, BTCUSDT is strong enough. */
async function startRotation(planId: string): Promise<Lock> {
  const answer = await postPlan({ plan_id: planId, symbol: "BTCUSDT", score: 3 });
  expect(answer.body).toMatchObject({ reason: "active_slots_waiting_rotation_close" });
  const lock = JSON.parse((await redis.get(keys.rotationLock(planId))) as string) as Lock;
  expect(lock.close_symbol).toBe(VICTIM);
  return lock;
}

/** The exchange without the victim (or with `amt` of it left: a partial close). */
async function closeOnExchange(amt = 0): Promise<void> {
  await setPositions(
    HELD.flatMap((symbol, i) =>
      symbol !== VICTIM ? [{ symbol, amt: 1, pnl: -i }] : amt > 0 ? [{ symbol, amt }] : [],
    ),
  );
}

/** An apply.result entry, as the Apply Layer appends it. */
async function result(fields: Record<string, string>): Promise<string> {
  return (await redis.xadd(keys.applyResultStream, "*", {
    executed: "true",
    reduceOnly: "true",
    ...fields,
  })) as string;
}

function statusAt(atMs: number): Promise<Status> {
  return readStatus({ ...gov, now: () => atMs });
}

function stateOf(status: Status, planId: string): LockView["state"] {
  const lock = status.locks.find((l) => l.plan_id === planId);
  expect(lock, `${planId} is listed`).toBeDefined();
  return lock!.state;
}

/**
 * Read the status at `atMs`, expect `state` for the plan's lock, sweep at the
 * same instant and expect the sweep to have done what that state says.
 */
async function agree(planId: string, atMs: number, state: LockView["state"]) {
  const status = await statusAt(atMs);
  expect(stateOf(status, planId)).toBe(state);
  const before = (await events()).length;
  const report = await sweepLocks({ ...gov, now: () => atMs });
  expectSweepDid(OUTCOME[state], report);
  const ended = (await events())
    .slice(before)
    .filter((e) => ROTATION_ENDS.includes(e.event!))
    .map((e) => [e.event, e.new_plan_id]);
  const lockLeft = await redis.zscore(keys.lockIndex, planId);
  if (OUTCOME[state] === "waiting") {
    expect(ended).toEqual([]);
    expect(lockLeft).not.toBeNull();
  } else {
    expect(ended).toEqual([[END_EVENT[OUTCOME[state]], planId]]);
    expect(lockLeft).toBeNull();
  }
  return { status, report };
}

function expectSweepDid(outcome: (typeof OUTCOME)[keyof typeof OUTCOME], report: SweepReport) {
  const counts = {
    completed: report.completed,
    waiting: report.waiting,
    timed_out: report.timed_out,
    cancelled: report.cancelled,
  };
  expect(counts).toEqual({ completed: 0, waiting: 0, timed_out: 0, cancelled: 0, [outcome]: 1 });
}

describe("the status view and the sweep agree on every lock", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse([...HELD, "BTCUSDT"]);
    await sim("PUT", "/__sim/apply", { auto: false });
    await setRegime("BTCUSDT", "BASE");
    await setPositions(HELD.map((symbol, i) => ({ symbol, amt: 1, pnl: -i })));
  });
  afterEach(async () => {
    await sim("DELETE", "/__sim/faults");
  });

  it("no confirmation yet: waiting_close, and the sweep waits", async () => {
    await startRotation("agree-wait");
    await agree("agree-wait", Date.now(), "waiting_close");
  });

  it("confirmed and the victim gone: close_confirmed, and the sweep completes it", async () => {
    const lock = await startRotation("agree-done");
    await closeOnExchange();
    const id = await result({ plan_id: lock.close_plan_id, symbol: VICTIM });
    const { status } = await agree("agree-done", Date.now(), "close_confirmed");
    expect(status.locks[0]!.confirmation_id).toBe(id);
    expect((await events("ROTATION_COMPLETE"))[0]).toMatchObject({ granted: "true" });
  });

  it("confirmed, yet the exchange still shows the victim (a partial close): victim_still_open, and the sweep waits", async () => {
    const lock = await startRotation("agree-partial");
    await closeOnExchange(0.5);
    await result({ plan_id: lock.close_plan_id, symbol: VICTIM });
    await agree("agree-partial", Date.now(), "victim_still_open");
    expect(await events("ROTATION_CONFIRMATION_REJECTED")).toEqual([
      expect.objectContaining({ new_plan_id: "agree-partial", reason: "victim_still_open" }),
    ]);
  });

  it("a result naming another symbol confirms nothing, even with the victim gone: waiting_close, and the sweep waits", async () => {
    const lock = await startRotation("agree-symbol");
    await closeOnExchange();
    await result({ plan_id: lock.close_plan_id, symbol: "ETHUSDT" });
    await agree("agree-symbol", Date.now(), "waiting_close");
    expect(await events("ROTATION_CONFIRMATION_REJECTED")).toEqual([
      expect.objectContaining({ reason: "symbol_mismatch", result_symbol: "ETHUSDT" }),
    ]);
  });

  it("a result older than the lock (a reused close plan id) confirms nothing: waiting_close, and the sweep waits", async () => {
    // The cursor is behind, so both scans read the old result; a leftover
    // record of it in P:rotation:confirmed is not a confirmation either.
    await redis.set(keys.resultCursor, "0-0");
    const closePlanId = `rot_agree-ol_${VICTIM}`;
    const old = await result({ plan_id: closePlanId, symbol: VICTIM });
    const lock = await startRotation("agree-old");
    expect(lock.close_plan_id).toBe(closePlanId);
    await redis.hset(keys.confirmed, { [closePlanId]: old });
    await closeOnExchange();
    await agree("agree-old", Date.now(), "waiting_close");
  });

  it("at its TTL it still waits; one second past it with no confirmation: timing_out, and the sweep times it out", async () => {
    const lock = await startRotation("agree-late");
    await agree("agree-late", (lock.created_at + 120) * 1000, "waiting_close");
    await agree("agree-late", (lock.created_at + 121) * 1000, "timing_out");
    expect((await events("ROTATION_TIMEOUT"))[0]).toMatchObject({ lock_age: "121" });
  });

  it("past its TTL with a confirmation the cursor has not reached: close_confirmed (never timed out), and the sweep completes it", async () => {
    const lock = await startRotation("agree-unread");
    await closeOnExchange();
    await result({ plan_id: lock.close_plan_id, symbol: VICTIM });
    const cursor = await redis.get(keys.resultCursor);
    const eventCount = (await events()).length;

    const at = (lock.created_at + 150) * 1000;
    const status = await statusAt(at);
    expect(stateOf(status, "agree-unread")).toBe("close_confirmed");
    expect(status.locks[0]!.timeout_in_s).toBe(-30);
    expect(status.confirmations_read_to_end).toBe(true);
    // The view read the result without recording it: the sweep still has it to read.
    expect(await redis.get(keys.resultCursor)).toBe(cursor);
    expect(toHash(await redis.hgetall(keys.confirmed))).toEqual({});
    expect(await events()).toHaveLength(eventCount);

    await agree("agree-unread", at, "close_confirmed");
  });

  it("confirmed while the exchange cannot be read: close_unverified, and the sweep (blind too) waits; once readable, both complete it", async () => {
    const lock = await startRotation("agree-blind");
    await closeOnExchange();
    await result({ plan_id: lock.close_plan_id, symbol: VICTIM });
    await faultPositions({ status: 503 });
    const { status } = await agree("agree-blind", Date.now(), "close_unverified");
    expect(status.positions).toBeNull();
    // That sweep read the result (it is recorded now); the exchange answers again.
    expect(Object.keys(toHash(await redis.hgetall(keys.confirmed)))).toEqual([lock.close_plan_id]);
    await sim("DELETE", "/__sim/faults");
    await agree("agree-blind", Date.now(), "close_confirmed");
  });

  it("the plan's decision became final meanwhile: cancelling, and the sweep cancels the rotation", async () => {
    await startRotation("agree-final");
    await redis.set(
      keys.decision("agree-final"),
      JSON.stringify({
        fingerprint: null,
        response: {
          plan_id: "agree-final",
          symbol: "BTCUSDT",
          decision: "BLOCK",
          reason: "active_slots_correlation_limit",
        },
      }),
    );
    await agree("agree-final", Date.now(), "cancelling");
    expect((await events("ROTATION_CANCELLED"))[0]).toMatchObject({ reason: "final_decision" });
  });

  it("a lock key deleted before it expired is listed as orphaned, and the sweep ends it", async () => {
    await startRotation("agree-deleted");
    await redis.del(keys.rotationLock("agree-deleted"));
    const status = await statusAt(Date.now());
    expect(status.locks).toEqual([]);
    expect(status.orphaned_locks).toEqual(["agree-deleted"]);
    const report = await sweepLocks(gov);
    expect(report.orphans).toBe(1);
    expect(await events("ROTATION_CANCELLED")).toEqual([
      expect.objectContaining({ new_plan_id: "agree-deleted", reason: "lock_deleted" }),
    ]);
  });

  it("a lock whose key expired unobserved is still shown, timing out as the sweep then does", async () => {
    const lock = await startRotation("agree-expired");
    await redis.del(keys.rotationLock("agree-expired"));
    // Past the key's life (2 × TTL + 300 s): the copy in lock_data stands for it.
    await agree("agree-expired", (lock.created_at + 2 * 120 + 301) * 1000, "timing_out");
  });

  it("says when it could not read apply.result to its end", async () => {
    const lock = await startRotation("agree-backlog");
    const entries = STATUS_RESULT_PAGES * 500 + 1;
    for (let done = 0; done < entries; done += 500) {
      const pipeline = redis.pipeline();
      for (let i = done; i < Math.min(entries, done + 500); i++)
        pipeline.xadd(keys.applyResultStream, "*", { plan_id: `other-${i}` });
      await pipeline.exec();
    }
    await result({ plan_id: lock.close_plan_id, symbol: VICTIM });
    const status = await statusAt(Date.now());
    expect(status.confirmations_read_to_end).toBe(false);
    expect(stateOf(status, "agree-backlog")).toBe("waiting_close");
    expect(renderBoard(status, status.at)).toContain("more unread results than the view reads");
  });
});
