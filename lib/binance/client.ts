/**
 * Binance USD-M futures REST client: one HTTP call per method on the hot path,
 * no storage of its own. Shared state (clock offset, 429/418 backoff) comes in
 * as options and goes out through callbacks, so the caller decides where it
 * lives (Redis) and when to write it.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */
import type { Parser } from "../quick-parse.ts";
import {
  BinanceApiError,
  BinanceBackoffActiveError,
  BinanceRateLimitError,
  BinanceRestrictedLocationError,
  BinanceUnavailableError,
  type BackoffStatus,
} from "./errors.ts";
import { exchangeInfoSchema, type ExchangeInfo } from "./step-sizes.ts";
import {
  accountParser,
  errorBodySchema,
  positionRiskListSchema,
  serverTimeSchema,
  type FuturesAccount,
  type PositionRisk,
} from "./schemas.ts";
import { importHmacSha256Key, signHex } from "./sign.ts";
import { KlinesResponseSchema, type Candle } from "../market/klines.ts";

export interface BinanceClientOptions {
  /** e.g. `https://fapi.binance.com`; a trailing slash is ignored. */
  baseUrl: string;
  apiKey: string;
  apiSecret: string;
  /** Per-request deadline, ms. @default 3000 */
  timeoutMs?: number;
  /** ms the request stays valid after its timestamp. @default 5000 */
  recvWindow?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Local clock, unix ms. @default Date.now */
  now?: () => number;
  /** Binance server time minus local time, ms, as last persisted. @default 0 */
  timeOffsetMs?: number;
  /** Shared 403/418/429 backoff, unix ms: before it, every call fails without a request. */
  backoffUntilMs?: number;
  /** A -1021 resync measured a new offset (ms); persist it for the next invocation. Errors are ignored. */
  onTimeOffset?: (offsetMs: number) => void | Promise<void>;
  /**
   * Binance asked to back off (403 WAF, 418 ban, 429 rate limit) until `untilMs`;
   * persist it. May answer a later unix ms (the shared backoff grows on repeats,
   * lib/binance/redis-state.ts); the client then stays closed until that. Errors are
   * ignored: the client stays closed locally until `untilMs`.
   */
  onBackoff?: (
    untilMs: number,
    backoff: { status: BackoffStatus; retryAfterMs: number },
  ) => number | void | Promise<number | void>;
  /** `X-MBX-USED-WEIGHT-1M` of each response (limit 2400 per IP per minute). */
  onWeight?: (usedWeight1m: number) => void;
}

export interface BinanceClientStats {
  /** HTTP requests sent, including resyncs and retries. */
  requests: number;
  /** The latest `X-MBX-USED-WEIGHT-1M` seen. */
  lastUsedWeight1m: number | undefined;
  /** ms, the offset signed requests use now. */
  timeOffsetMs: number;
  /** unix ms, 0 when none. */
  backoffUntilMs: number;
}

export interface BinanceClient {
  /** `GET /fapi/v1/time`: Binance server time, unix ms. */
  serverTime(): Promise<number>;
  /** `GET /fapi/v1/klines`, oldest first; the last row may be the still-open candle. */
  klines(symbol: string, interval: string, limit: number): Promise<Candle[]>;
  /** Signed `GET /fapi/v3/positionRisk`. */
  positionRisk(): Promise<PositionRisk[]>;
  /** Signed `GET /fapi/v3/account`. */
  account(): Promise<FuturesAccount>;
  /** `GET /fapi/v1/exchangeInfo` (weight 1): every symbol's filters. */
  exchangeInfo(): Promise<ExchangeInfo>;
  readonly stats: BinanceClientStats;
}

const DEFAULT_TIMEOUT_MS = 3_000;
const DEFAULT_RECV_WINDOW_MS = 5_000;
/** Used when a 403/418/429 carries no usable Retry-After. */
const DEFAULT_RETRY_AFTER_MS = 60_000;
/** A 418 is an IP ban that starts at 2 minutes; never come back sooner. */
const MIN_BAN_BACKOFF_MS = 120_000;
const TIMESTAMP_OUTSIDE_RECV_WINDOW = -1021;

type Params = Record<string, string | number>;

export function createBinanceClient(options: BinanceClientOptions): BinanceClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const recvWindow = options.recvWindow ?? DEFAULT_RECV_WINDOW_MS;
  // Workers' fetch must not be called detached from globalThis.
  const fetchImpl: typeof fetch = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  let timeOffsetMs = options.timeOffsetMs ?? 0;
  let backoffUntilMs = options.backoffUntilMs ?? 0;
  let requests = 0;
  let lastUsedWeight1m: number | undefined;
  let signingKey: Promise<CryptoKey> | undefined;

  async function request<T>(
    path: string,
    query: string,
    schema: Parser<T>,
    headers: HeadersInit = {},
  ): Promise<T> {
    if (now() < backoffUntilMs) throw new BinanceBackoffActiveError(path, backoffUntilMs);

    let response: Response;
    let body: string;
    try {
      requests += 1;
      response = await fetchImpl(`${baseUrl}${path}${query ? `?${query}` : ""}`, {
        method: "GET",
        headers,
        signal: AbortSignal.timeout(timeoutMs),
      });
      readWeight(response);
      body = await response.text();
    } catch (error) {
      // AbortSignal.timeout rejects with a DOMException named "TimeoutError".
      const name = typeof error === "object" && error !== null && "name" in error ? error.name : "";
      const timedOut = name === "TimeoutError" || name === "AbortError";
      throw timedOut
        ? new BinanceUnavailableError(path, "timeout", `no response within ${timeoutMs} ms`, {
            cause: error,
          })
        : new BinanceUnavailableError(path, "network", "request failed", { cause: error });
    }

    const { status } = response;
    // 403: Binance's web application firewall (an HTML page, not JSON); 418: IP ban;
    // 429: request weight exceeded. All three mean: stop calling for a while.
    if (status === 429 || status === 418 || status === 403) {
      await startBackoff(path, status, response);
    }
    if (status === 451) {
      // Binance does not serve this location: no retry can help until the deployment moves.
      console.log(
        JSON.stringify({
          msg: "governor.binance_restricted_location",
          path,
          status,
          detail: "restricted_location",
        }),
      );
      throw new BinanceRestrictedLocationError(path);
    }

    const json = parseJson(body);
    if (!response.ok) {
      const apiError = errorBodySchema.safeParse(json.ok ? json.value : undefined);
      if (status < 500 && apiError.success) {
        throw new BinanceApiError(path, status, apiError.data.code, apiError.data.msg);
      }
      const code = apiError.success ? `, code ${apiError.data.code}` : "";
      throw new BinanceUnavailableError(path, "http", `HTTP ${status}${code}`, { status });
    }
    if (!json.ok) {
      throw new BinanceUnavailableError(path, "invalid_response", "body is not JSON", {
        status,
        cause: json.error,
      });
    }
    const parsed = schema.safeParse(json.value);
    if (!parsed.success) {
      throw new BinanceUnavailableError(path, "invalid_response", "unexpected body shape", {
        status,
        cause: parsed.error,
      });
    }
    return parsed.data;
  }

  function readWeight(response: Response): void {
    const header = response.headers.get("X-MBX-USED-WEIGHT-1M");
    const weight = header === null ? NaN : Number(header);
    if (header === null || header.trim() === "" || !Number.isFinite(weight)) return;
    lastUsedWeight1m = weight;
    options.onWeight?.(weight);
  }

  async function startBackoff(
    path: string,
    status: BackoffStatus,
    response: Response,
  ): Promise<never> {
    const at = now();
    let retryAfterMs = parseRetryAfterMs(response.headers.get("Retry-After"), at);
    if (status === 418) retryAfterMs = Math.max(retryAfterMs, MIN_BAN_BACKOFF_MS);
    let until = at + retryAfterMs;
    // A parallel request of this client already started (and persists) the backoff.
    const persisted = backoffUntilMs > at;
    backoffUntilMs = Math.max(backoffUntilMs, until);
    if (persisted)
      throw new BinanceRateLimitError(path, status, backoffUntilMs - at, backoffUntilMs);
    try {
      const shared = await options.onBackoff?.(until, { status, retryAfterMs });
      if (typeof shared === "number" && Number.isFinite(shared)) until = Math.max(until, shared);
    } catch {
      // Ignored on purpose: see BinanceClientOptions.onBackoff.
    }
    backoffUntilMs = Math.max(backoffUntilMs, until);
    throw new BinanceRateLimitError(path, status, until - at, until);
  }

  async function signedGet<T>(path: string, params: Params, schema: Parser<T>): Promise<T> {
    try {
      return await request(path, await signedQuery(params), schema, signedHeaders());
    } catch (error) {
      if (!(error instanceof BinanceApiError) || error.code !== TIMESTAMP_OUTSIDE_RECV_WINDOW) {
        throw error;
      }
    }
    await resyncClock();
    return request(path, await signedQuery(params), schema, signedHeaders());
  }

  /** The exact bytes sent: params, recvWindow, timestamp, then the signature of all that. */
  async function signedQuery(params: Params): Promise<string> {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) query.append(name, String(value));
    query.append("recvWindow", String(recvWindow));
    query.append("timestamp", String(Math.round(now() + timeOffsetMs)));
    const payload = query.toString();
    signingKey ??= isolateSigningKey(options.apiSecret);
    return `${payload}&signature=${await signHex(await signingKey, payload)}`;
  }

  function signedHeaders(): HeadersInit {
    return { "X-MBX-APIKEY": options.apiKey };
  }

  /** Offset = server time − the local midpoint of the round trip. */
  async function resyncClock(): Promise<void> {
    const sentAt = now();
    const { serverTime } = await request("/fapi/v1/time", "", serverTimeSchema);
    const receivedAt = now();
    timeOffsetMs = Math.round(serverTime - (sentAt + receivedAt) / 2);
    await notify(options.onTimeOffset, timeOffsetMs);
  }

  return {
    async serverTime() {
      const { serverTime } = await request("/fapi/v1/time", "", serverTimeSchema);
      return serverTime;
    },
    klines(symbol, interval, limit) {
      const query = new URLSearchParams({ symbol, interval, limit: String(limit) }).toString();
      return request("/fapi/v1/klines", query, KlinesResponseSchema);
    },
    positionRisk() {
      return signedGet("/fapi/v3/positionRisk", {}, positionRiskListSchema);
    },
    account() {
      return signedGet("/fapi/v3/account", {}, accountParser);
    },
    exchangeInfo() {
      return request("/fapi/v1/exchangeInfo", "", exchangeInfoSchema);
    },
    get stats() {
      return { requests, lastUsedWeight1m, timeOffsetMs, backoffUntilMs };
    },
  };
}

/**
 * The imported HMAC key per secret, kept for the isolate's life: an evaluation
 * builds a client, and importing the key anew each time cost a crypto round
 * before the account call could leave (the key is not extractable).
 */
const signingKeys = new Map<string, Promise<CryptoKey>>();
function isolateSigningKey(secret: string): Promise<CryptoKey> {
  let key = signingKeys.get(secret);
  if (!key) {
    key = importHmacSha256Key(secret);
    key.catch(() => signingKeys.delete(secret));
    signingKeys.set(secret, key);
  }
  return key;
}

/**
 * `Retry-After` in seconds (what Binance sends) or as an HTTP date.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info#limits
 */
export function parseRetryAfterMs(header: string | null, nowMs: number): number {
  if (header === null || header.trim() === "") return DEFAULT_RETRY_AFTER_MS;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(header);
  if (Number.isFinite(date)) return Math.max(0, date - nowMs);
  return DEFAULT_RETRY_AFTER_MS;
}

function parseJson(body: string): { ok: true; value: unknown } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Persisting shared state is the caller's business; its failure must not mask Binance's answer. */
async function notify<T>(callback: ((value: T) => void | Promise<void>) | undefined, value: T) {
  try {
    await callback?.(value);
  } catch {
    // Ignored on purpose: see BinanceClientOptions.
  }
}
