/**
 * The trading state (docs/contract.md §9) through the worker: every state ×
 * every kind of plan (an entry, an entry on a held symbol, a close, a new
 * rotation, a rotation waiting for its close), the master switch and shadow
 * mode, resuming, and the record and event of each change.
 */
import { env, exports } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index.ts";
import { governorContext } from "../../lib/context.ts";
import { sweepLocks } from "../../lib/sweep/sweep.ts";
import {
  events,
  getJson,
  keys,
  postPlan,
  putTradingState,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  streamEntries,
} from "./helpers.ts";

const STATES = ["ACTIVE", "REDUCING", "HALTED"] as const;
type State = (typeof STATES)[number];
const BLOCK_OF: Record<State, string | null> = {
  ACTIVE: null,
  REDUCING: "active_slots_reducing",
  HALTED: "active_slots_halted",
};

const FULL = [
  { symbol: "ETHUSDT", amt: 1, pnl: 5 },
  { symbol: "SOLUSDT", amt: 2, pnl: -16 }, // the weakest
  { symbol: "XRPUSDT", amt: 3, pnl: 3 },
  { symbol: "ADAUSDT", amt: 4, pnl: 8 },
];

async function world(positions: { symbol: string; amt: number; pnl?: number }[]) {
  await resetWorld();
  await sim("PUT", "/__sim/apply", { auto: false });
  await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]);
  for (const symbol of ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]) {
    await setRegime(symbol, "BASE");
  }
  await setPositions(positions);
}

async function setState(state: State) {
  if (state === "ACTIVE") return;
  const { status } = await putTradingState({ state, reason: `test: ${state.toLowerCase()}` });
  expect(status).toBe(200);
}

/** The Apply Layer closes SOLUSDT and confirms the rotation's close plan. */
async function confirmSolClose(closePlanId: string) {
  await setPositions(FULL.filter((p) => p.symbol !== "SOLUSDT"));
  await redis.xadd(keys.applyResultStream, "*", {
    plan_id: closePlanId,
    symbol: "SOLUSDT",
    executed: "true",
    reduceOnly: "true",
  });
}

describe("every trading state × every kind of plan", () => {
  describe.each(STATES)("%s", (state) => {
    const blocked = BLOCK_OF[state];

    it(`an entry into a free slot: ${blocked ?? "ALLOW"}`, async () => {
      await world([{ symbol: "ETHUSDT", amt: 1 }]);
      await setState(state);
      const { body } = await postPlan({ plan_id: `entry-${state}`, symbol: "BTCUSDT" });
      if (blocked) {
        expect(body).toMatchObject({ decision: "BLOCK", reason: blocked });
        expect(await redis.hget(keys.reservations, "BTCUSDT")).toBeNull();
        expect(await redis.get(keys.permit(`entry-${state}`))).toBeNull();
      } else {
        expect(body).toMatchObject({ decision: "ALLOW", reason: "active_slots_slot_free" });
      }
    });

    it(`an entry on a held symbol: ${blocked ?? "ALLOW"}`, async () => {
      await world([{ symbol: "ETHUSDT", amt: 1 }]);
      await setState(state);
      const { body } = await postPlan({ plan_id: `held-${state}`, symbol: "ETHUSDT" });
      expect(body).toMatchObject(
        blocked
          ? { decision: "BLOCK", reason: blocked }
          : { decision: "ALLOW", reason: "active_slots_symbol_holds_slot" },
      );
    });

    it("a close: ALLOW", async () => {
      await world([{ symbol: "ETHUSDT", amt: 1 }]);
      await setState(state);
      const { body } = await postPlan({
        plan_id: `close-${state}`,
        symbol: "ETHUSDT",
        action: "FULL_CLOSE_PROPOSED",
        reduceOnly: true,
      });
      expect(body).toMatchObject({ decision: "ALLOW", reason: "active_slots_close_allowed" });
      expect(await redis.get(keys.permit(`close-${state}`))).not.toBeNull();
    });

    it(`a new rotation (slots full, a strong candidate): ${blocked ? "none" : "started"}`, async () => {
      await world(FULL);
      await setState(state);
      const { body } = await postPlan({ plan_id: `rotnew-${state}`, symbol: "BTCUSDT", score: 5 });
      if (blocked) {
        expect(body).toMatchObject({ decision: "BLOCK", reason: blocked });
        expect(await events("ROTATION_LOCK_CREATED")).toEqual([]);
        expect(await streamEntries(keys.applyPlanStream)).toEqual([]);
        expect(await redis.hlen(keys.claims)).toBe(0);
      } else {
        expect(body).toMatchObject({ reason: "active_slots_waiting_rotation_close" });
        expect(await events("ROTATION_LOCK_CREATED")).toHaveLength(1);
      }
    });

    it(`a rotation waiting for its close: the close confirms, the entry ${blocked ? "is not granted" : "is granted"}`, async () => {
      await world(FULL);
      const started = await postPlan({ plan_id: `rotwait-${state}`, symbol: "BTCUSDT", score: 5 });
      expect(started.body.reason).toBe("active_slots_waiting_rotation_close");
      await setState(state);

      // Unconfirmed, it keeps waiting in every state: its close plan stands.
      const waiting = await postPlan({ plan_id: `rotwait-${state}`, symbol: "BTCUSDT", score: 5 });
      expect(waiting.body).toMatchObject({ reason: "active_slots_waiting_rotation_close" });
      expect((await streamEntries(keys.applyPlanStream)).map((p) => p.action)).toEqual([
        "FULL_CLOSE_PROPOSED",
      ]);

      await confirmSolClose(started.body.rotation.close_plan_id);
      const { body } = await postPlan({ plan_id: `rotwait-${state}`, symbol: "BTCUSDT", score: 5 });
      const [complete] = await events("ROTATION_COMPLETE");
      if (blocked) {
        expect(body).toMatchObject({ decision: "BLOCK", reason: blocked });
        expect(complete).toMatchObject({ granted: "false", reason: blocked });
        expect(await redis.get(keys.permit(`rotwait-${state}`))).toBeNull();
      } else {
        expect(body).toMatchObject({ decision: "ALLOW", reason: "active_slots_rotation_complete" });
        expect(complete).toMatchObject({ granted: "true" });
      }
      // Either way the rotation ended: its claim and lock are gone.
      expect(await redis.hlen(keys.claims)).toBe(0);
      expect(await redis.get(keys.rotationLock(`rotwait-${state}`))).toBeNull();
    });
  });
});

describe("the sweep obeys the trading state too", () => {
  it("HALTED: the sweep completes a confirmed rotation without its entry and releases the claim", async () => {
    await world(FULL);
    const started = await postPlan({ plan_id: "sweep-halt", symbol: "BTCUSDT", score: 5 });
    await setState("HALTED");
    await confirmSolClose(started.body.rotation.close_plan_id);
    const report = await sweepLocks(governorContext(env));
    expect(report).toMatchObject({ completed: 1, completed_plans: ["sweep-halt"] });
    expect(await events("ROTATION_COMPLETE")).toMatchObject([
      { granted: "false", reason: "active_slots_halted" },
    ]);
    expect(await events("PLAN_BLOCKED")).toContainEqual(
      expect.objectContaining({ plan_id: "sweep-halt", reason: "active_slots_halted" }),
    );
    expect(await redis.get(keys.permit("sweep-halt"))).toBeNull();
    expect(await redis.hlen(keys.claims)).toBe(0);
    // Not final: after a resume the plan comes in through the slot SOLUSDT freed.
    await putTradingState({ state: "ACTIVE", reason: "resume" });
    const again = await postPlan({ plan_id: "sweep-halt", symbol: "BTCUSDT", score: 5 });
    expect(again.body).toMatchObject({ decision: "ALLOW", reason: "active_slots_slot_free" });
  });
});

describe("around the matrix", () => {
  beforeEach(() => world([{ symbol: "ETHUSDT", amt: 1 }]));

  it("a blocked entry is not final: the same plan is allowed after a resume", async () => {
    await setState("HALTED");
    const halted = await postPlan({ plan_id: "resume-1", symbol: "BTCUSDT" });
    expect(halted.body).toMatchObject({ decision: "BLOCK", reason: "active_slots_halted" });
    expect(await redis.get(keys.decision("resume-1"))).toBeNull();
    expect((await putTradingState({ state: "ACTIVE", reason: "resume" })).status).toBe(200);
    const resumed = await postPlan({ plan_id: "resume-1", symbol: "BTCUSDT" });
    expect(resumed.body).toMatchObject({ decision: "ALLOW", reason: "active_slots_slot_free" });
    expect(resumed.body.replayed).toBeUndefined();
  });

  it("HALTED spends no exchange weight on an entry once the isolate has read it", async () => {
    await setState("HALTED");
    // The first entry after the change may have started its account call beside the state read.
    await postPlan({ plan_id: "noweight-0", symbol: "BTCUSDT" });
    const before = (await sim("GET", "/__sim/requests")) as { count: number };
    await postPlan({ plan_id: "noweight-1", symbol: "BTCUSDT" });
    const after = (await sim("GET", "/__sim/requests")) as { count: number };
    expect(after.count).toBe(before.count);
  });

  it("binds the master switch and shadow mode too: an operator's halt is not a gate", async () => {
    await setState("HALTED");
    const disabled = await postPlan(
      { plan_id: "off-1", symbol: "BTCUSDT" },
      { GOV_ACTIVE_SLOTS_ENABLED: "false" },
    );
    expect(disabled.body).toMatchObject({ decision: "BLOCK", reason: "active_slots_halted" });
    const shadow = await postPlan(
      { plan_id: "shadow-1", symbol: "BTCUSDT" },
      { GOV_MODE: "shadow" },
    );
    expect(shadow.body).toMatchObject({ decision: "BLOCK", reason: "active_slots_halted" });
    expect(await redis.get(keys.permit("shadow-1"))).toBeNull();
  });

  it("an unreadable record fails closed (HALTED) until an operator writes one", async () => {
    await redis.set(keys.tradingState, "{not json");
    expect((await getJson("/v1/trading-state")).body).toMatchObject({ state: "HALTED" });
    const { body } = await postPlan({ plan_id: "corrupt-1", symbol: "BTCUSDT" });
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_halted" });
    expect((await putTradingState({ state: "ACTIVE", reason: "fixed" })).body).toMatchObject({
      state: "ACTIVE",
      changed: true,
      previous: "HALTED",
    });
  });

  it("each change is recorded with who and why, and emits TRADING_STATE_CHANGED", async () => {
    expect((await getJson("/v1/trading-state")).body).toEqual({ state: "ACTIVE" });
    const put = await putTradingState({
      state: "REDUCING",
      reason: "  risk review  ",
      actor: "alice",
    });
    expect(put).toMatchObject({
      status: 200,
      body: {
        state: "REDUCING",
        reason: "risk review",
        actor: "alice",
        changed: true,
        previous: "ACTIVE",
      },
    });
    await putTradingState({ state: "HALTED", reason: "exchange incident" });
    const stored = JSON.parse((await redis.get(keys.tradingState)) as string);
    expect(stored).toEqual({
      state: "HALTED",
      reason: "exchange incident",
      actor: "operator",
      at: expect.any(Number),
    });
    expect((await getJson("/v1/trading-state")).body).toEqual(stored);
    expect(
      (await events("TRADING_STATE_CHANGED")).map(({ from, to, reason, actor }) => ({
        from,
        to,
        reason,
        actor,
      })),
    ).toEqual([
      { from: "ACTIVE", to: "REDUCING", reason: "risk review", actor: "alice" },
      { from: "REDUCING", to: "HALTED", reason: "exchange incident", actor: "operator" },
    ]);
  });

  it("setting the state in force changes nothing: no event, the record stays", async () => {
    await putTradingState({ state: "HALTED", reason: "first", actor: "alice" });
    const again = await putTradingState({ state: "HALTED", reason: "second", actor: "bob" });
    expect(again.body).toMatchObject({
      state: "HALTED",
      reason: "first",
      actor: "alice",
      changed: false,
    });
    expect(await events("TRADING_STATE_CHANGED")).toHaveLength(1);
  });
});

describe("admin auth on PUT /v1/trading-state", () => {
  beforeEach(() => resetWorld());
  const change = { state: "HALTED", reason: "auth test" };

  it("no token: 401", async () => {
    expect(await putTradingState(change, null)).toMatchObject({
      status: 401,
      body: { error: { code: "unauthorized" } },
    });
  });

  it("the read token: 403", async () => {
    expect(await putTradingState(change, env.GOV_READ_TOKEN!)).toMatchObject({
      status: 403,
      body: { error: { code: "forbidden" } },
    });
  });

  it("a wrong token: 401", async () => {
    expect(await putTradingState(change, `${env.GOV_ADMIN_TOKEN!}x`)).toMatchObject({
      status: 401,
      body: { error: { code: "unauthorized" } },
    });
  });

  it("the admin token: 200, and nothing changed on any refusal before it", async () => {
    expect(await redis.get(keys.tradingState)).toBeNull();
    expect(await events("TRADING_STATE_CHANGED")).toEqual([]);
    expect((await putTradingState(change)).status).toBe(200);
    expect(await events("TRADING_STATE_CHANGED")).toHaveLength(1);
  });

  it("no admin token configured: 503 for everyone, never open", async () => {
    const { GOV_ADMIN_TOKEN: _unset, ...withoutAdmin } = env;
    for (const token of [undefined, env.GOV_READ_TOKEN!, env.GOV_ADMIN_TOKEN!]) {
      const response = await worker.fetch(
        new Request("http://governor/v1/trading-state", {
          method: "PUT",
          headers: token ? { authorization: `Bearer ${token}` } : {},
          body: JSON.stringify(change),
        }),
        withoutAdmin,
        createExecutionContext(),
      );
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: { code: "admin_not_configured" } });
    }
    expect(await redis.get(keys.tradingState)).toBeNull();
  });

  it("GET takes the read token (or the admin token), not none", async () => {
    expect((await getJson("/v1/trading-state")).status).toBe(200);
    expect((await getJson("/v1/trading-state", env.GOV_ADMIN_TOKEN!)).status).toBe(200);
    expect((await getJson("/v1/trading-state", "nope")).status).toBe(401);
  });

  it("a bad body: 400 naming the problem; the read token never gets that far", async () => {
    for (const body of [
      { state: "PAUSED", reason: "x" },
      { state: "HALTED" },
      { state: "HALTED", reason: "" },
      { state: "HALTED", reason: "x".repeat(201) },
      { state: "HALTED", reason: "x", actor: "drawdown_breaker" },
      { state: "HALTED", reason: "x", extra: 1 },
    ]) {
      const answer = await putTradingState(body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error.code).toBe("invalid_trading_state");
    }
    expect((await putTradingState({ state: "PAUSED" }, env.GOV_READ_TOKEN!)).status).toBe(403);
    expect(await events("TRADING_STATE_CHANGED")).toEqual([]);
  });
});

describe("operators see it: status and dashboard", () => {
  beforeEach(() => world([{ symbol: "ETHUSDT", amt: 1 }]));

  it("GET /v1/status carries the trading state", async () => {
    expect((await getJson("/v1/status")).body.trading_state).toEqual({ state: "ACTIVE" });
    await putTradingState({ state: "REDUCING", reason: "risk review", actor: "alice" });
    expect((await getJson("/v1/status")).body.trading_state).toMatchObject({
      state: "REDUCING",
      reason: "risk review",
      actor: "alice",
    });
  });

  it("the dashboard shows a banner while REDUCING or HALTED, and controls that ask for the admin token", async () => {
    const page = async () => {
      const response = await exports.default.fetch(
        new Request(`http://governor/?token=${env.GOV_READ_TOKEN!}`, {
          headers: { accept: "text/html" },
        }),
      );
      expect(response.status).toBe(200);
      return { html: await response.text(), csp: response.headers.get("content-security-policy")! };
    };
    const active = await page();
    expect(active.html).not.toMatch(/<div class="trading-banner trading-(REDUCING|HALTED)"/);

    await putTradingState({ state: "HALTED", reason: "exchange <incident>", actor: "alice" });
    const { html, csp } = await page();
    const banner = /<div class="trading-banner trading-HALTED"[^>]*>(.*?)<\/div>/.exec(html)?.[1];
    expect(banner).toMatch(/<b>HALTED<\/b> by <b>alice<\/b>/);
    expect(banner).toContain("exchange &lt;incident&gt;"); // escaped
    expect(banner).toContain("every entry is refused and no rotation starts; closes pass");

    // The controls: three actions, the admin token typed (a password field without a name,
    // so it is never submitted as a form field nor put in a URL), sent by the page's own
    // script as a header to this origin, which the page's CSP allows and nothing else.
    const form = /<form id="state-form"[^>]*>([\s\S]*?)<\/form>/.exec(html)?.[1] ?? "";
    expect(form).toMatch(/<input id="admin-token" type="password"/);
    expect(form).not.toMatch(/<input[^>]*\bname=/);
    expect([...form.matchAll(/<button type="submit"[^>]*value="(\w+)"/g)].map((m) => m[1])).toEqual(
      ["HALTED", "REDUCING", "ACTIVE"],
    );
    expect(html).toContain('fetch("/v1/trading-state"');
    expect(html).not.toContain(env.GOV_ADMIN_TOKEN!);
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("form-action 'self'");
    expect(csp).toMatch(/script-src 'nonce-[^']+'/);
  });
});
