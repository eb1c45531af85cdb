/**
 * An in-process `fetch` that answers the Binance USD-M endpoints the governor
 * calls, from the simulated book and the klines at the virtual clock. The
 * governor's own Binance client (lib/binance/client.ts) sends its requests
 * here unchanged; signatures are not verified (nothing crosses a network),
 * but signed endpoints still require the key header, timestamp and signature.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */
import type { Book } from "./book.ts";
import { IntervalError, type Market } from "./market.ts";
import { TextResponse } from "./text-response.ts";

export interface ExchangeStats {
  /** requests answered, by path */
  requests: Record<string, number>;
}

function json(body: unknown, status = 200): Response {
  return new TextResponse(typeof body === "string" ? body : JSON.stringify(body), status);
}

/** Binance's error body. */
function binanceError(status: number, code: number, msg: string): Response {
  return json({ code, msg }, status);
}

function requestUrl(input: RequestInfo | URL): URL {
  if (input instanceof URL) return input;
  return new URL(typeof input === "string" ? input : input.url);
}

function isSigned(url: URL, init: RequestInit | undefined): boolean {
  const headers = new Headers(init?.headers);
  return (
    headers.has("X-MBX-APIKEY") &&
    url.searchParams.has("timestamp") &&
    url.searchParams.has("signature")
  );
}

/**
 * Every symbol with klines, trading, with a LOT_SIZE step fine enough that a
 * close leg floored to it leaves nothing behind (the book trades any amount).
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information
 */
function exchangeInfo(market: Market) {
  return {
    timezone: "UTC",
    symbols: market.symbols.map((symbol) => ({
      symbol,
      status: "TRADING",
      contractType: "PERPETUAL",
      marginAsset: "USDT",
      filters: [
        { filterType: "LOT_SIZE", stepSize: STEP_SIZE, minQty: STEP_SIZE, maxQty: "1000000000" },
      ],
    })),
  };
}

const STEP_SIZE = "0.00000001";

/** A fetch serving /fapi/v1/time, /fapi/v1/klines, /fapi/v1/exchangeInfo, /fapi/v3/account and /fapi/v3/positionRisk. */
export function exchangeFetch(
  market: Market,
  book: Book,
  now: () => number,
  stats: ExchangeStats = { requests: {} },
): typeof fetch {
  return async (input, init) => {
    const url = requestUrl(input);
    const path = url.pathname;
    stats.requests[path] = (stats.requests[path] ?? 0) + 1;
    const at = now();
    switch (path) {
      case "/fapi/v1/time":
        return json({ serverTime: at });
      case "/fapi/v1/klines": {
        const symbol = url.searchParams.get("symbol") ?? "";
        const interval = url.searchParams.get("interval") ?? "";
        const limit = Math.min(1500, Number(url.searchParams.get("limit") ?? 500));
        if (!market.has(symbol)) return binanceError(400, -1121, "Invalid symbol.");
        if (!Number.isInteger(limit) || limit < 1) {
          return binanceError(400, -1100, "Illegal characters found in parameter 'limit'.");
        }
        try {
          return json(market.klinesJson(symbol, interval, limit, at));
        } catch (error) {
          if (error instanceof IntervalError) return binanceError(400, -1120, "Invalid interval.");
          throw error;
        }
      }
      case "/fapi/v1/exchangeInfo":
        return json(exchangeInfo(market));
      case "/fapi/v3/account":
      case "/fapi/v3/positionRisk":
        if (!isSigned(url, init)) {
          return binanceError(400, -1102, "Mandatory parameter 'signature' was not sent.");
        }
        return json(path === "/fapi/v3/account" ? book.account(at) : book.positionRisk(at));
      default:
        return binanceError(404, -1000, `unknown endpoint ${path}`);
    }
  };
}
