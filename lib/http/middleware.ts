/**
 * What the sub-apps (plans.ts, operators.ts, docs.ts) share: the app's
 * environment, a factory for an app with the uniform validation answer, and
 * the middleware that authenticate and bound a request.
 */
import { OpenAPIHono, type Hook } from "@hono/zod-openapi";
import type { Context, Env as HonoEnv, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { GovernorContext } from "../context.ts";
import type { Config } from "../config.ts";
import { constantTimeEqual, verifyWebhookSignature } from "./auth.ts";
import { ERROR_CODES, jsonError, type ErrorCode } from "./errors.ts";

export type AppEnv = {
  Bindings: Env;
  Variables: { gov: GovernorContext; requestId: string };
};

/** A caller's own `X-Request-Id` is kept when it is 1-128 of [A-Za-z0-9_=-]. */
const CALLER_REQUEST_ID = /^[\w=-]{1,128}$/;

/**
 * The security headers of every answer. The API answers JSON to programs and
 * its two pages (dashboard, docs) set their own Content-Security-Policy; these
 * are the ones that matter for both. (Hono's secureHeaders set eleven, most of
 * them for browsers long gone: X-XSS-Protection, X-Download-Options, Flash's
 * cross-domain policies. Each header costs the runtime a call on every answer.)
 */
const SECURITY_HEADERS = [
  ["X-Content-Type-Options", "nosniff"],
  ["X-Frame-Options", "SAMEORIGIN"],
  ["Referrer-Policy", "no-referrer"],
  ["Strict-Transport-Security", "max-age=15552000; includeSubDomains"],
] as const;

/**
 * One id per request, answered in `X-Request-Id` and carried by every log
 * line of the request (`requestId`), and the security headers: on the answer,
 * whichever route or error handler made it. They go in before the answer is
 * made (a `c.json` answer is created with them, which costs less than adding
 * each to it afterwards); an answer a route built itself gets them after.
 */
export const answerHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  const given = c.req.header("x-request-id");
  const id = given !== undefined && CALLER_REQUEST_ID.test(given) ? given : crypto.randomUUID();
  c.set("requestId", id);
  c.header("X-Request-Id", id);
  for (const [name, value] of SECURITY_HEADERS) c.header(name, value);
  await next();
  const headers = c.res.headers;
  if (headers.get("X-Request-Id") === id) return;
  headers.set("X-Request-Id", id);
  for (const [name, value] of SECURITY_HEADERS) headers.set(name, value);
};

/** The answer to a request that fails its route's validation, by what failed. */
const VALIDATION_ERRORS: Partial<Record<string, { code: ErrorCode; message: string }>> = {
  param: { code: ERROR_CODES.invalidPlanId, message: "plan_id must be 1-128 of [A-Za-z0-9_.:-]" },
  query: { code: ERROR_CODES.invalidWindow, message: "window must be 1h, 6h or 24h" },
};

/** Every route's validation failure: 400 with the code of what failed (no route answers its own). */
const defaultHook = (
  result: Parameters<Hook<unknown, HonoEnv, string, unknown>>[0],
  c: Context,
) => {
  if (result.success) return;
  const answer = VALIDATION_ERRORS[result.target] ?? {
    code: ERROR_CODES.invalidJson,
    message: "the request does not match its schema",
  };
  return jsonError(c, 400, answer.code, answer.message);
};

/** An app of the API: its routes land in the one OpenAPI document when composed with `app.route`. */
export function createApp<E extends AppEnv = AppEnv>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>({ defaultHook });
}

/** Work that must not delay the answer (alert delivery): after it, when the runtime allows. */
export function afterResponse(c: Context, work: Promise<unknown>): void {
  const settled = work.catch(() => undefined);
  try {
    c.executionCtx.waitUntil(settled);
  } catch {
    // no execution context (an in-process test): the work still runs, unawaited
  }
}

/**
 * Synchronous work (a log line) run on a later turn of the event loop, once
 * the answer has gone out, and kept alive by the request until it has run.
 */
export function afterAnswering(c: Context, work: () => void): void {
  const later = new Promise<void>((resolve) =>
    setTimeout(() => {
      try {
        work();
      } finally {
        resolve();
      }
    }, 0),
  );
  afterResponse(c, later);
}

/**
 * Hono's bearerAuth with the governor's tokens, compared in constant time, and
 * its refusals in the API's error shape: always 401 `unauthorized` (a malformed
 * header too, which bearerAuth alone would answer with 400).
 */
export function tokenAuth(
  tokensOf: (config: Config) => readonly (string | undefined)[],
): MiddlewareHandler<AppEnv> {
  const refuse = (c: Context) =>
    jsonError(c, 401, ERROR_CODES.unauthorized, "a valid bearer token is required");
  return bearerAuth({
    verifyToken: (token, c: Context<AppEnv>) =>
      tokensOf(c.get("gov").config).some(
        (expected) => expected !== undefined && constantTimeEqual(token, expected),
      ),
    noAuthenticationHeader: { message: refuse },
    invalidAuthenticationHeader: { message: refuse },
    invalidToken: { message: refuse },
  });
}

/** The read routes: the read token. */
export const readTokenAuth = tokenAuth((config) => [config.readToken]);

/** A body over `maxBytes` is refused with 413 before anything else reads it. */
export function maxBody<E extends HonoEnv>(maxBytes: number): MiddlewareHandler<E> {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => jsonError(c, 413, ERROR_CODES.payloadTooLarge, `body over ${maxBytes} bytes`),
  });
}

/**
 * Webhook authentication (lib/http/auth.ts): reads the raw body once, checks
 * the HMAC signature over it, and leaves the body, as text, in `rawBody` for
 * the handler to parse. Refused: 401 `unauthorized`, nothing parsed.
 */
export type WebhookEnv = AppEnv & { Variables: { rawBody: string } };

export const webhookAuth = createMiddleware<WebhookEnv>(async (c, next) => {
  const gov = c.get("gov");
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const auth = verifyWebhookSignature({
    secret: gov.config.webhookSecret,
    previousSecret: gov.config.webhookSecretPrevious,
    timestamp: c.req.header("x-governor-timestamp"),
    signature: c.req.header("x-governor-signature"),
    rawBody: bytes,
    nowMs: gov.now(),
  });
  if (!auth.ok) return jsonError(c, 401, ERROR_CODES.unauthorized, auth.message);
  c.set("rawBody", new TextDecoder().decode(bytes));
  await next();
});
