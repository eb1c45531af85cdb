import { describe, expect, it } from "vitest";
import { redisKeys } from "../../lib/keys.ts";

describe("redisKeys", () => {
  it("keeps the deployed system's key names under the prefix", () => {
    const keys = redisKeys("quantum");
    expect(keys.applyPlanStream).toBe("quantum:stream:apply.plan");
    expect(keys.applyResultStream).toBe("quantum:stream:apply.result");
    expect(keys.eventsStream).toBe("quantum:stream:governor.events");
    expect(keys.policy).toBe("quantum:policy:current");
    expect(keys.rotationLock("p1")).toBe("quantum:rotation:lock:p1");
    expect(keys.permit("p1")).toBe("quantum:permit:p1");
    expect(keys.block("p1")).toBe("quantum:governor:block:p1");
  });
});
