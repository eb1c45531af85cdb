import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hmacSha256Hex } from "../../lib/binance/sign.ts";
import { webhookSignature } from "../../lib/client/signature.ts";
import { bearerMatches, constantTimeEqual, verifyWebhookSignature } from "../../lib/http/auth.ts";

const SECRET = "webhook-secret";
const NOW_MS = 1_764_000_000_000;
const BODY = '{"plan_id":"p1"}';

async function sign(timestamp: number, body = BODY, secret = SECRET) {
  return hmacSha256Hex(secret, `${timestamp}.${body}`);
}

describe("verifyWebhookSignature", () => {
  const ts = NOW_MS / 1000;

  it("accepts HMAC-SHA256 over `{timestamp}.{raw body}`", async () => {
    const check = await verifyWebhookSignature({
      secret: SECRET,
      timestamp: String(ts),
      signature: await sign(ts),
      rawBody: BODY,
      nowMs: NOW_MS,
    });
    expect(check).toEqual({ ok: true });
  });

  it.each([
    ["300 s old", -300, true],
    ["301 s old", -301, false],
    ["301 s ahead", 301, false],
  ])("a timestamp %s is accepted: %s", async (_label, skew, accepted) => {
    const check = await verifyWebhookSignature({
      secret: SECRET,
      timestamp: String(ts + skew),
      signature: await sign(ts + skew),
      rawBody: BODY,
      nowMs: NOW_MS,
    });
    expect(check.ok).toBe(accepted);
  });

  it("rejects a signature made with another secret or over another body", async () => {
    for (const signature of [await sign(ts, BODY, "other"), await sign(ts, `${BODY} `)]) {
      const check = await verifyWebhookSignature({
        secret: SECRET,
        timestamp: String(ts),
        signature,
        rawBody: BODY,
        nowMs: NOW_MS,
      });
      expect(check.ok).toBe(false);
    }
  });

  it("rejects missing headers and a non-numeric timestamp", async () => {
    const missing = await verifyWebhookSignature({
      secret: SECRET,
      timestamp: undefined,
      signature: undefined,
      rawBody: BODY,
      nowMs: NOW_MS,
    });
    expect(missing.ok).toBe(false);
    const garbled = await verifyWebhookSignature({
      secret: SECRET,
      timestamp: "1e9",
      signature: await sign(ts),
      rawBody: BODY,
      nowMs: NOW_MS,
    });
    expect(garbled.ok).toBe(false);
  });
});

describe("the client's signature and the governor's check", () => {
  it("agree on every secret, body and timestamp (WebCrypto signs, node:crypto checks)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, unit: "binary" }),
        fc.string({ unit: "binary" }),
        fc.integer({ min: -300, max: 300 }),
        fc.boolean(),
        async (secret, body, skew, asBytes) => {
          const timestamp = String(NOW_MS / 1000 + skew);
          const signature = await webhookSignature(secret, timestamp, body);
          const rawBody = asBytes ? new TextEncoder().encode(body) : body;
          const input = { secret, timestamp, rawBody, nowMs: NOW_MS };
          expect(verifyWebhookSignature({ ...input, signature })).toEqual({ ok: true });
          expect(verifyWebhookSignature({ ...input, signature: signature.toUpperCase() }).ok).toBe(
            true,
          );
          const flipped = `${signature.slice(0, -1)}${signature.endsWith("0") ? "1" : "0"}`;
          expect(verifyWebhookSignature({ ...input, signature: flipped }).ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("verifyWebhookSignature during a secret rotation", () => {
  const ts = NOW_MS / 1000;
  const check = async (signedWith: string, previousSecret?: string) =>
    verifyWebhookSignature({
      secret: "new-secret",
      previousSecret,
      timestamp: String(ts),
      signature: await sign(ts, BODY, signedWith),
      rawBody: BODY,
      nowMs: NOW_MS,
    });

  it("accepts the previous secret only while it is configured", async () => {
    expect(await check("old-secret", "old-secret")).toEqual({ ok: true });
    expect((await check("old-secret")).ok).toBe(false);
  });

  it("still accepts the current secret, and nothing else", async () => {
    expect(await check("new-secret", "old-secret")).toEqual({ ok: true });
    expect(await check("other-secret", "old-secret")).toEqual({
      ok: false,
      message: "signature does not match",
    });
  });
});

describe("constantTimeEqual / bearerMatches", () => {
  it("compares whole strings", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
    expect(constantTimeEqual("", "")).toBe(true);
  });

  it("requires the Bearer scheme and the exact token", () => {
    expect(bearerMatches("Bearer tok", "tok")).toBe(true);
    expect(bearerMatches("bearer tok", "tok")).toBe(false);
    expect(bearerMatches("Bearer tok2", "tok")).toBe(false);
    expect(bearerMatches(undefined, "tok")).toBe(false);
  });
});
