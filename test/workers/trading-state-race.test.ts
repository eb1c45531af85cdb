/**
 * A change of the trading state racing evaluations in flight: the state is
 * read inside the atomic step that decides, so no ALLOW is ever recorded after
 * the HALTED change in the events stream's order, even for an evaluation
 * that took its snapshot (positions, regime, gates) before the change.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { governorContext } from "../../lib/context.ts";
import { evaluatePlan } from "../../lib/evaluate/evaluate.ts";
import { scriptSha } from "../../lib/redis/scripts.ts";
import { SCRIPTS } from "../../lib/rotation/scripts.ts";
import {
  events,
  keys,
  putTradingState,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  beforeSlotScript,
} from "./helpers.ts";

const gov = governorContext(env);

const plan = (planId: string, symbol = "ETHUSDT") => ({
  plan_id: planId,
  symbol,
  action: "OPEN",
  decision: "EXECUTE",
});

describe("a trading state change racing evaluations", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setRegime("ETHUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("an evaluation paused before its slot step, with the gates passed, is blocked by a halt made meanwhile", async () => {
    const slotsSha = await scriptSha(SCRIPTS.evaluateSlots);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let paused!: () => void;
    const atSlotStep = new Promise<void>((resolve) => (paused = resolve));
    const evaluation = evaluatePlan(plan("race-held", "BTCUSDT"), {
      ...gov,
      redis: beforeSlotScript(gov.redis, slotsSha, async () => {
        paused();
        await gate;
      }),
    });
    await atSlotStep; // positions, regime, correlation and margin all passed
    expect((await putTradingState({ state: "HALTED", reason: "race" })).status).toBe(200);
    release();
    const { body } = await evaluation;
    expect(body).toMatchObject({ decision: "BLOCK", reason: "active_slots_halted" });
    expect(await redis.get(keys.permit("race-held"))).toBeNull();
    expect(await redis.hget(keys.reservations, "BTCUSDT")).toBeNull();
  });

  it("concurrent evaluations around a halt: every ALLOW precedes the change in the stream, every halted BLOCK follows it", async () => {
    const ids = Array.from({ length: 24 }, (_, i) => `race-${String(i).padStart(2, "0")}`);
    const answers = new Map<string, string>();
    let sixAnswered!: () => void;
    const halfway = new Promise<void>((resolve) => (sixAnswered = resolve));
    const evaluate = async (id: string) => {
      const { body } = await evaluatePlan(plan(id), gov);
      answers.set(id, `${body.decision} ${body.reason}`);
      if (answers.size === 6) sixAnswered();
    };
    // All start together; the halt is sent once six have answered, the others still in flight.
    const halt = halfway.then(() => putTradingState({ state: "HALTED", reason: "race" }));
    await Promise.all([...ids.map(evaluate), halt]);
    expect((await halt).status).toBe(200);

    const stream = await events();
    const changedAt = stream.findIndex((e) => e.event === "TRADING_STATE_CHANGED");
    expect(changedAt).toBeGreaterThanOrEqual(0);
    const decided = stream.filter((e) => e.event === "PLAN_ALLOWED" || e.event === "PLAN_BLOCKED");
    expect(decided).toHaveLength(ids.length);
    for (const e of stream) {
      const at = stream.indexOf(e);
      if (e.event === "PLAN_ALLOWED") expect(at, `${e.plan_id} ALLOWED`).toBeLessThan(changedAt);
      if (e.event === "PLAN_BLOCKED") {
        expect(e.reason).toBe("active_slots_halted");
        expect(at, `${e.plan_id} BLOCKED`).toBeGreaterThan(changedAt);
      }
    }
    // Each answer is what its event says.
    for (const e of decided) {
      expect(answers.get(e.plan_id!)).toBe(
        e.event === "PLAN_ALLOWED"
          ? "ALLOW active_slots_symbol_holds_slot"
          : "BLOCK active_slots_halted",
      );
    }
    expect(decided.filter((e) => e.event === "PLAN_ALLOWED").length).toBeGreaterThanOrEqual(6);
    console.log(
      `race: ${decided.filter((e) => e.event === "PLAN_ALLOWED").length} allowed before the halt, ` +
        `${decided.filter((e) => e.event === "PLAN_BLOCKED").length} blocked after it`,
    );
  });
});
