import { beforeEach, describe, expect, it } from "vitest";
import {
  events,
  keys,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  streamEntries,
} from "./helpers.ts";
import { toHash } from "../../lib/redis/replies.ts";

const HELD = ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"];
const CANDIDATES = Array.from({ length: 30 }, (_, i) => `C${String(i).padStart(2, "0")}USDT`);

describe("concurrent evaluations", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse([...HELD, ...CANDIDATES]);
    await sim("PUT", "/__sim/apply", { auto: false });
    for (const symbol of CANDIDATES) await setRegime(symbol, "BASE");
  });

  it("with 3 of 4 slots held, 30 distinct entries at once yield exactly one ALLOW", async () => {
    await setPositions(HELD.slice(0, 3).map((symbol) => ({ symbol, amt: 1 })));
    const answers = await Promise.all(
      CANDIDATES.map((symbol, i) => postPlan({ plan_id: `race-${i}`, symbol })),
    );
    const allowed = answers.filter((a) => a.body.decision === "ALLOW");
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(allowed).toHaveLength(1);
    const reservations = toHash(await redis.hgetall(keys.reservations));
    expect(Object.keys(reservations)).toEqual([allowed[0]!.body.symbol]);
    const permits = await Promise.all(
      CANDIDATES.map((_, i) => redis.exists(keys.permit(`race-${i}`))),
    );
    expect(permits.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it("with 4 of 4 held, concurrent strong candidates never emit two close plans for one position", async () => {
    await setPositions(HELD.map((symbol, i) => ({ symbol, amt: 1, pnl: -i })));
    const answers = await Promise.all(
      CANDIDATES.slice(0, 12).map((symbol, i) =>
        postPlan({ plan_id: `strong-${i}`, symbol, score: 5 }),
      ),
    );
    const closePlans = await streamEntries(keys.applyPlanStream);
    const closed = closePlans.map((p) => p.symbol);
    expect(new Set(closed).size).toBe(closed.length);
    expect(closed.length).toBe(4);
    expect(
      answers.filter((a) => a.body.reason === "active_slots_waiting_rotation_close"),
    ).toHaveLength(4);
    expect(
      answers.filter((a) => a.body.reason === "active_slots_no_rotation_candidate"),
    ).toHaveLength(8);
    expect(answers.some((a) => a.body.decision === "ALLOW")).toBe(false);
  });

  it("the same entry delivered 10 times at once yields one decision and one permit", async () => {
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => postPlan({ plan_id: "dup-allow", symbol: "C00USDT" })),
    );
    expect(answers.every((a) => a.body.decision === "ALLOW")).toBe(true);
    expect(answers.filter((a) => !a.body.replayed)).toHaveLength(1);
    expect(await events("PLAN_ALLOWED")).toHaveLength(1);
  });

  it("the same rotating plan delivered 10 times at once yields at most one close plan", async () => {
    await setPositions(HELD.map((symbol) => ({ symbol, amt: 1 })));
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        postPlan({ plan_id: "dup-rot", symbol: "C00USDT", score: 5 }),
      ),
    );
    expect(answers.every((a) => a.body.reason === "active_slots_waiting_rotation_close")).toBe(
      true,
    );
    expect(await streamEntries(keys.applyPlanStream)).toHaveLength(1);
    expect(await events("ROTATION_LOCK_CREATED")).toHaveLength(1);
    expect(new Set(answers.map((a) => a.body.rotation?.close_plan_id)).size).toBe(1);
  });
});
