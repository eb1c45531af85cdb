import { describe, expect, it } from "vitest";
import { openPositionsFromAccount } from "../../lib/binance/positions.ts";
import { accountSchema, positionRiskListSchema } from "../../lib/binance/schemas.ts";
import { exchangeInfoSchema } from "../../lib/binance/step-sizes.ts";
import {
  ACCOUNT_V3_MULTI_ASSETS,
  ACCOUNT_V3_SINGLE_ASSET,
  EXCHANGE_INFO,
  POSITION_RISK_V3_HEDGE,
  POSITION_RISK_V3_ONE_WAY,
} from "../fixtures/binance-docs.ts";

describe("Binance's documented examples pass the governor's own schemas", () => {
  it.each([
    ["Account Information V3, single-asset mode", ACCOUNT_V3_SINGLE_ASSET],
    ["Account Information V3, multi-assets mode", ACCOUNT_V3_MULTI_ASSETS],
  ])("%s", (_name, example) => {
    const account = accountSchema.parse(example);
    expect(account.positions[0]).toMatchObject({ positionAmt: 1, positionAmtText: "1.000" });
    expect(openPositionsFromAccount(account).map((p) => p.symbol)).toEqual(["BTCUSDT"]);
  });

  it.each([
    ["Position Information V3, one-way mode", POSITION_RISK_V3_ONE_WAY],
    ["Position Information V3, hedge mode", POSITION_RISK_V3_HEDGE],
  ])("%s", (_name, example) => {
    expect(positionRiskListSchema.parse(example)).toHaveLength(example.length);
  });

  it("Exchange Information", () => {
    expect(exchangeInfoSchema.parse(EXCHANGE_INFO).symbols[0]!.symbol).toBe("BLZUSDT");
  });
});
