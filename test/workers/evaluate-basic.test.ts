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
} from "./helpers.ts";

describe("POST /v1/plans: slots free", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]);
    await setRegime("BTCUSDT", "BASE");
  });

  it("allows an entry when holders < desired and writes the permit", async () => {
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
    const { status, body } = await postPlan({ plan_id: "p-free-1", symbol: "BTCUSDT", score: 1 });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      plan_id: "p-free-1",
      decision: "ALLOW",
      reason: "active_slots_slot_free",
      regime: { name: "BASE", desired_slots: 4 },
      slots: { desired: 4, holders: 2 },
    });
    const permit = JSON.parse((await redis.get(keys.permit("p-free-1"))) as string);
    expect(permit).toMatchObject({ plan_id: "p-free-1", symbol: "BTCUSDT" });
    expect(await redis.ttl(keys.permit("p-free-1"))).toBeGreaterThan(50);
    expect((await events("PLAN_ALLOWED")).map((e) => e.plan_id)).toEqual(["p-free-1"]);
  });
});
