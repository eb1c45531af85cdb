/**
 * Operators' routes: health, status, the dashboard, metrics, history and the
 * trading state (the kill switch, docs/contract.md §9).
 */
import { checkHealth } from "../health.ts";
import { readStatus } from "../status/read.ts";
import { pageHeaders, renderDashboardPage, renderTokenPage } from "../dashboard/page.ts";
import {
  EXPOSITION_CONTENT_TYPE,
  exposition,
  metricFamilies,
  readMetrics,
} from "../metrics/exposition.ts";
import { HistoryWindowSchema, readHistory } from "../metrics/history.ts";
import {
  changeTradingState,
  readTradingState,
  TradingStateChangeSchema,
} from "../operators/trading-state.ts";
import { deliverAlerts } from "../alerts/deliver.ts";
import { bearerMatches, checkAdminToken, constantTimeEqual } from "./auth.ts";
import { ERROR_CODES, jsonError } from "./errors.ts";
import { createMiddleware } from "hono/factory";
import {
  afterResponse,
  createApp,
  maxBody,
  readTokenAuth,
  tokenAuth,
  type AppEnv,
} from "./middleware.ts";
import {
  MAX_ADMIN_BODY_BYTES,
  dashboardRoute,
  getTradingStateRoute,
  healthRoute,
  historyRoute,
  metricsRoute,
  putTradingStateRoute,
  statusRoute,
} from "./routes.ts";

export const operators = createApp();

/**
 * Liveness for anyone; dependency detail only with the read token, so no
 * unauthenticated request ever calls Redis or Binance (or spends its weight).
 */
operators.openapi(healthRoute, async (c) => {
  const gov = c.get("gov");
  if (!bearerMatches(c.req.header("authorization"), gov.config.readToken)) {
    return c.json(
      { ok: true, live: true, mode: gov.config.mode, enabled: gov.config.enabled },
      200,
    );
  }
  const health = await checkHealth(gov);
  return c.json({ ...health, live: true }, health.ok ? 200 : 503);
});

operators.openapi({ ...statusRoute, middleware: [readTokenAuth] as const }, async (c) =>
  c.json(await readStatus(c.get("gov")), 200),
);

/** The dashboard takes the read token from the Authorization header or, for a browser, `?token=`. */
operators.openapi(dashboardRoute, async (c) => {
  const gov = c.get("gov");
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
        ERROR_CODES.unauthorized,
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

operators.openapi({ ...metricsRoute, middleware: [readTokenAuth] as const }, async (c) => {
  const text = exposition(metricFamilies(await readMetrics(c.get("gov"))));
  return c.text(text, 200, {
    "content-type": EXPOSITION_CONTENT_TYPE,
    "cache-control": "no-store",
  });
});

operators.openapi({ ...historyRoute, middleware: [readTokenAuth] as const }, async (c) =>
  c.json(await readHistory(c.get("gov"), c.req.valid("query").window), 200),
);

/** Reading the trading state: the read token or the admin token. */
const readOrAdminAuth = tokenAuth((config) => [config.readToken, config.adminToken]);

operators.openapi({ ...getTradingStateRoute, middleware: [readOrAdminAuth] as const }, async (c) =>
  c.json(await readTradingState(c.get("gov")), 200),
);

/**
 * Changing it: the admin token only (401; 403 for the read token; 503 when none is
 * configured: lib/http/auth.ts), which bearerAuth cannot answer; then the body's size.
 */
const adminAuth = createMiddleware<AppEnv>(async (c, next) => {
  const { config } = c.get("gov");
  const auth = checkAdminToken(c.req.header("authorization"), {
    admin: config.adminToken,
    read: config.readToken,
  });
  if (!auth.ok) return jsonError(c, auth.status, auth.code, auth.message);
  await next();
});

operators.openapi(
  { ...putTradingStateRoute, middleware: [adminAuth, maxBody(MAX_ADMIN_BODY_BYTES)] as const },
  async (c) => {
    const gov = c.get("gov");
    const text = await c.req.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
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
  },
);

function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}
