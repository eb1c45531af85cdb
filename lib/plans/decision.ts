import { z } from "zod";
import { REGIMES } from "../regime/classify.ts";
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
