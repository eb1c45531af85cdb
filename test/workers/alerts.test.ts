/**
 * Alerts (docs/contract.md §9) delivered to a real HTTP receiver
 * (dev/alert-receiver.ts, started by the test setup): each format, once per
 * incident with a recovery, retries after the receiver's 500s, a dead receiver
 * that changes no decision, the cron path (sweep, then delivery), the
 * configuration turning invalid, and no secret in any alert.
 */
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index.ts";
import { governorContext } from "../../lib/context.ts";
import { deliverAlerts, retryDelayMs } from "../../lib/alerts/deliver.ts";
import { changeTradingState } from "../../lib/operators/trading-state.ts";
import { forwardScheduledSweep, runScheduledSweep } from "../../lib/sweep/scheduled.ts";
import {
  alertReceiverUrl,
  faultPositions,
  keys,
  postPlan,
  postPlanTo,
  receiver,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  streamEntries,
} from "./helpers.ts";
import { evaluatePlan } from "../../lib/evaluate/evaluate.ts";

/**
 * The cron as the placed fetch handler runs it (the scheduled handler forwards
 * there): the sweep, then the alerts due. An invalid configuration is caught
 * (and alerted) where the scheduled handler parses it.
 */
async function cron(controller: { scheduledTime: number }, target: object) {
  let gov;
  try {
    gov = governorContext(target);
  } catch {
    return forwardScheduledSweep({ ...controller, cron: "* * * * *" }, target);
  }
  return runScheduledSweep(controller.scheduledTime, gov);
}

/** The webhook URL carries a token, as Slack's and Discord's do: it must never leak. */
const WEBHOOK = `${alertReceiverUrl}/hook/T0KEN-8f1e2d3c4b5a69788796a5b4c3d2e1f0`;

/** One env object per setting (the governor's context is cached per env object). */
const envs = new Map<string, Record<string, unknown>>();
function alertEnv(vars: Record<string, string> = {}) {
  const key = JSON.stringify(vars);
  let e = envs.get(key);
  if (!e) {
    e = { ...env, GOV_ALERT_WEBHOOK_URL: WEBHOOK, ...vars };
    envs.set(key, e);
  }
  return e;
}
const govWith = (vars: Record<string, string> = {}) => governorContext(alertEnv(vars));
const later = (vars: Record<string, string>, ms: number) => ({
  ...govWith(vars),
  now: () => Date.now() + ms,
});

async function outbox(kind?: string) {
  const all = await streamEntries(keys.alertOutbox);
  return kind ? all.filter((a) => a.kind === kind) : all;
}

async function received() {
  return (await receiver("GET", "/__alerts")).alerts;
}

/**
 * POST a signed plan to the worker with `vars`, then wait for the work it does
 * after answering (delivering the alerts the decision queued).
 */
async function decide(plan: Record<string, unknown>, vars: Record<string, string> = {}) {
  const { response, ctx } = await postPlanTo(alertEnv(vars) as unknown as Env, plan);
  const body = (await response.json()) as Record<string, any>;
  await waitOnExecutionContext(ctx);
  return { status: response.status, body };
}

/** PUT /v1/trading-state with `vars`, waiting for the work done after the answer. */
async function putStateWith(vars: Record<string, string>, state: string, reason: string) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request("http://governor/v1/trading-state", {
      method: "PUT",
      headers: { authorization: `Bearer ${env.GOV_ADMIN_TOKEN!}` },
      body: JSON.stringify({ state, reason, actor: "alice" }),
    }),
    alertEnv(vars) as unknown as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

beforeEach(async () => {
  await resetWorld();
  await receiver("DELETE", "/__alerts");
  await sim("PUT", "/__sim/apply", { auto: false });
  await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]);
  for (const symbol of ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]) {
    await setRegime(symbol, "BASE");
  }
  await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
});

describe("delivery to a real receiver, in each format", () => {
  it("json: the alert object, delivered right after the admin route answered", async () => {
    const response = await putStateWith({ GOV_ALERT_FORMAT: "json" }, "HALTED", "incident 42");
    expect(response.status).toBe(200);
    const [alert, ...more] = await received();
    expect(more).toEqual([]);
    expect(alert!.path).toBe(new URL(WEBHOOK).pathname);
    expect(alert!.content_type).toBe("application/json");
    expect(alert!.body).toEqual({
      kind: "trading_state_changed",
      severity: "critical",
      status: "firing",
      summary: "trading state ACTIVE -> HALTED by alice: incident 42",
      details: { from: "ACTIVE", to: "HALTED", reason: "incident 42", actor: "alice" },
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect(await outbox()).toEqual([]); // delivered: it left the outbox
  });

  it("slack: { text }", async () => {
    await putStateWith({ GOV_ALERT_FORMAT: "slack" }, "REDUCING", "risk review");
    const [alert] = await received();
    expect(Object.keys(alert!.body)).toEqual(["text"]);
    expect(alert!.body.text).toMatch(
      /^\[governor\] WARNING trading_state_changed: trading state ACTIVE -> REDUCING by alice: risk review\nactor=alice from=ACTIVE reason=risk review to=REDUCING · at /,
    );
  });

  it("discord: { content }", async () => {
    await putStateWith({ GOV_ALERT_FORMAT: "discord" }, "HALTED", "stop");
    const [alert] = await received();
    expect(Object.keys(alert!.body)).toEqual(["content"]);
    expect(alert!.body.content).toMatch(/^\[governor\] CRITICAL trading_state_changed: /);
    expect(alert!.body.content.length).toBeLessThanOrEqual(2000);
  });

  it("a resume is a resolved alert", async () => {
    await putStateWith({}, "HALTED", "stop");
    await putStateWith({}, "ACTIVE", "go");
    expect((await received()).map((a) => [a.body.status, a.body.details.to])).toEqual([
      ["firing", "HALTED"],
      ["resolved", "ACTIVE"],
    ]);
  });
});

describe("once per incident, with a recovery", () => {
  it("a dependency outage alerts once however many evaluations meet it, and recovers after the cooldown", async () => {
    await faultPositions({ status: 500 });
    for (let i = 0; i < 3; i++) {
      const { body } = await decide({ plan_id: `out-${i}`, symbol: "BTCUSDT" });
      expect(body.reason).toBe("active_slots_positions_unavailable");
    }
    const [down, ...more] = await received(); // delivered right after the first answer
    expect(more).toEqual([]);
    expect(down!.body).toMatchObject({
      kind: "dependency_unavailable",
      severity: "critical",
      status: "firing",
      details: { dependency: "positions", error: "BinanceUnavailableError" },
    });

    await sim("DELETE", "/__sim/faults");
    expect((await decide({ plan_id: "back-1", symbol: "BTCUSDT" }, {})).body.decision).toBe(
      "ALLOW",
    );
    await deliverAlerts(govWith());
    expect(await received()).toHaveLength(1); // resolved, but not for the cooldown (300 s) yet
    await deliverAlerts(later({}, 301_000));
    const recovery = (await received())[1];
    expect(recovery!.body).toMatchObject({
      kind: "dependency_unavailable",
      severity: "info",
      status: "resolved",
      summary: "positions available again",
    });
  });

  it("Binance's 429 backoff and unreadable klines are incidents of their own", async () => {
    await faultPositions({ status: 429, retry_after: 2 });
    expect((await decide({ plan_id: "bo-1", symbol: "BTCUSDT" })).body.reason).toBe(
      "active_slots_positions_unavailable",
    );
    expect((await decide({ plan_id: "bo-2", symbol: "BTCUSDT" })).body.reason).toBe(
      "active_slots_positions_unavailable",
    ); // refused locally while the shared backoff runs: the same incident
    await sim("DELETE", "/__sim/faults");
    await redis.del(keys.binanceBackoff);
    await sim("PUT", "/__sim/faults", [{ path: "/fapi/v1/klines", status: 500 }]);
    expect((await decide({ plan_id: "kl-1", symbol: "XRPUSDT" })).body.reason).toBe(
      "active_slots_regime_unavailable",
    );
    expect(
      (await received()).map((a) => [a.body.details.dependency, a.body.details.error]),
    ).toEqual([
      ["binance_backoff", "BinanceRateLimitError"],
      ["regime", "BinanceUnavailableError"],
    ]);
  });

  it("a relapse within the cooldown continues the incident: no second alert, one recovery", async () => {
    const vars = {};
    await faultPositions({ status: 500 });
    await decide({ plan_id: "flap-1", symbol: "BTCUSDT" }, vars);
    await sim("DELETE", "/__sim/faults");
    await decide({ plan_id: "flap-2", symbol: "BTCUSDT" }, vars);
    await faultPositions({ status: 500 });
    await decide({ plan_id: "flap-3", symbol: "BTCUSDT" }, vars);
    await sim("DELETE", "/__sim/faults");
    await decide({ plan_id: "flap-4", symbol: "BTCUSDT" }, vars);
    await deliverAlerts(later(vars, 301_000));
    expect((await received()).map((a) => a.body.status)).toEqual(["firing", "resolved"]);
  });

  it("over capacity (the regime tightened) alerts once", async () => {
    await setPositions(
      ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"].map((symbol) => ({ symbol, amt: 1 })),
    );
    await setRegime("BTCUSDT", "CHOP");
    for (let i = 0; i < 2; i++) {
      const { body } = await decide({ plan_id: `over-${i}`, symbol: "BTCUSDT" });
      expect(body.reason).toBe("active_slots_over_capacity");
    }
    const [alert, ...more] = (await received()).map((a) => a.body);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({ kind: "over_capacity", severity: "warning", status: "firing" });
    expect(alert!.summary).toBe(
      "4 slot holders for 3 slots: the regime tightened, entries wait until positions close",
    );
  });
});

describe("retries and a dead receiver", () => {
  it("retries after the receiver's 500s with backoff, then delivers once", async () => {
    await receiver("PUT", "/__fault", { status: 500, times: 2 });
    const gov = govWith();
    await changeTradingState(gov, { state: "HALTED", reason: "retry test" });

    const first = await deliverAlerts(gov);
    expect(first).toMatchObject({ claimed: 1, delivered: 0, retrying: 1, failures: ["HTTP 500"] });
    expect(await outbox()).toHaveLength(1);
    expect(await deliverAlerts(gov)).toMatchObject({ claimed: 0 }); // waiting out its backoff
    const second = await deliverAlerts(later({}, retryDelayMs(1) + 1000));
    expect(second).toMatchObject({ claimed: 1, retrying: 1 });
    const third = await deliverAlerts(later({}, retryDelayMs(1) + retryDelayMs(2) + 2000));
    expect(third).toMatchObject({ claimed: 1, delivered: 1 });

    const state = await receiver("GET", "/__alerts");
    expect(state.rejected).toBe(2);
    expect(state.alerts.map((a) => a.body.kind)).toEqual(["trading_state_changed"]);
    expect(await outbox()).toEqual([]);
    expect(await redis.hlen(keys.alertAttempts)).toBe(0);
  });

  it("the deciding step only queues an alert: the decision is made before any delivery", async () => {
    await setRegime("BTCUSDT", "CHOP");
    await setPositions(
      ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"].map((symbol) => ({ symbol, amt: 1 })),
    );
    const evaluation = await evaluatePlan(
      { plan_id: "queued-1", symbol: "BTCUSDT", action: "OPEN", decision: "EXECUTE" },
      govWith(),
    );
    expect(evaluation).toMatchObject({
      body: { decision: "BLOCK", reason: "active_slots_over_capacity" },
      alertsQueued: true,
    });
    expect(await outbox("over_capacity")).toHaveLength(1);
    expect(await received()).toEqual([]);
  });

  it("a dead receiver changes no decision; its alert stays queued and is retried", async () => {
    const dead = { GOV_ALERT_WEBHOOK_URL: "http://127.0.0.1:9/hook" };
    await setRegime("BTCUSDT", "CHOP");
    await setPositions(
      ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"].map((symbol) => ({ symbol, amt: 1 })),
    );
    const withDead = await decide({ plan_id: "dead-1", symbol: "BTCUSDT" }, dead);
    const [queued] = await outbox();
    const attempt = await redis.hget(keys.alertAttempts, queued!.id!);
    await redis.del(keys.alertIncidents, keys.alertOutbox, keys.alertAttempts);
    const without = await postPlan({ plan_id: "dead-2", symbol: "BTCUSDT" }, {}); // no webhook
    const { plan_id: _a, ...a } = withDead.body;
    const { plan_id: _b, ...b } = without.body;
    expect(withDead.status).toBe(200);
    expect(a).toEqual(b);
    expect(a).toMatchObject({ decision: "BLOCK", reason: "active_slots_over_capacity" });

    // Its delivery, after the answer, failed: the alert stays queued for a retry.
    expect(queued).toMatchObject({ kind: "over_capacity" });
    expect(JSON.parse(attempt as string)).toMatchObject({
      attempts: 1,
      last_error: expect.stringMatching(/Error$/),
    });
    // (The run without a webhook queued the same alert again: retried here.)
    const retried = await deliverAlerts(governorContext(alertEnv(dead)));
    expect(retried).toMatchObject({ claimed: 1, delivered: 0, retrying: 1 });
    expect(retried.failures[0]).toMatch(/Error$/);
  });

  it("drops an alert after its last attempt and records ALERT_DROPPED", async () => {
    await receiver("PUT", "/__fault", { status: 503 });
    const gov = govWith();
    await changeTradingState(gov, { state: "HALTED", reason: "drop test" });
    let at = 0;
    for (let attempt = 1; attempt <= 12; attempt++) {
      await deliverAlerts({ ...gov, now: () => Date.now() + at });
      at += retryDelayMs(attempt) + 1000;
    }
    expect(await outbox()).toEqual([]);
    const dropped = (await streamEntries(keys.eventsStream)).filter(
      (e) => e.event === "ALERT_DROPPED",
    );
    expect(dropped).toMatchObject([
      { kind: "trading_state_changed", attempts: "12", error: "HTTP 503" },
    ]);
    expect((await receiver("GET", "/__alerts")).rejected).toBe(12);
  });
});

describe("the cron: sweep, then delivery", () => {
  it("a rotation that times out is alerted by the same cron run", async () => {
    await setPositions(
      ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"].map((symbol, i) => ({
        symbol,
        amt: 1,
        pnl: i === 1 ? -10 : 0,
      })),
    );
    const started = await decide({ plan_id: "tmo-1", symbol: "BTCUSDT", score: 5 }, {});
    expect(started.body.reason).toBe("active_slots_waiting_rotation_close");
    await cron({ scheduledTime: Date.now() + 121_000 }, alertEnv());
    const [alert] = await received();
    expect(alert!.body).toMatchObject({
      kind: "rotation_timeout",
      severity: "warning",
      details: { new_plan_id: "tmo-1", close_symbol: "SOLUSDT", new_symbol: "BTCUSDT" },
    });
    expect(alert!.body.summary).toMatch(
      /^rotation of SOLUSDT out for BTCUSDT timed out after 12\d s/,
    );
  });

  it("the configuration turning invalid is alerted once, naming the variable, and recovers", async () => {
    const broken = alertEnv({ GOV_ROTATION_THRESHOLD: "not-a-number" });
    await expect(cron({ scheduledTime: Date.now() }, broken)).rejects.toThrow(
      /GOV_ROTATION_THRESHOLD/,
    );
    await expect(cron({ scheduledTime: Date.now() }, broken)).rejects.toThrow();
    // The worker's answer alerts too, after it: still one alert for the incident.
    const ctx = createExecutionContext();
    const answer = await worker.fetch(
      new Request("http://governor/v1/status"),
      broken as unknown as Env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(answer.status).toBe(503);
    const [alert, ...more] = await received();
    expect(more).toEqual([]);
    expect(alert!.body).toMatchObject({ kind: "config_invalid", severity: "critical" });
    expect(alert!.body.details.problems).toMatch(/GOV_ROTATION_THRESHOLD/);
    expect(alert!.raw).not.toContain("not-a-number");

    await cron({ scheduledTime: Date.now() }, alertEnv({ GOV_ALERT_COOLDOWN_S: "0" }));
    expect((await received()).map((a) => [a.body.kind, a.body.status])).toEqual([
      ["config_invalid", "firing"],
      ["config_invalid", "resolved"],
    ]);
  });
});

describe("the configuration alert when the receiver fails", () => {
  it("is tried again a minute later, not on every request", async () => {
    const broken = alertEnv({ GOV_MAX_CORRELATION: "7" });
    await receiver("PUT", "/__fault", { status: 500, times: 1 });
    const at = Date.now();
    await expect(cron({ scheduledTime: at }, broken)).rejects.toThrow();
    await expect(cron({ scheduledTime: at + 30_000 }, broken)).rejects.toThrow();
    expect(await receiver("GET", "/__alerts")).toMatchObject({ alerts: [], rejected: 1 });
    await expect(cron({ scheduledTime: at + 61_000 }, broken)).rejects.toThrow();
    await expect(cron({ scheduledTime: at + 200_000 }, broken)).rejects.toThrow();
    const [alert, ...more] = await received();
    expect(more).toEqual([]);
    expect(alert!.body).toMatchObject({ kind: "config_invalid", status: "firing" });
    expect(alert!.body.details.problems).toMatch(/^GOV_MAX_CORRELATION/);
  });
});

describe("no secret in any alert", () => {
  it("every kind, delivered: no token, key, secret or the webhook URL itself", async () => {
    const vars = { GOV_MAX_DRAWDOWN_PCT: "0.1", GOV_ALERT_COOLDOWN_S: "0" };
    const e = alertEnv(vars);
    // trading_state_changed, then the breaker's warning and trip.
    await changeTradingState(govWith(vars), { state: "REDUCING", reason: "secrets test" });
    await changeTradingState(govWith(vars), { state: "ACTIVE", reason: "secrets test" });
    for (const [i, balance] of [10_000, 9_100, 8_000].entries()) {
      await sim("PUT", "/__sim/account", { totalMarginBalance: String(balance) });
      await decide({ plan_id: `sec-dd-${i}`, symbol: "ETHUSDT" }, vars);
    }
    await changeTradingState(govWith(vars), { state: "ACTIVE", reason: "secrets test" });
    await sim("PUT", "/__sim/account", { totalMarginBalance: null });
    // dependency_unavailable and its recovery.
    await faultPositions({ status: 500 });
    await decide({ plan_id: "sec-dep-1", symbol: "ETHUSDT" }, vars);
    await sim("DELETE", "/__sim/faults");
    await decide({ plan_id: "sec-dep-2", symbol: "ETHUSDT" }, vars);
    // over_capacity, then a rotation_timeout.
    await setRegime("BTCUSDT", "CHOP");
    await setPositions(
      ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"].map((symbol) => ({ symbol, amt: 1 })),
    );
    await decide({ plan_id: "sec-over", symbol: "BTCUSDT" }, vars);
    await setRegime("BTCUSDT", "BASE");
    await redis.del(keys.marketCache("BTCUSDT", "1h")); // the cached CHOP would last until the candle closes
    await decide({ plan_id: "sec-rot", symbol: "BTCUSDT", score: 9 }, vars);
    await cron({ scheduledTime: Date.now() + 121_000 }, e);
    // config_invalid.
    await cron(
      { scheduledTime: Date.now() },
      alertEnv({ ...vars, GOV_MAX_CORRELATION: "2" }),
    ).catch(() => undefined);
    for (let i = 0; i < 3; i++) await deliverAlerts(govWith(vars));

    const all = await received();
    expect(new Set(all.map((a) => a.body.kind))).toEqual(
      new Set([
        "trading_state_changed",
        "drawdown_warning",
        "drawdown_breaker_tripped",
        "dependency_unavailable",
        "over_capacity",
        "rotation_timeout",
        "config_invalid",
      ]),
    );
    const secrets = [
      env.GOV_READ_TOKEN!,
      env.GOV_ADMIN_TOKEN!,
      env.GOV_WEBHOOK_SECRET!,
      env.BINANCE_API_KEY!,
      env.BINANCE_API_SECRET!,
      env.UPSTASH_REDIS_REST_TOKEN!,
      env.UPSTASH_REDIS_REST_URL!,
      WEBHOOK,
      "T0KEN-8f1e2d3c4b5a69788796a5b4c3d2e1f0",
    ];
    for (const alert of all) {
      for (const secret of secrets) expect(alert.raw).not.toContain(secret);
    }
  });
});
