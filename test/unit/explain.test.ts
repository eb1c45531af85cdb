import { describe, expect, it } from "vitest";
import { explainDecision, hasExplanation } from "../../lib/plans/explain.ts";
import type { DecisionBody } from "../../lib/plans/explain.ts";
import { REASONS, type Reason } from "../../lib/plans/reasons.ts";

const ALLOW_REASONS = new Set<string>([
  REASONS.closeAllowed,
  REASONS.disabled,
  REASONS.slotFree,
  REASONS.symbolHoldsSlot,
  REASONS.rotationComplete,
  REASONS.shadow,
]);

const BASE4 = { name: "BASE" as const, trend: 0.024, atr_pct: 0.0135, desired_slots: 4 };
const CHOP3 = { name: "CHOP" as const, trend: 0.002, atr_pct: 0.055, desired_slots: 3 };

function body(reason: string, extra: Partial<DecisionBody> = {}): DecisionBody {
  return {
    plan_id: "p-1",
    symbol: "ADAUSDT",
    decision: ALLOW_REASONS.has(reason) ? "ALLOW" : "BLOCK",
    reason,
    ...extra,
  };
}

/**
 * Each code as the governor answers it (details as lib/evaluate/gates.ts and
 * the Lua scripts in lib/rotation/lua/ write them), and what a person must read in its explanation.
 */
const FIXTURES: Partial<Record<Reason, { body: DecisionBody; why: RegExp[]; next?: RegExp }>> = {
  [REASONS.closeAllowed]: { body: body(REASONS.closeAllowed), why: [/close reduces risk/] },
  [REASONS.disabled]: { body: body(REASONS.disabled), why: [/GOV_ACTIVE_SLOTS_ENABLED=false/] },
  [REASONS.slotFree]: {
    body: body(REASONS.slotFree, { regime: BASE4, slots: { desired: 4, holders: 4 } }),
    why: [/BASE allows 4 slots and 3 were held/, /ADAUSDT's/],
  },
  [REASONS.symbolHoldsSlot]: {
    body: body(REASONS.symbolHoldsSlot, { regime: BASE4, slots: { desired: 4, holders: 3 } }),
    why: [/ADAUSDT already holds a slot/, /3\/4 in BASE/],
  },
  [REASONS.rotationComplete]: {
    body: body(REASONS.rotationComplete, {
      rotation: { close_symbol: "SOLUSDT", close_plan_id: "rot_p-1_SOLUSDT" },
    }),
    why: [/close of SOLUSDT was confirmed/, /went to ADAUSDT/],
  },
  [REASONS.shadow]: {
    body: body(REASONS.shadow, {
      shadow: true,
      slots: { desired: 4, holders: 4 },
      regime: BASE4,
      details: {
        would_be: { decision: "BLOCK", reason: REASONS.rotationBelowThreshold },
        victim: "SOLUSDT",
        victim_score: 2,
        required: 2.3,
        score: 1,
      },
    }),
    why: [/shadow mode/, /would be BLOCK active_slots_rotation_below_threshold/, /2\.30/],
  },
  [REASONS.noPolicy]: {
    body: body(REASONS.noPolicy),
    why: [/no universe/, /quantum:policy:current/],
    next: /HSET quantum:policy:current universe_symbols '\["ADAUSDT"\]'.*npm run universe/,
  },
  [REASONS.notInUniverse]: {
    body: body(REASONS.notInUniverse),
    why: [/ADAUSDT is not in the universe/],
    next: /npm run universe -- --add ADAUSDT/,
  },
  [REASONS.positionsUnavailable]: {
    body: body(REASONS.positionsUnavailable, { details: { error: "BinanceHttpError: 503" } }),
    why: [/could not be read from Binance \(BinanceHttpError: 503\)/],
    next: /not final/,
  },
  [REASONS.regimeUnavailable]: {
    body: body(REASONS.regimeUnavailable, { details: { error: "NotEnoughDataError" } }),
    why: [/no regime for ADAUSDT/, /NotEnoughDataError/],
    next: /resubmit/,
  },
  [REASONS.correlationLimit]: {
    body: body(REASONS.correlationLimit, {
      regime: BASE4,
      slots: { desired: 4, holders: 3 },
      details: { symbol: "ETHUSDT", value: 0.9134, samples: 98, max: 0.8 },
    }),
    why: [/correlate 0\.91 with the open ETHUSDT position/, /cap 0\.80/, /98 hours/],
    next: /wait for the close of ETHUSDT/,
  },
  [REASONS.correlationUnavailable]: {
    body: body(REASONS.correlationUnavailable, {
      details: { symbol: "ETHUSDT", value: null, samples: 12, max: 0.8 },
    }),
    why: [/open ETHUSDT position is unknown/, /12 common hourly returns, 30 needed/],
    next: /ETHUSDT's klines/,
  },
  [REASONS.marginCap]: {
    body: body(REASONS.marginCap, { regime: BASE4, details: { usage: 0.7312, cap: 0.65 } }),
    why: [/margin use would be 73\.1 %/, /cap 65\.0 %/],
    next: /smaller notional/,
  },
  [REASONS.marginUnavailable]: {
    body: body(REASONS.marginUnavailable, { details: { totalMarginBalance: 0 } }),
    why: [/total margin balance is 0\.00 USDT/],
    next: /positive margin balance/,
  },
  [REASONS.overCapacity]: {
    body: body(REASONS.overCapacity, { regime: CHOP3, slots: { desired: 3, holders: 4 } }),
    why: [/CHOP allows 3 slots and 4 are held/],
    next: /wait until 1 position closes,/,
  },
  [REASONS.waitingRotationClose]: {
    body: body(REASONS.waitingRotationClose, {
      regime: BASE4,
      slots: { desired: 4, holders: 4 },
      rotation: { close_symbol: "SOLUSDT", close_plan_id: "rot_p-1_SOLUSDT", lock_age: 7 },
    }),
    why: [/slots are full \(4\/4 in BASE\)/, /SOLUSDT/, /rot_p-1_SOLUSDT, 7 s ago/],
    next: /wait for the close of SOLUSDT/,
  },
  [REASONS.rotationTimeout]: {
    body: body(REASONS.rotationTimeout, {
      rotation: { close_symbol: "SOLUSDT", close_plan_id: "rot_p-1_SOLUSDT", lock_age: 121 },
      details: { lock_age: 121, ttl: 120 },
    }),
    why: [/close of SOLUSDT was not confirmed within 120 s \(lock age 121 s\)/],
    next: /new plan/,
  },
  [REASONS.noRotationCandidate]: {
    body: body(REASONS.noRotationCandidate, { regime: BASE4, slots: { desired: 4, holders: 4 } }),
    why: [/4\/4 in BASE/, /no open position can be rotated out/],
    next: /wait/,
  },
  [REASONS.rotationBelowThreshold]: {
    body: body(REASONS.rotationBelowThreshold, {
      regime: BASE4,
      slots: { desired: 4, holders: 4 },
      details: { victim: "SOLUSDT", victim_score: 2, required: 2.3, score: 2 },
    }),
    why: [
      /rotating out SOLUSDT \(entry score 2\.00\) needs a score of at least 2\.30/,
      /sent 2\.00/,
    ],
    next: /send a score of at least 2\.30/,
  },
  [REASONS.rotationBudget]: {
    body: body(REASONS.rotationBudget, {
      regime: BASE4,
      slots: { desired: 4, holders: 4 },
      details: { max_per_hour: 6 },
    }),
    why: [/6 rotations already started in the last hour/],
    next: /an hour old/,
  },
  [REASONS.symbolRotatingOut]: {
    body: body(REASONS.symbolRotatingOut, { details: { lock_plan_id: "cli-1234" } }),
    why: [/ADAUSDT is being closed by the rotation of plan cli-1234/],
    next: /rotation ends/,
  },
  [REASONS.rotationInFlight]: {
    body: body(REASONS.rotationInFlight, {
      details: {
        lock_plan_id: "cli-0001",
        close_symbol: "SOLUSDT",
        close_plan_id: "rot_cli-0001_SOLUSDT",
      },
    }),
    why: [/already in flight \(plan cli-0001, closing SOLUSDT\)/],
    next: /not final/,
  },
  [REASONS.reducing]: {
    body: body(REASONS.reducing),
    why: [/trading state is REDUCING: no entry that adds risk, closes pass$/],
    next: /PUT \/v1\/trading-state.*not final/,
  },
  [REASONS.halted]: {
    body: body(REASONS.halted, {
      rotation: { close_symbol: "SOLUSDT", close_plan_id: "rot_p-1_SOLUSDT" },
      details: { rotation_complete: true },
    }),
    why: [/HALTED/, /the close of SOLUSDT was confirmed, but its entry is not granted/],
    next: /back to ACTIVE/,
  },
};

const ALL_CODES = Object.values(REASONS) as string[];

describe("explainDecision: every reason code in lib/plans/reasons.ts", () => {
  it.each(ALL_CODES)("%s has its own explanation", (code) => {
    expect(hasExplanation(code), `add an explainer for ${code} to lib/plans/explain.ts`).toBe(true);
  });

  it.each(ALL_CODES)("%s has a test fixture here with its figures", (code) => {
    expect(FIXTURES[code as Reason], `add ${code} to FIXTURES in this file`).toBeDefined();
  });

  it.each(ALL_CODES)("%s explains itself even with no figures in the body", (code) => {
    const { why, next } = explainDecision({ plan_id: "p", decision: "BLOCK", reason: code });
    expect(why.length).toBeGreaterThan(10);
    for (const line of [why, next ?? ""]) {
      expect(line).not.toMatch(/undefined|NaN|null|\[object/);
      expect(line).not.toContain("no explanation");
    }
  });

  it.each(Object.entries(FIXTURES))("%s names its figures and what would change it", (code, f) => {
    const { why, next } = explainDecision(f!.body);
    for (const pattern of f!.why) expect(why).toMatch(pattern);
    if (f!.next) expect(next).toMatch(f!.next);
    expect(why).not.toMatch(/undefined|NaN|\?/);
    expect(code).toBe(f!.body.reason);
  });

  it("every BLOCK code says what would change it", () => {
    for (const code of ALL_CODES.filter((c) => !ALLOW_REASONS.has(c))) {
      expect(explainDecision(body(code)).next, code).toMatch(/\w/);
    }
  });
});

describe("explainDecision: beyond the table", () => {
  it("a code without an explanation gets a generic line with its details, not an error", () => {
    const { why, next } = explainDecision({
      plan_id: "p",
      decision: "BLOCK",
      reason: "active_slots_something_new",
      regime: BASE4,
      slots: { desired: 4, holders: 4 },
      details: { symbol: "ETHUSDT", count: 2, nested: { a: 1 } },
    });
    expect(why).toBe(
      "BLOCK active_slots_something_new: no explanation for this reason code yet " +
        "(slots 4/4 in BASE); symbol=ETHUSDT, count=2",
    );
    expect(next).toBeUndefined();
  });

  it("IGNORED plans were not evaluated", () => {
    expect(explainDecision({ plan_id: "p", decision: "IGNORED" }).why).toMatch(/not EXECUTE/);
  });

  it("quotes the configured key prefix in Redis commands", () => {
    const { next } = explainDecision(body(REASONS.noPolicy), { keyPrefix: "paper" });
    expect(next).toMatch(/HSET paper:policy:current/);
  });

  it("a shadow ALLOW without a would-be reason still explains itself", () => {
    expect(explainDecision(body(REASONS.shadow)).why).toMatch(/every entry is granted/);
  });

  it("over capacity after a confirmed rotation says the close happened", () => {
    const { why } = explainDecision(
      body(REASONS.overCapacity, {
        regime: CHOP3,
        slots: { desired: 3, holders: 5 },
        details: { rotation_complete: true },
      }),
    );
    expect(why).toMatch(/^the rotation's close was confirmed, but CHOP allows 3 slots and 5/);
    expect(
      explainDecision(body(REASONS.overCapacity, { slots: { desired: 3, holders: 5 } })).next,
    ).toMatch(/2 positions close/);
  });
});
