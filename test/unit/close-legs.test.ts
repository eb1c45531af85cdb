import { describe, expect, it } from "vitest";
import { floorToStep, stepDecimals } from "../../lib/binance/lot-size.ts";
import { closeLegs, onStepSizes } from "../../lib/rotation/close-legs.ts";
import { exchangeInfoSchema, stepSizesFrom, endOfUtcDay } from "../../lib/binance/step-sizes.ts";
import { EXCHANGE_INFO } from "../fixtures/binance-docs.ts";

describe("floorToStep: exact decimal quantities on a LOT_SIZE step", () => {
  it("keeps an amount already on the step, with the step's decimals", () => {
    expect(floorToStep("0.300", "0.001")).toBe("0.300");
    expect(floorToStep("0.3", "0.00100000")).toBe("0.300");
    expect(floorToStep("12", "1")).toBe("12");
  });
  it("floors an amount off the step", () => {
    expect(floorToStep("0.1239", "0.001")).toBe("0.123");
    expect(floorToStep("15", "10")).toBe("10");
    expect(floorToStep("1.75", "0.5")).toBe("1.5");
  });
  it("never shows float noise, however many digits", () => {
    // 0.1 + 0.2 in floats is 0.30000000000000004; each leg is formatted on its own.
    expect(floorToStep("0.30000000000000004", "0.001")).toBe("0.300");
    expect(floorToStep("123456789.123456789", "0.000001")).toBe("123456789.123456");
  });
  it("refuses what is not executable: zero, below one step, malformed", () => {
    expect(floorToStep("0", "0.001")).toBeNull();
    expect(floorToStep("0.0004", "0.001")).toBeNull();
    expect(floorToStep("1e-3", "0.001")).toBeNull();
    expect(floorToStep("-1", "0.001")).toBeNull();
    expect(floorToStep("1", "0")).toBeNull();
  });
  it("counts a step's significant decimals", () => {
    expect(stepDecimals("0.00100000")).toBe(3);
    expect(stepDecimals("1")).toBe(0);
    expect(stepDecimals("10")).toBe(0);
  });
});

describe("close legs", () => {
  const hedge = [
    { positionSide: "SHORT", positionAmt: -0.2, positionAmtText: "-0.200" },
    { positionSide: "LONG", positionAmt: 0.1, positionAmtText: "0.100" },
  ];

  it("closes each hedge side on its own: LONG by SELL, SHORT by BUY, LONG first", () => {
    expect(closeLegs(hedge)).toEqual([
      { position_side: "LONG", side: "SELL", qty: "0.100" },
      { position_side: "SHORT", side: "BUY", qty: "0.200" },
    ]);
  });

  it("closes a one-way short with a BUY on BOTH", () => {
    expect(closeLegs([{ positionSide: "BOTH", positionAmt: -3, positionAmtText: "-3" }])).toEqual([
      { position_side: "BOTH", side: "BUY", qty: "3" },
    ]);
  });

  it("puts two legs on the step size, first leg on top, both in legs_json", () => {
    const [victim] = onStepSizes(
      [{ symbol: "BTCUSDT", weakness: 0.1, pnl_pct: -0.1, legs: closeLegs(hedge) }],
      new Map([["BTCUSDT", "0.001"]]),
    );
    expect(victim).toMatchObject({
      close_side: "SELL",
      position_side: "LONG",
      qty: "0.100",
      leg_count: 2,
    });
    expect(JSON.parse(victim!.legs_json!)).toEqual([
      { position_side: "LONG", side: "SELL", qty: "0.100" },
      { position_side: "SHORT", side: "BUY", qty: "0.200" },
    ]);
  });

  it("a single leg adds no legs_json (the plan's fields stay as before)", () => {
    const [victim] = onStepSizes(
      [
        {
          symbol: "DOGEUSDT",
          weakness: 0,
          pnl_pct: 0,
          legs: [{ position_side: "BOTH", side: "SELL", qty: "150" }],
        },
      ],
      new Map([["DOGEUSDT", "1"]]),
    );
    expect(victim).toMatchObject({ qty: "150", position_side: "BOTH", leg_count: 1 });
    expect(victim).not.toHaveProperty("legs_json");
  });

  it("an unknown step size leaves the victim without legs (no rotation)", () => {
    const [victim] = onStepSizes(
      [{ symbol: "BTCUSDT", weakness: 0, pnl_pct: 0, legs: closeLegs(hedge) }],
      new Map(),
    );
    expect(victim).toEqual({ symbol: "BTCUSDT", weakness: 0, pnl_pct: 0 });
  });
});

describe("exchangeInfo step sizes", () => {
  it("reads LOT_SIZE stepSize from Binance's documented example", () => {
    const sizes = stepSizesFrom(exchangeInfoSchema.parse(EXCHANGE_INFO));
    expect([...sizes]).toEqual([["BLZUSDT", "1"]]);
  });
  it("caches until the end of the UTC day", () => {
    expect(endOfUtcDay(Date.UTC(2026, 0, 2, 13, 5))).toBe(Date.UTC(2026, 0, 3));
  });
});
