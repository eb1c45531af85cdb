import { z } from "zod";
import { REGIMES } from "../regime/classify.ts";
import {
  isBoolean,
  isFiniteNumber,
  isRecord,
  isSafeInt,
  isString,
  optional,
  withQuickCheck,
} from "../quick-parse.ts";
import { REASONS } from "./reasons.ts";

/** The decision body of docs/contract.md §4, as answered over HTTP and stored for replays. */
export const DecisionBodySchema = z.object({
  plan_id: z.string(),
  symbol: z.string().optional(),
  decision: z.enum(["ALLOW", "BLOCK", "IGNORED"]),
  /** A stable reason code from the one table, lib/plans/reasons.ts. */
  reason: z
    .enum(REASONS)
    .optional()
    .describe(
      "Stable reason code: on every BLOCK, and on an ALLOW to say why it was granted. " +
        "Other systems match on these strings; they are never renamed.",
    ),
  replayed: z.boolean().optional(),
  shadow: z.boolean().optional(),
  regime: z
    .object({
      name: z.enum(REGIMES),
      trend: z.number(),
      atr_pct: z.number(),
      desired_slots: z.number().int(),
    })
    .optional(),
  slots: z.object({ desired: z.number().int(), holders: z.number().int() }).optional(),
  rotation: z
    .object({
      close_symbol: z.string(),
      close_plan_id: z.string(),
      lock_age: z.number().optional(),
    })
    .optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export type DecisionBody = z.infer<typeof DecisionBodySchema>;

/** What every decision-writing script answers. */
export const ScriptDecisionSchema = z.object({
  replayed: z.boolean(),
  response: DecisionBodySchema,
});

// Every evaluation reads a script's answer: a quick check in front of
// ScriptDecisionSchema (lib/quick-parse.ts), accepting only what it accepts.

const DECISIONS: ReadonlySet<unknown> = new Set(DecisionBodySchema.shape.decision.options);
const REASON_CODES: ReadonlySet<unknown> = new Set(Object.values(REASONS));
const REGIME_NAMES: ReadonlySet<unknown> = new Set(REGIMES);

type Body = DecisionBody;

function quickRegime(v: unknown): Body["regime"] | null {
  if (v === undefined) return undefined;
  if (
    !isRecord(v) ||
    !REGIME_NAMES.has(v.name) ||
    !isFiniteNumber(v.trend) ||
    !isFiniteNumber(v.atr_pct) ||
    !isSafeInt(v.desired_slots)
  ) {
    return null;
  }
  const name = v.name as NonNullable<Body["regime"]>["name"];
  return { name, trend: v.trend, atr_pct: v.atr_pct, desired_slots: v.desired_slots };
}

function quickSlots(v: unknown): Body["slots"] | null {
  if (v === undefined) return undefined;
  if (!isRecord(v) || !isSafeInt(v.desired) || !isSafeInt(v.holders)) return null;
  return { desired: v.desired, holders: v.holders };
}

function quickRotation(v: unknown): Body["rotation"] | null {
  if (v === undefined) return undefined;
  if (
    !isRecord(v) ||
    !isString(v.close_symbol) ||
    !isString(v.close_plan_id) ||
    !optional(v.lock_age, isFiniteNumber)
  ) {
    return null;
  }
  const rotation = {
    close_symbol: v.close_symbol as string,
    close_plan_id: v.close_plan_id as string,
  };
  return v.lock_age === undefined ? rotation : { ...rotation, lock_age: v.lock_age as number };
}

function quickBody(v: unknown): Body | undefined {
  if (
    !isRecord(v) ||
    !isString(v.plan_id) ||
    !optional(v.symbol, isString) ||
    !DECISIONS.has(v.decision) ||
    !optional(v.reason, (r) => REASON_CODES.has(r)) ||
    !optional(v.replayed, isBoolean) ||
    !optional(v.shadow, isBoolean) ||
    (v.details !== undefined && (!isRecord(v.details) || Object.hasOwn(v.details, "__proto__")))
  ) {
    return undefined;
  }
  const regime = quickRegime(v.regime);
  const slots = quickSlots(v.slots);
  const rotation = quickRotation(v.rotation);
  if (regime === null || slots === null || rotation === null) return undefined;
  const body: Body = { plan_id: v.plan_id as string, decision: v.decision as Body["decision"] };
  if (v.symbol !== undefined) body.symbol = v.symbol as string;
  if (v.reason !== undefined) body.reason = v.reason as Body["reason"];
  if (v.replayed !== undefined) body.replayed = v.replayed as boolean;
  if (v.shadow !== undefined) body.shadow = v.shadow as boolean;
  if (regime) body.regime = regime;
  if (slots) body.slots = slots;
  if (rotation) body.rotation = rotation;
  if (v.details !== undefined) body.details = { ...(v.details as Record<string, unknown>) };
  return body;
}

function quickScriptDecision(answer: unknown): z.output<typeof ScriptDecisionSchema> | undefined {
  if (!isRecord(answer) || !isBoolean(answer.replayed)) return undefined;
  const response = quickBody(answer.response);
  return response && { replayed: answer.replayed as boolean, response };
}

/** A deciding script's answer as ScriptDecisionSchema reads it, checked by hand first. */
export const scriptDecisionParser = withQuickCheck(ScriptDecisionSchema, quickScriptDecision);
