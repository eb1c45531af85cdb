/** Stable reason codes (docs/contract.md §3). Other systems match on these strings: never rename. */
export const REASONS = {
  closeAllowed: "active_slots_close_allowed",
  disabled: "active_slots_disabled",
  slotFree: "active_slots_slot_free",
  symbolHoldsSlot: "active_slots_symbol_holds_slot",
  rotationComplete: "active_slots_rotation_complete",
  shadow: "active_slots_shadow_mode",
  noPolicy: "active_slots_no_policy",
  notInUniverse: "active_slots_not_in_universe",
  positionsUnavailable: "active_slots_positions_unavailable",
  regimeUnavailable: "active_slots_regime_unavailable",
  correlationLimit: "active_slots_correlation_limit",
  correlationUnavailable: "active_slots_correlation_unavailable",
  marginCap: "active_slots_margin_cap",
  marginUnavailable: "active_slots_margin_unavailable",
  overCapacity: "active_slots_over_capacity",
  waitingRotationClose: "active_slots_waiting_rotation_close",
  rotationTimeout: "active_slots_rotation_timeout",
  noRotationCandidate: "active_slots_no_rotation_candidate",
  rotationBelowThreshold: "active_slots_rotation_below_threshold",
  rotationBudget: "active_slots_rotation_budget",
  /** An entry on the symbol a rotation is closing would reopen it. */
  symbolRotatingOut: "active_slots_symbol_rotating_out",
  /** Another plan's rotation is already bringing this symbol in (one rotation per incoming symbol). */
  rotationInFlight: "active_slots_rotation_in_flight",
  /** The trading state is REDUCING: no entry that adds risk (closes pass). */
  reducing: "active_slots_reducing",
  /** The trading state is HALTED: no entry at all (closes pass). */
  halted: "active_slots_halted",
} as const;

export type Reason = (typeof REASONS)[keyof typeof REASONS];

/** BLOCKs that wait on something outside the plan: the same plan may be evaluated again. */
const WAITING: ReadonlySet<Reason> = new Set([
  REASONS.waitingRotationClose,
  REASONS.rotationInFlight,
  // An operator's trading state: the plan may pass after a resume.
  REASONS.reducing,
  REASONS.halted,
]);

/**
 * Final decisions are replayed for the same plan; the waiting and
 * *_unavailable blocks are not (the plan may be re-evaluated).
 */
export function isFinal(decision: "ALLOW" | "BLOCK", reason: Reason): boolean {
  if (decision === "ALLOW") return true;
  return !WAITING.has(reason) && !reason.endsWith("_unavailable");
}
