import { describe, expect, it, vi } from "vitest";
import { createBinanceClient, type BinanceClientOptions } from "../../lib/binance/client.ts";
import {
  BinanceApiError,
  BinanceBackoffActiveError,
  BinanceRateLimitError,
  BinanceRestrictedLocationError,
  BinanceUnavailableError,
  isTransientBinanceError,
} from "../../lib/binance/errors.ts";
import { POSITION_RISK_V3_ONE_WAY, RESTRICTED_LOCATION_BODY } from "../fixtures/binance-docs.ts";
import { hmacSha256Hex } from "../../lib/binance/sign.ts";

const NOW = 1_700_000_000_000;
const API_KEY = "test-api-key-7f3a";
const API_SECRET = "test-api-secret-c91e0d";
const BASE_URL = "https://fapi.example.test";

interface RecordedCall {
  url: string;
  path: string;
  headers: Headers;
}
type Reply = Response | ((init: RequestInit | undefined) => Promise<Response>);

/** A scripted `fetch`: answers each request with the next reply, records what was sent. */
function scriptedFetch(...replies: Reply[]) {
  const calls: RecordedCall[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, path: new URL(url).pathname, headers: new Headers(init?.headers) });
    const reply = replies.shift();
    if (reply === undefined) throw new Error(`unscripted request to ${new URL(url).pathname}`);
    return typeof reply === "function" ? reply(init) : reply;
  });
  return { fetch: fetchMock as unknown as typeof fetch, calls, fetchMock };
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function client(fetchImpl: typeof fetch, overrides: Partial<BinanceClientOptions> = {}) {
  return createBinanceClient({
    baseUrl: BASE_URL,
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    fetch: fetchImpl,
    now: () => NOW,
    ...overrides,
  });
}

/** Response example of Position Information V3, one-way mode (Binance docs). */
const positionRow = POSITION_RISK_V3_ONE_WAY[0]!;

/** Shaped after the Account Information V3 response example (Binance docs). */
const accountBody = {
  totalInitialMargin: "12.50000000",
  totalMaintMargin: "0.40000000",
  totalWalletBalance: "103.12345678",
  totalUnrealizedProfit: "1.20000000",
  totalMarginBalance: "104.32345678",
  totalPositionInitialMargin: "12.50000000",
  totalOpenOrderInitialMargin: "0.00000000",
  totalCrossWalletBalance: "103.12345678",
  totalCrossUnPnl: "1.20000000",
  availableBalance: "91.82345678",
  maxWithdrawAmount: "91.82345678",
  assets: [],
  positions: [
    {
      symbol: "BTCUSDT",
      positionSide: "BOTH",
      positionAmt: "0.010",
      unrealizedProfit: "1.20000000",
      isolatedMargin: "0.00000000",
      notional: "625.00000000",
      isolatedWallet: "0",
      initialMargin: "12.50000000",
      maintMargin: "0.40000000",
      updateTime: 1720736417660,
    },
  ],
};

const klineRow = [
  1_699_999_200_000,
  "36500.10",
  "36620.00",
  "36480.50",
  "36590.20",
  "1234.567",
  1_700_002_799_999,
  "45100000.12",
  8123,
  "600.1",
  "21900000.5",
  "0",
];

const timestampError = {
  code: -1021,
  msg: "Timestamp for this request is outside of the recvWindow.",
};

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("hmacSha256Hex", () => {
  it("reproduces Binance's documented signature example", async () => {
    // USD-M Futures general info, "SIGNED Endpoint Examples", Example 1.
    const secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
    const payload =
      "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
    expect(await hmacSha256Hex(secret, payload)).toBe(
      "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9",
    );
  });
});

describe("createBinanceClient: signed requests", () => {
  it("signs exactly the bytes before &signature=, which comes last", async () => {
    const { fetch, calls } = scriptedFetch(json([positionRow]));
    await client(fetch, { timeOffsetMs: 250 }).positionRisk();

    const query = calls[0]!.url.split("?")[1]!;
    const cut = query.lastIndexOf("&signature=");
    const payload = query.slice(0, cut);
    expect(payload).toBe(`recvWindow=5000&timestamp=${NOW + 250}`);
    expect(query.slice(cut)).toBe(`&signature=${await hmacSha256Hex(API_SECRET, payload)}`);
  });

  it("sends the API key in X-MBX-APIKEY", async () => {
    const { fetch, calls } = scriptedFetch(json(accountBody));
    await client(fetch).account();
    expect(calls[0]!.headers.get("X-MBX-APIKEY")).toBe(API_KEY);
  });

  it("parses positionRisk v3 decimals into numbers", async () => {
    const { fetch, calls } = scriptedFetch(json([positionRow]));
    const [position] = await client(fetch).positionRisk();
    expect(calls[0]!.path).toBe("/fapi/v3/positionRisk");
    expect(position).toMatchObject({
      symbol: "ADAUSDT",
      positionSide: "BOTH",
      positionAmt: 30,
      entryPrice: 0.385,
      markPrice: 0.4104759,
      unRealizedProfit: 0.764277,
      notional: 12.314277,
      updateTime: 1720736417660,
    });
  });

  it("parses account v3 totals and positions into numbers", async () => {
    const { fetch, calls } = scriptedFetch(json(accountBody));
    const account = await client(fetch).account();
    expect(calls[0]!.path).toBe("/fapi/v3/account");
    expect(account.totalInitialMargin).toBe(12.5);
    expect(account.totalMarginBalance).toBe(104.32345678);
    expect(account.positions[0]).toEqual({
      symbol: "BTCUSDT",
      positionSide: "BOTH",
      positionAmt: 0.01,
      positionAmtText: "0.010",
      unrealizedProfit: 1.2,
      notional: 625,
      initialMargin: 12.5,
      isolatedMargin: 0,
      isolatedWallet: 0,
      maintMargin: 0.4,
      updateTime: 1720736417660,
    });
  });

  it("tolerates a missing, null, empty or malformed field no gate reads, in one row", async () => {
    const [row] = accountBody.positions;
    const { fetch } = scriptedFetch(
      json({
        ...accountBody,
        totalMaintMargin: null,
        availableBalance: "",
        totalWalletBalance: undefined,
        positions: [
          { ...row, isolatedMargin: null, maintMargin: "", isolatedWallet: "n/a" },
          { ...row, symbol: "ETHUSDT", isolatedMargin: undefined },
        ],
      }),
    );
    const account = await client(fetch).account();
    expect(account.positions.map((p) => p.symbol)).toEqual(["BTCUSDT", "ETHUSDT"]);
    expect(account.positions[0]).toMatchObject({
      isolatedMargin: undefined,
      maintMargin: undefined,
    });
    expect(account.totalMaintMargin).toBeUndefined();
  });

  it.each(["initialMargin", "notional", "positionAmt", "unrealizedProfit", "updateTime"])(
    "rejects a row whose %s, which a gate reads, is missing",
    async (field) => {
      const row: Record<string, unknown> = { ...accountBody.positions[0] };
      delete row[field];
      const { fetch } = scriptedFetch(json({ ...accountBody, positions: [row] }));
      const error = await rejectionOf(client(fetch).account());
      expect(error).toMatchObject({ name: "BinanceUnavailableError", kind: "invalid_response" });
    },
  );

  it("tolerates positionRisk rows without the fields the status view does not read", async () => {
    const { notional: _n, initialMargin: _i, ...lean } = positionRow;
    const { fetch } = scriptedFetch(json([{ ...lean, liquidationPrice: null, marginAsset: null }]));
    const [position] = await client(fetch).positionRisk();
    expect(position).toMatchObject({
      symbol: "ADAUSDT",
      positionAmt: 30,
      liquidationPrice: undefined,
    });
  });
});

describe("createBinanceClient: clock resync on -1021", () => {
  it("resyncs with /fapi/v1/time and retries once with a fresh timestamp", async () => {
    const onTimeOffset = vi.fn();
    const { fetch, calls } = scriptedFetch(
      json(timestampError, 400),
      json({ serverTime: NOW + 1_500 }),
      json([positionRow]),
    );
    const positions = await client(fetch, { onTimeOffset }).positionRisk();

    expect(positions).toHaveLength(1);
    expect(calls.map((call) => call.path)).toEqual([
      "/fapi/v3/positionRisk",
      "/fapi/v1/time",
      "/fapi/v3/positionRisk",
    ]);
    expect(onTimeOffset).toHaveBeenCalledWith(1_500);
    const retried = new URL(calls[2]!.url).searchParams;
    expect(retried.get("timestamp")).toBe(String(NOW + 1_500));
  });

  it("gives up with the -1021 error after exactly three requests", async () => {
    const { fetch, fetchMock } = scriptedFetch(
      json(timestampError, 400),
      json({ serverTime: NOW + 1_500 }),
      json(timestampError, 400),
    );
    const error = await rejectionOf(client(fetch).positionRisk());
    expect(error).toBeInstanceOf(BinanceApiError);
    expect(error).toMatchObject({ status: 400, code: -1021 });
    expect(fetchMock).toHaveBeenCalledTimes(3);
  });
});

describe("createBinanceClient: rate limits", () => {
  it("honours Retry-After on 429: reports the backoff and fails", async () => {
    const onBackoff = vi.fn();
    const { fetch } = scriptedFetch(
      json({ code: -1003, msg: "Too many requests." }, 429, { "Retry-After": "7" }),
    );
    const error = await rejectionOf(client(fetch, { onBackoff }).klines("BTCUSDT", "1h", 100));
    expect(onBackoff).toHaveBeenCalledWith(NOW + 7_000, { status: 429, retryAfterMs: 7_000 });
    expect(error).toBeInstanceOf(BinanceRateLimitError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 7_000, until: NOW + 7_000 });
  });

  it("backs off 60 s when a 429 has no Retry-After", async () => {
    const onBackoff = vi.fn();
    const { fetch } = scriptedFetch(json({ code: -1003, msg: "Too many requests." }, 429));
    await rejectionOf(client(fetch, { onBackoff }).serverTime());
    expect(onBackoff).toHaveBeenCalledWith(NOW + 60_000, { status: 429, retryAfterMs: 60_000 });
  });

  it("backs off at least 120 s on a 418 ban", async () => {
    const onBackoff = vi.fn();
    const { fetch } = scriptedFetch(
      json({ code: -1003, msg: "IP banned." }, 418, { "Retry-After": "5" }),
    );
    const error = await rejectionOf(client(fetch, { onBackoff }).serverTime());
    expect(onBackoff).toHaveBeenCalledWith(NOW + 120_000, { status: 418, retryAfterMs: 120_000 });
    expect(error).toMatchObject({ status: 418, retryAfterMs: 120_000 });
  });

  it("treats a 403 from the web application firewall (an HTML page) as a backoff, not a retry", async () => {
    const onBackoff = vi.fn();
    const { fetch, fetchMock } = scriptedFetch(
      new Response("<html><h1>403 ERROR</h1></html>", {
        status: 403,
        headers: { "content-type": "text/html" },
      }),
    );
    const binance = client(fetch, { onBackoff });
    const error = await rejectionOf(binance.account());
    expect(error).toBeInstanceOf(BinanceRateLimitError);
    expect(error).toMatchObject({ status: 403, until: NOW + 60_000 });
    expect(String((error as Error).message)).toMatch(/firewall/);
    expect(onBackoff).toHaveBeenCalledWith(NOW + 60_000, { status: 403, retryAfterMs: 60_000 });
    expect(await rejectionOf(binance.klines("BTCUSDT", "1h", 100))).toBeInstanceOf(
      BinanceBackoffActiveError,
    );
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  it("stays closed until the longer backoff the shared state answers (escalation)", async () => {
    const onBackoff = vi.fn().mockResolvedValue(NOW + 480_000);
    const { fetch } = scriptedFetch(json({ code: -1003, msg: "Too many requests." }, 429));
    const binance = client(fetch, { onBackoff });
    const error = await rejectionOf(binance.serverTime());
    expect(error).toMatchObject({ status: 429, until: NOW + 480_000, retryAfterMs: 480_000 });
    expect(binance.stats.backoffUntilMs).toBe(NOW + 480_000);
  });

  it("maps 451 to a restricted-location error that is not transient and starts no backoff", async () => {
    const onBackoff = vi.fn();
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const { fetch } = scriptedFetch(json(RESTRICTED_LOCATION_BODY, 451));
    const error = await rejectionOf(client(fetch, { onBackoff }).account());
    expect(error).toBeInstanceOf(BinanceRestrictedLocationError);
    expect(error).toMatchObject({ status: 451, detail: "restricted_location" });
    expect(String((error as Error).message)).toContain("restricted_location");
    expect(isTransientBinanceError(error)).toBe(false);
    expect(onBackoff).not.toHaveBeenCalled();
    const lines = log.mock.calls.map(([line]) => JSON.parse(String(line)));
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: "governor.binance_restricted_location", status: 451 }),
    );
    log.mockRestore();
  });

  it("sends nothing while a shared backoff is active", async () => {
    const { fetch, fetchMock } = scriptedFetch();
    const error = await rejectionOf(client(fetch, { backoffUntilMs: NOW + 1 }).positionRisk());
    expect(error).toBeInstanceOf(BinanceBackoffActiveError);
    expect(error).toMatchObject({ until: NOW + 1 });
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("stays closed for later calls after a 429, even if persisting the backoff fails", async () => {
    const onBackoff = vi.fn().mockRejectedValue(new Error("redis down"));
    const { fetch, fetchMock } = scriptedFetch(
      json({ code: -1003, msg: "Too many requests." }, 429, { "Retry-After": "7" }),
    );
    const binance = client(fetch, { onBackoff });
    expect(await rejectionOf(binance.account())).toBeInstanceOf(BinanceRateLimitError);
    expect(await rejectionOf(binance.account())).toBeInstanceOf(BinanceBackoffActiveError);
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });
});

describe("createBinanceClient: unavailability", () => {
  it("times out a request that never answers", async () => {
    const hanging = (init: RequestInit | undefined) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    const { fetch } = scriptedFetch(hanging);
    // The request never answers: only the client's own timeout can end it.
    const error = await rejectionOf(client(fetch, { timeoutMs: 50 }).positionRisk());
    expect(error).toBeInstanceOf(BinanceUnavailableError);
    expect(error).toMatchObject({ kind: "timeout" });
  });

  it("reports a failed connection as a network error", async () => {
    const { fetch } = scriptedFetch(() => Promise.reject(new TypeError("fetch failed")));
    const error = await rejectionOf(client(fetch).serverTime());
    expect(error).toMatchObject({ name: "BinanceUnavailableError", kind: "network" });
  });

  it("reports a 5xx as an http error, even with a {code,msg} body", async () => {
    const { fetch } = scriptedFetch(json({ code: -1001, msg: "Internal error." }, 503));
    const error = await rejectionOf(client(fetch).account());
    expect(error).toBeInstanceOf(BinanceUnavailableError);
    expect(error).toMatchObject({ kind: "http", status: 503 });
  });

  it("rejects a body that is not JSON as invalid_response", async () => {
    const { fetch } = scriptedFetch(new Response("<html>gateway</html>", { status: 200 }));
    const error = await rejectionOf(client(fetch).klines("BTCUSDT", "1h", 100));
    expect(error).toMatchObject({ name: "BinanceUnavailableError", kind: "invalid_response" });
  });

  it("rejects a position without markPrice as invalid_response", async () => {
    const { markPrice: _dropped, ...withoutMarkPrice } = positionRow;
    const { fetch } = scriptedFetch(json([withoutMarkPrice]));
    const error = await rejectionOf(client(fetch).positionRisk());
    expect(error).toMatchObject({ name: "BinanceUnavailableError", kind: "invalid_response" });
  });

  it("rejects a non-numeric decimal instead of passing NaN on", async () => {
    const { fetch } = scriptedFetch(json({ ...accountBody, totalMarginBalance: "n/a" }));
    const error = await rejectionOf(client(fetch).account());
    expect(error).toMatchObject({ name: "BinanceUnavailableError", kind: "invalid_response" });
  });
});

describe("createBinanceClient: API errors", () => {
  it("maps a {code,msg} 4xx to BinanceApiError", async () => {
    const { fetch } = scriptedFetch(json({ code: -1121, msg: "Invalid symbol." }, 400));
    const error = await rejectionOf(client(fetch).klines("NOPEUSDT", "1h", 100));
    expect(error).toBeInstanceOf(BinanceApiError);
    expect(error).toMatchObject({ status: 400, code: -1121, msg: "Invalid symbol." });
  });

  it("keeps key, secret and signature out of error messages", async () => {
    const { fetch, calls } = scriptedFetch(
      json({ code: -1022, msg: "Signature for this request is not valid." }, 400),
    );
    const error = await rejectionOf(client(fetch).account());
    const signature = new URL(calls[0]!.url).searchParams.get("signature")!;
    const message = String((error as Error).message);
    expect(message).toContain("/fapi/v3/account");
    for (const secret of [API_KEY, API_SECRET, signature]) expect(message).not.toContain(secret);
  });
});

describe("createBinanceClient: market data", () => {
  it("requests klines unsigned and names each row's fields", async () => {
    const { fetch, calls } = scriptedFetch(json([klineRow]));
    const klines = await client(fetch).klines("BTCUSDT", "1h", 100);
    expect(calls[0]!.url).toBe(`${BASE_URL}/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=100`);
    expect(calls[0]!.headers.has("X-MBX-APIKEY")).toBe(false);
    expect(klines).toEqual([
      {
        openTime: 1_699_999_200_000,
        open: 36500.1,
        high: 36620,
        low: 36480.5,
        close: 36590.2,
        volume: 1234.567,
        closeTime: 1_700_002_799_999,
      },
    ]);
  });

  it("returns the server time", async () => {
    const { fetch } = scriptedFetch(json({ serverTime: NOW + 42 }));
    expect(await client(fetch).serverTime()).toBe(NOW + 42);
  });

  it("surfaces X-MBX-USED-WEIGHT-1M to onWeight and stats", async () => {
    const onWeight = vi.fn();
    const { fetch } = scriptedFetch(
      json({ serverTime: NOW }, 200, { "X-MBX-USED-WEIGHT-1M": "37" }),
    );
    const binance = client(fetch, { onWeight });
    await binance.serverTime();
    expect(onWeight).toHaveBeenCalledWith(37);
    expect(binance.stats).toMatchObject({ requests: 1, lastUsedWeight1m: 37 });
  });
});

describe("isTransientBinanceError", () => {
  it.each([
    [new BinanceUnavailableError("/p", "timeout", "slow"), true],
    [new BinanceRateLimitError("/p", 429, 7_000, NOW + 7_000), true],
    [new BinanceBackoffActiveError("/p", NOW + 7_000), true],
    [new BinanceApiError("/p", 400, -1021, "Timestamp outside recvWindow."), true],
    [new BinanceApiError("/p", 401, -2015, "Invalid API-key, IP, or permissions."), false],
    [new BinanceApiError("/p", 400, -1121, "Invalid symbol."), false],
    [new Error("something else"), false],
  ])("%s => %s", (error, transient) => {
    expect(isTransientBinanceError(error)).toBe(transient);
  });
});
