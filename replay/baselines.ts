/**
 * Baselines on the same data and book: `no-gate` opens every EXECUTE entry;
 * `static-N` opens an entry while fewer than N symbols are held (an entry on a
 * held symbol adds to it), with no regime and no rotation. Closes always pass.
 */
import { isClose } from "../lib/plans/schema.ts";
import type { Book } from "./book.ts";
import { emptyStep, type Gate, type GateDecision, type GateStep } from "./gate.ts";
import type { ReplayPlan } from "./plans.ts";

export const BASELINE_REASONS = {
  close: "baseline_close",
  noGate: "baseline_no_gate",
  slotFree: "baseline_slot_free",
  holdsSlot: "baseline_symbol_holds_slot",
  full: "baseline_slots_full",
} as const;

function step(decision: GateDecision): GateStep {
  return { ...emptyStep(), decisions: [decision] };
}

const noRotations = {
  async sweep() {
    return emptyStep();
  },
  async confirm() {},
};

export function noGate(baseSlots: number): Gate {
  return {
    name: "no-gate",
    params: { kind: "no-gate" },
    baseSlots,
    gated: false,
    async evaluate(plan: ReplayPlan) {
      const reason = isClose(plan) ? BASELINE_REASONS.close : BASELINE_REASONS.noGate;
      return step({ plan_id: plan.plan_id, symbol: plan.symbol, decision: "ALLOW", reason });
    },
    ...noRotations,
  };
}

export function staticSlots(slots: number, book: Book): Gate {
  return {
    name: `static-${slots}`,
    params: { kind: "static-N", N: slots },
    baseSlots: slots,
    fixedCap: slots,
    gated: true,
    async evaluate(plan: ReplayPlan) {
      const base = { plan_id: plan.plan_id, symbol: plan.symbol };
      if (isClose(plan))
        return step({ ...base, decision: "ALLOW", reason: BASELINE_REASONS.close });
      if (book.positions.has(plan.symbol)) {
        return step({ ...base, decision: "ALLOW", reason: BASELINE_REASONS.holdsSlot });
      }
      if (book.positions.size < slots) {
        return step({ ...base, decision: "ALLOW", reason: BASELINE_REASONS.slotFree });
      }
      return step({ ...base, decision: "BLOCK", reason: BASELINE_REASONS.full });
    },
    ...noRotations,
  };
}
