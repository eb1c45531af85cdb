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
import { waitUntil } from "../support/wait.ts";

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
    // Request 1 (READ_STATE) is held until every later request is set to fail, then
    // served: request 2 is the EVALUATE_SLOTS script.
    const bridge = w.bridge();
    bridge.setFault({ times: 1, status: 0, hold: true });
    bridge.resetRequestCount();
    const id = planId("b500d");
    const pending = post(w, { plan_id: id });
    await waitUntil(() => bridge.held() === 1, "the state read held by the bridge");
    bridge.setFault({ times: 1_000, status: 500 });
    bridge.release();
    const answer = await pending;
    bridge.setFault(null);
    expectUnavailable(answer);
    // The read was served and a later request (the decision script) was refused.
    expect(bridge.requestCount()).toBeGreaterThanOrEqual(2);
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
    // The bridge holds the state read until the test lets it go: the client gives up
    // after its 2 s timeout, and does not retry an aborted request.
    const bridge = w.bridge();
    bridge.setFault({ times: 1, status: 0, hold: true });
    const id = planId("slowr");
    const started = Date.now();
    const answer = await post(w, { plan_id: id });
    const elapsed = Date.now() - started;
    expectUnavailable(answer);
    // Answered while the read was still held: the governor gave up by itself, at its timeout.
    expect(bridge.held()).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    bridge.release();
    await bridge.idle(); // the held request (the read-only script) finishes on the bridge
    await expectNoTrace(id);
    expect(await w.redis.hgetall(keys.reservations)).toEqual({});
    await expectAllowed(w, id);
  });

  it("Redis stalled while the decision script is in flight: 503; resubmitting the plan is evaluated afresh", async () => {
    const { id, answer, scriptsInFlight } = await stallDecisionScript();
    expectUnavailable(answer);
    // The 503 came while the decision script was still waiting on the stopped Redis.
    expect(scriptsInFlight).toBeGreaterThanOrEqual(1);
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

  // docs/contract.md §4: "503 ... (nothing granted)". A decision script that Redis runs after
  // the client's 2 s timeout finds its deadline passed (Redis TIME) and writes nothing.
  it("a 503 never leaves a permit behind, even when Redis runs the decision script late", async () => {
    const { id, answer } = await stallDecisionScript();
    expectUnavailable(answer);
    expect(await w.redis.get(keys.permit(id))).toBeNull();
    expect(await w.redis.hget(keys.reservations, "BTCUSDT")).toBeNull();
  });
});

/**
 * READ_STATE succeeds; the account call is held by the exchange simulator, and
 * redis-server is stopped (SIGSTOP) once that call has reached the exchange
 * (READ_STATE is done by then). The account call is then let go: the
 * EVALUATE_SLOTS request reaches the stopped Redis and the governor answers
 * after its 2 s timeout; only then does Redis carry on and run the script, late.
 * Returns once the bridge has answered that late script.
 */
async function stallDecisionScript() {
  // Scripts loaded (a NOSCRIPT answered late would hide the late write): an ALLOW on
  // ETHUSDT, which holds its slot through its open position (no reservation).
  const warm = await post(w, { plan_id: planId("warm"), symbol: "ETHUSDT" });
  expect(warm.body).toMatchObject({ decision: "ALLOW", reason: "active_slots_symbol_holds_slot" });
  const bridge = w.bridge();
  await w.c.sim("PUT", "/__sim/faults", { path: "/fapi/v3/account", delay_ms: 600_000, times: 1 });
  const id = planId("stall");
  const pending = post(w, { plan_id: id });
  // The simulator consumes the fault when the account request arrives.
  await waitUntil(
    async () => ((await w.c.sim("GET", "/__sim/faults")) as unknown[]).length === 0,
    "the account request held by the exchange simulator",
  );
  await bridge.idle();
  w.pauseRedis();
  let answer: Awaited<typeof pending>;
  let scriptsInFlight: number;
  try {
    await w.c.sim("POST", "/__sim/faults/release");
    answer = await pending;
    scriptsInFlight = bridge.inFlight();
  } finally {
    w.resumeRedis();
  }
  await bridge.idle();
  return { id, answer, scriptsInFlight };
}

describe("redis-server killed in the middle of a stream of evaluations", () => {
  it("answers are valid decisions or 503 JSON, no ALLOW without its permit, and service resumes on a restarted Redis", async () => {
    const total = 48;
    const concurrency = 4;
    const killAfter = 12;
    let next = 0;
    let answered = 0;
    // Before/after the kill is decided by the order of events, never by clock readings:
    // on a busy machine several answers share a millisecond with the kill.
    let killed = false;
    let killedAt = Infinity;
    const results: {
      id: string;
      start: number;
      end: number;
      startedAfterKill: boolean;
      answeredBeforeKill: boolean;
      status: number;
      body: Record<string, any>;
      permitSeen: boolean | null;
    }[] = [];

    const worker = async () => {
      while (next < total) {
        const id = planId(`kill${next++}`);
        const startedAfterKill = killed;
        const start = Date.now();
        const answer = await post(w, { plan_id: id });
        const answeredBeforeKill = !killed;
        const end = Date.now();
        let permitSeen: boolean | null = null;
        if (answer.status === 200 && answer.body.decision === "ALLOW" && answeredBeforeKill) {
          // Checked at once, while Redis still holds it (null: Redis died in between and
          // the read failed, which the client reports after its few reconnection attempts).
          permitSeen = await w.redis.get(keys.permit(id)).then(
            (v) => v !== null,
            () => null,
          );
        }
        results.push({
          id,
          start,
          end,
          startedAfterKill,
          answeredBeforeKill,
          status: answer.status,
          body: answer.body,
          permitSeen,
        });
        answered += 1;
        if (answered === killAfter) {
          w.killRedis();
          killed = true;
          killedAt = Date.now();
        }
        await sleep(20);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    expect(killed).toBe(true);

    // 1. Every answer: a valid decision (200) or a 503 JSON error; never anything else.
    for (const r of results) {
      if (r.status === 200) {
        expect(["ALLOW", "BLOCK"]).toContain(r.body.decision);
        expect(r.body.plan_id).toBe(r.id);
      } else {
        expectUnavailable(r);
      }
    }
    // 2. ALLOWs answered before the kill had their permit; nothing but 503 for the
    // evaluations started after it.
    const before = results.filter((r) => r.answeredBeforeKill);
    expect(before.length).toBeGreaterThanOrEqual(killAfter);
    for (const r of before.filter((x) => x.body.decision === "ALLOW")) {
      expect(r.permitSeen, `permit of ${r.id}`).not.toBe(false);
    }
    const after = results.filter((r) => r.startedAfterKill);
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
        `in flight [${tally(results.filter((r) => !r.startedAfterKill && !r.answeredBeforeKill))}], ` +
        `after [${tally(after)}]; slowest 503 took ${worst503}`,
    );

    // 3. Redis comes back empty on the same port; the bridge reconnects by itself.
    await w.restartRedis();
    const restartedAt = Date.now();
    await waitUntil(
      async () => (await bridgePing()) === 200,
      "the bridge reconnecting to the restarted redis-server",
    );
    console.info(`bridge reconnected ${Date.now() - restartedAt} ms after redis-server restarted`);

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
