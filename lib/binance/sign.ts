/**
 * HMAC-SHA256 request signing for Binance (hex digest), on WebCrypto so it runs in Workers.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info#signed-trade-and-user_data-endpoint-security
 */

const encoder = new TextEncoder();

/** Imports `secret` once as an HMAC-SHA256 signing key; reuse it for every request. */
export function importHmacSha256Key(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/** Lower-case hex HMAC-SHA256 of exactly the bytes of `payload` (a string as UTF-8). */
export async function signHex(key: CryptoKey, payload: string | Uint8Array): Promise<string> {
  const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
  const mac = await crypto.subtle.sign("HMAC", key, bytes);
  return toHex(new Uint8Array(mac));
}

/** One-shot convenience: import `secret` and sign `payload`. */
export async function hmacSha256Hex(secret: string, payload: string | Uint8Array): Promise<string> {
  return signHex(await importHmacSha256Key(secret), payload);
}

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
