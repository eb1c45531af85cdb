/**
 * Redis faults against the real governor (workerd via `node dev/stack.ts`):
 * the REST endpoint down and back, the bridge answering 500, the bridge too
 * slow, and redis-server SIGKILLed in the middle of a stream of evaluations.
 * Every answer is a 503 JSON error or a valid decision, nothing is granted
 * without its permit, and service is normal once the fault clears.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  arrange,
  expectAllowed,
  expectNothingDangling,
  expectUnavailable,
  keys,
  planId,
  post,
  sleep,
  startFaultWorld,
  type FaultWorld,
} from "./harness.ts";

let w: FaultWorld;

beforeAll(async () => {
  w = await startFaultWorld();
});
afterAll(async () => {
  await w?.stop();
});

beforeEach(async () => {
  await arrange(w);
});

/** No trace of a plan the governor answered 503 for. */
async function expectNoTrace(id: string): Promise<void> {
  expect(await w.redis.get(keys.permit(id))).toBeNull();
  expect(await w.redis.get(keys.block(id))).toBeNull();
  expect(await w.redis.get(keys.decision(id))).toBeNull();
}

async function bridgePing(): Promise<number> {
  const response = await fetch(`${w.bridge().url}/`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.services.credentials.redisToken}` },
    body: '["PING"]',
  }).catch(() => null);
  return response?.status ?? 0;
}

describe("Redis REST endpoint faults", () => {
  it("bridge answering 500 to every request: 503, nothing written; normal service after", async () => {
    w.bridge().setFault({ times: 1_000, status: 500 });
    const ids = [planId("b500a"), planId("b500b")];
    for (const id of ids) expectUnavailable(await post(w, { plan_id: id }));
    w.bridge().setFault(null);
    for (const id of ids) await expectNoTrace(id);
    await expectNothingDangling(w, ids);
    expect(await w.redis.xlen(keys.eventsStream)).toBe(0);
    // The same plan, resubmitted, is evaluated normally; so is a fresh one.
    await expectAllowed(w, ids[0]);
    await expectAllowed(w);
  });

  it("bridge answering 500 to the decision script only (reads succeed): 503, no permit, no reservation", async () => {
    // Request 1 (READ_STATE) is held 400 ms and then served; meanwhile every later
    // request is set to fail: request 2 is the EVALUATE_SLOTS script.
    w.bridge().setFault({ times: 1, status: 0, delayMs: 400 });
    const id = planId("b500d");
    const pending = post(w, { plan_id: id });
    await sleep(150);
    w.bridge().setFault({ times: 1_000, status: 500 });
    const answer = await pending;
    w.bridge().setFault(null);
    expectUnavailable(answer);
    await expectNoTrace(id);
    expect(await w.redis.hgetall(keys.reservations)).toEqual({});
    expect(await w.redis.xlen(keys.eventsStream)).toBe(0);
    await expectAllowed(w, id);
  });

  it("REST endpoint down (connection refused) and back on the same port", async () => {
    await w.stopBridge();
    try {
      const ids = [planId("downa"), planId("downb"), planId("downc")];
      for (const id of ids) expectUnavailable(await post(w, { plan_id: id }));
      const health = await fetch(`${w.c.stack.governor}/v1/health`, {
        headers: { authorization: `Bearer ${w.c.stack.read_token}` },
      });
      expect(health.status).toBe(503);
      expect(((await health.json()) as { redis: { reachable: boolean } }).redis.reachable).toBe(
        false,
      );
      await w.startBridge();
      for (const id of ids) await expectNoTrace(id);
      await expectNothingDangling(w, ids);
      expect((await fetch(`${w.c.stack.governor}/v1/health`)).status).toBe(200);
      await expectAllowed(w, ids[0]);
      await expectAllowed(w);
    } finally {
      await w.startBridge();
    }
  });

  it("REST endpoint slower than the client timeout on the state read: 503, nothing written", async () => {
    // The client gives up after 2 s and does not retry an aborted request.
    w.bridge().setFault({ times: 1, status: 0, delayMs: 2_600 });
    const id = planId("slowr");
    const started = Date.now();
    const answer = await post(w, { plan_id: id });
    const elapsed = Date.now() - started;
    expectUnavailable(answer);
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(2_600);
    await sleep(1_000); // the held request (the read-only script) finishes on the bridge
    await expectNoTrace(id);
    expect(await w.redis.hgetall(keys.reservations)).toEqual({});
    await expectAllowed(w, id);
  });

  it("Redis stalled while the decision script is in flight: 503; resubmitting the plan is evaluated afresh", async () => {
    const { id, answer, elapsed } = await stallDecisionScript();
    expectUnavailable(answer);
    expect(elapsed).toBeLessThan(3_500);
    // Redis ran the script after the governor had given up on it: past its
    // deadline, the script wrote nothing, so the resubmission is a fresh evaluation.
    const again = await post(w, { plan_id: id });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ plan_id: id, decision: "ALLOW" });
    const lateWrite = again.body.replayed === true;
    expect(lateWrite).toBe(false);
    // Never a second slot or a second decision for the plan.
    // (ETHUSDT: the warm-up ALLOW on a held symbol reserves its slot too.)
    expect(Object.keys(await w.redis.hgetall(keys.reservations)).sort()).toEqual([
      "BTCUSDT",
      "ETHUSDT",
    ]);
    const allowed = (await w.redis.xrange(keys.eventsStream, "-", "+")).filter(
      ([, f]) => f.includes("PLAN_ALLOWED") && f.includes(id),
    );
    expect(allowed).toHaveLength(1);
    console.info(
      `stalled decision script: 503 answered; the late script ${lateWrite ? "DID" : "did not"} write ` +
        `permit + reservation; the resubmission ${lateWrite ? "replayed that ALLOW" : "was evaluated afresh"}`,
    );
  });

  // SPEC §7: "503 ... (nothing granted)". A decision script that Redis runs after
  // the client's 2 s timeout finds its deadline passed (Redis TIME) and writes nothing.
  it("a 503 never leaves a permit behind, even when Redis runs the decision script late", async () => {
    const { id, answer } = await stallDecisionScript();
    expectUnavailable(answer);
    await sleep(300);
    expect(await w.redis.get(keys.permit(id))).toBeNull();
    expect(await w.redis.hget(keys.reservations, "BTCUSDT")).toBeNull();
  });
});

/**
 * READ_STATE succeeds, the account call is held 800 ms, and redis-server is
 * stopped as soon as that call reaches the exchange (READ_STATE is done by
 * then) until 3 s: the EVALUATE_SLOTS request reaches Redis, waits past the
 * client's 2 s timeout, and runs when Redis resumes.
 */
async function stallDecisionScript() {
  // Scripts loaded (a NOSCRIPT answered late would hide the late write): an ALLOW on
  // ETHUSDT, which holds its slot through its open position (no reservation).
  const warm = await post(w, { plan_id: planId("warm"), symbol: "ETHUSDT" });
  expect(warm.body).toMatchObject({ decision: "ALLOW", reason: "active_slots_symbol_holds_slot" });
  await w.c.sim("PUT", "/__sim/faults", { path: "/fapi/v3/account", delay_ms: 800, times: 1 });
  const id = planId("stall");
  const started = Date.now();
  const pending = post(w, { plan_id: id });
  // The simulator consumes the fault when the account request arrives.
  while (((await w.c.sim("GET", "/__sim/faults")) as unknown[]).length > 0) {
    if (Date.now() - started > 700) throw new Error("the account request did not arrive in time");
    await sleep(5);
  }
  w.pauseRedis();
  let answer: Awaited<typeof pending>;
  let elapsed: number;
  try {
    answer = await pending;
    elapsed = Date.now() - started;
    await sleep(Math.max(0, 3_200 - elapsed));
  } finally {
    w.resumeRedis();
  }
  await sleep(200);
  return { id, answer, elapsed };
}

describe("redis-server killed in the middle of a stream of evaluations", () => {
  it("answers are valid decisions or 503 JSON, no ALLOW without its permit, and service resumes on a restarted Redis", async () => {
    const total = 48;
    const concurrency = 4;
    const killAfter = 12;
    let next = 0;
    let answered = 0;
    let killedAt = Infinity;
    const results: {
      id: string;
      start: number;
      end: number;
      status: number;
      body: Record<string, any>;
      permitSeen: boolean | null;
    }[] = [];

    const worker = async () => {
      while (next < total) {
        const id = planId(`kill${next++}`);
        const start = Date.now();
        const answer = await post(w, { plan_id: id });
        const end = Date.now();
        let permitSeen: boolean | null = null;
        if (answer.status === 200 && answer.body.decision === "ALLOW" && end < killedAt) {
          // Checked at once, while Redis still holds it (null: Redis died in between).
          permitSeen = await Promise.race([
            w.redis.get(keys.permit(id)).then((v) => v !== null),
            sleep(300).then(() => null),
          ]).catch(() => null);
        }
        results.push({ id, start, end, status: answer.status, body: answer.body, permitSeen });
        answered += 1;
        if (answered === killAfter) {
          w.killRedis();
          killedAt = Date.now();
        }
        await sleep(20);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    expect(killedAt).toBeLessThan(Infinity);

    // 1. Every answer: a valid decision (200) or a 503 JSON error; never anything else.
    for (const r of results) {
      if (r.status === 200) {
        expect(["ALLOW", "BLOCK"]).toContain(r.body.decision);
        expect(r.body.plan_id).toBe(r.id);
      } else {
        expectUnavailable(r);
      }
    }
    // 2. ALLOWs before the kill had their permit; none after it.
    const before = results.filter((r) => r.end < killedAt);
    expect(before.length).toBeGreaterThanOrEqual(killAfter - 1);
    for (const r of before.filter((x) => x.body.decision === "ALLOW")) {
      expect(r.permitSeen, `permit of ${r.id}`).not.toBe(false);
    }
    const after = results.filter((r) => r.start > killedAt);
    expect(after.length).toBeGreaterThan(0);
    for (const r of after) expectUnavailable(r);

    const tally = (rs: typeof results) =>
      rs.map((r) => (r.status === 200 ? r.body.decision : r.status)).join(",");
    const slowest = results
      .filter((r) => r.status === 503)
      .sort((a, b) => b.end - b.start - (a.end - a.start))[0]!;
    const worst503 = `${slowest.end - slowest.start} ms (started ${slowest.start - killedAt} ms after the kill)`;
    console.info(
      `redis-server SIGKILLed after ${killAfter} answers: before [${tally(before)}], ` +
        `in flight [${tally(results.filter((r) => r.start <= killedAt && r.end >= killedAt))}], ` +
        `after [${tally(after)}]; slowest 503 took ${worst503}`,
    );

    // 3. Redis comes back empty on the same port; the bridge reconnects by itself.
    await w.restartRedis();
    const restartedAt = Date.now();
    let reconnectedAfter = -1;
    while (Date.now() - restartedAt < 15_000) {
      if ((await bridgePing()) === 200) {
        reconnectedAfter = Date.now() - restartedAt;
        break;
      }
      await sleep(50);
    }
    expect(
      reconnectedAfter,
      "the bridge did not reconnect to the restarted redis-server within 15 s",
    ).toBeGreaterThanOrEqual(0);
    console.info(`bridge reconnected ${reconnectedAfter} ms after redis-server restarted`);

    // Still nothing known (empty Redis, no policy): a plan is blocked, not allowed.
    const noPolicy = planId("nopol");
    const blocked = await post(w, { plan_id: noPolicy });
    expect(blocked.body).toMatchObject({ decision: "BLOCK", reason: "active_slots_no_policy" });

    // 4. State set up again: normal service (scripts reloaded, regime refetched).
    await w.redis.hset(keys.policy, "universe_symbols", JSON.stringify(["BTCUSDT", "ETHUSDT"]));
    const fresh = await expectAllowed(w);
    expect(fresh.body.reason).toBe("active_slots_slot_free");
    await expectNothingDangling(w, [noPolicy]);
    expect((await fetch(`${w.c.stack.governor}/v1/health`)).status).toBe(200);
  });
});
