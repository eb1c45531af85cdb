import { describe, expect, it } from "vitest";
import { GATES, gatePath, type GateView } from "../../lib/plans/gate-path.ts";
import type { DecisionBody } from "../../lib/plans/explain.ts";
import { REASONS } from "../../lib/plans/reasons.ts";

const BASE4 = { name: "BASE" as const, trend: 0.0252, atr_pct: 0.0136, desired_slots: 4 };

const VIEW: GateView = {
  universe: ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"],
  positions: [{ symbol: "SOLUSDT" }, { symbol: "ETHUSDT" }, { symbol: "BTCUSDT" }],
  maxCorrelation: 0.8,
  figures: {
    correlations: [
      { symbol: "SOLUSDT", status: "ok", value: 0.17 },
      { symbol: "ETHUSDT", status: "ok", value: 0.06 },
      { symbol: "BTCUSDT", status: "ok", value: -0.2 },
    ],
    margin: { usage: 0.329, cap: 0.65 },
  },
};

function answer(extra: Partial<DecisionBody>): DecisionBody {
  return { plan_id: "p-1", symbol: "XRPUSDT", decision: "BLOCK", ...extra };
}

const marks = (body: DecisionBody, view: GateView = VIEW) =>
  gatePath(body, view)
    .map((s) => `${s.gate}:${s.mark}`)
    .join(" ");

describe("gatePath", () => {
  it("an ALLOW into a free slot passes every gate, with the figures of each", () => {
    const steps = gatePath(
      answer({
        decision: "ALLOW",
        reason: REASONS.slotFree,
        regime: BASE4,
        slots: { desired: 4, holders: 4 },
      }),
      VIEW,
    );
    expect(steps.map((s) => s.gate)).toEqual([...GATES]);
    expect(steps.every((s) => s.mark === "pass")).toBe(true);
    expect(steps.map((s) => s.text)).toEqual([
      "XRPUSDT is one of 4 symbols",
      "3 open: SOLUSDT, ETHUSDT, BTCUSDT (now)",
      "BASE (trend 2.5 %, ATR 1.4 %) → 4 slots",
      "max 0.17 with SOLUSDT (cap 0.80)",
      "projected 32.9 % (cap 65.0 %)",
      "3/4 held → a free slot, now reserved",
    ]);
  });

  it("a universe BLOCK fails the first gate; the others were not reached", () => {
    const body = answer({ reason: REASONS.notInUniverse, symbol: "LTCUSDT" });
    expect(marks(body)).toBe(
      "universe:fail positions:skip regime:skip correlation:skip margin:skip slots:skip",
    );
    expect(gatePath(body, VIEW)[0]!.text).toBe(
      "LTCUSDT is not in it (BTCUSDT, ETHUSDT, SOLUSDT, XRPUSDT)",
    );
    expect(gatePath(answer({ reason: REASONS.noPolicy }), {})[0]!.text).toBe("no universe policy");
  });

  it("a margin BLOCK shows the projected usage over the cap", () => {
    const body = answer({
      reason: REASONS.marginCap,
      regime: BASE4,
      details: { usage: 0.815, cap: 0.65 },
    });
    expect(marks(body)).toBe(
      "universe:pass positions:pass regime:pass correlation:pass margin:fail slots:skip",
    );
    expect(gatePath(body, VIEW)[4]!.text).toBe("projected 81.5 % > cap 65.0 %");
  });

  it("a correlation BLOCK names the position and its value", () => {
    const body = answer({
      reason: REASONS.correlationLimit,
      regime: BASE4,
      details: { symbol: "ETHUSDT", value: 0.91, samples: 98, max: 0.8 },
    });
    expect(marks(body)).toBe(
      "universe:pass positions:pass regime:pass correlation:fail margin:skip slots:skip",
    );
    expect(gatePath(body, VIEW)[3]!.text).toBe("0.91 with ETHUSDT (cap 0.80)");
  });

  it("a correlation BLOCK decided in the slot step had passed the margin gate", () => {
    const body = answer({
      reason: REASONS.correlationLimit,
      regime: BASE4,
      slots: { desired: 4, holders: 4 },
      details: { symbol: "ETHUSDT", value: 0.91, samples: 98, max: 0.8 },
    });
    expect(marks(body)).toBe(
      "universe:pass positions:pass regime:pass correlation:fail margin:pass slots:info",
    );
  });

  it("a rotation shows which position is closed first", () => {
    const steps = gatePath(
      answer({
        reason: REASONS.waitingRotationClose,
        regime: BASE4,
        slots: { desired: 4, holders: 4 },
        rotation: { close_symbol: "SOLUSDT", close_plan_id: "rot_p-1_SOLUSDT", lock_age: 0 },
      }),
      VIEW,
    );
    expect(steps[5]).toEqual({
      gate: "slots",
      mark: "fail",
      text: "4/4 held → full → rotate out SOLUSDT",
    });
  });

  it("without this plan's figures it says so instead of showing another plan's", () => {
    const steps = gatePath(
      answer({ reason: REASONS.overCapacity, regime: BASE4, slots: { desired: 3, holders: 4 } }),
      { ...VIEW, figures: null },
    );
    expect(steps[3]!.text).toBe("no figures recorded for this plan");
    expect(steps[4]!.text).toBe("no figures recorded for this plan");
    expect(steps[5]).toEqual({
      gate: "slots",
      mark: "fail",
      text: "4/3 held → over capacity: entries wait",
    });
  });

  it("shadow mode shows the gate that would have blocked", () => {
    const body = answer({
      decision: "ALLOW",
      reason: REASONS.shadow,
      regime: BASE4,
      details: {
        usage: 0.9,
        cap: 0.65,
        would_be: { decision: "BLOCK", reason: REASONS.marginCap },
      },
    });
    expect(marks(body)).toBe(
      "universe:pass positions:pass regime:pass correlation:pass margin:fail slots:skip",
    );
  });

  it("closes, a disabled controller and IGNORED plans ran no gate", () => {
    expect(gatePath(answer({ decision: "ALLOW", reason: REASONS.closeAllowed }), VIEW)).toEqual([]);
    expect(gatePath(answer({ decision: "ALLOW", reason: REASONS.disabled }), VIEW)).toEqual([]);
    expect(gatePath(answer({ decision: "IGNORED" }), VIEW)).toEqual([]);
  });

  it("an unknown reason code shows what is known without judging any gate", () => {
    expect(marks(answer({ reason: "active_slots_something_new" }))).toBe(
      "universe:info positions:info regime:info correlation:info margin:info slots:info",
    );
  });

  it("with no open position the correlation gate says so", () => {
    const steps = gatePath(
      answer({
        decision: "ALLOW",
        reason: REASONS.slotFree,
        regime: BASE4,
        slots: { desired: 4, holders: 1 },
      }),
      { ...VIEW, positions: [], figures: { correlations: [], margin: { usage: 0, cap: 0.65 } } },
    );
    expect(steps[1]!.text).toBe("0 open (now)");
    expect(steps[3]!.text).toBe("no other open position");
  });
});
