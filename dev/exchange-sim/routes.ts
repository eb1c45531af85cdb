/**
 * The exchange's routes (Binance field names, string-typed numbers, Binance
 * error bodies, X-MBX-USED-WEIGHT-1M on every response):
 *   GET /fapi/v1/ping, /fapi/v1/time, /fapi/v1/klines, /fapi/v1/exchangeInfo (public)
 *   GET /fapi/v2/positionRisk, /fapi/v3/positionRisk, /fapi/v3/account (SIGNED)
 *
 * Before a route answers, what the control API set up may answer instead, in
 * this order: the weight limit (429), the firewall (403 HTML / 451), the rate
 * limit (429 / 418 ban), an injected fault (delay, status, raw body).
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { E, faultError, firewallAnswer, isBinanceError, type BinanceError } from "./errors.ts";
import { decodeURIComponentSafe, type Send } from "./http.ts";
import { isInterval, klinesWeight, selectRows } from "./klines.ts";
import { extractSignedPayload, verifySignature } from "./signature.ts";
import { positionV2, positionV3, type ExchangeState, type PositionRow } from "./state.ts";
import { wallClockMs } from "../wall-clock.ts";

const DEFAULT_RECV_WINDOW = 5000;
const MAX_RECV_WINDOW = 60_000;

export interface ExchangeRoutesOptions {
  state: ExchangeState;
  apiKey: string;
  apiSecret: string;
  /** A fault's delay (the control API can release it early). */
  holdFor(ms: number): Promise<void>;
  send: Send;
}

/** Answers one exchange request, and logs it in the state's request log. */
export type ExchangeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  rawQuery: string,
  rawBody: string,
) => Promise<void>;

/** Parse totalParams; undefined when a parameter appears twice. */
function parseParams(rawQuery: string, rawBody: string): Map<string, string> | undefined {
  const params = new Map<string, string>();
  for (const part of [rawQuery, rawBody]) {
    for (const [key, value] of new URLSearchParams(part)) {
      if (params.has(key)) return undefined;
      params.set(key, value);
    }
  }
  return params;
}

function intParam(params: Map<string, string>, name: string): number | undefined | BinanceError {
  const raw = params.get(name);
  if (raw === undefined) return undefined;
  if (!/^-?\d{1,20}$/.test(raw)) return E.invalidParam(name);
  return Number(raw);
}

/** The all-zero row v2 returns for a listed symbol without a position. */
function blankPosition(symbol: string, mark: string): PositionRow {
  return {
    symbol,
    positionSide: "BOTH" as const,
    positionAmt: "0.000",
    entryPrice: "0.0",
    breakEvenPrice: "0.0",
    markPrice: mark,
    unRealizedProfit: "0.00000000",
    liquidationPrice: "0",
    isolatedMargin: "0.00000000",
    notional: "0",
    marginAsset: "USDT",
    isolatedWallet: "0",
    initialMargin: "0",
    maintMargin: "0",
    positionInitialMargin: "0",
    openOrderInitialMargin: "0",
    adl: 0,
    bidNotional: "0",
    askNotional: "0",
    updateTime: 0,
    leverage: "20",
    maxNotionalValue: "25000",
    marginType: "cross" as const,
    isAutoAddMargin: "false",
  };
}

interface Route {
  signed: boolean;
  weight(params: Map<string, string>): number;
  handle(params: Map<string, string>): { status: number; body: unknown } | BinanceError;
}

export function exchangeRoutes(options: ExchangeRoutesOptions): ExchangeHandler {
  const { state, holdFor, send } = options;

  const routes: Record<string, Route> = {
    "/fapi/v1/ping": { signed: false, weight: () => 1, handle: () => ({ status: 200, body: {} }) },
    "/fapi/v1/time": {
      signed: false,
      weight: () => 1,
      handle: () => ({ status: 200, body: { serverTime: state.serverTime() } }),
    },
    "/fapi/v1/klines": {
      signed: false,
      weight: (params) => {
        const limit = Number(params.get("limit") ?? 500);
        return klinesWeight(Number.isInteger(limit) && limit > 0 ? limit : 500);
      },
      handle: (params) => klines(params),
    },
    "/fapi/v1/exchangeInfo": {
      signed: false,
      weight: () => 1,
      handle: () => ({ status: 200, body: state.exchangeInfo() }),
    },
    "/fapi/v2/positionRisk": { signed: true, weight: () => 5, handle: (p) => positionRisk(p, 2) },
    "/fapi/v3/positionRisk": { signed: true, weight: () => 5, handle: (p) => positionRisk(p, 3) },
    "/fapi/v3/account": {
      signed: true,
      weight: () => 5,
      handle: () => ({ status: 200, body: state.account() }),
    },
  };

  function klines(params: Map<string, string>) {
    const symbol = params.get("symbol");
    if (!symbol) return E.mandatory("symbol");
    const interval = params.get("interval");
    if (!interval) return E.mandatory("interval");
    if (!isInterval(interval)) return E.interval();
    const limit = intParam(params, "limit");
    if (isBinanceError(limit)) return limit;
    if (limit !== undefined && (limit < 1 || limit > 1500)) return E.invalidParam("limit");
    const startTime = intParam(params, "startTime");
    if (isBinanceError(startTime)) return startTime;
    const endTime = intParam(params, "endTime");
    if (isBinanceError(endTime)) return endTime;
    if (startTime !== undefined && endTime !== undefined && startTime > endTime) {
      return E.startEnd();
    }
    const rows = state.klineRows(symbol, interval);
    if (rows === undefined) return E.symbol();
    return { status: 200, body: selectRows(rows, { startTime, endTime, limit: limit ?? 500 }) };
  }

  function positionRisk(params: Map<string, string>, version: 2 | 3) {
    const symbol = params.get("symbol");
    if (symbol !== undefined && !state.knownSymbols().has(symbol)) return E.symbol();
    const matches = (s: string) => symbol === undefined || s === symbol;
    if (version === 3) {
      return {
        status: 200,
        body: state
          .listedPositions()
          .filter((row) => matches(row.symbol))
          .map(positionV3),
      };
    }
    const rows = state.positions.filter((row) => matches(row.symbol)).map(positionV2);
    const withRows = new Set(state.positions.map((row) => row.symbol));
    for (const known of [...state.klines.keys()].sort()) {
      if (withRows.has(known) || !matches(known)) continue;
      const markRows = state.klineRows(known, "1h") ?? [];
      const mark = markRows[markRows.length - 1]?.[4] ?? "0.00000000";
      rows.push(positionV2(blankPosition(known, mark)));
    }
    return { status: 200, body: rows };
  }

  /** API key, mandatory timestamp, recvWindow and signature checks of a SIGNED endpoint. */
  function authenticate(
    req: IncomingMessage,
    params: Map<string, string>,
    rawQuery: string,
    rawBody: string,
  ): BinanceError | undefined {
    const key = req.headers["x-mbx-apikey"];
    const apiKey = Array.isArray(key) ? key[0] : key;
    if (!apiKey) return E.apiKeyFormat();
    if (apiKey !== options.apiKey) return E.apiKeyInvalid();
    const timestampRaw = params.get("timestamp");
    if (!timestampRaw || !/^\d{1,20}$/.test(timestampRaw)) return E.mandatory("timestamp");
    let recvWindow = DEFAULT_RECV_WINDOW;
    const recvRaw = params.get("recvWindow");
    if (recvRaw !== undefined) {
      if (!/^\d{1,20}$/.test(recvRaw)) return E.invalidParam("recvWindow");
      recvWindow = Number(recvRaw);
      if (recvWindow > MAX_RECV_WINDOW) return E.badRecvWindow();
    }
    const { payload, signature } = extractSignedPayload(rawQuery, rawBody);
    if (!signature) return E.signature();
    const timestamp = Number(timestampRaw);
    const serverTime = state.serverTime();
    if (timestamp >= serverTime + 1000) return E.ahead();
    if (serverTime - timestamp > recvWindow) return E.recvWindow();
    if (!verifySignature(options.apiSecret, payload, decodeURIComponentSafe(signature))) {
      return E.signature();
    }
    return undefined;
  }

  /** Seconds until the current minute's weight window ends (a 429's Retry-After). */
  const secondsLeftInMinute = () =>
    Math.max(1, Math.ceil((60_000 - (state.serverTime() % 60_000)) / 1000));

  return async function handleExchange(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    rawQuery: string,
    rawBody: string,
  ): Promise<void> {
    const method = req.method ?? "GET";
    const contentType = String(req.headers["content-type"] ?? "");
    const formBody = contentType.includes("application/x-www-form-urlencoded") ? rawBody : "";
    const params = parseParams(rawQuery, formBody);
    const route = Object.prototype.hasOwnProperty.call(routes, path) ? routes[path] : undefined;
    const weight = route ? route.weight(params ?? new Map()) : 0;
    const startedAt = wallClockMs();
    state.addWeight(weight);
    let status = 200;
    /** Send the answer; its status goes into the request log. */
    const answer = (s: number, body: unknown, headers?: Record<string, string>) => {
      status = s;
      send(res, s, body, headers);
    };
    const fail = (e: BinanceError, headers?: Record<string, string>) =>
      answer(e.status, { code: e.code, msg: e.msg }, headers);
    try {
      const limit = state.weightLimit;
      if (limit !== undefined && state.usedWeight() > limit) {
        const retry = secondsLeftInMinute();
        const e = faultError(429, path, state.serverTime(), retry);
        return fail(e, { "Retry-After": String(retry) });
      }
      if (state.firewall !== "none") {
        const blocked = firewallAnswer(state.firewall);
        return answer(blocked.status, blocked.body, blocked.headers);
      }
      const limited = state.rateLimitVerdict();
      if (limited) {
        const e = faultError(limited.status, path, state.serverTime(), limited.retryAfter);
        return fail(e, { "Retry-After": String(limited.retryAfter) });
      }
      const fault = state.takeFault(path);
      if (fault) {
        if (fault.delay_ms) await holdFor(fault.delay_ms);
        if (fault.status !== undefined || fault.body !== undefined) {
          const faultStatus = fault.status ?? 200;
          const headers: Record<string, string> = {};
          let retry = fault.retry_after;
          if (retry === undefined && faultStatus === 429) retry = secondsLeftInMinute();
          if (retry === undefined && faultStatus === 418) retry = 120;
          if (retry !== undefined) headers["Retry-After"] = String(retry);
          if (fault.body !== undefined) return answer(faultStatus, fault.body, headers);
          return fail(faultError(faultStatus, path, state.serverTime(), retry ?? 0), headers);
        }
      }
      if (!route) return fail(E.notFound(path, method));
      if (method !== "GET") return fail(E.methodNotAllowed(path, method));
      if (!params) return fail(E.duplicate());
      if (route.signed) {
        const authError = authenticate(req, params, rawQuery, formBody);
        if (authError) return fail(authError);
      }
      const result = route.handle(params);
      if (isBinanceError(result)) return fail(result);
      answer(result.status, result.body);
    } finally {
      state.logRequest({
        method,
        path,
        query: Object.fromEntries(params ?? new URLSearchParams(rawQuery)),
        weight,
        status,
        at: state.now(),
        started_at: startedAt,
        ended_at: wallClockMs(),
      });
    }
  };
}
