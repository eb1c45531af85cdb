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

/** Fill a position row from partial input with Binance-consistent derived values. */
export function fillPosition(input: PositionInput, now: number): PositionRow {
  const amt = num(input.positionAmt, 0);
  const entry = num(input.entryPrice, 0);
  const mark = num(input.markPrice, entry);
  const leverage = Math.max(1, Math.trunc(num(input.leverage, 10)));
  const notional = amt * mark;
  const initial = Math.abs(notional) / leverage;
  const maint = Math.abs(notional) * MAINT_MARGIN_RATE;
  const marginType = input.marginType === "isolated" ? "isolated" : "cross";
  const side = input.positionSide;
  return {
    symbol: input.symbol,
    positionSide: side === "LONG" || side === "SHORT" ? side : "BOTH",
    positionAmt: str(input.positionAmt, "0"),
    entryPrice: str(input.entryPrice, "0.0"),
    breakEvenPrice: str(input.breakEvenPrice, str(input.entryPrice, "0.0")),
    markPrice: str(input.markPrice, fmt8(mark)),
    unRealizedProfit: str(input.unRealizedProfit, fmt8(amt * (mark - entry))),
    liquidationPrice: str(input.liquidationPrice, "0"),
    isolatedMargin: str(input.isolatedMargin, marginType === "isolated" ? fmt8(initial) : "0"),
    notional: str(input.notional, fmt8(notional)),
    marginAsset: str(input.marginAsset, "USDT"),
    isolatedWallet: str(input.isolatedWallet, marginType === "isolated" ? fmt8(initial) : "0"),
    initialMargin: str(input.initialMargin, fmt8(initial)),
    maintMargin: str(input.maintMargin, fmt8(maint)),
    positionInitialMargin: str(input.positionInitialMargin, fmt8(initial)),
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

  /** Close every position row of `symbol` (as a reduce-only market close would). Returns true if one was open. */
  closePosition(symbol: string): boolean {
    const now = this.serverTime();
    let wasOpen = false;
    this.positions = this.positions.map((row) => {
      if (row.symbol !== symbol) return row;
      if (isOpen(row)) wasOpen = true;
      return {
        ...row,
        positionAmt: "0",
        entryPrice: "0.0",
        breakEvenPrice: "0.0",
        unRealizedProfit: fmt8(0),
        notional: "0",
        isolatedMargin: "0",
        isolatedWallet: "0",
        initialMargin: "0",
        maintMargin: "0",
        positionInitialMargin: "0",
        adl: 0,
        updateTime: now,
      };
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

  account() {
    const open = this.openPositions();
    const sum = (pick: (row: PositionRow) => string) =>
      open.reduce((acc, row) => acc + (Number(pick(row)) || 0), 0);
    const o = this.accountOverrides;
    const wallet = Number(o.totalWalletBalance ?? DEFAULT_WALLET_BALANCE);
    const upnl = Number(o.totalUnrealizedProfit ?? sum((r) => r.unRealizedProfit));
    const positionIm = Number(o.totalPositionInitialMargin ?? sum((r) => r.positionInitialMargin));
    const orderIm = Number(o.totalOpenOrderInitialMargin ?? sum((r) => r.openOrderInitialMargin));
    const initial = Number(o.totalInitialMargin ?? positionIm + orderIm);
    const maint = Number(o.totalMaintMargin ?? sum((r) => r.maintMargin));
    const marginBalance = Number(o.totalMarginBalance ?? wallet + upnl);
    const crossWallet = Number(o.totalCrossWalletBalance ?? wallet);
    const crossUpnl = Number(o.totalCrossUnPnl ?? upnl);
    const available = Number(o.availableBalance ?? Math.max(0, marginBalance - initial));
    const maxWithdraw = Number(o.maxWithdrawAmount ?? Math.max(0, Math.min(wallet, available)));
    const updateTime = open.reduce((t, row) => Math.max(t, row.updateTime), 0);
    return {
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
      assets: [
        {
          asset: "USDT",
          walletBalance: fmt8(wallet),
          unrealizedProfit: fmt8(upnl),
          marginBalance: fmt8(marginBalance),
          maintMargin: fmt8(maint),
          initialMargin: fmt8(initial),
          positionInitialMargin: fmt8(positionIm),
          openOrderInitialMargin: fmt8(orderIm),
          crossWalletBalance: fmt8(crossWallet),
          crossUnPnl: fmt8(crossUpnl),
          availableBalance: fmt8(available),
          maxWithdrawAmount: fmt8(maxWithdraw),
          updateTime,
        },
      ],
      positions: open.map(accountPosition),
    };
  }

  setAccountOverrides(overrides: Partial<Record<AccountField, string | number | null>>): void {
    for (const [key, value] of Object.entries(overrides)) {
      const field = key as AccountField;
      if (value === null || value === undefined) delete this.accountOverrides[field];
      else this.accountOverrides[field] = String(value);
    }
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

export function faultMatches(pattern: string, path: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("*")) return path.startsWith(pattern.slice(0, -1));
  return pattern === path;
}
