/**
 * The exchange simulator against Binance's documented examples
 * (test/fixtures/binance-docs.ts, each citing its page): same fields, same
 * types, the same figures where the documentation defines them, and the
 * firewall, ban and restricted-location answers of the General Info page.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { signQuery } from "../../dev/exchange-sim/signature.ts";
import { startExchangeSim, type ExchangeSimHandle } from "../../dev/exchange-sim/server.ts";
import { accountSchema, positionRiskListSchema } from "../../lib/binance/schemas.ts";
import { exchangeInfoSchema, stepSizesFrom } from "../../lib/binance/step-sizes.ts";
import {
  ACCOUNT_V3_MULTI_ASSETS,
  ACCOUNT_V3_SINGLE_ASSET,
  EXCHANGE_INFO,
  POSITION_RISK_V3_HEDGE,
  POSITION_RISK_V3_ONE_WAY,
  RESTRICTED_LOCATION_BODY,
} from "../fixtures/binance-docs.ts";

const API_KEY = "docs-key";
const API_SECRET = "docs-secret";

/** Field name → JSON type, recursively for the first element of arrays. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])];
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, shape(v)]),
    );
  }
  return value === null ? "null" : typeof value;
}

describe("exchange simulator, compared with Binance's documented examples", () => {
  let sim: ExchangeSimHandle;
  beforeAll(async () => {
    sim = await startExchangeSim({ apiKey: API_KEY, apiSecret: API_SECRET });
  });
  afterAll(async () => {
    await sim?.stop();
  });
  beforeEach(async () => {
    await control("POST", "/__sim/reset");
  });

  async function control(method: string, path: string, body?: unknown) {
    const res = await fetch(sim.url + path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }
  async function get(path: string, signed = false) {
    const query = signed ? signQuery(API_SECRET, `recvWindow=5000&timestamp=${Date.now()}`) : "";
    const res = await fetch(`${sim.url}${path}${query ? `?${query}` : ""}`, {
      headers: { "X-MBX-APIKEY": API_KEY },
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }
  const json = async (path: string, signed = false) => JSON.parse((await get(path, signed)).text);

  it("serves the documented single-asset account: same fields and types, totals = the USDT asset", async () => {
    await control("PUT", "/__sim/account", {
      wallets: { USDT: "23.72469206", USDC: "103.12345678" },
    });
    await control("PUT", "/__sim/positions", [
      { symbol: "BTCUSDT", positionAmt: "1.000", entryPrice: "60000" },
    ]);
    const account = await json("/fapi/v3/account", true);
    expect(shape(account)).toEqual(shape(ACCOUNT_V3_SINGLE_ASSET));
    expect(account.assets.map((a: { asset: string }) => a.asset)).toEqual(["USDT", "USDC"]);
    // "only for USDT asset": the totals are the USDT row's.
    expect(account.totalWalletBalance).toBe(account.assets[0].walletBalance);
    expect(account.totalMarginBalance).toBe(account.assets[0].marginBalance);
    expect(account.totalWalletBalance).toBe("23.72469206");
    expect(accountSchema.safeParse(account).success).toBe(true);
  });

  it("serves the documented multi-assets account: totals in USD over every asset", async () => {
    await control("PUT", "/__sim/account", {
      multi_assets: true,
      wallets: { USDT: "23.72469206", BTC: "0.001" },
      asset_prices: { BTC: 103123.45678 },
    });
    const account = await json("/fapi/v3/account", true);
    const { positions: _p, ...documented } = ACCOUNT_V3_MULTI_ASSETS;
    const { positions: _q, ...served } = account;
    // The REST V3 example lists no marginAvailable; the simulator adds it in this mode.
    expect(shape({ ...served, assets: [] })).toEqual(shape({ ...documented, assets: [] }));
    expect(account.totalWalletBalance).toBe("126.84814884"); // 23.72469206 + 0.001 × 103123.45678
    expect(accountSchema.safeParse(account).success).toBe(true);
  });

  it("isolated margin = isolated wallet + unrealized PnL; the totals' initial margin is cross only", async () => {
    await control("PUT", "/__sim/positions", [
      {
        symbol: "ETHUSDT",
        positionAmt: "2",
        entryPrice: "3000",
        markPrice: "2900",
        leverage: "10",
        marginType: "isolated",
        isolatedWallet: "650",
      },
      { symbol: "BTCUSDT", positionAmt: "0.01", entryPrice: "60000", markPrice: "60000" },
    ]);
    const rows = (await json("/fapi/v3/positionRisk", true)) as Record<string, string>[];
    const isolated = rows.find((r) => r.symbol === "ETHUSDT")!;
    expect(isolated.isolatedWallet).toBe("650.00000000");
    expect(isolated.unRealizedProfit).toBe("-200.00000000");
    expect(isolated.isolatedMargin).toBe("450.00000000");
    const account = await json("/fapi/v3/account", true);
    expect(account.totalInitialMargin).toBe("60.00000000"); // BTCUSDT cross only
    expect(account.totalWalletBalance).toBe("10000.00000000"); // isolated wallet included
    expect(account.totalCrossWalletBalance).toBe("9350.00000000");
  });

  it("lists symbols with only open orders, as Position Information V3 documents", async () => {
    await control("PUT", "/__sim/positions", [
      { symbol: "XRPUSDT", positionAmt: "0", openOrderInitialMargin: "12.5" },
    ]);
    const rows = (await json("/fapi/v3/positionRisk", true)) as Record<string, string>[];
    expect(rows.map((r) => [r.symbol, r.positionAmt, r.initialMargin])).toEqual([
      ["XRPUSDT", "0", "12.50000000"],
    ]);
    const account = await json("/fapi/v3/account", true);
    expect(account.positions.map((r: { symbol: string }) => r.symbol)).toEqual(["XRPUSDT"]);
    expect(account.totalOpenOrderInitialMargin).toBe("12.50000000");
  });

  it("serves positionRisk v3 rows shaped like the documented one-way and hedge examples", async () => {
    await control("PUT", "/__sim/positions", [
      {
        symbol: "ADAUSDT",
        positionSide: "LONG",
        positionAmt: "30",
        entryPrice: "0.385",
        markPrice: "0.41047590",
      },
      {
        symbol: "COMPUSDT",
        positionSide: "SHORT",
        positionAmt: "-1.000",
        entryPrice: "70.92841",
        markPrice: "49.72023376",
      },
    ]);
    const rows = await json("/fapi/v3/positionRisk", true);
    expect(shape(rows)).toEqual(shape(POSITION_RISK_V3_ONE_WAY));
    expect(shape(rows.slice(1))).toEqual(shape(POSITION_RISK_V3_HEDGE.slice(1)));
    // The documented hedge example's figures, derived by the simulator from amount, entry and mark.
    for (const field of ["unRealizedProfit", "notional"] as const) {
      expect(rows.map((r: Record<string, string>) => r[field])).toEqual(
        POSITION_RISK_V3_HEDGE.map((r) => r[field]),
      );
    }
    expect(
      rows.map((r: Record<string, string>) => [r.positionSide, r.unRealizedProfit, r.notional]),
    ).toEqual([
      ["LONG", "0.76427700", "12.31427700"],
      ["SHORT", "21.20817624", "-49.72023376"],
    ]);
    expect(positionRiskListSchema.safeParse(rows).success).toBe(true);
  });

  it("serves exchangeInfo shaped like the documented example, with per-symbol step sizes (weight 1)", async () => {
    await control("PUT", "/__sim/exchange-info", {
      step_sizes: { BLZUSDT: "1", BTCUSDT: "0.001" },
    });
    const response = await get("/fapi/v1/exchangeInfo");
    expect(response.headers.get("x-mbx-used-weight-1m")).toBe("1");
    const info = JSON.parse(response.text);
    expect(shape({ ...info, symbols: [] })).toEqual(shape({ ...EXCHANGE_INFO, symbols: [] }));
    const blz = info.symbols.find((s: { symbol: string }) => s.symbol === "BLZUSDT");
    const documented = EXCHANGE_INFO.symbols[0]!;
    expect(Object.keys(blz).sort()).toEqual(Object.keys(documented).sort());
    expect(blz.filters.map((f: { filterType: string }) => f.filterType)).toEqual(
      documented.filters.map((f) => f.filterType),
    );
    expect(Object.fromEntries(stepSizesFrom(exchangeInfoSchema.parse(info)))).toEqual({
      BLZUSDT: "1",
      BTCUSDT: "0.001",
    });
  });

  it("answers a WAF 403 as an HTML page, not Binance's JSON error", async () => {
    await control("PUT", "/__sim/firewall", { mode: "waf" });
    const response = await get("/fapi/v3/account", true);
    expect(response.status).toBe(403);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(() => JSON.parse(response.text)).toThrow();
  });

  it("answers a restricted location with 451 and Binance's body", async () => {
    await control("PUT", "/__sim/firewall", { mode: "restricted" });
    const response = await get("/fapi/v1/time");
    expect(response.status).toBe(451);
    expect(JSON.parse(response.text)).toEqual(RESTRICTED_LOCATION_BODY);
  });

  it("escalates 429s ignored inside their Retry-After to a 418 ban, with Retry-After", async () => {
    await control("PUT", "/__sim/rate-limit", { retry_after: 30, ban_after: 2, ban_seconds: 120 });
    const answers = [];
    for (let i = 0; i < 4; i++) {
      const r = await get("/fapi/v1/time");
      answers.push([r.status, r.headers.get("retry-after"), JSON.parse(r.text).code]);
    }
    expect(answers.map(([status]) => status)).toEqual([429, 429, 418, 418]);
    expect(answers[0]).toEqual([429, "30", -1003]);
    expect(answers[2]).toEqual([418, "120", -1003]);
    await control("PUT", "/__sim/rate-limit", null);
    expect((await get("/fapi/v1/time")).status).toBe(200);
  });
});
