/**
 * A decision explained for a person: one line of why, and where one exists,
 * what would change it. A pure function of the decision body (docs/contract.md §4) and its
 * `details`, so the CLI, the dashboard and tests all say the same thing.
 *
 * Every reason code in lib/plans/reasons.ts has an explainer here (a test
 * iterates the table); a code without one gets a generic line, never an error.
 */
import type { DecisionBody as KnownDecision } from "./decision.ts";

/** A decision as a client may receive it: from a newer governor, the reason may be a code this table lacks. */
export type DecisionBody = Omit<KnownDecision, "reason"> & { reason?: string };
import { REASONS } from "./reasons.ts";
import { MIN_COMMON_RETURNS } from "../risk/correlation.ts";

export interface Explanation {
  /** What led to the answer, with its figures. */
  why: string;
  /** What would change the answer, when something would. */
  next?: string;
}

export interface ExplainOptions {
  /** GOV_KEY_PREFIX, for the Redis commands quoted. @default "quantum" */
  keyPrefix?: string;
}

type Explainer = (body: DecisionBody, options: Required<ExplainOptions>) => Explanation;

const detail = (body: DecisionBody, key: string): unknown => body.details?.[key];

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

const pct = (value: number | undefined) =>
  value === undefined ? "?" : `${(value * 100).toFixed(1)} %`;
const fixed = (value: number | undefined, digits: number) =>
  value === undefined ? "?" : value.toFixed(digits);

/** "4/4 in BASE" from the body's slots and regime, as far as they are known. */
function slotsIn(body: DecisionBody): string {
  const held = body.slots ? `${body.slots.holders}/${body.slots.desired}` : "?/?";
  return body.regime ? `${held} in ${body.regime.name}` : held;
}

function symbolOf(body: DecisionBody): string {
  return body.symbol ?? "the symbol";
}

function universeCommand(prefix: string, symbols: string[]): string {
  return `HSET ${prefix}:policy:current universe_symbols '${JSON.stringify(symbols)}'`;
}

const notFinal = "this answer is not final: resubmit the plan";

const EXPLAINERS: Record<string, Explainer> = {
  // -- ALLOW ------------------------------------------------------------------
  [REASONS.closeAllowed]: () => ({
    why: "a close reduces risk: it skips the slot controller",
  }),
  [REASONS.disabled]: () => ({
    why: "the controller is off (GOV_ACTIVE_SLOTS_ENABLED=false): entries skip it",
  }),
  [REASONS.slotFree]: (body) => {
    const before = body.slots ? body.slots.holders - 1 : undefined;
    return {
      why:
        `${body.regime?.name ?? "the regime"} allows ${body.slots?.desired ?? "?"} slots and ` +
        `${before ?? "?"} were held: the free one is now ${symbolOf(body)}'s ` +
        `(reserved until its position shows up)`,
    };
  },
  [REASONS.symbolHoldsSlot]: (body) => ({
    why: `${symbolOf(body)} already holds a slot (open or reserved): adding to it takes no new one (${slotsIn(body)})`,
  }),
  [REASONS.rotationComplete]: (body) => ({
    why: `the close of ${body.rotation?.close_symbol ?? "the rotated-out position"} was confirmed: its slot went to ${symbolOf(body)}`,
  }),
  [REASONS.shadow]: (body, options) => {
    const wouldBe = detail(body, "would_be") as { reason?: unknown } | undefined;
    const reason = text(wouldBe?.reason);
    if (!reason) return { why: "shadow mode (GOV_MODE=shadow): every entry is granted" };
    const inner = explainDecision({ ...body, decision: "BLOCK", reason }, options);
    return {
      why: `shadow mode (GOV_MODE=shadow) granted it; enforced, the answer would be BLOCK ${reason}: ${inner.why}`,
    };
  },

  // -- BLOCK: universe, dependencies --------------------------------------------
  [REASONS.noPolicy]: (body, { keyPrefix }) => ({
    why: `no universe: ${keyPrefix}:policy:current has no valid universe_symbols, so every entry is blocked`,
    next:
      `set the universe: ${universeCommand(keyPrefix, [symbolOf(body)])} ` +
      `(on the local stack: npm run universe -- ${symbolOf(body)} ...)`,
  }),
  [REASONS.notInUniverse]: (body, { keyPrefix }) => ({
    why: `${symbolOf(body)} is not in the universe (universe_symbols of ${keyPrefix}:policy:current)`,
    next:
      `add it to universe_symbols (on the local stack: npm run universe -- --add ${symbolOf(body)}), ` +
      `or send a symbol of the universe`,
  }),
  [REASONS.positionsUnavailable]: (body) => ({
    why: `the account (positions and margin) could not be read from Binance${suffix(detail(body, "error"))}`,
    next: `${notFinal} once Binance answers`,
  }),
  [REASONS.regimeUnavailable]: (body) =>
    detail(body, "rotation_complete") === true
      ? {
          why: "the rotation's close was confirmed, but the slot count could not be checked afterwards",
          next: `${notFinal} to be evaluated afresh`,
        }
      : {
          why: `no regime for ${symbolOf(body)}: its closed 1h klines could not be read or were too few${suffix(detail(body, "error"))}`,
          next: `${notFinal} once its klines are available`,
        },

  // -- BLOCK: risk gates ---------------------------------------------------------
  [REASONS.correlationLimit]: (body) => {
    const other = text(detail(body, "symbol"));
    const max = num(detail(body, "max"));
    return {
      why:
        `${symbolOf(body)}'s 1h returns correlate ${fixed(num(detail(body, "value")), 2)} with ` +
        `${openPosition(other)} (cap ${fixed(max, 2)}, over ${num(detail(body, "samples")) ?? "?"} hours)`,
      next: `wait for the close of ${other ?? "that position"}, or for the correlation to fall to ${fixed(max, 2)} or below`,
    };
  },
  [REASONS.correlationUnavailable]: (body) => {
    const other = text(detail(body, "symbol"));
    return {
      why:
        `the correlation with ${openPosition(other)} is unknown: ` +
        `${num(detail(body, "samples")) ?? 0} common hourly returns, ${MIN_COMMON_RETURNS} needed`,
      next: `${notFinal} once ${other ? `${other}'s` : "its"} klines are available`,
    };
  },
  [REASONS.marginCap]: (body) => ({
    why:
      `margin use would be ${pct(num(detail(body, "usage")))} after this plan, over the cap ` +
      `${pct(num(detail(body, "cap")))} (GOV_MAX_MARGIN_USAGE_PCT)`,
    next: "send a smaller notional or a higher leverage, or wait for positions to close",
  }),
  [REASONS.marginUnavailable]: (body) => ({
    why: `margin use cannot be computed: the total margin balance is ${fixed(num(detail(body, "totalMarginBalance")), 2)} USDT`,
    next: `${notFinal} once the account shows a positive margin balance`,
  }),

  // -- BLOCK: slots and rotations ----------------------------------------------
  [REASONS.overCapacity]: (body) => {
    const excess = body.slots ? body.slots.holders - body.slots.desired : undefined;
    const confirmed = detail(body, "rotation_complete") === true;
    return {
      why:
        `${confirmed ? "the rotation's close was confirmed, but " : ""}` +
        `${body.regime?.name ?? "the regime"} allows ${body.slots?.desired ?? "?"} slots and ` +
        `${body.slots?.holders ?? "?"} are held: over capacity, so no entry gets in, not even by rotation`,
      next:
        excess === undefined
          ? `wait until positions close, or ${symbolOf(body)}'s regime allows more slots`
          : `wait until ${excess} position${excess === 1 ? " closes" : "s close"}, ` +
            `or ${symbolOf(body)}'s regime allows more slots`,
    };
  },
  [REASONS.waitingRotationClose]: (body) => {
    const close = body.rotation?.close_symbol ?? text(detail(body, "close_symbol"));
    const closePlan = body.rotation?.close_plan_id ?? text(detail(body, "close_plan_id"));
    const age = body.rotation?.lock_age;
    return {
      why:
        `slots are full (${slotsIn(body)}): ${close ? `${close}, the weakest position,` : "the weakest position"} is closed first` +
        `${closePlan ? ` (close plan ${closePlan}${age ? `, ${age} s ago` : ""})` : ""}`,
      next: `wait for the close of ${close ?? "that position"}, then resubmit this plan (or let the sweep grant it within a minute)`,
    };
  },
  [REASONS.rotationTimeout]: (body) => ({
    why:
      `the close of ${body.rotation?.close_symbol ?? "the rotated-out position"} was not confirmed within ` +
      `${num(detail(body, "ttl")) ?? "?"} s (lock age ${num(detail(body, "lock_age")) ?? body.rotation?.lock_age ?? "?"} s): ` +
      `the rotation ended and its slot was released`,
    next: "send a new plan (this one's answer is final)",
  }),
  [REASONS.noRotationCandidate]: (body) => ({
    why: `slots are full (${slotsIn(body)}) and no open position can be rotated out: each is being closed or has a permit in flight`,
    next: "wait for a running rotation to end or a position to close",
  }),
  [REASONS.rotationBelowThreshold]: (body) => {
    const required = num(detail(body, "required"));
    const score = num(detail(body, "score"));
    return {
      why:
        `slots are full (${slotsIn(body)}): rotating out ${text(detail(body, "victim")) ?? "the weakest position"} ` +
        `(entry score ${fixed(num(detail(body, "victim_score")), 2)}) needs a score of at least ${fixed(required, 2)}; ` +
        `this plan sent ${score === undefined ? "no score" : fixed(score, 2)}`,
      next: `send a score of at least ${fixed(required, 2)}`,
    };
  },
  [REASONS.rotationBudget]: (body) => ({
    why:
      `slots are full (${slotsIn(body)}) and ${num(detail(body, "max_per_hour")) ?? "the maximum of"} rotations ` +
      `already started in the last hour (GOV_ROTATION_MAX_PER_HOUR)`,
    next: "wait until the oldest of them is an hour old",
  }),
  [REASONS.symbolRotatingOut]: (body) => ({
    why:
      `${symbolOf(body)} is being closed by the rotation of plan ${text(detail(body, "lock_plan_id")) ?? "?"}: ` +
      `an entry now would reopen it`,
    next: "wait until that rotation ends, then send the plan again",
  }),
  [REASONS.rotationInFlight]: (body) => ({
    why:
      `a rotation for ${symbolOf(body)} is already in flight (plan ${text(detail(body, "lock_plan_id")) ?? "?"}` +
      `, closing ${text(detail(body, "close_symbol")) ?? "a position"}): one rotation per incoming symbol`,
    next: "wait until that rotation ends, then send the plan again (it is not final)",
  }),

  // -- Trading states (docs/contract.md §9) ------------------------------------
  [REASONS.reducing]: (body) => ({
    why:
      "the trading state is REDUCING: no entry that adds risk, closes pass" +
      confirmedCloseNotGranted(body),
    next: RESUME_AFTER_ACTIVE,
  }),
  [REASONS.halted]: (body) => ({
    why:
      "the trading state is HALTED (an operator's kill switch, or the drawdown breaker): no entry, closes pass" +
      confirmedCloseNotGranted(body),
    next: RESUME_AFTER_ACTIVE,
  }),
};

/** REDUCING / HALTED on a rotation whose close was confirmed: what became of its entry. */
function confirmedCloseNotGranted(body: DecisionBody): string {
  return detail(body, "rotation_complete") === true
    ? `; the close of ${body.rotation?.close_symbol ?? "the rotated-out position"} was confirmed, but its entry is not granted`
    : "";
}

const RESUME_AFTER_ACTIVE =
  "resubmit after an operator sets the trading state back to ACTIVE (PUT /v1/trading-state); this answer is not final";

function openPosition(symbol: string | undefined): string {
  return symbol ? `the open ${symbol} position` : "an open position";
}

function suffix(value: unknown): string {
  const error = text(value);
  return error ? ` (${error})` : "";
}

/** Whether `reason` has its own explanation (the generic line is for codes without one). */
export function hasExplanation(reason: string): boolean {
  return Object.prototype.hasOwnProperty.call(EXPLAINERS, reason);
}

/** Short `key=value` pairs of a body's details, for codes without an explanation. */
function detailsLine(body: DecisionBody): string {
  const pairs = Object.entries(body.details ?? {})
    .filter(([, v]) => ["string", "number", "boolean"].includes(typeof v))
    .map(([k, v]) => `${k}=${String(v)}`);
  return pairs.length > 0 ? `; ${pairs.join(", ")}` : "";
}

/** Why a decision came out as it did, and what would change it. */
export function explainDecision(body: DecisionBody, options: ExplainOptions = {}): Explanation {
  const resolved = { keyPrefix: options.keyPrefix ?? "quantum" };
  if (body.decision === "IGNORED") {
    return {
      why: "the plan's decision is not EXECUTE: it was not evaluated and nothing was written",
    };
  }
  const reason = body.reason;
  if (reason !== undefined && hasExplanation(reason)) {
    return EXPLAINERS[reason]!(body, resolved);
  }
  const slots = body.slots ? ` (slots ${slotsIn(body)})` : "";
  return {
    why: `${body.decision} ${reason ?? "without a reason"}: no explanation for this reason code yet${slots}${detailsLine(body)}`,
  };
}
