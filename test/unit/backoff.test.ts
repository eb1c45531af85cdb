import { describe, expect, it } from "vitest";
import { BACKOFF_ESCALATION_CAP_MS, escalatedBackoffMs } from "../../lib/binance/redis-state.ts";

describe("escalatedBackoffMs: the shared backoff grows on repeats", () => {
  it("is Retry-After on the first strike", () => {
    expect(escalatedBackoffMs(1, 60_000)).toBe(60_000);
  });
  it("doubles on each repeat", () => {
    expect([2, 3, 4].map((n) => escalatedBackoffMs(n, 60_000))).toEqual([
      120_000, 240_000, 480_000,
    ]);
  });
  it("stops growing at the cap", () => {
    expect(escalatedBackoffMs(40, 60_000)).toBe(BACKOFF_ESCALATION_CAP_MS);
  });
  it("never shortens a longer Retry-After (a 3-day ban is honoured)", () => {
    expect(escalatedBackoffMs(5, 259_200_000)).toBe(259_200_000);
  });
});
