/**
 * The demo world (dev/world.ts) that `npm start` seeds: each symbol shows the
 * regime it is named for, no two symbols correlate anywhere near the cap (so
 * the first plans meet the slot rules, not the correlation gate), SOLUSDT is
 * the weakest position, and seeding writes exactly the world into a real
 * exchange simulator and Redis.
 */
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatePreset } from "../../dev/exchange-sim/klines.ts";
import { startLocalServices, type LocalServices } from "../../dev/services.ts";
import {
  DEMO_WORLD,
  describeWorld,
  entryRecords,
  seedWorld,
  simPositions,
} from "../../dev/world.ts";
import { EnvSchema } from "../../lib/config.ts";
import { redisKeys } from "../../lib/keys.ts";
import { closedCandles, KlinesResponseSchema } from "../../lib/market/klines.ts";
import {
  computeRegime,
  DEFAULT_REGIME_THRESHOLDS,
  desiredSlots,
} from "../../lib/regime/classify.ts";
import { correlations, type Closes } from "../../lib/risk/correlation.ts";
import { rankVictims } from "../../lib/rotation/weakness.ts";
import { parseEntries } from "../../lib/rotation/entries.ts";

const HOUR = 3_600_000;
/** Two instants a candle and a half apart: the world does not depend on the hour. */
const INSTANTS = [Date.UTC(2025, 0, 6, 12, 30), Date.UTC(2025, 0, 6, 14, 0, 1)];
const MAX_CORRELATION = EnvSchema.shape.GOV_MAX_CORRELATION.parse(undefined);
const SLOTS = { BASE: 4, TREND_STRONG: 6, CHOP: 3 } as const;

/** What the governor computes from the simulator's klines: limit 100, closed candles only. */
function market(symbol: string, now: number) {
  const m = DEMO_WORLD.markets.find((x) => x.symbol === symbol)!;
  const rows = generatePreset(
    {
      preset: m.preset,
      count: 150,
      basePrice: m.price,
      direction: m.direction ?? "up",
      seed: symbol,
    },
    "1h",
    now,
  ).slice(-100);
  const closed = closedCandles(KlinesResponseSchema.parse(rows), now);
  return {
    regime: computeRegime(closed, DEFAULT_REGIME_THRESHOLDS),
    closes: closed.map((c) => [c.openTime, c.close] as const) as Closes,
  };
}

describe("the demo world", () => {
  it.each(INSTANTS)("shows each symbol's named regime (at %i)", (now) => {
    for (const m of DEMO_WORLD.markets) {
      expect(market(m.symbol, now).regime.name, m.symbol).toBe(m.preset);
    }
  });

  it.each(INSTANTS)("keeps every pair of symbols far below the correlation cap (at %i)", (now) => {
    let worst = 0;
    for (const a of DEMO_WORLD.markets) {
      const legs = DEMO_WORLD.markets
        .filter((b) => b.symbol !== a.symbol)
        .map((b) => ({ symbol: b.symbol, sign: 1 as const, closes: market(b.symbol, now).closes }));
      // Long candidate against longs, and short against longs: both signs stay below.
      for (const sign of [1, -1] as const) {
        const pairs = correlations({
          candidate: { closes: market(a.symbol, now).closes, sign },
          legs,
          maxCorrelation: MAX_CORRELATION,
          candleMs: HOUR,
        });
        for (const pair of pairs) {
          expect(pair.status, `${a.symbol}/${pair.symbol}`).toBe("ok");
          if (pair.status === "ok") worst = Math.max(worst, pair.value);
        }
      }
    }
    expect(worst).toBeLessThan(MAX_CORRELATION / 2);
  });

  it("has a universe holding every market and position, and a free BASE slot", () => {
    const symbols = DEMO_WORLD.markets.map((m) => m.symbol).sort();
    expect([...DEMO_WORLD.universe].sort()).toEqual(symbols);
    for (const p of DEMO_WORLD.positions) expect(DEMO_WORLD.universe).toContain(p.symbol);
    expect(DEMO_WORLD.positions.length).toBe(desiredSlots("BASE", SLOTS) - 1);
  });

  it("makes SOLUSDT the weakest position, by the governor's own weakness", () => {
    const now = INSTANTS[0]!;
    const positions = simPositions(DEMO_WORLD, now).map((p) => ({
      symbol: String(p.symbol),
      positionAmt: Number(p.positionAmt),
      entryPrice: Number(p.entryPrice),
      unRealizedProfit: Number(p.unRealizedProfit),
      updateTime: Number(p.updateTime),
    }));
    const victims = rankVictims(positions, parseEntries(entryRecords(DEMO_WORLD, now)), now, {
      agePenaltyPerHour: 0.002,
      agePenaltyCap: 0.05,
    });
    expect(victims.map((v) => v.symbol)).toEqual(["SOLUSDT", "ETHUSDT", "BTCUSDT"]);
    expect(victims[0]!.entry_score).toBe(2);
  });

  it("describes itself in one line", () => {
    expect(describeWorld(DEMO_WORLD)).toBe(
      "demo (6 symbols; positions BTCUSDT +3.5 %, ETHUSDT +1.2 %, SOLUSDT −7.5 %)",
    );
  });
});

describe("seedWorld, against the exchange simulator and a real Redis", () => {
  let services: LocalServices;
  let redis: Redis;
  const keys = redisKeys("quantum");

  beforeAll(async () => {
    services = await startLocalServices();
    redis = new Redis({
      url: services.bridge.url,
      token: services.credentials.redisToken,
      automaticDeserialization: false,
      enableTelemetry: false,
    });
  });

  afterAll(async () => {
    await services?.stop();
  });

  it("writes the universe, entry records, klines, positions and account", async () => {
    const now = Date.now();
    await seedWorld(DEMO_WORLD, { exchangeUrl: services.exchange.url, redis, keys }, now);

    expect(await redis.hget<string>(keys.policy, "universe_symbols")).toBe(
      JSON.stringify(DEMO_WORLD.universe),
    );
    const entries = parseEntries(await redis.hgetall(keys.entries));
    expect([...entries.keys()].sort()).toEqual(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    expect(entries.get("SOLUSDT")).toEqual({ score: 2, at: Math.floor(now / 1000 - 26 * 3600) });

    const sim = async (path: string) =>
      (await fetch(`${services.exchange.url}${path}`)).json() as Promise<unknown>;
    const positions = (await sim("/__sim/positions")) as { symbol: string; positionAmt: string }[];
    expect(positions.map((p) => [p.symbol, p.positionAmt])).toEqual([
      ["BTCUSDT", "0.1"],
      ["ETHUSDT", "1.5"],
      ["SOLUSDT", "30"],
    ]);
    const account = (await sim("/__sim/account")) as Record<string, string>;
    expect(Number(account.totalWalletBalance)).toBe(10_000);
    // Initial margin at 5x over the margin balance: a third of the account, far from the cap.
    const usage = Number(account.totalInitialMargin) / Number(account.totalMarginBalance);
    expect(usage).toBeCloseTo(0.329, 3);
    for (const m of DEMO_WORLD.markets) {
      const rows = (await sim(`/__sim/klines/${m.symbol}`)) as unknown[][];
      expect(Number(rows.at(-1)![4]), m.symbol).toBeCloseTo(m.price, 6);
    }
  });
});
