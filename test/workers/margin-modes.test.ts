import { beforeEach, describe, expect, it } from "vitest";
import { postPlan, resetWorld, setRegime, setUniverse, sim } from "./helpers.ts";

/**
 * The margin gate in every account layout Binance documents: single-asset or
 * multi-assets mode × one-way or hedge position mode × cross or isolated
 * margin. Each layout holds the same positions, 80 USD of initial margin (at
 * 10x, mark = entry), 30 on a USDT-margined symbol and 50 on a USDC-margined
 * one, against 2000 USD of margin balance; so a plan of notional N at
 * leverage 1 projects (80 + N) / 2000 whatever the layout, and the cap (0.65)
 * admits N = 1220 and refuses N = 1240. The simulator reports totals as
 * Binance documents them (USDT-only in single-asset mode, cross-only initial
 * margin in multi-assets mode), so a gate reading the totals alone would get
 * these wrong.
 */

type Mode = "single_asset" | "multi_assets";
type PositionMode = "one_way" | "hedge";
type MarginType = "cross" | "isolated";

function rows(positionMode: PositionMode, marginType: MarginType) {
  const row = (symbol: string, positionSide: string, amt: string) => ({
    symbol,
    positionSide,
    positionAmt: amt,
    entryPrice: "100",
    markPrice: "100",
    leverage: "10",
    marginType,
  });
  return positionMode === "one_way"
    ? [row("ETHUSDT", "BOTH", "3"), row("SOLUSDC", "BOTH", "-5")]
    : [row("ETHUSDT", "LONG", "2"), row("ETHUSDT", "SHORT", "-1"), row("SOLUSDC", "SHORT", "-5")];
}

async function arrange(mode: Mode, positionMode: PositionMode, marginType: MarginType) {
  await sim(
    "PUT",
    "/__sim/account",
    mode === "single_asset"
      ? { multi_assets: false, wallets: { USDT: "1000", USDC: "1000" } }
      : {
          multi_assets: true,
          wallets: { USDT: "1000", BTC: "0.01" },
          asset_prices: { BTC: 100000 },
        },
  );
  await sim("PUT", "/__sim/positions", rows(positionMode, marginType));
}

const LAYOUTS = (["single_asset", "multi_assets"] as const).flatMap((mode) =>
  (["one_way", "hedge"] as const).flatMap((positionMode) =>
    (["cross", "isolated"] as const).map((marginType) => ({ mode, positionMode, marginType })),
  ),
);

describe("margin usage in every documented account layout", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT"]);
    await setRegime("BTCUSDT", "BASE");
  });

  it.each(LAYOUTS)(
    "$mode, $positionMode, $marginType: (80 + notional) / 2000 against the cap",
    async ({ mode, positionMode, marginType }) => {
      await arrange(mode, positionMode, marginType);
      const id = `${mode}-${positionMode}-${marginType}`.replace(/_/g, "");

      const atCap = await postPlan({
        plan_id: `${id}-in`,
        symbol: "BTCUSDT",
        notional: 1220,
        leverage: 1,
      });
      expect(atCap.body).toMatchObject({ decision: "ALLOW" }); // (80 + 1220) / 2000 = 0.65

      const over = await postPlan({
        plan_id: `${id}-out`,
        symbol: "BTCUSDT",
        notional: 1240,
        leverage: 1,
      });
      expect(over.body).toMatchObject({ decision: "BLOCK", reason: "active_slots_margin_cap" });
      expect(over.body.details.usage).toBeCloseTo(0.66, 9);
    },
  );

  it("single-asset mode with USDC collateral only: not margin_unavailable although the USDT totals are 0", async () => {
    await sim("PUT", "/__sim/account", {
      multi_assets: false,
      wallets: { USDT: "0", USDC: "1000" },
    });
    await sim("PUT", "/__sim/positions", [
      { symbol: "SOLUSDC", positionAmt: "-5", entryPrice: "100", markPrice: "100", leverage: "10" },
    ]);
    const account = (await sim("GET", "/__sim/account")) as Record<string, string>;
    expect(account.totalMarginBalance).toBe("0.00000000"); // as documented: USDT only
    const { body } = await postPlan({
      plan_id: "usdc-only",
      symbol: "BTCUSDT",
      notional: 500,
      leverage: 1,
    });
    expect(body).toMatchObject({ decision: "ALLOW" }); // (50 + 500) / 1000 = 0.55
    const over = await postPlan({
      plan_id: "usdc-over",
      symbol: "BTCUSDT",
      notional: 700,
      leverage: 1,
    });
    expect(over.body.details.usage).toBeCloseTo(0.75, 9);
  });
});
