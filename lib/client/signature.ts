/**
 * The webhook signature (docs/contract.md §4): lower-case hex HMAC-SHA256, keyed with the
 * webhook secret, over `{timestamp}.{raw body bytes}` with the timestamp in
 * unix seconds, sent as `X-Governor-Timestamp` and `X-Governor-Signature`.
 *
 * WebCrypto only, so the same code signs in Node ≥ 20, in browsers and in
 * Workers: the governor verifies with it (lib/http/auth.ts), the TypeScript
 * client and `npm run plan` sign with it. Depends on nothing else in lib/.
 */

export const TIMESTAMP_HEADER = "X-Governor-Timestamp";
export const SIGNATURE_HEADER = "X-Governor-Signature";

const encoder = new TextEncoder();

/** Imported keys by secret (a process or isolate signs with one or two secrets). */
const keys = new Map<string, Promise<CryptoKey>>();

/** The secret as an HMAC-SHA256 signing key, imported once per process or isolate. */
function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    // A failed import is not kept: the next call tries again.
    key.catch(() => keys.delete(secret));
    if (keys.size >= 8) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/** Hex HMAC-SHA256 over `{timestamp}.` followed by exactly `body`'s bytes (a string as UTF-8). */
export async function webhookSignature(
  secret: string,
  timestamp: string,
  body: Uint8Array | string,
): Promise<string> {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const prefix = encoder.encode(`${timestamp}.`);
  const signed = new Uint8Array(prefix.length + bytes.length);
  signed.set(prefix);
  signed.set(bytes, prefix.length);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), signed));
  let hex = "";
  for (const byte of mac) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** The headers of one signed POST of `rawBody` at `nowMs` (unix ms). */
export async function signedHeaders(
  secret: string,
  rawBody: string,
  nowMs: number = Date.now(),
): Promise<Record<string, string>> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    "content-type": "application/json",
    [TIMESTAMP_HEADER]: timestamp,
    [SIGNATURE_HEADER]: await webhookSignature(secret, timestamp, rawBody),
  };
}
