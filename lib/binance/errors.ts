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

/**
 * The answers that start the shared backoff: 403 (the web application
 * firewall's limit was violated; the body is an HTML page), 418 (IP banned
 * for ignoring 429s; bans scale from 2 minutes to 3 days), 429 (request
 * weight exceeded).
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */
export type BackoffStatus = 403 | 418 | 429;

/** 403 (WAF), 418 (IP ban) or 429 (rate limit); no call until `until`. */
export class BinanceRateLimitError extends Error {
  override readonly name = "BinanceRateLimitError";
  readonly status: BackoffStatus;
  /** ms */
  readonly retryAfterMs: number;
  /** unix ms */
  readonly until: number;

  constructor(path: string, status: BackoffStatus, retryAfterMs: number, until: number) {
    const what = status === 403 ? "blocked by the web application firewall" : "rate limited";
    super(`Binance ${path} ${what}: HTTP ${status}, backoff ${retryAfterMs} ms`);
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

/**
 * HTTP 451: Binance does not serve the location the request came from. Not
 * transient: retrying cannot help until the deployment moves. `detail` is
 * "restricted_location" (BLOCK details carry it).
 */
export class BinanceRestrictedLocationError extends Error {
  override readonly name = "BinanceRestrictedLocationError";
  readonly status = 451;
  readonly detail = "restricted_location";

  constructor(path: string) {
    super(`Binance ${path} refused: restricted_location (HTTP 451)`);
  }
}

/** A shared 403/418/429 backoff is still running; no request was sent. */
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
  // BinanceRestrictedLocationError: only moving the deployment helps.
  return false;
}
