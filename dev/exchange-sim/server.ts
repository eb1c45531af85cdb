/**
 * Binance USD-M futures simulator (plain node:http).
 *
 * Exchange routes (Binance field names, string-typed numbers, Binance error
 * bodies, X-MBX-USED-WEIGHT-1M on every response):
 *   GET /fapi/v1/ping, /fapi/v1/time, /fapi/v1/klines, /fapi/v1/exchangeInfo (public)
 *   GET /fapi/v2/positionRisk, /fapi/v3/positionRisk, /fapi/v3/account (SIGNED)
 *
 * Control API under /__sim (JSON, no auth, local only): see README of the
 * dev stack and `handleControl` below. Beyond the README (Local stack):
 *   PUT /__sim/account        also {multi_assets?: bool, wallets?: {ASSET: amount},
 *                             asset_prices?: {ASSET: usd}}: single-asset mode (totals =
 *                             USDT only) or multi-assets mode (totals in USD, all assets)
 *   PUT /__sim/exchange-info  {step_sizes: {SYMBOL: "0.001" | null}}: LOT_SIZE per symbol
 *   PUT /__sim/firewall       {mode: "none" | "waf" | "restricted"}: every exchange request
 *                             answers an HTML 403 (WAF) or a 451 (restricted location)
 *   PUT /__sim/rate-limit     {retry_after, ban_after, ban_seconds} | null: 429s with
 *                             Retry-After; ban_after requests inside a Retry-After earn a
 *                             418 ban of ban_seconds (Retry-After on both)
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listen } from "../listen.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { startApplySim, type ApplySim } from "../apply-sim/apply-sim.ts";
import { isInterval, klinesWeight, PRESETS, selectRows } from "./klines.ts";
import { extractSignedPayload, verifySignature } from "./signature.ts";
import {
  ACCOUNT_FIELDS,
  ExchangeState,
  positionV2,
  positionV3,
  type Fault,
  type PositionInput,
  type PositionRow,
} from "./state.ts";

export interface ExchangeSimOptions {
  port?: number;
  host?: string;
  apiKey: string;
  apiSecret: string;
  /** When given, the Apply Layer simulator runs against this Redis. */
  redisUrl?: string;
  keyPrefix?: string;
  now?: () => number;
}

export interface ExchangeSimHandle {
  url: string;
  port: number;
  state: ExchangeState;
  applySim: ApplySim | undefined;
  stop(): Promise<void>;
}

const SYMBOL_RE = /^[A-Z0-9]{2,20}$/;
const MAX_BODY = 1024 * 1024;
const DEFAULT_RECV_WINDOW = 5000;
const MAX_RECV_WINDOW = 60_000;
const WEIGHT_LIMIT_1M = 2400;

interface BinanceError {
  status: number;
  code: number;
  msg: string;
}

const err = (status: number, code: number, msg: string): BinanceError => ({ status, code, msg });

const E = {
  apiKeyFormat: () => err(401, -2014, "API-key format invalid."),
  apiKeyInvalid: () => err(401, -2015, "Invalid API-key, IP, or permissions for action."),
  signature: () => err(400, -1022, "Signature for this request is not valid."),
  recvWindow: () => err(400, -1021, "Timestamp for this request is outside of the recvWindow."),
  ahead: () => err(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."),
  mandatory: (name: string) =>
    err(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`),
  invalidParam: (name: string) =>
    err(400, -1130, `Data sent for parameter '${name}' is not valid.`),
  badRecvWindow: () => err(400, -1131, "recvWindow must be less than 60000"),
  duplicate: () => err(400, -1101, "Duplicate values for a parameter detected."),
  symbol: () => err(400, -1121, "Invalid symbol."),
  interval: () => err(400, -1120, "Invalid interval."),
  startEnd: () => err(400, -1023, "Start time is greater than end time."),
  notFound: (path: string, method: string) =>
    err(404, -5000, `Path ${path}, Method ${method} is invalid`),
  methodNotAllowed: (path: string, method: string) =>
    err(405, -5000, `Path ${path}, Method ${method} is invalid`),
};

/** Binance-style body for an injected fault status. */
function faultError(status: number, path: string, serverTime: number, retryAfter: number) {
  switch (status) {
    case 429:
      return err(
        429,
        -1003,
        `Too many requests; current limit of IP(127.0.0.1) is ${WEIGHT_LIMIT_1M} requests per minute. Please use the websocket for live updates to avoid polling the API.`,
      );
    case 418:
      return err(
        418,
        -1003,
        `Way too many requests; IP(127.0.0.1) banned until ${serverTime + retryAfter * 1000}. Please use the websocket for live updates to avoid bans.`,
      );
    case 401:
      return E.apiKeyInvalid();
    case 403:
      return err(403, -1002, "You are not authorized to execute this request.");
    case 404:
      return E.notFound(path, "GET");
    case 408:
    case 504:
      return err(
        status,
        -1007,
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
      );
    case 500:
    case 502:
      return err(
        status,
        -1001,
        "Internal error; unable to process your request. Please try again.",
      );
    case 503:
      return err(
        503,
        -1008,
        "Server is currently overloaded with other requests. Please try again in a few minutes.",
      );
    default:
      return err(status, -1000, "An unknown error occurred while processing the request.");
  }
}

// ---------------------------------------------------------------------------
// Control API schemas

const numeric = z.union([
  z.number().finite(),
  z.string().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/, "must be a decimal number"),
]);

const positionSchema = z.strictObject({
  symbol: z.string().regex(SYMBOL_RE),
  positionAmt: numeric,
  positionSide: z.enum(["BOTH", "LONG", "SHORT"]).optional(),
  entryPrice: numeric.optional(),
  breakEvenPrice: numeric.optional(),
  markPrice: numeric.optional(),
  unRealizedProfit: numeric.optional(),
  liquidationPrice: numeric.optional(),
  isolatedMargin: numeric.optional(),
  notional: numeric.optional(),
  marginAsset: z.string().optional(),
  isolatedWallet: numeric.optional(),
  initialMargin: numeric.optional(),
  maintMargin: numeric.optional(),
  positionInitialMargin: numeric.optional(),
  openOrderInitialMargin: numeric.optional(),
  adl: z.number().int().optional(),
  bidNotional: numeric.optional(),
  askNotional: numeric.optional(),
  updateTime: z.number().int().nonnegative().optional(),
  leverage: numeric.optional(),
  maxNotionalValue: numeric.optional(),
  marginType: z.enum(["cross", "isolated"]).optional(),
  isAutoAddMargin: z.union([z.string(), z.boolean()]).optional(),
});

const intervalSchema = z.string().refine(isInterval, "not a Binance kline interval");

const klinesSchema = z.union([
  z.strictObject({
    rows: z.array(z.array(z.union([z.number().finite(), z.string()]))),
    interval: intervalSchema.optional(),
  }),
  z.strictObject({
    preset: z.enum(PRESETS),
    interval: intervalSchema.optional(),
    count: z.number().int().min(2).max(1500).optional(),
    base_price: z.number().positive().finite().optional(),
    direction: z.enum(["up", "down"]).optional(),
    seed: z.string().min(1).max(100).optional(),
  }),
]);

const accountModeSchema = {
  multi_assets: z.boolean().optional(),
  wallets: z.record(z.string().regex(/^[A-Z0-9]{2,10}$/), numeric).optional(),
  asset_prices: z.record(z.string().regex(/^[A-Z0-9]{2,10}$/), numeric).optional(),
};

const accountSchema = z.strictObject({
  ...(Object.fromEntries(
    ACCOUNT_FIELDS.map((field) => [field, numeric.nullable().optional()]),
  ) as Record<(typeof ACCOUNT_FIELDS)[number], z.ZodOptional<z.ZodNullable<typeof numeric>>>),
  ...accountModeSchema,
});

const faultSchema = z.strictObject({
  path: z.string().regex(/^(\*|\/.*)$/, "path must start with / or be *"),
  status: z.number().int().min(100).max(599).optional(),
  delay_ms: z.number().int().min(0).max(600_000).optional(),
  times: z.number().int().min(1).optional(),
  body: z.string().optional(),
  retry_after: z.number().int().min(0).optional(),
});

const applySchema = z.strictObject({
  auto: z.boolean().optional(),
  delay_ms: z.number().int().min(0).max(600_000).optional(),
  executed: z.boolean().optional(),
});

const exchangeInfoControlSchema = z.strictObject({
  step_sizes: z.record(
    z.string().regex(SYMBOL_RE),
    z
      .string()
      .regex(/^\d+(\.\d+)?$/, "a plain decimal")
      .nullable(),
  ),
});
const firewallSchema = z.strictObject({ mode: z.enum(["none", "waf", "restricted"]) });
const rateLimitSchema = z
  .strictObject({
    retry_after: z.number().int().min(1).max(86_400),
    ban_after: z.number().int().min(1).max(1000),
    ban_seconds: z.number().int().min(1).max(259_200),
  })
  .nullable();

const clockSchema = z.strictObject({ skew_ms: z.number().finite() });
const limitsSchema = z.strictObject({ weight_limit: z.number().int().positive().nullable() });

class ControlError extends Error {
  readonly status: number;
  readonly issues: unknown;
  constructor(status: number, message: string, issues?: unknown) {
    super(message);
    this.status = status;
    this.issues = issues;
  }
}

function parseJson(body: string): unknown {
  if (body.trim() === "") throw new ControlError(400, "request body must be JSON");
  try {
    return JSON.parse(body);
  } catch {
    throw new ControlError(400, "request body is not valid JSON");
  }
}

function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ControlError(400, "invalid control request", result.error.issues);
  }
  return result.data;
}

// ---------------------------------------------------------------------------

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new ControlError(413, "request body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

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

interface Route {
  signed: boolean;
  weight(params: Map<string, string>): number;
  handle(params: Map<string, string>): { status: number; body: unknown } | BinanceError;
}

export async function startExchangeSim(options: ExchangeSimOptions): Promise<ExchangeSimHandle> {
  const host = options.host ?? "127.0.0.1";
  const now = options.now ?? Date.now;
  const state = new ExchangeState(now);
  const aborter = new AbortController();
  // POST /__sim/faults/release ends every fault delay now (the request then goes on).
  let releaser = new AbortController();
  let held = 0;

  /** A fault's delay: cut short by a release, and failing the request when the simulator stops. */
  async function holdFor(ms: number): Promise<void> {
    const released = releaser.signal;
    held += 1;
    try {
      await sleep(ms, undefined, { signal: AbortSignal.any([aborter.signal, released]) });
    } catch (e) {
      if (aborter.signal.aborted || !released.aborted) throw e;
    } finally {
      held -= 1;
    }
  }

  const isError = (value: unknown): value is BinanceError =>
    typeof value === "object" && value !== null && "code" in value && "msg" in value;

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

  function intParam(params: Map<string, string>, name: string): number | undefined | BinanceError {
    const raw = params.get(name);
    if (raw === undefined) return undefined;
    if (!/^-?\d{1,20}$/.test(raw)) return E.invalidParam(name);
    return Number(raw);
  }

  function klines(params: Map<string, string>) {
    const symbol = params.get("symbol");
    if (!symbol) return E.mandatory("symbol");
    const interval = params.get("interval");
    if (!interval) return E.mandatory("interval");
    if (!isInterval(interval)) return E.interval();
    const limit = intParam(params, "limit");
    if (isError(limit)) return limit;
    if (limit !== undefined && (limit < 1 || limit > 1500)) return E.invalidParam("limit");
    const startTime = intParam(params, "startTime");
    if (isError(startTime)) return startTime;
    const endTime = intParam(params, "endTime");
    if (isError(endTime)) return endTime;
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

  function send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    if (res.destroyed || res.headersSent) return;
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": headers["Content-Type"] ?? "application/json",
      "X-MBX-USED-WEIGHT-1M": String(state.usedWeight()),
      ...headers,
    });
    res.end(text);
  }

  function sendError(res: ServerResponse, e: BinanceError, headers: Record<string, string> = {}) {
    send(res, e.status, { code: e.code, msg: e.msg }, headers);
  }

  async function handleExchange(
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
    const startedAt = performance.timeOrigin + performance.now();
    state.addWeight(weight);
    let status = 200;
    const finish = (s: number) => {
      status = s;
    };
    try {
      const limit = state.weightLimit;
      if (limit !== undefined && state.usedWeight() > limit) {
        const retry = Math.max(1, Math.ceil((60_000 - (state.serverTime() % 60_000)) / 1000));
        const e = faultError(429, path, state.serverTime(), retry);
        finish(e.status);
        sendError(res, e, { "Retry-After": String(retry) });
        return;
      }
      if (state.firewall !== "none") {
        const blocked = firewallAnswer(state.firewall);
        finish(blocked.status);
        send(res, blocked.status, blocked.body, blocked.headers);
        return;
      }
      const limited = state.rateLimitVerdict();
      if (limited) {
        const e = faultError(limited.status, path, state.serverTime(), limited.retryAfter);
        finish(e.status);
        sendError(res, e, { "Retry-After": String(limited.retryAfter) });
        return;
      }
      const fault = state.takeFault(path);
      if (fault) {
        if (fault.delay_ms) await holdFor(fault.delay_ms);
        if (fault.status !== undefined || fault.body !== undefined) {
          const faultStatus = fault.status ?? 200;
          const headers: Record<string, string> = {};
          let retry = fault.retry_after;
          if (retry === undefined && faultStatus === 429) {
            retry = Math.max(1, Math.ceil((60_000 - (state.serverTime() % 60_000)) / 1000));
          }
          if (retry === undefined && faultStatus === 418) retry = 120;
          if (retry !== undefined) headers["Retry-After"] = String(retry);
          finish(faultStatus);
          if (fault.body !== undefined) {
            send(res, faultStatus, fault.body, headers);
          } else {
            const e = faultError(faultStatus, path, state.serverTime(), retry ?? 0);
            sendError(res, e, headers);
          }
          return;
        }
      }
      if (!route) {
        const e = E.notFound(path, method);
        finish(e.status);
        sendError(res, e);
        return;
      }
      if (method !== "GET") {
        const e = E.methodNotAllowed(path, method);
        finish(e.status);
        sendError(res, e);
        return;
      }
      if (!params) {
        const e = E.duplicate();
        finish(e.status);
        sendError(res, e);
        return;
      }
      if (route.signed) {
        const authError = authenticate(req, params, rawQuery, formBody);
        if (authError) {
          finish(authError.status);
          sendError(res, authError);
          return;
        }
      }
      const result = route.handle(params);
      if (isError(result)) {
        finish(result.status);
        sendError(res, result);
        return;
      }
      finish(result.status);
      send(res, result.status, result.body);
    } finally {
      state.logRequest({
        method,
        path,
        query: Object.fromEntries(params ?? new URLSearchParams(rawQuery)),
        weight,
        status,
        at: state.now(),
        started_at: startedAt,
        ended_at: performance.timeOrigin + performance.now(),
      });
    }
  }

  // -- control API ----------------------------------------------------------

  let applySim: ApplySim | undefined;

  function controlSnapshot() {
    return {
      server_time: state.serverTime(),
      skew_ms: state.skewMs,
      positions: state.positions,
      klines: Object.fromEntries(
        [...state.klines.entries()].map(([symbol, config]) => [
          symbol,
          {
            preset: config.preset,
            rows: Object.fromEntries([...config.rows.entries()].map(([i, r]) => [i, r.length])),
          },
        ]),
      ),
      account_overrides: state.accountOverrides,
      multi_assets: state.multiAssets,
      wallets: state.wallets,
      asset_prices: state.assetPrices,
      step_sizes: Object.fromEntries(state.stepSizes),
      firewall: state.firewall,
      rate_limit: state.rateLimit ?? null,
      faults: state.faults,
      apply: state.apply,
      apply_sim: applySim !== undefined,
      weight_limit: state.weightLimit ?? null,
      used_weight_1m: state.usedWeight(),
      total_weight: state.totalWeight,
      request_count: state.requests.length,
      held_requests: held,
    };
  }

  function handleControl(method: string, path: string, rawQuery: string, body: string): unknown {
    const route = `${method} ${path}`;
    if (route === "GET /__sim/state") return controlSnapshot();
    if (route === "POST /__sim/reset") {
      state.reset();
      return { ok: true };
    }
    if (route === "GET /__sim/positions") return state.positions;
    if (route === "PUT /__sim/positions") {
      const rows = validate(z.array(positionSchema), parseJson(body));
      try {
        state.setPositions(rows as PositionInput[]);
      } catch (e) {
        throw new ControlError(400, (e as Error).message);
      }
      return { ok: true, count: state.positions.length };
    }
    const klinesMatch = /^\/__sim\/klines\/([^/]+)$/.exec(path);
    if (klinesMatch) {
      const symbol = decodeURIComponentSafe(klinesMatch[1] ?? "");
      if (!SYMBOL_RE.test(symbol)) throw new ControlError(400, `invalid symbol ${symbol}`);
      if (method === "DELETE") {
        state.klines.delete(symbol);
        return { ok: true };
      }
      if (method === "GET") {
        const interval = new URLSearchParams(rawQuery).get("interval") ?? "1h";
        if (!isInterval(interval)) throw new ControlError(400, `invalid interval ${interval}`);
        return state.klineRows(symbol, interval) ?? [];
      }
      if (method !== "PUT") throw new ControlError(405, `${method} not allowed on ${path}`);
      const input = validate(klinesSchema, parseJson(body));
      const interval = input.interval ?? "1h";
      try {
        if ("rows" in input) {
          state.setKlineRows(symbol, interval, input.rows);
          return { ok: true, symbol, interval, count: input.rows.length };
        }
        state.setKlinePreset(symbol, {
          preset: input.preset,
          count: input.count ?? 150,
          basePrice: input.base_price ?? 100,
          direction: input.direction ?? "up",
          seed: input.seed ?? symbol,
        });
      } catch (e) {
        throw new ControlError(400, (e as Error).message);
      }
      return { ok: true, symbol, preset: input.preset };
    }
    if (route === "GET /__sim/account") return state.account();
    if (route === "PUT /__sim/account") {
      const { multi_assets, wallets, asset_prices, ...overrides } = validate(
        accountSchema,
        parseJson(body),
      );
      if (multi_assets !== undefined) state.multiAssets = multi_assets;
      if (wallets) {
        state.wallets = Object.fromEntries(
          Object.entries(wallets).map(([asset, amount]) => [asset, Number(amount)]),
        );
      }
      if (asset_prices) {
        for (const [asset, usd] of Object.entries(asset_prices)) {
          state.assetPrices[asset] = Number(usd);
        }
      }
      state.setAccountOverrides(overrides);
      return {
        ok: true,
        overrides: state.accountOverrides,
        multi_assets: state.multiAssets,
        wallets: state.wallets,
      };
    }
    if (route === "PUT /__sim/exchange-info") {
      const input = validate(exchangeInfoControlSchema, parseJson(body));
      for (const [symbol, step] of Object.entries(input.step_sizes)) {
        if (step === null) state.stepSizes.delete(symbol);
        else state.stepSizes.set(symbol, step);
      }
      return { ok: true, step_sizes: Object.fromEntries(state.stepSizes) };
    }
    if (route === "PUT /__sim/firewall") {
      state.firewall = validate(firewallSchema, parseJson(body)).mode;
      return { ok: true, mode: state.firewall };
    }
    if (route === "PUT /__sim/rate-limit") {
      state.rateLimit = validate(rateLimitSchema, parseJson(body)) ?? undefined;
      state.rateLimitState = { retryUntil: 0, bannedUntil: 0, violations: 0 };
      return { ok: true, rate_limit: state.rateLimit ?? null };
    }
    if (route === "GET /__sim/faults") return state.faults;
    if (route === "PUT /__sim/faults") {
      const input = validate(
        z.union([faultSchema, z.array(faultSchema).min(1)]),
        parseJson(body),
      ) as Fault | Fault[];
      state.addFaults(Array.isArray(input) ? input : [input]);
      return { ok: true, faults: state.faults };
    }
    if (route === "POST /__sim/faults/release") {
      // Requests parked in a fault's delay go on now: a test holds a request with a long
      // delay_ms and releases it when it chooses, instead of racing a timer.
      const released = held;
      releaser.abort();
      releaser = new AbortController();
      return { ok: true, released };
    }
    if (route === "DELETE /__sim/faults") {
      state.faults = [];
      return { ok: true };
    }
    if (route === "GET /__sim/apply") return { ...state.apply, applied: state.applied };
    if (route === "PUT /__sim/apply") {
      const input = validate(applySchema, parseJson(body));
      state.apply = {
        auto: input.auto ?? state.apply.auto,
        delay_ms: input.delay_ms ?? state.apply.delay_ms,
        executed: input.executed ?? state.apply.executed,
      };
      return { ok: true, apply: state.apply };
    }
    if (route === "GET /__sim/clock") {
      return { server_time: state.serverTime(), skew_ms: state.skewMs };
    }
    if (route === "PUT /__sim/clock") {
      state.skewMs = validate(clockSchema, parseJson(body)).skew_ms;
      return { ok: true, server_time: state.serverTime(), skew_ms: state.skewMs };
    }
    if (route === "PUT /__sim/limits") {
      state.weightLimit = validate(limitsSchema, parseJson(body)).weight_limit ?? undefined;
      return { ok: true, weight_limit: state.weightLimit ?? null };
    }
    if (route === "GET /__sim/requests") {
      const params = new URLSearchParams(rawQuery);
      const sinceRaw = params.get("since") ?? "0";
      if (!/^\d+$/.test(sinceRaw)) throw new ControlError(400, "since must be an integer");
      const pathFilter = params.get("path");
      const requests = state.requests
        .slice(Number(sinceRaw))
        .filter((r) => pathFilter === null || r.path === pathFilter);
      return {
        total_weight: state.totalWeight,
        used_weight_1m: state.usedWeight(),
        count: state.requests.length,
        requests,
      };
    }
    throw new ControlError(404, `no control route ${route}`);
  }

  const server = createServer((req, res) => {
    void (async () => {
      const rawUrl = req.url ?? "/";
      const q = rawUrl.indexOf("?");
      const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
      const rawQuery = q < 0 ? "" : rawUrl.slice(q + 1);
      try {
        const body = await readBody(req);
        if (path === "/__sim" || path.startsWith("/__sim/")) {
          send(res, 200, handleControl(req.method ?? "GET", path, rawQuery, body));
          return;
        }
        await handleExchange(req, res, path, rawQuery, body);
      } catch (e) {
        if (e instanceof ControlError) {
          const error: Record<string, unknown> = { code: "bad_request", message: e.message };
          if (e.status === 404) error.code = "not_found";
          if (e.status === 405) error.code = "method_not_allowed";
          if (e.status === 413) error.code = "payload_too_large";
          if (e.issues !== undefined) error.issues = e.issues;
          send(res, e.status, { error });
        } else if ((e as Error).name === "AbortError") {
          res.destroy();
        } else {
          send(res, 500, { code: -1000, msg: `simulator error: ${(e as Error).message}` });
        }
      }
    })();
  });

  const { port, url } = await listen(server, options.port, host);

  if (options.redisUrl) {
    try {
      applySim = await startApplySim({
        redisUrl: options.redisUrl,
        keyPrefix: options.keyPrefix ?? "quantum",
        state,
      });
    } catch (e) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw e;
    }
  }

  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    state,
    applySim,
    stop() {
      stopped ??= (async () => {
        aborter.abort();
        await applySim?.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return stopped;
    },
  };
}

/**
 * Answers of Binance's edge before any route: the web application firewall's
 * 403 is an HTML page (not Binance's JSON error body); a restricted location
 * gets 451 with code 0.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */
function firewallAnswer(mode: "waf" | "restricted"): {
  status: number;
  headers: Record<string, string>;
  body: unknown;
} {
  if (mode === "waf") {
    return {
      status: 403,
      headers: { "Content-Type": "text/html" },
      body:
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n' +
        "<html><head><title>ERROR: The request could not be satisfied</title></head>" +
        "<body><h1>403 ERROR</h1><h2>The request could not be satisfied.</h2>" +
        "Request blocked. We can't connect to the server for this app or website at this time.</body></html>",
    };
  }
  return {
    status: 451,
    headers: {},
    body: {
      code: 0,
      msg: "Service unavailable from a restricted location according to 'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer service if you believe you received this message in error.",
    },
  };
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
