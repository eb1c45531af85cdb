/**
 * Faults in the middle of a rotation, against the real governor: the lock
 * survives an exchange or Redis outage on resubmission (the answer is not
 * final), nothing is granted meanwhile, and once the fault clears and the
 * close is confirmed the entry is ALLOWed exactly once.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  arrange,
  clearFaults,
  expectNothingDangling,
  expectUnavailable,
  faultPositions,
  keys,
  planId,
  post,
  releaseHeldExchangeRequests,
  setPositions,
  startFaultWorld,
  type FaultWorld,
} from "./harness.ts";

const FULL = [
  { symbol: "ETHUSDT", amt: 1, pnl: 5 },
  { symbol: "SOLUSDT", amt: 2, pnl: -16 }, // the weakest
  { symbol: "XRPUSDT", amt: 3, pnl: 3 },
  { symbol: "ADAUSDT", amt: 4, pnl: 8 },
];

let w: FaultWorld;

beforeAll(async () => {
  w = await startFaultWorld();
});
afterAll(async () => {
  await w?.stop();
});

beforeEach(async () => {
  await arrange(w, {
    universe: ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"],
    positions: FULL,
  });
  // The test plays the Apply Layer: it confirms the close itself, when it chooses.
  await w.c.sim("PUT", "/__sim/apply", { auto: false });
});

async function startRotation(id: string) {
  const start = await post(w, { plan_id: id, score: 2 });
  expect(start.body).toMatchObject({
    decision: "BLOCK",
    reason: "active_slots_waiting_rotation_close",
    rotation: { close_symbol: "SOLUSDT" },
  });
  const lock = JSON.parse((await w.redis.get(keys.rotationLock(id))) ?? "null") as {
    close_plan_id: string;
    close_symbol: string;
  };
  expect(lock).toMatchObject({ new_plan_id: id, close_symbol: "SOLUSDT" });
  return lock;
}

/** The lock, its index entry and its claim are all still there; nothing granted. */
async function expectLockIntact(id: string) {
  expect(await w.redis.exists(keys.rotationLock(id))).toBe(1);
  expect(await w.redis.zscore(keys.lockIndex, id)).not.toBeNull();
  expect(await w.redis.hget(keys.claims, id)).toBe("SOLUSDT");
  expect(await w.redis.get(keys.permit(id))).toBeNull();
  expect(await w.redis.get(keys.decision(id))).toBeNull();
  expect(await w.redis.hget(keys.reservations, "BTCUSDT")).toBeNull();
}

/** The Apply Layer closes SOLUSDT and appends the confirmation. */
async function confirmClose(closePlanId: string) {
  await setPositions(
    w,
    FULL.filter((p) => p.symbol !== "SOLUSDT"),
  );
  await w.redis.xadd(
    keys.applyResultStream,
    "*",
    "plan_id",
    closePlanId,
    "symbol",
    "SOLUSDT",
    "executed",
    "true",
    "reduceOnly",
    "true",
    "action",
    "FULL_CLOSE_PROPOSED",
  );
}

async function expectCompleted(id: string) {
  const done = await post(w, { plan_id: id, score: 2 });
  expect(done.body).toMatchObject({
    decision: "ALLOW",
    reason: "active_slots_rotation_complete",
    rotation: { close_symbol: "SOLUSDT" },
  });
  expect(await w.redis.get(keys.permit(id))).not.toBeNull();
  expect(
    JSON.parse((await w.redis.hget(keys.reservations, "BTCUSDT")) ?? "null") as unknown,
  ).toMatchObject({ plan_id: id });
  await expectNothingDangling(w, []);
  // One lock, one close plan, one completion.
  expect(await w.redis.xlen(keys.applyPlanStream)).toBe(1);
  const events = await w.redis.xrange(keys.eventsStream, "-", "+");
  const names = events.map(([, fields]) => fields[fields.indexOf("event") + 1]);
  expect(names.filter((n) => n === "ROTATION_LOCK_CREATED")).toHaveLength(1);
  expect(names.filter((n) => n === "ROTATION_COMPLETE")).toHaveLength(1);
}

describe("faults during a rotation", () => {
  it("Binance down on resubmission: BLOCK positions_unavailable (not final), lock kept; after the fault and the confirmation: ALLOW", async () => {
    const id = planId("rotbx");
    const lock = await startRotation(id);

    await faultPositions(w, { status: 503 });
    for (let i = 0; i < 2; i++) {
      const during = await post(w, { plan_id: id, score: 2 });
      expect(during.status).toBe(200);
      expect(during.body).toMatchObject({
        plan_id: id,
        decision: "BLOCK",
        reason: "active_slots_positions_unavailable",
      });
      expect(during.body.replayed).toBeUndefined();
      await expectLockIntact(id);
    }
    // A competing entry during the outage is refused too, and claims nothing.
    const other = planId("rotbo");
    const competing = await post(w, { plan_id: other, symbol: "ETHUSDT", score: 9 });
    expect(competing.body).toMatchObject({ reason: "active_slots_positions_unavailable" });

    await clearFaults(w);
    // Fault gone, close not yet confirmed: still waiting.
    const waiting = await post(w, { plan_id: id, score: 2 });
    expect(waiting.body).toMatchObject({ reason: "active_slots_waiting_rotation_close" });
    await expectLockIntact(id);

    await confirmClose(lock.close_plan_id);
    await expectCompleted(id);
    await expectNothingDangling(w, [other], { noLocksAtAll: true });
  });

  it("Binance timing out on resubmission after the close was confirmed: BLOCK, lock kept, then ALLOW", async () => {
    const id = planId("rottm");
    const lock = await startRotation(id);
    await confirmClose(lock.close_plan_id);
    // The account request is held by the simulator until the test lets it go.
    await faultPositions(w, { delay_ms: 600_000, times: 1 });
    const during = await post(w, { plan_id: id, score: 2 });
    expect(during.body).toMatchObject({ reason: "active_slots_positions_unavailable" });
    expect(String(during.body.details?.error)).toMatch(/timeout/);
    await expectLockIntact(id);
    expect(await releaseHeldExchangeRequests(w)).toBe(1);
    await clearFaults(w);
    await expectCompleted(id);
  });

  it("Redis answering 500 on resubmission: 503, lock kept, then ALLOW", async () => {
    const id = planId("rotrd");
    const lock = await startRotation(id);
    await confirmClose(lock.close_plan_id);
    w.bridge().setFault({ times: 1_000, status: 500 });
    expectUnavailable(await post(w, { plan_id: id, score: 2 }));
    w.bridge().setFault(null);
    await expectLockIntact(id);
    await expectCompleted(id);
  });

  it("Redis endpoint down during the sweep: the cron run fails, the lock is kept; the next sweep completes it", async () => {
    const id = planId("rotsw");
    const lock = await startRotation(id);
    await confirmClose(lock.close_plan_id);
    const scheduled = `${w.c.stack.governor}/__scheduled?cron=*+*+*+*+*`;
    await w.stopBridge();
    try {
      const failed = await fetch(scheduled);
      await failed.text();
      expect(failed.status).toBeGreaterThanOrEqual(500);
    } finally {
      await w.startBridge();
    }
    await expectLockIntact(id);
    const ok = await fetch(scheduled);
    await ok.text();
    expect(ok.status).toBe(200);
    expect(await w.redis.get(keys.permit(id))).not.toBeNull();
    await expectNothingDangling(w, []);
    const replay = await post(w, { plan_id: id, score: 2 });
    expect(replay.body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_rotation_complete",
      replayed: true,
    });
  });
});
