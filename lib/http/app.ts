import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { requestId, type RequestIdVariables } from "hono/request-id";
import { ConfigError, PlanConflictError, StateStoreError } from "../errors.ts";
import { governorContext, type GovernorContext } from "../context.ts";
import { evaluatePlan } from "../evaluate/evaluate.ts";
import { PlanSchema } from "../plans/schema.ts";
import { readPlanState } from "../plans/read.ts";
import { checkHealth } from "../health.ts";
import { readStatus } from "../status/read.ts";
import { pageHeaders, renderDashboardPage, renderTokenPage } from "../dashboard/page.ts";
import {
  bearerMatches,
  checkAdminToken,
  constantTimeEqual,
  verifyWebhookSignature,
} from "./auth.ts";
import { renderDocsPage } from "./docs-page.ts";
import { internalRoutes } from "./internal.ts";
import { ErrorSchema, PlanBodySchema, TradingStateChangeBodySchema } from "./schemas.ts";
import { ERROR_CODES, jsonError } from "./errors.ts";
import {
  EXPOSITION_CONTENT_TYPE,
  exposition,
  metricFamilies,
  readMetrics,
} from "../metrics/exposition.ts";
import { HistoryWindowSchema, readHistory } from "../metrics/history.ts";
import {
  MAX_PLAN_BYTES,
  SECURITY,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  dashboardRoute,
  docsRoute,
  getPlanRoute,
  getTradingStateRoute,
  healthRoute,
  historyRoute,
  metricsRoute,
  MAX_ADMIN_BODY_BYTES,
  openApiRoute,
  postPlanRoute,
  putTradingStateRoute,
  statusRoute,
} from "./routes.ts";
import {
  changeTradingState,
  readTradingState,
  TradingStateChangeSchema,
} from "../operators/trading-state.ts";
import { alertConfigInvalid } from "../alerts/config-alert.ts";
import { deliverAlerts } from "../alerts/deliver.ts";

export { MAX_PLAN_BYTES };

type AppEnv = { Bindings: Env; Variables: { gov: GovernorContext } & RequestIdVariables };

export const app = new OpenAPIHono<AppEnv>();

/**
 * One id per request, answered in `X-Request-Id` and carried by every log line
 * of the request (a caller's own `X-Request-Id` of [A-Za-z0-9_=-], at most 128
 * characters, is kept).
 */
app.use("*", requestId({ limitLength: 128 }));

app.onError((error, c) => {
  if (error instanceof ConfigError) {
    afterResponse(c, alertConfigInvalid(c.env, error, Date.now()));
    return jsonError(c, 503, "config_invalid", error.message, error.issues);
  }
  if (error instanceof PlanConflictError) {
    return jsonError(c, 409, ERROR_CODES.planIdConflict, error.message);
  }
  if (error instanceof StateStoreError) {
    return jsonError(c, 503, "dependency_unavailable", error.message);
  }
  console.error(
    JSON.stringify({
      msg: "governor.error",
      request_id: c.var.requestId,
      name: error.name,
      error: error.message,
    }),
  );
  return jsonError(c, 500, "internal", "internal error");
});
app.notFound((c) => jsonError(c, 404, "not_found", `no route ${c.req.method} ${c.req.path}`));

const withGovernor = async (c: Context<AppEnv>, next: () => Promise<void>) => {
  c.set("gov", governorContext(c.env));
  await next();
};
app.use("/v1/*", withGovernor);
app.use("/", withGovernor);
app.use("/metrics", withGovernor);
app.use("/__internal/*", withGovernor);
app.route("/__internal", internalRoutes);

const requireReadToken = async (c: Context<AppEnv>, next: () => Promise<void>) => {
  if (!bearerMatches(c.req.header("authorization"), c.var.gov.config.readToken)) {
    return jsonError(c, 401, "unauthorized", "a valid bearer token is required");
  }
  await next();
};

/**
 * Liveness for anyone; dependency detail only with the read token, so no
 * unauthenticated request ever calls Redis or Binance (or spends its weight).
 */
app.openapi(healthRoute, async (c) => {
  const gov = c.var.gov;
  if (!bearerMatches(c.req.header("authorization"), gov.config.readToken)) {
    return c.json(
      { ok: true, live: true, mode: gov.config.mode, enabled: gov.config.enabled },
      200,
    );
  }
  const health = await checkHealth(gov);
  return c.json({ ...health, live: true }, health.ok ? 200 : 503);
});

app.openapi(postPlanRoute, async (c) => {
  const gov = c.var.gov;
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > MAX_PLAN_BYTES) {
    return jsonError(c, 413, "payload_too_large", `body over ${MAX_PLAN_BYTES} bytes`);
  }
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > MAX_PLAN_BYTES) {
    return jsonError(c, 413, "payload_too_large", `body over ${MAX_PLAN_BYTES} bytes`);
  }
  const auth = await verifyWebhookSignature({
    secret: gov.config.webhookSecret,
    previousSecret: gov.config.webhookSecretPrevious,
    timestamp: c.req.header("x-governor-timestamp"),
    signature: c.req.header("x-governor-signature"),
    rawBody: bytes,
    nowMs: gov.now(),
  });
  if (!auth.ok) return jsonError(c, 401, "unauthorized", auth.message);
  const rawBody = new TextDecoder().decode(bytes);

  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    return jsonError(c, 400, "invalid_json", "body is not valid JSON");
  }
  const plan = PlanSchema.safeParse(json);
  if (!plan.success) {
    return jsonError(c, 400, "invalid_plan", "plan does not match the schema", plan.error.issues);
  }
  const evaluation = await evaluatePlan(plan.data, { ...gov, requestId: c.var.requestId });
  // Alerts the decision queued go out after the answer (the cron delivers them otherwise).
  if (evaluation.alertsQueued) afterResponse(c, deliverAlerts(gov));
  return c.json(evaluation.body, 200);
});

app.openapi(
  { ...getPlanRoute, middleware: [requireReadToken] },
  async (c) => c.json(await readPlanState(c.var.gov, c.req.valid("param").plan_id), 200),
  (result, c) => {
    if (!result.success) {
      return jsonError(c, 400, "invalid_plan_id", "plan_id must be 1-128 of [A-Za-z0-9_.:-]");
    }
  },
);

app.openapi({ ...statusRoute, middleware: [requireReadToken] }, async (c) =>
  c.json(await readStatus(c.var.gov), 200),
);

/** The dashboard takes the read token from the Authorization header or, for a browser, `?token=`. */
app.openapi(dashboardRoute, async (c) => {
  const gov = c.var.gov;
  const queryToken = c.req.query("token");
  const authorized =
    bearerMatches(c.req.header("authorization"), gov.config.readToken) ||
    (queryToken !== undefined && constantTimeEqual(queryToken, gov.config.readToken));
  if (!authorized) {
    const message =
      queryToken === undefined ? "This page needs the read token." : "That read token was refused.";
    if (!(c.req.header("accept") ?? "").includes("text/html")) {
      return jsonError(
        c,
        401,
        "unauthorized",
        "a valid read token is required (Bearer or ?token=)",
      );
    }
    return c.body(renderTokenPage(message), 401, pageHeaders());
  }
  const requested = HistoryWindowSchema.safeParse(c.req.query("window"));
  const [status, history] = await Promise.all([
    readStatus(gov),
    readHistory(gov, requested.success ? requested.data : "24h"),
  ]);
  const nonce = randomNonce();
  return c.body(renderDashboardPage(status, nonce, history), 200, pageHeaders(nonce));
});

app.openapi({ ...metricsRoute, middleware: [requireReadToken] }, async (c) => {
  const text = exposition(metricFamilies(await readMetrics(c.var.gov)));
  return c.text(text, 200, {
    "content-type": EXPOSITION_CONTENT_TYPE,
    "cache-control": "no-store",
  });
});

app.openapi(
  { ...historyRoute, middleware: [requireReadToken] },
  async (c) => c.json(await readHistory(c.var.gov, c.req.valid("query").window), 200),
  (result, c) => {
    if (!result.success) {
      return jsonError(c, 400, ERROR_CODES.invalidWindow, "window must be 1h, 6h or 24h");
    }
  },
);

// ---- Operators' controls (docs/contract.md §9) -----------------------------

/** Work that must not delay the answer (alert delivery): after it, when the runtime allows. */
function afterResponse(c: Context<AppEnv>, work: Promise<unknown>): void {
  const settled = work.catch(() => undefined);
  try {
    c.executionCtx.waitUntil(settled);
  } catch {
    // no execution context (an in-process test): the work still runs, unawaited
  }
}

app.openapi(getTradingStateRoute, async (c) => {
  const { config } = c.var.gov;
  const header = c.req.header("authorization");
  const admin = config.adminToken !== undefined && bearerMatches(header, config.adminToken);
  if (!admin && !bearerMatches(header, config.readToken)) {
    return jsonError(c, 401, "unauthorized", "a valid bearer token is required");
  }
  return c.json(await readTradingState(c.var.gov), 200);
});

app.openapi(putTradingStateRoute, async (c) => {
  const gov = c.var.gov;
  const auth = checkAdminToken(c.req.header("authorization"), {
    admin: gov.config.adminToken,
    read: gov.config.readToken,
  });
  if (!auth.ok) return jsonError(c, auth.status, auth.code, auth.message);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > MAX_ADMIN_BODY_BYTES) {
    return jsonError(c, 413, "payload_too_large", `body over ${MAX_ADMIN_BODY_BYTES} bytes`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return jsonError(c, 400, "invalid_json", "body is not valid JSON");
  }
  const change = TradingStateChangeSchema.safeParse(json);
  if (!change.success) {
    return jsonError(
      c,
      400,
      ERROR_CODES.invalidTradingState,
      "expected { state: ACTIVE|REDUCING|HALTED, reason: 1-200 characters, actor? }",
      change.error.issues,
    );
  }
  const result = await changeTradingState(gov, change.data);
  // Its alert goes out after the answer; the cron delivers it otherwise.
  if (result.changed) afterResponse(c, deliverAlerts(gov));
  return c.json({ ...result.record, changed: result.changed, previous: result.previous }, 200);
});

let openApiDocument: ReturnType<typeof app.getOpenAPI31Document> | undefined;

/** The OpenAPI document, generated once per isolate from the route definitions. */
function openApi() {
  openApiDocument ??= app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Governor · Active Slots Controller",
      version: "1",
      description:
        "Pre-trade gate for USD-M futures: a regime-dependent cap on open positions and a " +
        "strict two-phase rotation when slots are full. Errors are always " +
        "`{ error: { code, message, issues? } }`, each route listing its codes; an unknown " +
        "route answers 404 `not_found`.",
    },
    tags: [
      { name: "plans", description: "The Apply Layer's webhook and plan records." },
      {
        name: "operators",
        description: "Status, dashboard, health, and the trading state (the kill switch).",
      },
      { name: "docs", description: "This documentation." },
    ],
  });
  return openApiDocument;
}

app.openapi(openApiRoute, (c) => c.json(openApi(), 200));

app.openapi(docsRoute, (c) =>
  c.body(renderDocsPage(openApi()), 200, {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
  }),
);

// The webhook's body is documented by reference (see routes.ts): register what it refers to.
app.openAPIRegistry.register("Plan", PlanBodySchema);
// Every error code in one schema (the routes narrow it to the codes they answer with).
app.openAPIRegistry.register("Error", ErrorSchema);
app.openAPIRegistry.register("TradingStateChange", TradingStateChangeBodySchema);
app.openAPIRegistry.registerComponent("securitySchemes", SECURITY.adminToken, {
  type: "http",
  scheme: "bearer",
  description:
    "The admin token (GOV_ADMIN_TOKEN) as `Authorization: Bearer <token>`; no admin token " +
    "configured: admin routes answer 503.",
});
app.openAPIRegistry.registerComponent("securitySchemes", SECURITY.readToken, {
  type: "http",
  scheme: "bearer",
  description: "The read token (GOV_READ_TOKEN) as `Authorization: Bearer <token>`.",
});
app.openAPIRegistry.registerComponent("securitySchemes", SECURITY.readTokenQuery, {
  type: "apiKey",
  in: "query",
  name: "token",
  description: "The read token as `?token=` (the dashboard, from a browser).",
});
app.openAPIRegistry.registerComponent("securitySchemes", SECURITY.webhookTimestamp, {
  type: "apiKey",
  in: "header",
  name: "X-Governor-Timestamp",
  description: TIMESTAMP_HEADER,
});
app.openAPIRegistry.registerComponent("securitySchemes", SECURITY.webhookSignature, {
  type: "apiKey",
  in: "header",
  name: "X-Governor-Signature",
  description: SIGNATURE_HEADER,
});

function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}
