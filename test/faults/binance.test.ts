/**
 * Binance faults against the real governor (workerd via `node dev/stack.ts`):
 * every fault yields a BLOCK with the precise reason and no permit, leaves no
 * reservation/lock/claim behind, and normal service resumes once it clears.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  arrange,
  clearFaults,
  expectAllowed,
  expectBlocked,
  expectNothingDangling,
  faultPositions,
  keys,
  planId,
  POSITION_ENDPOINTS,
  post,
  releaseHeldExchangeRequests,
  simRequests,
  sleep,
  startFaultWorld,
  type FaultWorld,
} from "./harness.ts";

const POSITIONS = "active_slots_positions_unavailable";
const REGIME = "active_slots_regime_unavailable";
const TIMESTAMP_ERROR = JSON.stringify({
  code: -1021,
  msg: "Timestamp for this request is outside of the recvWindow.",
});

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

/** After the fault: nothing dangling for the blocked plans; the same plans and a fresh one are ALLOWed. */
async function expectRecovery(blocked: string[]): Promise<void> {
  await expectNothingDangling(w, blocked);
  await clearFaults(w);
  await expectAllowed(w);
  // *_unavailable is not final: the blocked plan itself is evaluated again, now ALLOWed.
  const again = await post(w, { plan_id: blocked[0]! });
  expect(again.body).toMatchObject({ decision: "ALLOW" });
  expect(again.body.replayed).toBeUndefined();
}

describe("Binance faults: BLOCK with the precise reason, nothing granted, then normal service", () => {
  it("control: with the exchange healthy a fresh plan is ALLOWed", async () => {
    await expectAllowed(w);
  });

  it.each([500, 502, 503, 504])("HTTP %i on the account endpoint", async (status) => {
    await faultPositions(w, { status });
    const id = planId(`x${status}`);
    const { body } = await expectBlocked(w, id, POSITIONS);
    expect(String(body.details?.error)).toContain(`HTTP ${status}`);
    // Not final: no decision cached, so a resubmission is evaluated again.
    expect(await w.redis.get(keys.decision(id))).toBeNull();
    await expectRecovery([id]);
  });

  it("429 with Retry-After: shared backoff respected across requests, then service resumes", async () => {
    // A Retry-After far longer than the test needs: "during the backoff" holds however
    // slowly the machine runs; its end is then brought forward.
    await faultPositions(w, { status: 429, retry_after: 60, times: 1 });
    const first = planId("r429a");
    const started = Date.now();
    const a = await expectBlocked(w, first, POSITIONS);
    expect(String(a.body.details?.error)).toMatch(/429/);
    const until = Number(await w.redis.get(keys.binanceBackoff));
    expect(until).toBeGreaterThanOrEqual(started + 59_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 60_100);

    // During the backoff: refused without a request to the exchange.
    const seen = (await simRequests(w)).count;
    const second = planId("r429b");
    const b = await expectBlocked(w, second, POSITIONS);
    expect(String(b.body.details?.error)).toMatch(/backoff/i);
    expect((await simRequests(w, seen)).requests).toEqual([]);

    await expectNothingDangling(w, [first, second]);
    // The backoff instant passes (the key is still there: the instant is what counts).
    await w.redis.set(keys.binanceBackoff, String(Date.now() - 1), "PX", 60_000);
    await expectAllowed(w);
    const again = await post(w, { plan_id: second });
    expect(again.body).toMatchObject({ decision: "ALLOW" });
  });

  it("418: backs off for at least 2 minutes whatever Retry-After says, no request meanwhile", async () => {
    await faultPositions(w, { status: 418, retry_after: 1, times: 1 });
    const first = planId("r418a");
    const started = Date.now();
    const a = await expectBlocked(w, first, POSITIONS);
    expect(String(a.body.details?.error)).toMatch(/418/);
    expect(Number(await w.redis.get(keys.binanceBackoff))).toBeGreaterThanOrEqual(
      started + 119_000,
    );
    await sleep(1_200); // past the 1 s Retry-After: still banned
    const seen = (await simRequests(w)).count;
    const second = planId("r418b");
    await expectBlocked(w, second, POSITIONS);
    expect((await simRequests(w, seen)).requests).toEqual([]);
    await expectNothingDangling(w, [first, second]);
    // The ban is over (here: an operator clears it): normal service.
    await w.redis.del(keys.binanceBackoff);
    await expectAllowed(w);
  });

  it("no answer within the 3 s timeout", async () => {
    // The simulator holds the account request until the test lets it go.
    await faultPositions(w, { delay_ms: 600_000, times: 1 });
    const id = planId("tmo");
    const started = Date.now();
    const { body } = await expectBlocked(w, id, POSITIONS);
    const elapsed = Date.now() - started;
    expect(String(body.details?.error)).toMatch(/timeout/);
    expect(elapsed).toBeGreaterThanOrEqual(2_900);
    // Still held when the answer came: the governor gave up by itself, at its timeout.
    expect(await releaseHeldExchangeRequests(w)).toBe(1);
    await expectRecovery([id]);
  });

  it("persistent -1021: one resync and one retry, then BLOCK", async () => {
    await faultPositions(w, { status: 400, body: TIMESTAMP_ERROR });
    const seen = (await simRequests(w)).count;
    const id = planId("ts1021");
    const { body } = await expectBlocked(w, id, POSITIONS);
    expect(String(body.details?.error)).toMatch(/-1021/);
    const log = (await simRequests(w, seen)).requests;
    const signed = log.filter((r) => (POSITION_ENDPOINTS as readonly string[]).includes(r.path));
    expect(signed.map((r) => r.status)).toEqual([400, 400]);
    expect(log.filter((r) => r.path === "/fapi/v1/time")).toHaveLength(1);
    await expectRecovery([id]);
  });

  it.each([
    ["200 with a body that is not JSON", { status: 200, body: "<html>gateway</html>" }, /not JSON/],
    ["500 with an HTML error page", { status: 500, body: "<html>oops</html>" }, /HTTP 500/],
    ["200 with an empty body", { status: 200, body: "" }, /not JSON/],
  ])("invalid JSON: %s", async (_name, fault, message) => {
    await faultPositions(w, fault);
    const id = planId("json");
    const { body } = await expectBlocked(w, id, POSITIONS);
    expect(String(body.details?.error)).toMatch(message);
    await expectRecovery([id]);
  });

  it.each([
    [
      "totalMarginBalance missing",
      (a: Record<string, unknown>) => ({ ...a, totalMarginBalance: undefined }),
    ],
    ["positions missing", (a: Record<string, unknown>) => ({ ...a, positions: undefined })],
    [
      "a position row without positionAmt",
      (a: Record<string, unknown>) => ({
        ...a,
        positions: (a.positions as Record<string, unknown>[]).map((p) => ({
          ...p,
          positionAmt: undefined,
        })),
      }),
    ],
    [
      "a non-numeric unrealizedProfit",
      (a: Record<string, unknown>) => ({
        ...a,
        positions: (a.positions as Record<string, unknown>[]).map((p) => ({
          ...p,
          unrealizedProfit: "abc",
        })),
      }),
    ],
    ["an empty object", () => ({})],
  ])("missing or malformed fields: %s", async (_name, corrupt) => {
    const account = (await w.c.sim("GET", "/__sim/account")) as Record<string, unknown>;
    expect((account.positions as unknown[]).length).toBe(1);
    await w.c.sim("PUT", "/__sim/faults", [
      { path: "/fapi/v3/account", status: 200, body: JSON.stringify(corrupt(account)) },
    ]);
    const id = planId("shape");
    const { body } = await expectBlocked(w, id, POSITIONS);
    expect(String(body.details?.error)).toMatch(/unexpected body shape/);
    await expectRecovery([id]);
  });

  it.each([
    ["HTTP 500", { status: 500 }, /HTTP 500/],
    ["a body that is not JSON", { status: 200, body: "[[" }, /not JSON/],
    [
      "rows with missing fields",
      { status: 200, body: JSON.stringify([[1, "1"]]) },
      /unexpected body shape/,
    ],
  ])(
    "klines fail with a cold regime cache: %s => regime_unavailable",
    async (_n, fault, message) => {
      await w.c.sim("PUT", "/__sim/faults", { path: "/fapi/v1/klines", ...fault });
      const id = planId("kl");
      const { body } = await expectBlocked(w, id, REGIME);
      expect(String(body.details?.error)).toMatch(message);
      // Nothing cached from the failed fetch.
      expect(await w.redis.get(keys.marketCache("BTCUSDT", "1h"))).toBeNull();
      await expectRecovery([id]);
    },
  );

  it("exchange unreachable (connection refused), then back on the same port", async () => {
    await w.stopExchange();
    const ids = [planId("downa"), planId("downb")];
    try {
      for (const id of ids) {
        const { body } = await expectBlocked(w, id, POSITIONS);
        expect(String(body.details?.error)).toMatch(/network|request failed/);
      }
      await expectNothingDangling(w, ids);
    } finally {
      await w.startExchange();
    }
    // A fresh simulator: arrange its state again.
    await w.c.sim("PUT", "/__sim/klines/BTCUSDT", { preset: "BASE" });
    await expectAllowed(w);
    const again = await post(w, { plan_id: ids[0]! });
    expect(again.body).toMatchObject({ decision: "ALLOW" });
  });

  it("an exchange fault while other plans are being allowed never grants the faulted ones", async () => {
    // Half the account calls fail (every other one): each answer is ALLOW with a
    // permit, or BLOCK positions_unavailable without one.
    await w.c.sim("PUT", "/__sim/faults", { path: "/fapi/v3/account", status: 503, times: 6 });
    const ids = Array.from({ length: 12 }, () => planId("mix"));
    const answers = await Promise.all(ids.map((plan_id) => post(w, { plan_id })));
    const blocked: string[] = [];
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      if (answer.body.decision === "ALLOW") {
        expect(await w.redis.get(keys.permit(ids[i]!))).not.toBeNull();
      } else {
        expect(answer.body.reason).toBe(POSITIONS);
        blocked.push(ids[i]!);
      }
    }
    expect(blocked).toHaveLength(6);
    await expectNothingDangling(w, blocked);
    await expectAllowed(w);
  });
});
