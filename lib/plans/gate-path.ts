/**
 * The gate-by-gate path of one decision (docs/contract.md §3 steps 3–8), for a person:
 * universe, positions, regime, correlation, margin, slots, then the answer.
 * A pure function of the decision body and what `GET /v1/status` showed right
 * after it (the universe, open positions, and the correlation and margin
 * figures the governor recorded for this very plan).
 */
import type { DecisionBody } from "./explain.ts";
import { REASONS } from "./reasons.ts";

export const GATES = ["universe", "positions", "regime", "correlation", "margin", "slots"] as const;
export type Gate = (typeof GATES)[number];

/** pass ✔, fail ✘ (this gate decided the BLOCK), info · (figures only), skip – (not reached). */
export type GateMark = "pass" | "fail" | "info" | "skip";

export interface GateStep {
  gate: Gate;
  mark: GateMark;
  text: string;
}

export interface PairFigure {
  symbol: string;
  status: string;
  value?: number;
}

/** What the status view adds to the body; every part optional. */
export interface GateView {
  universe?: readonly string[] | null;
  positions?: readonly { symbol: string }[] | null;
  positionsError?: string | null;
  /** Correlation and margin figures recorded for this plan's evaluation (null: none for it). */
  figures?: {
    correlations: readonly PairFigure[];
    margin: { usage: number; cap: number } | null;
  } | null;
  /** GOV_MAX_CORRELATION */
  maxCorrelation?: number;
}

/** The gate whose check decided each reason (the slot step decides the rest). */
const DECIDED_BY: Record<string, Gate> = {
  [REASONS.noPolicy]: "universe",
  [REASONS.notInUniverse]: "universe",
  [REASONS.positionsUnavailable]: "positions",
  [REASONS.regimeUnavailable]: "regime",
  [REASONS.correlationLimit]: "correlation",
  [REASONS.correlationUnavailable]: "correlation",
  [REASONS.marginCap]: "margin",
  [REASONS.marginUnavailable]: "margin",
  [REASONS.slotFree]: "slots",
  [REASONS.symbolHoldsSlot]: "slots",
  [REASONS.rotationComplete]: "slots",
  [REASONS.overCapacity]: "slots",
  [REASONS.waitingRotationClose]: "slots",
  [REASONS.rotationTimeout]: "slots",
  [REASONS.noRotationCandidate]: "slots",
  [REASONS.rotationBelowThreshold]: "slots",
  [REASONS.rotationBudget]: "slots",
  [REASONS.symbolRotatingOut]: "slots",
  [REASONS.rotationInFlight]: "slots",
};

const pct = (value: number) => `${(value * 100).toFixed(1)} %`;
const num = (value: unknown) =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

/** The reason the gates gave: in shadow mode, the one it would have been. */
function effectiveReason(body: DecisionBody): string | undefined {
  if (body.reason === REASONS.shadow) {
    const wouldBe = body.details?.would_be as { reason?: unknown } | undefined;
    return typeof wouldBe?.reason === "string" ? wouldBe.reason : undefined;
  }
  return body.reason;
}

function slotOutcome(body: DecisionBody, reason: string | undefined): string {
  const d = body.details ?? {};
  switch (reason) {
    case REASONS.slotFree:
      return "a free slot, now reserved";
    case REASONS.symbolHoldsSlot:
      return "already holds one";
    case REASONS.rotationComplete:
      return `${body.rotation?.close_symbol ?? "the victim"}'s slot, after its confirmed close`;
    case REASONS.overCapacity:
      return "over capacity: entries wait";
    case REASONS.waitingRotationClose:
      return `full → rotate out ${body.rotation?.close_symbol ?? String(d.close_symbol ?? "the weakest")}`;
    case REASONS.rotationTimeout:
      return `the close of ${body.rotation?.close_symbol ?? "the victim"} timed out`;
    case REASONS.noRotationCandidate:
      return "full, and no position can be rotated out";
    case REASONS.rotationBelowThreshold:
      return `full → ${String(d.victim ?? "the victim")} needs a score ≥ ${num(d.required)?.toFixed(2) ?? "?"}`;
    case REASONS.rotationBudget:
      return "full, and the hourly rotation budget is spent";
    case REASONS.symbolRotatingOut:
      return "the symbol is being rotated out";
    case REASONS.rotationInFlight:
      return "another plan's rotation is bringing the symbol in";
    default:
      return "";
  }
}

function held(body: DecisionBody, reason: string | undefined): string {
  if (!body.slots) return "?/?";
  // An ALLOW into a free slot reports holders after it; show the count it met.
  const holders = body.slots.holders - (reason === REASONS.slotFree ? 1 : 0);
  return `${holders}/${body.slots.desired} held`;
}

/** The rows of the path, in gate order, ending before the answer itself. */
export function gatePath(body: DecisionBody, view: GateView = {}): GateStep[] {
  const reason = effectiveReason(body);
  const decidedBy = reason === undefined ? undefined : DECIDED_BY[reason];
  const blocked = body.decision === "BLOCK" || body.reason === REASONS.shadow;
  const decidedAt = decidedBy ? GATES.indexOf(decidedBy) : -1;
  const symbol = body.symbol ?? "the symbol";
  const details = body.details ?? {};
  const figures = view.figures ?? null;

  if (
    body.decision === "IGNORED" ||
    reason === REASONS.closeAllowed ||
    reason === REASONS.disabled ||
    reason === REASONS.reducing ||
    reason === REASONS.halted
  ) {
    // Not evaluated, the controller was skipped, or the trading state refused it first: no gate ran.
    return [];
  }
  // A single too-correlated position is judged in the slot step (a rotation
  // closing exactly it may let the plan in): margin was checked before it.
  const lateCorrelation = decidedBy === "correlation" && body.slots !== undefined;

  const row = (gate: Gate, text: string): GateStep => {
    const at = GATES.indexOf(gate);
    if (decidedBy === undefined) return { gate, mark: "info", text };
    if (gate === decidedBy) return { gate, mark: blocked ? "fail" : "pass", text };
    if (at < decidedAt || (lateCorrelation && gate === "margin"))
      return { gate, mark: "pass", text };
    if (lateCorrelation && gate === "slots") return { gate, mark: "info", text };
    return { gate, mark: "skip", text: "not reached" };
  };

  const steps: GateStep[] = [];

  // 3. Universe
  const size = view.universe ? ` of ${view.universe.length} symbols` : "";
  steps.push(
    row(
      "universe",
      reason === REASONS.noPolicy
        ? "no universe policy"
        : reason === REASONS.notInUniverse
          ? `${symbol} is not in it${view.universe ? ` (${view.universe.join(", ")})` : ""}`
          : `${symbol} is one${size || " of them"}`,
    ),
  );

  // 4. Positions
  const open = view.positions ? [...new Set(view.positions.map((p) => p.symbol))] : null;
  steps.push(
    row(
      "positions",
      reason === REASONS.positionsUnavailable
        ? `unavailable${typeof details.error === "string" ? `: ${details.error}` : ""}`
        : open
          ? `${open.length} open${open.length ? `: ${open.join(", ")}` : ""} (now)`
          : view.positionsError
            ? `unknown now (${view.positionsError})`
            : "read",
    ),
  );

  // 5. Regime
  const r = body.regime;
  steps.push(
    row(
      "regime",
      reason === REASONS.regimeUnavailable
        ? `unavailable${typeof details.error === "string" ? `: ${details.error}` : ""}`
        : r
          ? `${r.name} (trend ${pct(r.trend)}, ATR ${pct(r.atr_pct)}) → ${r.desired_slots} slots`
          : "not recorded",
    ),
  );

  // 6. Correlation
  const cap = num(details.max) ?? view.maxCorrelation;
  const capText = cap === undefined ? "" : ` (cap ${cap.toFixed(2)})`;
  let correlation: string;
  if (decidedBy === "correlation" && typeof details.symbol === "string") {
    const value = num(details.value);
    correlation =
      value === undefined
        ? `unknown with ${details.symbol} (${num(details.samples) ?? 0} common returns)`
        : `${value.toFixed(2)} with ${details.symbol}${capText}`;
  } else if (figures) {
    const known = figures.correlations.filter((p) => p.value !== undefined);
    const max = known.reduce<PairFigure | undefined>(
      (best, p) => (best === undefined || p.value! > best.value! ? p : best),
      undefined,
    );
    correlation = max
      ? `max ${max.value!.toFixed(2)} with ${max.symbol}${capText}`
      : figures.correlations.length === 0
        ? "no other open position"
        : "no figures";
  } else {
    correlation = "no figures recorded for this plan";
  }
  steps.push(row("correlation", correlation));

  // 7. Margin
  let margin: string;
  if (reason === REASONS.marginCap) {
    margin = `projected ${pct(num(details.usage) ?? NaN)} > cap ${pct(num(details.cap) ?? NaN)}`;
  } else if (reason === REASONS.marginUnavailable) {
    margin = `unknown (margin balance ${num(details.totalMarginBalance) ?? "?"})`;
  } else if (figures?.margin) {
    margin = `projected ${pct(figures.margin.usage)} (cap ${pct(figures.margin.cap)})`;
  } else {
    margin = "no figures recorded for this plan";
  }
  steps.push(row("margin", margin));

  // 8. Slots
  const outcome = slotOutcome(body, reason);
  steps.push(row("slots", `${held(body, reason)}${outcome ? ` → ${outcome}` : ""}`));

  return steps;
}
