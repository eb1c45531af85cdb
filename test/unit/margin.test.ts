import { describe, expect, it } from "vitest";
import { accountSchema, type FuturesAccount } from "../../lib/binance/schemas.ts";
import { marginAssetOf, projectedMarginUsage } from "../../lib/risk/margin.ts";
import { ACCOUNT_V3_MULTI_ASSETS, ACCOUNT_V3_SINGLE_ASSET } from "../fixtures/binance-docs.ts";

type Row = Record<string, unknown>;

/** A documented-shape V3 account: the documented example with these totals, assets and rows. */
function account(
  base: typeof ACCOUNT_V3_SINGLE_ASSET,
  totals: { im: string; mb: string },
  assets: { asset: string; marginBalance: string }[],
  positions: Row[],
): FuturesAccount {
  const template = base.assets[0]!;
  return accountSchema.parse({
    ...base,
    totalInitialMargin: totals.im,
    totalMarginBalance: totals.mb,
    assets: assets.map((a) => ({ ...template, ...a })),
    positions: positions.map((p) => ({ ...base.positions[0], ...p })),
  });
}

const usage = (a: FuturesAccount, notional?: number, leverage?: number) => {
  const verdict = projectedMarginUsage({ account: a, notional, leverage });
  if (!verdict.ok) throw new Error(JSON.stringify(verdict.details));
  return verdict;
};

describe("projected margin usage, as the V3 account documents its figures", () => {
  it("adds notional / leverage to the initial margin (documented single-asset example)", () => {
    const a = accountSchema.parse(ACCOUNT_V3_SINGLE_ASSET);
    // Balance: the stablecoin pools, USDT 23.72469206 + USDC 103.12345678.
    const v = usage(a, 100, 10);
    expect(v.margin_balance).toBeCloseTo(126.84814884, 8);
    expect(v.usage).toBeCloseTo(10 / 126.84814884, 12);
  });

  it("single-asset mode: USDC collateral counts although the USDT-only totals are 0", () => {
    const a = account(
      ACCOUNT_V3_SINGLE_ASSET,
      { im: "0", mb: "0" },
      [
        { asset: "USDT", marginBalance: "0" },
        { asset: "USDC", marginBalance: "1000" },
      ],
      [{ symbol: "BTCUSDC", positionAmt: "0.01", notional: "600", initialMargin: "60" }],
    );
    const v = usage(a, 1000, 10);
    expect(v).toMatchObject({ initial_margin: 60, margin_balance: 1000, added: 100 });
    expect(v.usage).toBeCloseTo(0.16, 12);
  });

  it("single-asset mode: USDC-margined positions' margin is counted next to USDT's", () => {
    const a = account(
      ACCOUNT_V3_SINGLE_ASSET,
      { im: "100", mb: "2000" }, // USDT only
      [
        { asset: "USDT", marginBalance: "2000" },
        { asset: "USDC", marginBalance: "2000" },
      ],
      [
        { symbol: "ETHUSDT", positionAmt: "1", notional: "1000", initialMargin: "100" },
        { symbol: "ETHUSDC", positionAmt: "1", notional: "3000", initialMargin: "300" },
      ],
    );
    expect(usage(a).usage).toBeCloseTo(400 / 4000, 12);
  });

  it("isolated positions, missing from the cross-only total, are counted from their rows", () => {
    const a = account(
      ACCOUNT_V3_MULTI_ASSETS,
      { im: "100", mb: "5000" }, // cross only: ETHUSDT
      [{ asset: "USDT", marginBalance: "5000" }],
      [
        { symbol: "ETHUSDT", positionAmt: "1", notional: "1000", initialMargin: "100" },
        {
          symbol: "SOLUSDT",
          positionAmt: "-10",
          notional: "-1500",
          initialMargin: "300",
          isolatedWallet: "320",
          isolatedMargin: "310",
        },
      ],
    );
    expect(usage(a).usage).toBeCloseTo(400 / 5000, 12);
  });

  it("hedge mode: both sides' margin counts", () => {
    const a = account(
      ACCOUNT_V3_SINGLE_ASSET,
      { im: "250", mb: "1000" },
      [{ asset: "USDT", marginBalance: "1000" }],
      [
        { symbol: "BTCUSDT", positionSide: "LONG", positionAmt: "0.1", initialMargin: "150" },
        { symbol: "BTCUSDT", positionSide: "SHORT", positionAmt: "-0.2", initialMargin: "100" },
      ],
    );
    expect(usage(a).usage).toBeCloseTo(0.25, 12);
  });

  it("multi-assets mode: the USD total over every asset is the balance (non-stable collateral)", () => {
    const a = account(
      ACCOUNT_V3_MULTI_ASSETS,
      { im: "500", mb: "7000" }, // USD: 1000 USDT + 0.1 BTC at 60000
      [
        { asset: "USDT", marginBalance: "1000" },
        { asset: "BTC", marginBalance: "0.1" },
      ],
      [{ symbol: "BNBUSDT", positionAmt: "10", notional: "5000", initialMargin: "500" }],
    );
    expect(usage(a).usage).toBeCloseTo(500 / 7000, 12);
  });

  it("never reports less initial margin than Binance's own total (open orders included)", () => {
    const a = account(
      ACCOUNT_V3_MULTI_ASSETS,
      { im: "900", mb: "3000" },
      [{ asset: "USDT", marginBalance: "3000" }],
      [{ symbol: "BNBUSDT", positionAmt: "1", initialMargin: "500" }],
    );
    expect(usage(a).initial_margin).toBe(900);
  });

  it("a row with only open orders carries their initial margin", () => {
    const a = account(
      ACCOUNT_V3_SINGLE_ASSET,
      { im: "0", mb: "1000" },
      [{ asset: "USDT", marginBalance: "1000" }],
      [{ symbol: "XRPUSDT", positionAmt: "0", notional: "0", initialMargin: "40" }],
    );
    expect(usage(a).usage).toBeCloseTo(0.04, 12);
  });

  it("counts a notional without leverage in full", () => {
    const a = account(
      ACCOUNT_V3_SINGLE_ASSET,
      { im: "0", mb: "1000" },
      [{ asset: "USDT", marginBalance: "1000" }],
      [],
    );
    expect(usage(a, 100).usage).toBe(0.1);
  });

  it("cannot judge a non-positive margin balance", () => {
    const a = account(
      ACCOUNT_V3_SINGLE_ASSET,
      { im: "0", mb: "0" },
      [{ asset: "USDT", marginBalance: "0" }],
      [],
    );
    expect(projectedMarginUsage({ account: a })).toMatchObject({
      ok: false,
      details: { error: "no_margin_balance" },
    });
  });

  it("cannot add a position margined in a non-USD asset (fail closed)", () => {
    const a = account(
      ACCOUNT_V3_MULTI_ASSETS,
      { im: "0", mb: "1000" },
      [
        { asset: "USDT", marginBalance: "1000" },
        { asset: "BTC", marginBalance: "0.01" },
      ],
      [{ symbol: "ETHBTC", positionAmt: "1", initialMargin: "0.005" }],
    );
    expect(projectedMarginUsage({ account: a })).toMatchObject({
      ok: false,
      details: { error: "non_usd_margin_asset", symbol: "ETHBTC", asset: "BTC" },
    });
  });
});

describe("marginAssetOf", () => {
  it("is the quote asset the symbol ends with", () => {
    expect(marginAssetOf("BTCUSDT", [])).toBe("USDT");
    expect(marginAssetOf("BTCUSDC", [])).toBe("USDC");
    expect(marginAssetOf("ETHBTC", ["BTC"])).toBe("BTC");
    expect(marginAssetOf("XYZ", [])).toBeUndefined();
  });
});
