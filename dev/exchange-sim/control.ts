/**
 * The exchange simulator's control API under /__sim (JSON, no auth, local
 * only): see the README of the dev stack (Local stack) and `handleControl`
 * below. Beyond the README:
 *   PUT /__sim/account        also {multi_assets?: bool, wallets?: {ASSET: amount},
 *                             asset_prices?: {ASSET: usd}}: single-asset mode (totals =
 *                             USDT only) or multi-assets mode (totals in USD, all assets)
 *   PUT /__sim/exchange-info  {step_sizes: {SYMBOL: "0.001" | null}}: LOT_SIZE per symbol
 *   PUT /__sim/firewall       {mode: "none" | "waf" | "restricted"}: every exchange request
 *                             answers an HTML 403 (WAF) or a 451 (restricted location)
 *   PUT /__sim/rate-limit     {retry_after, ban_after, ban_seconds} | null: 429s with
 *                             Retry-After; ban_after requests inside a Retry-After earn a
 *                             418 ban of ban_seconds (Retry-After on both)
 */
import { z } from "zod";
import { ControlError, decodeURIComponentSafe } from "./http.ts";
import { isInterval, PRESETS } from "./klines.ts";
import { ACCOUNT_FIELDS, type ExchangeState, type Fault, type PositionInput } from "./state.ts";

const SYMBOL_RE = /^[A-Z0-9]{2,20}$/;

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

/** Requests parked in a fault's delay (the server keeps them). */
export interface HeldRequests {
  readonly count: number;
  /** Ends every fault delay now (the requests then go on); returns how many were held. */
  release(): number;
}

/** Answers one control request (a ControlError for a bad one). */
export type ControlHandler = (
  method: string,
  path: string,
  rawQuery: string,
  body: string,
) => unknown;

export function controlApi(state: ExchangeState, held: HeldRequests): ControlHandler {
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
      weight_limit: state.weightLimit ?? null,
      used_weight_1m: state.usedWeight(),
      total_weight: state.totalWeight,
      request_count: state.requests.length,
      held_requests: held.count,
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
      return { ok: true, released: held.release() };
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
  return handleControl;
}
