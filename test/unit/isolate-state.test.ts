import { beforeEach, describe, expect, it } from "vitest";
import {
  confirmSpeculation,
  forgetBinanceStates,
  forgetFinalPlans,
  knownFinalPlan,
  rememberFinalPlan,
  maySpeculate,
  rememberBinanceState,
  rememberedBinanceState,
  rememberRead,
} from "../../lib/binance/isolate-state.ts";

const NOW = 1_760_000_000_000;
const SCOPE = "quantum:governor:binance:backoff_until";

describe("the isolate's memory of the shared Binance state", () => {
  beforeEach(() => forgetBinanceStates());

  it("knows nothing before the first read: the first evaluation stays sequential", () => {
    expect(rememberedBinanceState(SCOPE)).toBeUndefined();
  });

  it("is kept per scope (key prefix)", () => {
    rememberRead(SCOPE, { backoffUntilMs: 0, timeOffsetMs: 12 }, undefined);
    expect(rememberedBinanceState(SCOPE)).toEqual({ backoffUntilMs: 0, timeOffsetMs: 12 });
    expect(rememberedBinanceState("other:governor:binance:backoff_until")).toBeUndefined();
  });

  it("speculates only when no remembered backoff runs", () => {
    expect(maySpeculate({ backoffUntilMs: 0, timeOffsetMs: 0 }, NOW)).toBe(true);
    expect(maySpeculate({ backoffUntilMs: NOW - 1, timeOffsetMs: 0 }, NOW)).toBe(true);
    expect(maySpeculate({ backoffUntilMs: NOW + 1, timeOffsetMs: 0 }, NOW)).toBe(false);
  });

  it("discards the speculative answer when the read shows a running backoff", () => {
    expect(confirmSpeculation({ backoffUntilMs: NOW + 1, timeOffsetMs: 0 }, NOW)).toBe("discard");
  });

  it("keeps the answer when the read shows no backoff, even with another clock offset", () => {
    expect(confirmSpeculation({ backoffUntilMs: 0, timeOffsetMs: 900 }, NOW)).toBe("keep");
    expect(confirmSpeculation({ backoffUntilMs: NOW, timeOffsetMs: 0 }, NOW)).toBe("keep");
  });

  it("takes the read's clock offset over a stale one", () => {
    const known = { backoffUntilMs: 0, timeOffsetMs: 0 };
    rememberBinanceState(SCOPE, known);
    rememberRead(SCOPE, { backoffUntilMs: 0, timeOffsetMs: 600_000 }, known);
    expect(rememberedBinanceState(SCOPE)?.timeOffsetMs).toBe(600_000);
  });

  it("keeps an offset this isolate measured while the read was in flight", () => {
    const known = { backoffUntilMs: 0, timeOffsetMs: 0 };
    rememberBinanceState(SCOPE, known);
    rememberBinanceState(SCOPE, { timeOffsetMs: 600_123 }); // a resync finished first
    rememberRead(SCOPE, { backoffUntilMs: 0, timeOffsetMs: 0 }, known);
    expect(rememberedBinanceState(SCOPE)?.timeOffsetMs).toBe(600_123);
  });

  it("never shortens a backoff on a read that may predate it", () => {
    const known = { backoffUntilMs: 0, timeOffsetMs: 0 };
    rememberBinanceState(SCOPE, known);
    rememberBinanceState(SCOPE, { backoffUntilMs: NOW + 30_000 }); // a 429 during the read
    rememberRead(SCOPE, { backoffUntilMs: 0, timeOffsetMs: 0 }, known);
    expect(rememberedBinanceState(SCOPE)?.backoffUntilMs).toBe(NOW + 30_000);
    rememberRead(SCOPE, { backoffUntilMs: NOW + 90_000, timeOffsetMs: 0 }, known);
    expect(rememberedBinanceState(SCOPE)?.backoffUntilMs).toBe(NOW + 90_000);
  });

  it("forgets a remembered backoff the next read no longer shows (stale memory lasts one read)", () => {
    const known = { backoffUntilMs: NOW + 60_000, timeOffsetMs: 0 };
    rememberBinanceState(SCOPE, known);
    rememberRead(SCOPE, { backoffUntilMs: 0, timeOffsetMs: 0 }, known);
    expect(rememberedBinanceState(SCOPE)).toEqual({ backoffUntilMs: 0, timeOffsetMs: 0 });
    expect(maySpeculate(rememberedBinanceState(SCOPE)!, NOW)).toBe(true);
  });
});

describe("the isolate's memory of plans whose decision became final", () => {
  beforeEach(() => forgetFinalPlans());

  it("knows a plan until its decision cache expires, per scope", () => {
    rememberFinalPlan(SCOPE, "p1", NOW + 1000);
    expect(knownFinalPlan(SCOPE, "p1", NOW)).toBe(true);
    expect(knownFinalPlan(SCOPE, "p2", NOW)).toBe(false);
    expect(knownFinalPlan("other:governor:binance:backoff_until", "p1", NOW)).toBe(false);
    expect(knownFinalPlan(SCOPE, "p1", NOW + 1000)).toBe(false);
    expect(knownFinalPlan(SCOPE, "p1", NOW)).toBe(false);
  });
});
