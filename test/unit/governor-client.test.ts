/**
 * The TypeScript governor client (lib/client): its signature is the one the
 * webhook checks, and each non-decision answer becomes its typed error. The
 * client against a running governor is covered by test/node (plan CLI, smoke).
 */
import { describe, expect, it } from "vitest";
import {
  errorFor,
  GovernorError,
  GovernorUnavailableError,
  InvalidPlanError,
  PayloadTooLargeError,
  PlanIdConflictError,
  UnauthorizedError,
} from "../../lib/client/governor-client.ts";
import {
  SIGNATURE_HEADER,
  signedHeaders,
  TIMESTAMP_HEADER,
  webhookSignature,
} from "../../lib/client/signature.ts";
import { verifyWebhookSignature } from "../../lib/http/auth.ts";

const NOW_MS = 1_764_000_000_000;
const BODY = '{"plan_id":"p1","symbol":"BTCUSDT"}';

describe("the client's webhook signature", () => {
  it("is hex HMAC-SHA256 over `{timestamp}.{body}` (reference value from Python's hmac)", async () => {
    // python3: hmac.new(b"webhook-secret", b'1764000000.' + BODY, hashlib.sha256).hexdigest()
    expect(await webhookSignature("webhook-secret", "1764000000", BODY)).toBe(
      "76ebe31804f040ffd0bd5233bcd9156186ce3c61eba74f6d162e0989fd1ae319",
    );
  });

  it("signs the UTF-8 bytes of secret and body", async () => {
    expect(await webhookSignature("sécret", "1764000000", '{"note":"é"}')).toBe(
      "4eb82012c1739f55deb012d12762e421beb2426cd9c529f89e4cab7f3adcc94e",
    );
  });

  it("produces headers the governor's check accepts, and only with the same secret", async () => {
    const headers = await signedHeaders("webhook-secret", BODY, NOW_MS);
    expect(headers[TIMESTAMP_HEADER]).toBe("1764000000");
    const check = (secret: string) =>
      verifyWebhookSignature({
        secret,
        timestamp: headers[TIMESTAMP_HEADER],
        signature: headers[SIGNATURE_HEADER],
        rawBody: new TextEncoder().encode(BODY),
        nowMs: NOW_MS,
      });
    expect(await check("webhook-secret")).toEqual({ ok: true });
    expect((await check("another-secret")).ok).toBe(false);
  });
});

describe("errorFor", () => {
  const answer = (status: number, code = "some_code") => ({
    status,
    body: { error: { code, message: "what happened" } },
    text: "",
  });

  it.each([
    [400, InvalidPlanError],
    [401, UnauthorizedError],
    [409, PlanIdConflictError],
    [413, PayloadTooLargeError],
    [503, GovernorUnavailableError],
  ])("maps HTTP %i to its own error class", (status, Type) => {
    const error = errorFor(answer(status));
    expect(error).toBeInstanceOf(Type);
    expect(error).toBeInstanceOf(GovernorError);
    expect(error.status).toBe(status);
    expect(error.code).toBe("some_code");
    expect(error.message).toBe(`governor answered HTTP ${status} (some_code): what happened`);
  });

  it("keeps the plan_id_conflict code of a 409", () => {
    expect(errorFor(answer(409, "plan_id_conflict")).code).toBe("plan_id_conflict");
  });

  it("any other status is a plain GovernorError with an http_ code when the body has none", () => {
    const error = errorFor({ status: 500, body: "oops", text: "oops" });
    expect(error.constructor).toBe(GovernorError);
    expect(error.code).toBe("http_500");
  });
});
