/**
 * Every route of the HTTP API as an OpenAPI route definition (SPEC §7). The
 * handlers live in app.ts; the document at /openapi.json is generated from these.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  DashboardQuerySchema,
  DecisionSchema,
  ErrorSchema,
  HealthSchema,
  HistoryBodySchema,
  HistoryQuerySchema,
  PlanIdParamsSchema,
  PlanStateSchema,
  StatusBodySchema,
} from "./schemas.ts";

/** Webhook bodies over this many bytes are refused with 413. */
export const MAX_PLAN_BYTES = 16 * 1024;

const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
const html = (description: string) => ({
  description,
  content: { "text/html": { schema: z.string() } },
});

const unauthorized = json(ErrorSchema, "Missing or wrong bearer token.");
const unavailable = json(
  ErrorSchema,
  "The configuration or a dependency (Redis) is unusable: nothing is granted.",
);

/** Names of the security schemes registered in app.ts. */
export const SECURITY = {
  readToken: "readToken",
  readTokenQuery: "readTokenQuery",
  webhookTimestamp: "webhookTimestamp",
  webhookSignature: "webhookSignature",
} as const;

export const postPlanRoute = createRoute({
  method: "post",
  path: "/v1/plans",
  tags: ["plans"],
  summary: "Evaluate one plan",
  description:
    "Checks, in this order: body size (413, before anything else), the HMAC signature over " +
    "`{X-Governor-Timestamp}.{raw body}` (401), the plan schema (400), then evaluates it. " +
    "A BLOCK is a normal 200 answer with a stable reason code.",
  security: [{ [SECURITY.webhookTimestamp]: [], [SECURITY.webhookSignature]: [] }],
  request: {
    body: {
      required: true,
      description: `A plan as JSON, at most ${MAX_PLAN_BYTES} bytes.`,
      // A reference, not the zod schema: OpenAPIHono would otherwise parse and
      // validate the body itself, before the size and signature checks that
      // must come first and that need the raw bytes. The handler validates it.
      content: { "application/json": { schema: { $ref: "#/components/schemas/Plan" } } },
    },
  },
  responses: {
    200: json(DecisionSchema, "The decision: ALLOW, BLOCK (with reason) or IGNORED."),
    400: json(
      ErrorSchema,
      "Not JSON (`invalid_json`) or not a plan (`invalid_plan`, with zod issues).",
    ),
    401: json(ErrorSchema, "Missing, stale (more than 300 s away) or wrong signature."),
    409: json(
      ErrorSchema,
      "`plan_id_conflict`: this plan_id was already used for a different plan (symbol, action, " +
        "side, qty, notional, leverage or reduceOnly differ). Nothing is granted.",
    ),
    413: json(ErrorSchema, `Body over ${MAX_PLAN_BYTES} bytes.`),
    503: unavailable,
  },
});

export const getPlanRoute = createRoute({
  method: "get",
  path: "/v1/plans/{plan_id}",
  tags: ["plans"],
  summary: "What the governor knows of a plan",
  description: "Its permit, block record, rotation lock and final decision (null when absent).",
  security: [{ [SECURITY.readToken]: [] }],
  request: { params: PlanIdParamsSchema },
  responses: {
    200: json(PlanStateSchema, "The plan's records."),
    400: json(ErrorSchema, "plan_id is not 1-128 of [A-Za-z0-9_.:-] (`invalid_plan_id`)."),
    401: unauthorized,
    503: unavailable,
  },
});

export const statusRoute = createRoute({
  method: "get",
  path: "/v1/status",
  tags: ["operators"],
  summary: "Regime, slots, positions, reservations, rotation locks and recent events",
  description:
    "Positions come from Binance positionRisk; when Binance cannot be read (or the shared " +
    "429/418 backoff runs) `positions` is null and `positions_error` says why.",
  security: [{ [SECURITY.readToken]: [] }],
  responses: {
    200: json(StatusBodySchema, "The operators' view."),
    401: unauthorized,
    503: unavailable,
  },
});

export const healthRoute = createRoute({
  method: "get",
  path: "/v1/health",
  tags: ["operators"],
  summary: "Liveness; dependency reachability with the read token (no secrets)",
  description:
    "Without the read token: liveness only (`live`), and no dependency is called. With it: " +
    "Redis and Binance reachability.",
  security: [{}, { [SECURITY.readToken]: [] }],
  responses: {
    200: json(HealthSchema, "Live; with the read token, Redis and the exchange are reachable."),
    503: json(
      HealthSchema.or(ErrorSchema),
      "A dependency is unreachable, or the config is unusable.",
    ),
  },
});

export const dashboardRoute = createRoute({
  method: "get",
  path: "/",
  tags: ["operators"],
  summary: "Dashboard (HTML)",
  description:
    "Server-rendered board of `GET /v1/status` that refreshes itself every few seconds. " +
    "A browser passes the read token as `?token=`.",
  security: [{ [SECURITY.readToken]: [] }, { [SECURITY.readTokenQuery]: [] }],
  request: { query: DashboardQuerySchema },
  responses: {
    200: html("The dashboard."),
    401: {
      description: "No valid read token: an HTML form asking for it, or a JSON error.",
      content: { "text/html": { schema: z.string() }, "application/json": { schema: ErrorSchema } },
    },
    503: unavailable,
  },
});

export const openApiRoute = createRoute({
  method: "get",
  path: "/openapi.json",
  tags: ["docs"],
  summary: "This OpenAPI document",
  responses: {
    200: json(z.record(z.string(), z.unknown()), "OpenAPI 3.1 document."),
  },
});

export const docsRoute = createRoute({
  method: "get",
  path: "/docs",
  tags: ["docs"],
  summary: "API documentation (HTML)",
  responses: { 200: html("Routes and schemas of the OpenAPI document.") },
});

// Metrics and history (docs/contract.md §9).

export const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["operators"],
  summary: "Prometheus metrics (text exposition format 0.0.4)",
  description:
    "Counters written by the same atomic scripts that decide (exact across isolates): " +
    "`governor_decisions_total{decision,reason}`, `governor_rotations_total{outcome}`, " +
    "`governor_dependency_failures_total{dependency}`, the histogram " +
    "`governor_evaluation_duration_seconds`; gauges read at scrape time: slots desired and " +
    "holders, rotation locks, reservations, trading state, Binance used weight. One Redis " +
    "request; Binance is never called.",
  security: [{ [SECURITY.readToken]: [] }],
  responses: {
    200: {
      description: "Every family with `# HELP` and `# TYPE`.",
      content: { "text/plain; version=0.0.4": { schema: z.string() } },
    },
    401: unauthorized,
    503: unavailable,
  },
});

export const historyRoute = createRoute({
  method: "get",
  path: "/v1/history",
  tags: ["operators"],
  summary: "Decisions, slots and rotations per minute over the last 1, 6 or 24 hours",
  description:
    "Per-minute buckets kept 25 hours in Redis (written by the deciding scripts, one hash per " +
    "minute); one Redis request whatever the window.",
  security: [{ [SECURITY.readToken]: [] }],
  request: { query: HistoryQuerySchema },
  responses: {
    200: json(HistoryBodySchema, "The window's series."),
    400: json(ErrorSchema, "`invalid_window`: window must be 1h, 6h or 24h."),
    401: unauthorized,
    503: unavailable,
  },
});
