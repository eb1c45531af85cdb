/**
 * The few ways a Binance call can fail. Every failure is fail-closed for the caller
 * (no entry is granted); the classes only say why, and whether trying later may help.
 * Messages name the endpoint path, never the query string, key, secret or signature.
 */

/** Binance answered with its `{code, msg}` error body (a 4xx other than 429/418). */
export class BinanceApiError extends Error {
  override readonly name = "BinanceApiError";
  readonly status: number;
  /** Binance error code, e.g. -1021 (timestamp outside recvWindow), -2015 (invalid key). */
  readonly code: number;
  readonly msg: string;

  constructor(path: string, status: number, code: number, msg: string) {
    super(`Binance ${path} failed: HTTP ${status}, code ${code}: ${msg}`);
    this.status = status;
    this.code = code;
    this.msg = msg;
  }
}

/** 429 (request weight exceeded) or 418 (IP banned for ignoring 429s); no call until `until`. */
export class BinanceRateLimitError extends Error {
  override readonly name = "BinanceRateLimitError";
  readonly status: 429 | 418;
  /** ms */
  readonly retryAfterMs: number;
  /** unix ms */
  readonly until: number;

  constructor(path: string, status: 429 | 418, retryAfterMs: number, until: number) {
    super(`Binance ${path} rate limited: HTTP ${status}, retry after ${retryAfterMs} ms`);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.until = until;
  }
}

export type BinanceUnavailableKind = "timeout" | "network" | "http" | "invalid_response";

/** Binance could not be used: timeout, network failure, 5xx or other non-API HTTP error, or a body that fails validation. */
export class BinanceUnavailableError extends Error {
  override readonly name = "BinanceUnavailableError";
  readonly kind: BinanceUnavailableKind;
  /** HTTP status when a response arrived. */
  readonly status: number | undefined;

  constructor(
    path: string,
    kind: BinanceUnavailableKind,
    detail: string,
    options: { status?: number; cause?: unknown } = {},
  ) {
    super(`Binance ${path} unavailable (${kind}): ${detail}`, { cause: options.cause });
    this.kind = kind;
    this.status = options.status;
  }
}

/** A shared 429/418 backoff is still running; no request was sent. */
export class BinanceBackoffActiveError extends Error {
  override readonly name = "BinanceBackoffActiveError";
  /** unix ms */
  readonly until: number;

  constructor(path: string, until: number) {
    super(`Binance ${path} not called: rate-limit backoff active until ${until}`);
    this.until = until;
  }
}

/**
 * Binance codes that describe Binance's state, not the request.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code
 */
const transientApiCodes: ReadonlySet<number> = new Set([
  -1000, // UNKNOWN
  -1001, // DISCONNECTED: internal error, unable to process
  -1003, // TOO_MANY_REQUESTS
  -1007, // TIMEOUT waiting for the backend
  -1008, // SERVER_BUSY
  -1021, // INVALID_TIMESTAMP: clock drift; the next attempt resyncs
]);

/**
 * True when the same call may succeed later without anyone changing anything
 * (a queue message should be retried with backoff); false when it needs a fix
 * (bad key, bad parameter, unknown symbol), so retrying would only loop.
 */
export function isTransientBinanceError(error: unknown): boolean {
  if (error instanceof BinanceUnavailableError) return true;
  if (error instanceof BinanceRateLimitError) return true;
  if (error instanceof BinanceBackoffActiveError) return true;
  if (error instanceof BinanceApiError) return transientApiCodes.has(error.code);
  return false;
}
