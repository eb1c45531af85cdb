/**
 * The trading state (docs/contract.md §9): ACTIVE, REDUCING or HALTED, kept
 * at `P:governor:trading_state` and read by the deciding scripts in the same
 * atomic step that decides. Changes go through one script (SET_TRADING_STATE)
 * that writes the record, emits TRADING_STATE_CHANGED and queues its alert.
 */
import { z } from "zod";
import type { GovernorContext } from "../context.ts";
import { StateStoreError, stateStoreFailure } from "../errors.ts";
import { runScript } from "../redis/scripts.ts";
import { scriptContext, scriptKeys, SCRIPTS } from "../rotation/scripts.ts";

export const TRADING_STATES = ["ACTIVE", "REDUCING", "HALTED"] as const;
export type TradingStateName = (typeof TRADING_STATES)[number];

/** Actors the governor itself uses; an operator cannot sign a change with them. */
export const GOVERNOR_ACTORS = ["drawdown_breaker", "governor"] as const;

/** The stored record; absent means ACTIVE (no reason, actor or instant). */
export const TradingStateSchema = z.object({
  state: z.enum(TRADING_STATES),
  reason: z.string().optional().describe("Why it was set (1-200 characters)."),
  actor: z.string().optional().describe("Who set it: the operator's name, or `drawdown_breaker`."),
  at: z.number().optional().describe("unix ms of the change"),
});
export type TradingState = z.infer<typeof TradingStateSchema>;

/** The body of `PUT /v1/trading-state`. */
export const TradingStateChangeSchema = z.strictObject({
  state: z.enum(TRADING_STATES),
  reason: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .describe("Why, for the audit trail (1-200 characters)."),
  actor: z
    .string()
    .regex(/^[A-Za-z0-9_.@:-]{1,64}$/)
    .refine((actor) => !(GOVERNOR_ACTORS as readonly string[]).includes(actor), {
      message: `reserved for the governor (${GOVERNOR_ACTORS.join(", ")})`,
    })
    .optional()
    .describe("Who asks (1-64 of [A-Za-z0-9_.@:-]); default `operator`."),
});
export type TradingStateChange = z.infer<typeof TradingStateChangeSchema>;

const ChangeResultSchema = z.object({
  changed: z.boolean(),
  previous: z.enum(TRADING_STATES),
  record: TradingStateSchema,
});
export type TradingStateChangeResult = z.infer<typeof ChangeResultSchema>;

function parseScriptAnswer<S extends z.ZodType>(answer: unknown, schema: S): z.output<S> {
  const json: unknown = typeof answer === "string" ? JSON.parse(answer) : answer;
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new StateStoreError("trading state script answered an unexpected shape");
  return parsed.data;
}

/** The trading state in force (an unreadable record reads as HALTED: fail closed). */
export async function readTradingState(gov: GovernorContext): Promise<TradingState> {
  const answer = await runScript(
    gov.redis,
    SCRIPTS.readTradingState,
    scriptKeys(gov.keys),
    scriptContext(gov),
  ).catch(stateStoreFailure);
  return parseScriptAnswer(answer, TradingStateSchema);
}

/** Change the trading state (an operator's PUT); setting the state in force changes nothing. */
export async function changeTradingState(
  gov: GovernorContext,
  change: TradingStateChange,
): Promise<TradingStateChangeResult> {
  const answer = await runScript(gov.redis, SCRIPTS.setTradingState, scriptKeys(gov.keys), {
    ...scriptContext(gov),
    // The change is the operator's own, not a shadow decision.
    shadow: false,
    state: change.state,
    reason: change.reason,
    actor: change.actor ?? "operator",
  }).catch(stateStoreFailure);
  return parseScriptAnswer(answer, ChangeResultSchema);
}
