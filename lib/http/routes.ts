/**
 * Every route of the HTTP API as an OpenAPI route definition (docs/contract.md §4). The
 * handlers live in plans.ts, operators.ts and docs.ts; the document at /openapi.json is generated from these.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { SIGNATURE_MAX_SKEW_S } from "./auth.ts";
import { ERROR_CODES as CODE, type ErrorCode } from "./errors.ts";
import {
  DashboardQuerySchema,
  DecisionSchema,
  errorSchema,
  HealthSchema,
  HistoryBodySchema,
  HistoryQuerySchema,
  PlanIdParamsSchema,
  PlanStateSchema,
  StatusBodySchema,
  TradingStateBodySchema,
  TradingStateChangeResultSchema,
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

/** An error answer, `error.code` being one of `codes`: every code a route answers with is listed. */
const errors = (description: string, ...codes: [ErrorCode, ...ErrorCode[]]) =>
  json(
    errorSchema(codes),
    `${description} \`error.code\`: ${codes.map((c) => `\`${c}\``).join(", ")}.`,
  );

const unauthorized = errors("Missing or wrong bearer token.", CODE.unauthorized);
const unavailable = errors(
  "The configuration or a dependency (Redis) is unusable: nothing is granted.",
  CODE.configInvalid,
  CODE.dependencyUnavailable,
);
const internal = errors("An unexpected failure (logged; nothing is granted).", CODE.internal);

/** How the Apply Layer signs a plan (docs/contract.md §4), for the header parameters and security schemes. */
export const TIMESTAMP_HEADER =
  `Unix seconds (a decimal string) when the plan was signed; refused when more than ` +
  `${SIGNATURE_MAX_SKEW_S} s away from the governor's clock, in either direction.`;
export const SIGNATURE_HEADER =
  "HMAC-SHA256 in hex (64 characters) with the webhook secret (GOV_WEBHOOK_SECRET) as key, " +
  "over the bytes `{X-Governor-Timestamp}.{raw request body}` exactly as sent; compared in " +
  'constant time. E.g. `hex(hmac_sha256(secret, timestamp + "." + body))`.';

/** Names of the security schemes registered in docs.ts. */
export const SECURITY = {
  readToken: "readToken",
  readTokenQuery: "readTokenQuery",
  webhookTimestamp: "webhookTimestamp",
  webhookSignature: "webhookSignature",
  adminToken: "adminToken",
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
  // The signature headers as parameters too, so a generated client asks for them. Not
  // `request.headers`: the signature check (webhookAuth, 401) is what refuses a missing or
  // malformed one; a second validation would only duplicate it with another answer.
  parameters: [
    {
      name: "X-Governor-Timestamp",
      in: "header",
      required: true,
      description: TIMESTAMP_HEADER,
      schema: { type: "string", pattern: "^[0-9]{1,12}$", example: "1767225600" },
    },
    {
      name: "X-Governor-Signature",
      in: "header",
      required: true,
      description: SIGNATURE_HEADER,
      schema: { type: "string", pattern: "^[0-9a-fA-F]{64}$" },
    },
  ],
  request: {
    body: {
      required: true,
      description: `A plan as JSON, at most ${MAX_PLAN_BYTES} bytes.`,
      // A reference, not the zod schema. The route's middleware (size, then signature,
      // plans.ts) do run before OpenAPIHono's validators, but with the zod schema here
      // OpenAPIHono would also refuse a body sent without `Content-Type: application/json`
      // (415) and answer malformed JSON in Hono's own shape instead of `invalid_json`. So
      // the handler parses the raw body webhookAuth kept and validates it with PlanSchema.
      content: { "application/json": { schema: { $ref: "#/components/schemas/Plan" } } },
    },
  },
  responses: {
    200: json(DecisionSchema, "The decision: ALLOW, BLOCK (with reason) or IGNORED."),
    400: errors(
      "Not JSON, or not a plan (with the zod issues).",
      CODE.invalidJson,
      CODE.invalidPlan,
    ),
    401: errors(
      `Missing, stale (more than ${SIGNATURE_MAX_SKEW_S} s away) or wrong signature.`,
      CODE.unauthorized,
    ),
    409: errors(
      "This plan_id was already used for a different plan (symbol, action, side, qty, " +
        "notional, leverage or reduceOnly differ). Nothing is granted.",
      CODE.planIdConflict,
    ),
    413: errors(`Body over ${MAX_PLAN_BYTES} bytes.`, CODE.payloadTooLarge),
    500: internal,
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
    400: errors("plan_id is not 1-128 of [A-Za-z0-9_.:-].", CODE.invalidPlanId),
    401: unauthorized,
    500: internal,
    503: unavailable,
  },
});

export const statusRoute = createRoute({
  method: "get",
  path: "/v1/status",
  tags: ["operators"],
  summary: "Regime, slots, positions, reservations, rotation locks and recent events",
  description:
    "Positions come from the Binance account (`GET /fapi/v3/account`, as evaluations read them); " +
    "when Binance cannot be read (or the shared 429/418 backoff runs) `positions` is null and " +
    "`positions_error` says why. Holders and lock states come from the rules the sweep decides by.",
  security: [{ [SECURITY.readToken]: [] }],
  responses: {
    200: json(StatusBodySchema, "The operators' view."),
    401: unauthorized,
    500: internal,
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
    500: internal,
    503: json(
      HealthSchema.or(errorSchema([CODE.configInvalid])),
      "A dependency is unreachable (the health body), or the config is unusable " +
        "(`config_invalid`).",
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
      description:
        "No valid read token: an HTML form asking for it, or a JSON error (`unauthorized`).",
      content: {
        "text/html": { schema: z.string() },
        "application/json": { schema: errorSchema([CODE.unauthorized]) },
      },
    },
    500: internal,
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
    500: internal,
  },
});

export const docsRoute = createRoute({
  method: "get",
  path: "/docs",
  tags: ["docs"],
  summary: "API documentation (HTML)",
  responses: { 200: html("Routes and schemas of the OpenAPI document."), 500: internal },
});

// ---------------------------------------------------------------------------
// Operators' controls (docs/contract.md §9): the trading state.

/** Bodies of `PUT /v1/trading-state` over this many bytes are refused with 413. */
export const MAX_ADMIN_BODY_BYTES = 4 * 1024;

export const getTradingStateRoute = createRoute({
  method: "get",
  path: "/v1/trading-state",
  tags: ["operators"],
  summary: "The trading state: ACTIVE, REDUCING or HALTED",
  description:
    "ACTIVE: as usual. REDUCING: entries BLOCK `active_slots_reducing`, no new rotation. " +
    "HALTED: entries BLOCK `active_slots_halted`, no new rotation, a waiting rotation's close " +
    "still confirms but its entry is not granted. Closes pass in every state. The read token " +
    "or the admin token.",
  security: [{ [SECURITY.readToken]: [] }, { [SECURITY.adminToken]: [] }],
  responses: {
    200: json(TradingStateBodySchema, "The state in force (no record: ACTIVE)."),
    401: unauthorized,
    500: internal,
    503: unavailable,
  },
});

export const putTradingStateRoute = createRoute({
  method: "put",
  path: "/v1/trading-state",
  tags: ["operators"],
  summary: "Set the trading state (kill switch, reduce-only, resume)",
  description:
    "Needs the admin token (GOV_ADMIN_TOKEN). Emits `TRADING_STATE_CHANGED` (from, to, reason, " +
    "actor) and an alert; setting the state in force changes nothing (`changed: false`). Only " +
    "this route resumes from a halt of the drawdown breaker.",
  security: [{ [SECURITY.adminToken]: [] }],
  request: {
    body: {
      required: true,
      description: `JSON, at most ${MAX_ADMIN_BODY_BYTES} bytes.`,
      // Parsed by the handler after the token check (a reference keeps OpenAPIHono from validating first).
      content: {
        "application/json": { schema: { $ref: "#/components/schemas/TradingStateChange" } },
      },
    },
  },
  responses: {
    200: json(TradingStateChangeResultSchema, "The state now in force."),
    400: errors("Not JSON, or not a change.", CODE.invalidJson, CODE.invalidTradingState),
    401: errors("No admin token, or a wrong one.", CODE.unauthorized),
    403: errors("The read token: it cannot change the trading state.", CODE.forbidden),
    413: errors(`Body over ${MAX_ADMIN_BODY_BYTES} bytes.`, CODE.payloadTooLarge),
    503: errors(
      "No admin token configured, or Redis / the config is unusable: nothing changes.",
      CODE.adminNotConfigured,
      CODE.configInvalid,
      CODE.dependencyUnavailable,
    ),
    500: internal,
  },
});

// Metrics and history (docs/contract.md §10).

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
    500: internal,
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
    400: errors("window must be 1h, 6h or 24h.", CODE.invalidWindow),
    401: unauthorized,
    500: internal,
    503: unavailable,
  },
});
