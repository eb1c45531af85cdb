import { createHmac } from "node:crypto";
import { ERROR_CODES, type ErrorCode } from "./errors.ts";

const encoder = new TextEncoder();

/** Seconds a webhook timestamp may differ from our clock (docs/contract.md §4). */
export const SIGNATURE_MAX_SKEW_S = 300;

export type SignatureCheck = { ok: true } | { ok: false; message: string };

/**
 * Webhook authentication: hex HMAC-SHA256 over `{timestamp}.{raw body bytes}` with the
 * shared secret, timestamp within ±300 s, constant-time comparison.
 *
 * The HMAC is node:crypto's (the Worker runs with nodejs_compat), which answers at once:
 * WebCrypto's `sign` answers with a promise, and awaiting it put an extra turn of the
 * event loop in front of every evaluation (about 0.2 ms of latency in `npm run bench`).
 * Clients sign with WebCrypto (lib/client/signature.ts, portable to browsers);
 * test/unit/auth.test.ts holds the two to the same bytes.
 */
export function verifyWebhookSignature(input: {
  secret: string;
  /** A second secret accepted during a rotation (GOV_WEBHOOK_SECRET_PREVIOUS). */
  previousSecret?: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  /** The body exactly as received (bytes), or as a string to be signed as UTF-8. */
  rawBody: Uint8Array | string;
  nowMs: number;
}): SignatureCheck {
  const { timestamp, signature } = input;
  if (!timestamp || !signature) {
    return { ok: false, message: "X-Governor-Timestamp and X-Governor-Signature are required" };
  }
  if (!/^\d{1,12}$/.test(timestamp))
    return { ok: false, message: "X-Governor-Timestamp must be unix seconds" };
  if (Math.abs(input.nowMs / 1000 - Number(timestamp)) > SIGNATURE_MAX_SKEW_S) {
    return {
      ok: false,
      message: `timestamp is more than ${SIGNATURE_MAX_SKEW_S} s away from server time`,
    };
  }
  const given = signature.toLowerCase();
  for (const secret of [input.secret, input.previousSecret]) {
    if (!secret) continue;
    const expected = createHmac("sha256", secret)
      .update(`${timestamp}.`)
      .update(input.rawBody)
      .digest("hex");
    if (constantTimeEqual(expected, given)) {
      return { ok: true };
    }
  }
  return { ok: false, message: "signature does not match" };
}

/** Compare two strings without an early exit on the first difference. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  let diff = left.length ^ right.length;
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    diff |= (left[i] ?? 0) ^ (right[i] ?? 0);
  }
  return diff === 0;
}

/** Bearer token check for the read endpoints. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? "");
  return match !== null && constantTimeEqual(match[1]!, token);
}

export type AdminCheck =
  { ok: true } | { ok: false; status: 401 | 403 | 503; code: ErrorCode; message: string };

/**
 * The admin routes' bearer check: never open by default. No admin token
 * configured: 503 for everyone. The read token: 403 (known, not allowed).
 * None or another: 401.
 */
export function checkAdminToken(
  header: string | undefined,
  tokens: { admin: string | undefined; read: string },
): AdminCheck {
  if (tokens.admin === undefined) {
    return {
      ok: false,
      status: 503,
      code: ERROR_CODES.adminNotConfigured,
      message:
        "no admin token is configured: set GOV_ADMIN_TOKEN (`wrangler secret put GOV_ADMIN_TOKEN`)",
    };
  }
  if (bearerMatches(header, tokens.admin)) return { ok: true };
  if (bearerMatches(header, tokens.read)) {
    return {
      ok: false,
      status: 403,
      code: ERROR_CODES.forbidden,
      message: "the read token cannot change the trading state: use the admin token",
    };
  }
  return {
    ok: false,
    status: 401,
    code: "unauthorized",
    message: "a valid admin bearer token is required",
  };
}
