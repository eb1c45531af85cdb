/**
 * In-memory state of the exchange simulator: positions, klines, account
 * overrides, injected faults, Apply Layer settings, clock skew, request
 * weight and the request log. Everything the control API changes lives here.
 */
import {
  generatePreset,
  normalizeRow,
  type KlineRow,
  type KlineRowInput,
  type PresetSpec,
} from "./klines.ts";

// ---------------------------------------------------------------------------
// Positions

/** One position row, the union of the fields Binance returns in v2/v3 positionRisk and v3 account. */
export interface PositionRow {
  symbol: string;
  positionSide: "BOTH" | "LONG" | "SHORT";
  positionAmt: string;
  entryPrice: string;
  breakEvenPrice: string;
  markPrice: string;
  unRealizedProfit: string;
  liquidationPrice: string;
  isolatedMargin: string;
  notional: string;
  marginAsset: string;
  isolatedWallet: string;
  initialMargin: string;
  maintMargin: string;
  positionInitialMargin: string;
  openOrderInitialMargin: string;
  adl: number;
  bidNotional: string;
  askNotional: string;
  updateTime: number;
  // v2-only fields
  leverage: string;
  maxNotionalValue: string;
  marginType: "cross" | "isolated";
  isAutoAddMargin: string;
}

/** Input accepted by PUT /__sim/positions: symbol and positionAmt, anything else optional. */
export type PositionInput = { symbol: string; positionAmt: number | string } & Partial<
  Record<Exclude<keyof PositionRow, "symbol" | "positionAmt">, unknown>
>;

const MAINT_MARGIN_RATE = 0.004;

/** Margin assets valued at 1 USD in multi-assets totals. */
export const STABLE_ASSETS = ["USDT", "USDC", "FDUSD", "BUSD"];

/** A USD-M symbol's margin asset in single-asset mode: its quote asset (BTCUSDC → USDC). */
export function inferMarginAsset(symbol: string): string {
  const quote = ["FDUSD", "USDT", "USDC", "BUSD", "BTC"].find(
    (asset) => symbol.endsWith(asset) && symbol.length > asset.length,
  );
  return quote ?? "USDT";
}

function num(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === "") return fallback;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : fallback;
}

function str(value: unknown, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  return typeof value === "number" ? String(value) : String(value);
}

export function fmt8(value: number): string {
  return (Object.is(value, -0) ? 0 : value).toFixed(8);
}

/**
 * Fill a position row from partial input with Binance-consistent derived values:
 * notional = amt × mark, uPnL = amt × (mark − entry), position IM = |notional| / leverage,
 * initialMargin = position IM + open-order IM, and for an isolated position
 * isolatedMargin = isolatedWallet + uPnL (isolatedWallet defaults to the position IM).
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V3
 */
export function fillPosition(input: PositionInput, now: number): PositionRow {
  const amt = num(input.positionAmt, 0);
  const entry = num(input.entryPrice, 0);
  const mark = num(input.markPrice, entry);
  const leverage = Math.max(1, Math.trunc(num(input.leverage, 10)));
  const notional = amt * mark;
  const positionIm = num(input.positionInitialMargin, Math.abs(notional) / leverage);
  const orderIm = num(input.openOrderInitialMargin, 0);
  const maint = Math.abs(notional) * MAINT_MARGIN_RATE;
  const upnl = num(input.unRealizedProfit, amt * (mark - entry));
  const marginType = input.marginType === "isolated" ? "isolated" : "cross";
  const isolatedWallet = marginType === "isolated" ? num(input.isolatedWallet, positionIm) : 0;
  const side = input.positionSide;
  return {
    symbol: input.symbol,
    positionSide: side === "LONG" || side === "SHORT" ? side : "BOTH",
    positionAmt: str(input.positionAmt, "0"),
    entryPrice: str(input.entryPrice, "0.0"),
    breakEvenPrice: str(input.breakEvenPrice, str(input.entryPrice, "0.0")),
    markPrice: str(input.markPrice, fmt8(mark)),
    unRealizedProfit: str(input.unRealizedProfit, fmt8(upnl)),
    liquidationPrice: str(input.liquidationPrice, "0"),
    isolatedMargin: str(
      input.isolatedMargin,
      marginType === "isolated" ? fmt8(isolatedWallet + upnl) : "0",
    ),
    notional: str(input.notional, fmt8(notional)),
    marginAsset: str(input.marginAsset, inferMarginAsset(input.symbol)),
    isolatedWallet: marginType === "isolated" ? fmt8(isolatedWallet) : "0",
    initialMargin: str(input.initialMargin, fmt8(positionIm + orderIm)),
    maintMargin: str(input.maintMargin, fmt8(maint)),
    positionInitialMargin: str(input.positionInitialMargin, fmt8(positionIm)),
    openOrderInitialMargin: str(input.openOrderInitialMargin, "0"),
    adl: Math.trunc(num(input.adl, amt === 0 ? 0 : 2)),
    bidNotional: str(input.bidNotional, "0"),
    askNotional: str(input.askNotional, "0"),
    updateTime: Math.trunc(num(input.updateTime, now)),
    leverage: String(leverage),
    maxNotionalValue: str(input.maxNotionalValue, "20000000"),
    marginType,
    isAutoAddMargin: str(input.isAutoAddMargin, "false"),
  };
}

function isOpen(row: PositionRow): boolean {
  return Math.abs(Number(row.positionAmt)) > 0;
}

/** Listed by v3 positionRisk and the v3 account: a position or open orders. */
function isListed(row: PositionRow): boolean {
  return isOpen(row) || Number(row.openOrderInitialMargin) > 0;
}

/** GET /fapi/v3/positionRisk row. */
export function positionV3(row: PositionRow) {
  return {
    symbol: row.symbol,
    positionSide: row.positionSide,
    positionAmt: row.positionAmt,
    entryPrice: row.entryPrice,
    breakEvenPrice: row.breakEvenPrice,
    markPrice: row.markPrice,
    unRealizedProfit: row.unRealizedProfit,
    liquidationPrice: row.liquidationPrice,
    isolatedMargin: row.isolatedMargin,
    notional: row.notional,
    marginAsset: row.marginAsset,
    isolatedWallet: row.isolatedWallet,
    initialMargin: row.initialMargin,
    maintMargin: row.maintMargin,
    positionInitialMargin: row.positionInitialMargin,
    openOrderInitialMargin: row.openOrderInitialMargin,
    adl: row.adl,
    bidNotional: row.bidNotional,
    askNotional: row.askNotional,
    updateTime: row.updateTime,
  };
}

/** GET /fapi/v2/positionRisk row. */
export function positionV2(row: PositionRow) {
  return {
    symbol: row.symbol,
    positionAmt: row.positionAmt,
    entryPrice: row.entryPrice,
    breakEvenPrice: row.breakEvenPrice,
    markPrice: row.markPrice,
    unRealizedProfit: row.unRealizedProfit,
    liquidationPrice: row.liquidationPrice,
    leverage: row.leverage,
    maxNotionalValue: row.maxNotionalValue,
    marginType: row.marginType,
    isolatedMargin: row.isolatedMargin,
    isAutoAddMargin: row.isAutoAddMargin,
    positionSide: row.positionSide,
    notional: row.notional,
    isolatedWallet: row.isolatedWallet,
    updateTime: row.updateTime,
  };
}

/** GET /fapi/v3/account `positions[]` row. */
export function accountPosition(row: PositionRow) {
  return {
    symbol: row.symbol,
    positionSide: row.positionSide,
    positionAmt: row.positionAmt,
    unrealizedProfit: row.unRealizedProfit,
    isolatedMargin: row.isolatedMargin,
    notional: row.notional,
    isolatedWallet: row.isolatedWallet,
    initialMargin: row.initialMargin,
    maintMargin: row.maintMargin,
    updateTime: row.updateTime,
  };
}

// ---------------------------------------------------------------------------
// Account

export const ACCOUNT_FIELDS = [
  "totalInitialMargin",
  "totalMaintMargin",
  "totalWalletBalance",
  "totalUnrealizedProfit",
  "totalMarginBalance",
  "totalPositionInitialMargin",
  "totalOpenOrderInitialMargin",
  "totalCrossWalletBalance",
  "totalCrossUnPnl",
  "availableBalance",
  "maxWithdrawAmount",
] as const;
export type AccountField = (typeof ACCOUNT_FIELDS)[number];

export const DEFAULT_WALLET_BALANCE = 10_000;
/** stepSize of a symbol without a configured one (BTCUSDT's in Binance's own listing). */
export const DEFAULT_STEP_SIZE = "0.001";

// ---------------------------------------------------------------------------
// Faults, Apply Layer, request log

export interface Fault {
  /** Exact request path, `*` for every exchange route, or a prefix ending in `*`. */
  path: string;
  status?: number;
  delay_ms?: number;
  /** Remaining number of requests this fault answers; undefined = unlimited. */
  times?: number;
  /** Raw response body (e.g. invalid JSON) instead of the Binance-style error body. */
  body?: string;
  /** Retry-After seconds for 429/418 (default: until the next minute for 429, 120 for 418). */
  retry_after?: number;
}

/**
 * 429s that escalate to an IP ban, as Binance does: while on, every exchange
 * request is answered 429 with Retry-After; a request that arrives before
 * that Retry-After ran out is a violation, and `ban_after` violations earn a
 * 418 ban of `ban_seconds` (requests during a ban get 418 again).
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info#limits
 */
export interface RateLimitConfig {
  retry_after: number;
  ban_after: number;
  ban_seconds: number;
}

/** What the firewall answers before any route: nothing, an HTML 403 (WAF) or a 451. */
export type FirewallMode = "none" | "waf" | "restricted";

export interface ApplyConfig {
  auto: boolean;
  delay_ms: number;
  executed: boolean;
}

export const DEFAULT_APPLY: Readonly<ApplyConfig> = { auto: true, delay_ms: 200, executed: true };

export interface RequestLogEntry {
  index: number;
  method: string;
  path: string;
  query: Record<string, string>;
  weight: number;
  status: number;
  at: number;
  /** Wall-clock unix ms (sub-ms precision) the request arrived and its answer was sent (benchmark). */
  started_at?: number;
  ended_at?: number;
}

export interface AppliedPlan {
  plan_id: string;
  symbol: string;
  executed: boolean;
  at: number;
}

interface KlineConfig {
  preset?: PresetSpec;
  /** Explicit rows by interval. */
  rows: Map<string, KlineRow[]>;
}

// ---------------------------------------------------------------------------

export class ExchangeState {
  readonly now: () => number;
  positions: PositionRow[] = [];
  klines = new Map<string, KlineConfig>();
  accountOverrides: Partial<Record<AccountField, string>> = {};
  /** Wallet balance per margin asset, in the asset's units (isolated wallets included). */
  wallets: Record<string, number> = { USDT: DEFAULT_WALLET_BALANCE };
  /** USD price of each non-stablecoin asset (multi-assets totals). */
  assetPrices: Record<string, number> = {};
  /** Multi-assets mode: totals are USD sums over every asset. */
  multiAssets = false;
  /** LOT_SIZE stepSize per symbol served by exchangeInfo (default DEFAULT_STEP_SIZE). */
  stepSizes = new Map<string, string>();
  firewall: FirewallMode = "none";
  rateLimit: RateLimitConfig | undefined = undefined;
  /** unix ms: end of the current 429's Retry-After, end of the current 418 ban; violations since the last ban. */
  rateLimitState = { retryUntil: 0, bannedUntil: 0, violations: 0 };
  faults: Fault[] = [];
  apply: ApplyConfig = { ...DEFAULT_APPLY };
  applied: AppliedPlan[] = [];
  skewMs = 0;
  /** Optional weight limit per minute; undefined = not enforced. */
  weightLimit: number | undefined = undefined;
  requests: RequestLogEntry[] = [];
  totalWeight = 0;
  private weightWindow = 0;
  private weightUsed = 0;
  /** Listeners called on reset (e.g. the Apply Layer simulator cancels pending work). */
  readonly resetListeners = new Set<() => void>();

  constructor(now: () => number) {
    this.now = now;
  }

  /** Binance server time: the injected clock plus the configured skew. */
  serverTime(): number {
    return Math.trunc(this.now() + this.skewMs);
  }

  reset(): void {
    this.positions = [];
    this.klines = new Map();
    this.accountOverrides = {};
    this.wallets = { USDT: DEFAULT_WALLET_BALANCE };
    this.assetPrices = {};
    this.multiAssets = false;
    this.stepSizes = new Map();
    this.firewall = "none";
    this.rateLimit = undefined;
    this.rateLimitState = { retryUntil: 0, bannedUntil: 0, violations: 0 };
    this.faults = [];
    this.apply = { ...DEFAULT_APPLY };
    this.applied = [];
    this.skewMs = 0;
    this.weightLimit = undefined;
    this.requests = [];
    this.totalWeight = 0;
    this.weightWindow = 0;
    this.weightUsed = 0;
    for (const listener of this.resetListeners) listener();
  }

  // -- positions ------------------------------------------------------------

  setPositions(inputs: readonly PositionInput[]): void {
    const now = this.serverTime();
    const rows = inputs.map((input) => fillPosition(input, now));
    const seen = new Set<string>();
    for (const row of rows) {
      const key = `${row.symbol}|${row.positionSide}`;
      if (seen.has(key)) throw new Error(`duplicate position ${row.symbol} ${row.positionSide}`);
      seen.add(key);
    }
    this.positions = rows;
  }

  openPositions(): PositionRow[] {
    return this.positions.filter(isOpen);
  }

  /** Rows Binance lists in v3 positionRisk and the v3 account: a position or open orders. */
  listedPositions(): PositionRow[] {
    return this.positions.filter(isListed);
  }

  /**
   * Execute one reduce-only market close leg: `side` must close `positionSide`
   * (a LONG or a positive BOTH is closed by SELL, a SHORT or negative BOTH by
   * BUY); the amount shrinks by `qty` (exact decimal), never past zero.
   * Returns the amount closed, 0 when nothing matched.
   */
  closeLeg(symbol: string, positionSide: string, side: string, qty: string): number {
    const now = this.serverTime();
    let closed = 0;
    this.positions = this.positions.map((row) => {
      if (row.symbol !== symbol || row.positionSide !== positionSide || !isOpen(row)) return row;
      const amt = Number(row.positionAmt);
      if ((amt > 0 && side !== "SELL") || (amt < 0 && side !== "BUY")) return row;
      const remaining = subtractToward0(row.positionAmt, qty);
      closed = Math.abs(amt) - Math.abs(Number(remaining));
      if (Number(remaining) === 0) return { ...zeroed(row), updateTime: now };
      const entry = Number(row.entryPrice);
      const mark = Number(row.markPrice);
      const left = Number(remaining);
      const filled = fillPosition(
        {
          symbol: row.symbol,
          positionSide: row.positionSide,
          positionAmt: remaining,
          entryPrice: row.entryPrice,
          markPrice: row.markPrice,
          unRealizedProfit: fmt8(left * (mark - entry)),
          leverage: row.leverage,
          marginType: row.marginType,
          marginAsset: row.marginAsset,
          openOrderInitialMargin: row.openOrderInitialMargin,
        },
        now,
      );
      return filled;
    });
    return closed;
  }

  /** Close every position row of `symbol` (as a reduce-only market close would). Returns true if one was open. */
  closePosition(symbol: string): boolean {
    const now = this.serverTime();
    let wasOpen = false;
    this.positions = this.positions.map((row) => {
      if (row.symbol !== symbol) return row;
      if (isOpen(row)) wasOpen = true;
      return { ...zeroed(row), updateTime: now };
    });
    return wasOpen;
  }

  /** Symbols the exchange "lists": those with klines or positions configured. */
  knownSymbols(): Set<string> {
    const symbols = new Set<string>(this.klines.keys());
    for (const row of this.positions) symbols.add(row.symbol);
    return symbols;
  }

  // -- klines ---------------------------------------------------------------

  setKlineRows(symbol: string, interval: string, rows: readonly KlineRowInput[]): void {
    const normalized = rows.map((row) => normalizeRow(row, interval));
    normalized.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < normalized.length; i++) {
      if (normalized[i]?.[0] === normalized[i - 1]?.[0]) {
        throw new Error(`duplicate kline openTime ${normalized[i]?.[0]}`);
      }
    }
    this.klines.set(symbol, { rows: new Map([[interval, normalized]]) });
  }

  setKlinePreset(symbol: string, spec: PresetSpec): void {
    this.klines.set(symbol, { preset: spec, rows: new Map() });
  }

  /** All rows for a symbol and interval, or undefined when the symbol is unknown. */
  klineRows(symbol: string, interval: string): KlineRow[] | undefined {
    const config = this.klines.get(symbol);
    const now = this.serverTime();
    if (config) {
      const rows = config.rows.get(interval);
      if (rows) return rows;
      if (config.preset) return generatePreset(config.preset, interval, now);
      return [];
    }
    const position = this.positions.find((row) => row.symbol === symbol);
    if (!position) return undefined;
    // A symbol with a position but no configured klines: a BASE market around its mark price.
    const mark = Number(position.markPrice) || Number(position.entryPrice) || 100;
    return generatePreset(
      { preset: "BASE", count: 150, basePrice: mark, direction: "up", seed: symbol },
      interval,
      now,
    );
  }

  // -- account --------------------------------------------------------------

  /**
   * GET /fapi/v3/account. Per asset: wallet (isolated wallets included),
   * uPnL, margin balance = wallet + uPnL, cross figures without isolated
   * positions. Totals: single-asset mode = the USDT asset's own figures;
   * multi-assets mode = USD sums over all assets (stablecoins at 1, others at
   * `assetPrices`), initial margin of cross positions and open orders only.
   * Overrides replace totals (and, in single-asset mode, the USDT row with them).
   * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Account-Information-V3
   */
  account() {
    const listed = this.listedPositions();
    const assetNames = new Set(Object.keys(this.wallets));
    for (const row of listed) assetNames.add(row.marginAsset);
    const perAsset = [...assetNames].sort(assetOrder).map((asset) => {
      const rows = listed.filter((row) => row.marginAsset === asset);
      const cross = rows.filter((row) => row.marginType === "cross");
      const isolated = rows.filter((row) => row.marginType === "isolated");
      const sum = (list: PositionRow[], pick: (row: PositionRow) => string) =>
        list.reduce((acc, row) => acc + (Number(pick(row)) || 0), 0);
      const wallet = this.wallets[asset] ?? 0;
      const upnl = sum(rows, (r) => r.unRealizedProfit);
      const positionIm = sum(cross, (r) => r.positionInitialMargin);
      const orderIm = sum(rows, (r) => r.openOrderInitialMargin);
      const isolatedWallet = sum(isolated, (r) => r.isolatedWallet);
      return {
        asset,
        wallet,
        upnl,
        marginBalance: wallet + upnl,
        maint: sum(cross, (r) => r.maintMargin),
        positionIm,
        orderIm,
        initial: positionIm + orderIm,
        crossWallet: wallet - isolatedWallet,
        crossUpnl: sum(cross, (r) => r.unRealizedProfit),
        isolatedMargin: sum(isolated, (r) => r.isolatedMargin),
        updateTime: rows.reduce((t, row) => Math.max(t, row.updateTime), 0),
      };
    });
    const price = (asset: string) =>
      STABLE_ASSETS.includes(asset) ? 1 : (this.assetPrices[asset] ?? 0);
    const usd = (pick: (a: (typeof perAsset)[number]) => number) =>
      perAsset.reduce((acc, a) => acc + pick(a) * price(a.asset), 0);
    const usdt = perAsset.find((a) => a.asset === "USDT");
    const base = this.multiAssets
      ? {
          wallet: usd((a) => a.wallet),
          upnl: usd((a) => a.upnl),
          positionIm: usd((a) => a.positionIm),
          orderIm: usd((a) => a.orderIm),
          maint: usd((a) => a.maint),
          crossWallet: usd((a) => a.crossWallet),
          crossUpnl: usd((a) => a.crossUpnl),
          isolatedMargin: usd((a) => a.isolatedMargin),
        }
      : {
          wallet: usdt?.wallet ?? 0,
          upnl: usdt?.upnl ?? 0,
          positionIm: usdt?.positionIm ?? 0,
          orderIm: usdt?.orderIm ?? 0,
          maint: usdt?.maint ?? 0,
          crossWallet: usdt?.crossWallet ?? 0,
          crossUpnl: usdt?.crossUpnl ?? 0,
          isolatedMargin: usdt?.isolatedMargin ?? 0,
        };
    const o = this.accountOverrides;
    const wallet = Number(o.totalWalletBalance ?? base.wallet);
    const upnl = Number(o.totalUnrealizedProfit ?? base.upnl);
    const positionIm = Number(o.totalPositionInitialMargin ?? base.positionIm);
    const orderIm = Number(o.totalOpenOrderInitialMargin ?? base.orderIm);
    const initial = Number(o.totalInitialMargin ?? positionIm + orderIm);
    const maint = Number(o.totalMaintMargin ?? base.maint);
    const marginBalance = Number(o.totalMarginBalance ?? wallet + upnl);
    const crossWallet = Number(
      o.totalCrossWalletBalance ?? base.crossWallet + (wallet - base.wallet),
    );
    const crossUpnl = Number(o.totalCrossUnPnl ?? base.crossUpnl);
    const available = Number(
      o.availableBalance ?? Math.max(0, marginBalance - base.isolatedMargin - initial),
    );
    const maxWithdraw = Number(
      o.maxWithdrawAmount ?? Math.max(0, Math.min(crossWallet, available)),
    );
    const totals = {
      totalInitialMargin: fmt8(initial),
      totalMaintMargin: fmt8(maint),
      totalWalletBalance: fmt8(wallet),
      totalUnrealizedProfit: fmt8(upnl),
      totalMarginBalance: fmt8(marginBalance),
      totalPositionInitialMargin: fmt8(positionIm),
      totalOpenOrderInitialMargin: fmt8(orderIm),
      totalCrossWalletBalance: fmt8(crossWallet),
      totalCrossUnPnl: fmt8(crossUpnl),
      availableBalance: fmt8(available),
      maxWithdrawAmount: fmt8(maxWithdraw),
    };
    const assets = perAsset.map((a) => {
      const own = !this.multiAssets && a.asset === "USDT";
      const assetAvailable = Math.max(0, a.marginBalance - a.isolatedMargin - a.initial);
      return {
        asset: a.asset,
        walletBalance: own ? totals.totalWalletBalance : fmt8(a.wallet),
        unrealizedProfit: own ? totals.totalUnrealizedProfit : fmt8(a.upnl),
        marginBalance: own ? totals.totalMarginBalance : fmt8(a.marginBalance),
        maintMargin: own ? totals.totalMaintMargin : fmt8(a.maint),
        initialMargin: own ? totals.totalInitialMargin : fmt8(a.initial),
        positionInitialMargin: own ? totals.totalPositionInitialMargin : fmt8(a.positionIm),
        openOrderInitialMargin: own ? totals.totalOpenOrderInitialMargin : fmt8(a.orderIm),
        crossWalletBalance: own ? totals.totalCrossWalletBalance : fmt8(a.crossWallet),
        crossUnPnl: own ? totals.totalCrossUnPnl : fmt8(a.crossUpnl),
        availableBalance: own ? totals.availableBalance : fmt8(assetAvailable),
        maxWithdrawAmount: own
          ? totals.maxWithdrawAmount
          : fmt8(Math.max(0, Math.min(a.crossWallet, assetAvailable))),
        ...(this.multiAssets ? { marginAvailable: true } : {}),
        updateTime: a.updateTime,
      };
    });
    return { ...totals, assets, positions: listed.map(accountPosition) };
  }

  setAccountOverrides(overrides: Partial<Record<AccountField, string | number | null>>): void {
    for (const [key, value] of Object.entries(overrides)) {
      const field = key as AccountField;
      if (value === null || value === undefined) delete this.accountOverrides[field];
      else this.accountOverrides[field] = String(value);
    }
  }

  // -- exchange info ----------------------------------------------------------

  /**
   * GET /fapi/v1/exchangeInfo, shaped like Binance's documented example: every
   * symbol the simulator lists (klines, positions, configured step sizes) with
   * its PRICE_FILTER, LOT_SIZE and MARKET_LOT_SIZE filters.
   * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information
   */
  exchangeInfo() {
    const symbols = new Set([...this.knownSymbols(), ...this.stepSizes.keys()]);
    return {
      exchangeFilters: [],
      rateLimits: [
        { interval: "MINUTE", intervalNum: 1, limit: 2400, rateLimitType: "REQUEST_WEIGHT" },
        { interval: "MINUTE", intervalNum: 1, limit: 1200, rateLimitType: "ORDERS" },
      ],
      serverTime: this.serverTime(),
      assets: [
        { asset: "USDT", marginAvailable: true, autoAssetExchange: "0" },
        { asset: "USDC", marginAvailable: true, autoAssetExchange: "0" },
        { asset: "BTC", marginAvailable: true, autoAssetExchange: "-0.10" },
      ],
      symbols: [...symbols].sort().map((symbol) => {
        const step = this.stepSizes.get(symbol) ?? DEFAULT_STEP_SIZE;
        const quote = inferMarginAsset(symbol);
        return {
          symbol,
          pair: symbol,
          contractType: "PERPETUAL",
          deliveryDate: 4133404800000,
          onboardDate: 1569398400000,
          status: "TRADING",
          maintMarginPercent: "2.5000",
          requiredMarginPercent: "5.0000",
          baseAsset: symbol.slice(0, symbol.length - quote.length),
          quoteAsset: quote,
          marginAsset: quote,
          pricePrecision: 2,
          quantityPrecision: stepPrecision(step),
          baseAssetPrecision: 8,
          quotePrecision: 8,
          underlyingType: "COIN",
          underlyingSubType: [],
          settlePlan: 0,
          triggerProtect: "0.0500",
          filters: [
            { filterType: "PRICE_FILTER", maxPrice: "1000000", minPrice: "0.01", tickSize: "0.01" },
            { filterType: "LOT_SIZE", maxQty: "1000", minQty: step, stepSize: step },
            { filterType: "MARKET_LOT_SIZE", maxQty: "200", minQty: step, stepSize: step },
            { filterType: "MAX_NUM_ORDERS", limit: 200 },
            { filterType: "MAX_NUM_ALGO_ORDERS", limit: 10 },
            { filterType: "MIN_NOTIONAL", notional: "5" },
            {
              filterType: "PERCENT_PRICE",
              multiplierUp: "1.1000",
              multiplierDown: "0.9000",
              multiplierDecimal: "4",
            },
          ],
          OrderType: [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
          ],
          timeInForce: ["GTC", "IOC", "FOK", "GTX"],
          liquidationFee: "0.012500",
          marketTakeBound: "0.05",
        };
      }),
      timezone: "UTC",
    };
  }

  // -- firewall and bans ------------------------------------------------------

  /**
   * The 429 → 418 escalation (see RateLimitConfig): undefined lets the request
   * through; otherwise the status and Retry-After seconds to answer.
   */
  rateLimitVerdict(): { status: 429 | 418; retryAfter: number } | undefined {
    const config = this.rateLimit;
    if (!config) return undefined;
    const now = this.serverTime();
    const st = this.rateLimitState;
    if (now < st.bannedUntil) {
      return { status: 418, retryAfter: Math.ceil((st.bannedUntil - now) / 1000) };
    }
    if (now < st.retryUntil) {
      st.violations += 1;
      if (st.violations >= config.ban_after) {
        st.violations = 0;
        st.bannedUntil = now + config.ban_seconds * 1000;
        return { status: 418, retryAfter: config.ban_seconds };
      }
      return { status: 429, retryAfter: Math.ceil((st.retryUntil - now) / 1000) };
    }
    st.retryUntil = now + config.retry_after * 1000;
    return { status: 429, retryAfter: config.retry_after };
  }

  // -- faults ---------------------------------------------------------------

  addFaults(faults: readonly Fault[]): void {
    const paths = new Set(faults.map((f) => f.path));
    this.faults = this.faults
      .filter((f) => !paths.has(f.path))
      .concat(faults.map((f) => ({ ...f })));
  }

  /** The fault that answers this request (consuming one of its `times`), if any. */
  takeFault(path: string): Fault | undefined {
    const index = this.faults.findIndex((f) => faultMatches(f.path, path));
    if (index < 0) return undefined;
    const fault = this.faults[index] as Fault;
    if (fault.times !== undefined) {
      fault.times -= 1;
      if (fault.times <= 0) this.faults.splice(index, 1);
    }
    return { ...fault };
  }

  // -- weight and request log -----------------------------------------------

  /** Add request weight to the current minute and return the minute's running total. */
  addWeight(weight: number): number {
    const window = Math.floor(this.serverTime() / 60_000);
    if (window !== this.weightWindow) {
      this.weightWindow = window;
      this.weightUsed = 0;
    }
    this.weightUsed += weight;
    this.totalWeight += weight;
    return this.weightUsed;
  }

  /** Weight used so far in the current minute. */
  usedWeight(): number {
    const window = Math.floor(this.serverTime() / 60_000);
    return window === this.weightWindow ? this.weightUsed : 0;
  }

  logRequest(entry: Omit<RequestLogEntry, "index">): void {
    this.requests.push({ index: this.requests.length, ...entry });
  }
}

/** A row after its position closed (open orders, if any, stay). */
function zeroed(row: PositionRow): PositionRow {
  const orderIm = row.openOrderInitialMargin;
  return {
    ...row,
    positionAmt: "0",
    entryPrice: "0.0",
    breakEvenPrice: "0.0",
    unRealizedProfit: fmt8(0),
    notional: "0",
    isolatedMargin: "0",
    isolatedWallet: "0",
    initialMargin: Number(orderIm) > 0 ? orderIm : "0",
    maintMargin: "0",
    positionInitialMargin: "0",
    adl: 0,
  };
}

/** Exact decimal |amt| − qty toward zero, keeping amt's sign ("-0.300", "0.1" → "-0.200"). */
export function subtractToward0(amt: string, qty: string): string {
  const negative = amt.trim().startsWith("-");
  const a = amt.trim().replace(/^[-+]/, "");
  const q = qty.trim();
  const scale = Math.max(a.split(".")[1]?.length ?? 0, q.split(".")[1]?.length ?? 0);
  const units = (text: string) => {
    const [i, f = ""] = text.split(".");
    return BigInt((i ?? "0") + f.padEnd(scale, "0"));
  };
  let left = units(a) - units(q);
  if (left < 0n) left = 0n;
  const digits = left.toString().padStart(scale + 1, "0");
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return left === 0n ? "0" : `${negative ? "-" : ""}${text}`;
}

function stepPrecision(step: string): number {
  return (step.split(".")[1] ?? "").replace(/0+$/, "").length;
}

/** USDT first, then the other assets alphabetically. */
function assetOrder(a: string, b: string): number {
  if (a === "USDT" || b === "USDT") return a === "USDT" ? (b === "USDT" ? 0 : -1) : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function faultMatches(pattern: string, path: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("*")) return path.startsWith(pattern.slice(0, -1));
  return pattern === path;
}
