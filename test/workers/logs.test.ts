import { env, waitOnExecutionContext } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  postPlan,
  postPlanTo,
  postRaw,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  signedHeaders,
  sim,
} from "./helpers.ts";
import { governorContext } from "../../lib/context.ts";
import { evaluatePlan } from "../../lib/evaluate/evaluate.ts";

function logLines(spy: { mock: { calls: unknown[][] } }, msg: string) {
  return spy.mock.calls
    .map((call) => String(call[0]))
    .filter((line) => line.includes(`"msg":"${msg}"`))
    .map((line) => JSON.parse(line));
}

/** The webhook writes a decision's line after answering: wait for the lines of these plans. */
async function decisionLines(spy: { mock: { calls: unknown[][] } }, ...planIds: string[]) {
  return vi.waitFor(() => {
    const lines = logLines(spy, "governor.decision");
    for (const id of planIds) expect(lines.map((line) => line.plan_id)).toContain(id);
    return lines;
  });
}

describe("structured decision logs", () => {
  const log = vi.spyOn(console, "log");
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await sim("PUT", "/__sim/apply", { auto: false });
    await setPositions([
      { symbol: "ETHUSDT", amt: 1, pnl: 1 },
      { symbol: "SOLUSDT", amt: 1, pnl: -7 },
      { symbol: "XRPUSDT", amt: 1, pnl: 2 },
      { symbol: "ADAUSDT", amt: 1, pnl: 3 },
    ]);
    log.mockClear();
  });
  afterEach(() => log.mockClear());

  it("logs one JSON line per decision with regime, slots, the weakest position and the lock", async () => {
    await postPlan({ plan_id: "log-1", symbol: "BTCUSDT", score: 5 }, {});
    const [line] = await decisionLines(log, "log-1");
    expect(line).toMatchObject({
      plan_id: "log-1",
      symbol: "BTCUSDT",
      decision: "BLOCK",
      reason: "active_slots_waiting_rotation_close",
      regime: "BASE",
      slots_used: 4,
      slots_desired: 4,
      weakest: { symbol: "SOLUSDT" },
      lock: "created",
      close_symbol: "SOLUSDT",
    });
    expect(line.trend).toEqual(expect.any(Number));
    expect(line.atr_pct).toEqual(expect.any(Number));
    expect(line.weakest.pnl_pct).toBeCloseTo(-0.07, 6);
    expect(line.latency_ms).toEqual(expect.any(Number));
  });

  it("has the webhook answer first and write the line before the request's work ends", async () => {
    const { response, ctx } = await postPlanTo(env, {
      plan_id: "log-4",
      symbol: "BTCUSDT",
      score: 5,
    });
    const ofPlan = () => logLines(log, "governor.decision").filter((l) => l.plan_id === "log-4");
    // The answer is here; its line waits for the next turn of the event loop.
    expect(ofPlan()).toEqual([]);
    await waitOnExecutionContext(ctx);
    expect(ofPlan()).toMatchObject([{ decision: "BLOCK", lock: "created" }]);
    expect(await response.json()).toMatchObject({ plan_id: "log-4", decision: "BLOCK" });
  });

  it("leaves the line to the caller's afterAnswer when it names one, and writes it once when that runs", async () => {
    const later: (() => void)[] = [];
    const { body } = await evaluatePlan(
      { plan_id: "log-3", symbol: "BTCUSDT", action: "OPEN", decision: "EXECUTE", score: 5 },
      { ...governorContext(env), requestId: "rid-later", afterAnswer: (work) => later.push(work) },
    );
    expect(body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_waiting_rotation_close",
    });
    expect(logLines(log, "governor.decision")).toEqual([]);
    expect(later).toHaveLength(1);
    later[0]!();
    expect(logLines(log, "governor.decision")).toMatchObject([
      { plan_id: "log-3", request_id: "rid-later", lock: "created", close_symbol: "SOLUSDT" },
    ]);
  });

  it("never writes a secret into a log line", async () => {
    await postPlan({ plan_id: "log-2", symbol: "BTCUSDT", score: 5 }, {});
    await decisionLines(log, "log-2");
    const all = log.mock.calls.map((c) => String(c[0])).join("\n");
    const secrets = [
      env.BINANCE_API_SECRET,
      env.BINANCE_API_KEY,
      env.GOV_WEBHOOK_SECRET,
      env.GOV_READ_TOKEN,
      env.UPSTASH_REDIS_REST_TOKEN,
    ];
    expect(secrets.every((secret) => typeof secret === "string" && secret.length >= 8)).toBe(true);
    for (const secret of secrets) expect(all).not.toContain(secret!);
  });

  it("gives every request one id, answered in X-Request-Id and carried by its log lines", async () => {
    const send = async (planId: string, headers: Record<string, string> = {}) => {
      const body = JSON.stringify({
        plan_id: planId,
        symbol: "BTCUSDT",
        action: "OPEN",
        decision: "EXECUTE",
        score: 0,
      });
      const response = await postRaw(body, { ...(await signedHeaders(body)), ...headers });
      expect(response.status).toBe(200);
      return response.headers.get("x-request-id");
    };
    const [a, b] = await Promise.all([send("rid-a"), send("rid-b")]);
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(b).toMatch(/^[0-9a-f-]{36}$/);
    expect(a).not.toBe(b);
    // A caller's own id (e.g. from a proxy) is kept; a malformed one is replaced.
    expect(await send("rid-c", { "x-request-id": "apply-layer-42" })).toBe("apply-layer-42");
    const replaced = await send("rid-d", { "x-request-id": "bad id!" });
    expect(replaced).not.toBe("bad id!");

    await decisionLines(log, "rid-a", "rid-b", "rid-c", "rid-d");
    const lines = log.mock.calls.map(
      (call) => JSON.parse(String(call[0])) as Record<string, unknown>,
    );
    const byPlan = (planId: string) => lines.filter((line) => line.plan_id === planId);
    for (const [planId, id] of [
      ["rid-a", a],
      ["rid-b", b],
      ["rid-c", "apply-layer-42"],
      ["rid-d", replaced],
    ] as const) {
      expect(byPlan(planId).length).toBeGreaterThan(0);
      for (const line of byPlan(planId)) expect(line.request_id).toBe(id);
    }
    const read = await exports.default.fetch(new Request("http://governor/v1/status"));
    expect(read.status).toBe(401);
    expect(read.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers every request with its id and the security headers: a decision, a refusal, a page, a miss", async () => {
    const body = JSON.stringify({
      plan_id: "hdr-1",
      symbol: "BTCUSDT",
      action: "OPEN",
      decision: "EXECUTE",
      score: 0,
    });
    const answers = [
      await postRaw(body, await signedHeaders(body)),
      await exports.default.fetch(new Request("http://governor/v1/status")),
      await exports.default.fetch(new Request("http://governor/docs")),
      await exports.default.fetch(new Request("http://governor/no-such-route")),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 401, 200, 404]);
    for (const answer of answers) {
      expect(answer.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
      expect(answer.headers.get("x-frame-options")).toBe("SAMEORIGIN");
      expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
      expect(answer.headers.get("strict-transport-security")).toBe(
        "max-age=15552000; includeSubDomains",
      );
    }
    const longest = "a".repeat(128);
    const kept = await exports.default.fetch(
      new Request("http://governor/v1/status", { headers: { "x-request-id": longest } }),
    );
    expect(kept.headers.get("x-request-id")).toBe(longest);
    const tooLong = await exports.default.fetch(
      new Request("http://governor/v1/status", { headers: { "x-request-id": `${longest}a` } }),
    );
    expect(tooLong.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
