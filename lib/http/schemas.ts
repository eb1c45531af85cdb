/**
 * The HTTP API's schemas for the OpenAPI document. Request and decision
 * schemas are the ones the governor validates with (lib/plans); they are
 * registered here under component names so lib/plans stays free of HTTP docs.
 */
import { z } from "@hono/zod-openapi";
import { DecisionBodySchema } from "../plans/decision.ts";
import { PlanSchema } from "../plans/schema.ts";
import { StatusSchema } from "../status/schema.ts";
import { ERROR_CODES, type ErrorCode } from "./errors.ts";
import {
  TRADING_STATES,
  TradingStateChangeSchema,
  TradingStateSchema,
} from "../operators/trading-state.ts";
import { HistorySchema, HistoryWindowSchema } from "../metrics/history.ts";

/**
 * Name a schema from lib/ as an OpenAPI component. Its own `.openapi()` may be
 * missing: zod 4 copies prototype methods onto a schema when it is built, and
 * lib/ may be loaded before @hono/zod-openapi adds the method. The method from
 * the prototype returns a named copy and leaves the original untouched.
 */
function component<S extends z.ZodType>(
  schema: S,
  name: string,
  metadata: { description: string; example?: unknown },
): S {
  return z.ZodType.prototype.openapi.call(schema, name, metadata) as S;
}

/**
 * `{ error: { code, message, issues? } }`: the one error shape of every route
 * (docs/contract.md §4), with `code` one of `codes` (what a route answers with one status).
 */
export function errorSchema(codes: readonly [ErrorCode, ...ErrorCode[]]) {
  return z.object({
    error: z.object({
      code: z.enum(codes),
      message: z.string(),
      issues: z.array(z.unknown()).optional().openapi({
        description: "The zod issues of an invalid plan, or the problems of an unusable config.",
      }),
    }),
  });
}

/** The error shape with every code the API answers with. */
export const ErrorSchema = errorSchema(
  Object.values(ERROR_CODES) as [ErrorCode, ...ErrorCode[]],
).openapi("Error");

export const PlanBodySchema = component(PlanSchema, "Plan", {
  description:
    "A proposed plan (docs/contract.md §2). Closes are FULL_CLOSE_PROPOSED, PARTIAL_* or reduceOnly=true; any other action is an entry. Unknown fields are tolerated.",
  example: {
    plan_id: "plan-20260101-0001",
    symbol: "BTCUSDT",
    action: "OPEN_LONG",
    decision: "EXECUTE",
    side: "LONG",
    qty: 0.01,
    notional: 1000,
    leverage: 5,
    score: 1.8,
  },
});

export const DecisionSchema = component(DecisionBodySchema, "Decision", {
  description: "The governor's answer to a plan; a BLOCK is a normal 200 answer.",
});

export const StatusBodySchema = component(StatusSchema, "Status", {
  description: "Operators' view: regime, slots, positions, reservations, rotation locks, events.",
});

const ProbeSchema = z.looseObject({
  reachable: z.boolean(),
  latency_ms: z.number(),
  /** error class name, never a message with URLs or secrets */
  error: z.string().optional(),
});

export const HealthSchema = z
  .object({
    ok: z.boolean(),
    /** The worker runs and its configuration is valid. */
    live: z.boolean(),
    mode: z.enum(["enforce", "shadow"]),
    enabled: z.boolean(),
    /** With the read token only: Redis reachability. */
    redis: ProbeSchema.optional(),
    /** With the read token only: Binance reachability (not called while the shared backoff runs). */
    exchange: ProbeSchema.extend({
      /** unix ms: the shared 429/418 backoff runs until then */
      backoff_until: z.number().optional(),
    }).optional(),
  })
  .openapi("Health");

/** A stored JSON record (permit, block record, lock, decision); null when absent. */
const RecordSchema = z.unknown().openapi({
  type: ["object", "null"],
  description: "The stored JSON record, or null when there is none.",
});

export const PlanStateSchema = z
  .object({
    plan_id: z.string(),
    permit: RecordSchema,
    block: RecordSchema,
    lock: RecordSchema,
    decision: RecordSchema,
  })
  .openapi("PlanState");

export const PlanIdParamsSchema = z.object({
  plan_id: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,128}$/)
    .openapi({ param: { name: "plan_id", in: "path" }, example: "plan-20260101-0001" }),
});

export const DashboardQuerySchema = z.object({
  token: z
    .string()
    .optional()
    .openapi({
      param: { name: "token", in: "query" },
      description: "The read token, for a browser (the Authorization header works too).",
    }),
  window: z
    .string()
    .optional()
    .openapi({
      param: { name: "window", in: "query" },
      description: "The history charts' window: 1h, 6h or 24h (the default, also for others).",
    }),
});

// Metrics and history (docs/contract.md §10).

export const HistoryBodySchema = component(HistorySchema, "History", {
  description:
    "Per-minute buckets of the window, oldest first, one element per minute in every series.",
});

export const HistoryQuerySchema = z.object({
  window: HistoryWindowSchema.default("24h").openapi({
    param: { name: "window", in: "query" },
    description: "How far back: the last hour, 6 hours or 24 hours (default).",
  }),
});

export const TradingStateBodySchema = component(TradingStateSchema, "TradingState", {
  description: "The trading state in force, with who set it, why and when.",
  example: { state: "HALTED", reason: "exchange incident", actor: "alice", at: 1767225600000 },
});

export const TradingStateChangeBodySchema = component(
  TradingStateChangeSchema,
  "TradingStateChange",
  {
    description: "A change of the trading state; `reason` is required (1-200 characters).",
    example: { state: "HALTED", reason: "exchange incident, stop entries", actor: "alice" },
  },
);

export const TradingStateChangeResultSchema = z
  .object({
    state: z.enum(TRADING_STATES),
    reason: z.string().optional(),
    actor: z.string().optional(),
    at: z.number().optional(),
    changed: z.boolean().describe("false: the state was already in force (its record is kept)."),
    previous: z.enum(TRADING_STATES),
  })
  .openapi("TradingStateChangeResult");
