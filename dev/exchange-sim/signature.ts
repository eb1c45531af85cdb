/**
 * Binance SIGNED-endpoint signatures (USD-M futures "General Info"): the
 * signature is the hex HMAC-SHA256, keyed with the API secret, of
 * `totalParams` = the query string concatenated with the request body (no
 * separator), exactly as sent on the wire, without the `signature` parameter
 * itself.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Hex HMAC-SHA256 of `payload` keyed with `secret`. */
export function hmacSha256Hex(secret: string, payload: string): string {
  return createHmac("sha256", secret).update(payload, "utf8").digest("hex");
}

/** Append `&signature=<hex>` to an (already encoded) query string. */
export function signQuery(secret: string, query: string): string {
  const signature = hmacSha256Hex(secret, query);
  return query === "" ? `signature=${signature}` : `${query}&signature=${signature}`;
}

/** Constant-time comparison of an expected hex signature with a received one. */
export function signatureMatches(expectedHex: string, receivedHex: string): boolean {
  const a = Buffer.from(expectedHex.toLowerCase(), "utf8");
  const b = Buffer.from(receivedHex.toLowerCase(), "utf8");
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** True when `signature` is the signature of `payload` under `secret`. */
export function verifySignature(secret: string, payload: string, signature: string): boolean {
  return signatureMatches(hmacSha256Hex(secret, payload), signature);
}

export interface SignedPayload {
  /** The bytes that were signed: totalParams without the `signature` parameter. */
  payload: string;
  /** The (still percent-encoded) value of the `signature` parameter, if one was sent. */
  signature: string | undefined;
}

/**
 * Split a request's raw query string and raw (form-encoded) body into the
 * signed payload and the signature. The payload keeps every other byte as
 * sent (order, encoding); only the `signature=...` segment is removed.
 */
export function extractSignedPayload(rawQuery: string, rawBody = ""): SignedPayload {
  let signature: string | undefined;
  const strip = (part: string): string => {
    if (part === "") return "";
    const kept: string[] = [];
    for (const segment of part.split("&")) {
      if (segment.startsWith("signature=")) {
        signature = segment.slice("signature=".length);
      } else {
        kept.push(segment);
      }
    }
    return kept.join("&");
  };
  const payload = strip(rawQuery) + strip(rawBody);
  return { payload, signature };
}
