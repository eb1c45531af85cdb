import { z } from "zod";
import {
  isBoolean,
  isFiniteNumber,
  isRecord,
  isString,
  optional,
  withQuickCheck,
} from "../quick-parse.ts";

const finiteNumber = z.number().finite();

/** A proposed plan from the Apply Layer (docs/contract.md §2). Unknown fields are tolerated but typed ones must match. */
export const PlanSchema = z.looseObject({
  plan_id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "1-128 of [A-Za-z0-9_.:-]"),
  symbol: z.string().regex(/^[A-Z0-9]{2,20}$/, "2-20 of [A-Z0-9]"),
  action: z.string().min(1).max(64),
  decision: z.string().min(1).max(64),
  side: z.enum(["LONG", "SHORT", "BUY", "SELL"]).optional(),
  qty: finiteNumber.nonnegative().optional(),
  notional: finiteNumber.nonnegative().optional(),
  leverage: finiteNumber.positive().max(125).optional(),
  score: finiteNumber.optional(),
  kill_score: finiteNumber.optional(),
  ts: finiteNumber.nonnegative().optional(),
  reduceOnly: z.boolean().optional(),
});

export type Plan = z.infer<typeof PlanSchema>;

const PLAN_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const SYMBOL = /^[A-Z0-9]{2,20}$/;
const SIDES: ReadonlySet<unknown> = new Set(PlanSchema.shape.side.unwrap().options);
const label = (value: unknown) => isString(value) && value.length >= 1 && value.length <= 64;
/** An optional finite number within [min, max] (`above`: min itself excluded). */
const optionalNumber = (value: unknown, min = -Infinity, max = Infinity, above = false) =>
  optional(value, (v) => isFiniteNumber(v) && (above ? v > min : v >= min) && v <= max);

/** PlanSchema's output for a plan every check passes, undefined otherwise (lib/quick-parse.ts). */
function quickPlan(body: unknown): Plan | undefined {
  if (
    !isRecord(body) ||
    // zod does not copy an own `__proto__` key (JSON.parse makes one): left to the schema
    Object.hasOwn(body, "__proto__") ||
    !isString(body.plan_id) ||
    !PLAN_ID.test(body.plan_id) ||
    !isString(body.symbol) ||
    !SYMBOL.test(body.symbol) ||
    !label(body.action) ||
    !label(body.decision) ||
    !optional(body.side, (side) => SIDES.has(side)) ||
    !optionalNumber(body.qty, 0) ||
    !optionalNumber(body.notional, 0) ||
    !optionalNumber(body.leverage, 0, 125, true) ||
    !optionalNumber(body.score) ||
    !optionalNumber(body.kill_score) ||
    !optionalNumber(body.ts, 0) ||
    !optional(body.reduceOnly, isBoolean)
  ) {
    return undefined;
  }
  return { ...body } as Plan;
}

/** A plan as PlanSchema reads it (unknown fields kept), checked by hand first. */
export const planParser = withQuickCheck(PlanSchema, quickPlan);

/** Closes reduce risk and skip the controller (docs/contract.md §2); any other action is an entry (fail-closed). */
export function isClose(plan: Pick<Plan, "action" | "reduceOnly">): boolean {
  return (
    plan.reduceOnly === true ||
    plan.action === "FULL_CLOSE_PROPOSED" ||
    plan.action.startsWith("PARTIAL_")
  );
}

/** +1 long, −1 short, 0 unknown. */
export function sideSign(side: string | undefined): 1 | -1 | 0 {
  if (side === "LONG" || side === "BUY") return 1;
  if (side === "SHORT" || side === "SELL") return -1;
  return 0;
}

/**
 * What makes a plan the same plan: a replay under a used plan_id is only
 * answered for the same symbol, action, side, size and reduceOnly.
 */
export function planFingerprint(plan: Plan): string {
  const { symbol, action, side, qty, notional, leverage, reduceOnly } = plan;
  return JSON.stringify([
    symbol,
    action,
    side ?? null,
    qty ?? null,
    notional ?? null,
    leverage ?? null,
    reduceOnly ?? false,
  ]);
}
