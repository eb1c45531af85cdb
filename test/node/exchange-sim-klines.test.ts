/**
 * The kline presets must put a symbol clearly in the regime they are named
 * after (docs/contract.md §3), computed the way the governor does: closed candles only,
 * EMA20/EMA50 seeded with the SMA of the first N (TA-Lib), ATR14 with Wilder
 * smoothing seeded with the mean of the first 14 true ranges (true range from
 * the second bar). The indicators are re-implemented here on purpose, so the
 * test does not trust the simulator's own arithmetic.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatePreset, PRESETS, type Preset } from "../../dev/exchange-sim/klines.ts";
import { startExchangeSim, type ExchangeSimHandle } from "../../dev/exchange-sim/server.ts";

type Row = [number, string, string, string, string, ...unknown[]];

function ema(values: number[], n: number): number {
  if (values.length < n) throw new Error(`need ${n} values, got ${values.length}`);
  const alpha = 2 / (n + 1);
  let e = values.slice(0, n).reduce((s, v) => s + v, 0) / n;
  for (let i = n; i < values.length; i++) e = alpha * (values[i] as number) + (1 - alpha) * e;
  return e;
}

function atr(high: number[], low: number[], close: number[], n: number): number {
  const tr: number[] = [];
  for (let i = 1; i < close.length; i++) {
    const h = high[i] as number;
    const l = low[i] as number;
    const pc = close[i - 1] as number;
    tr.push(Math.max(h - l, Math.abs(h - pc), Math.abs(l - pc)));
  }
  if (tr.length < n) throw new Error("not enough bars for ATR");
  let a = tr.slice(0, n).reduce((s, v) => s + v, 0) / n;
  for (let i = n; i < tr.length; i++) a = (a * (n - 1) + (tr[i] as number)) / n;
  return a;
}

function indicators(closed: Row[]) {
  const close = closed.map((r) => Number(r[4]));
  const high = closed.map((r) => Number(r[2]));
  const low = closed.map((r) => Number(r[3]));
  const e20 = ema(close, 20);
  const e50 = ema(close, 50);
  return {
    trend: Math.abs(e20 - e50) / e50,
    atrPct: atr(high, low, close, 14) / (close[close.length - 1] as number),
  };
}

function regime({ trend, atrPct }: { trend: number; atrPct: number }): Preset {
  if (trend > 0.05 && atrPct < 0.02) return "TREND_STRONG";
  if (atrPct > 0.03 || trend < 0.01) return "CHOP";
  return "BASE";
}

function logReturns(rows: Row[]): number[] {
  const c = rows.map((r) => Number(r[4]));
  return c.slice(1).map((v, i) => Math.log(v / (c[i] as number)));
}

function pearson(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  const ma = a.slice(0, n).reduce((s, v) => s + v, 0) / n;
  const mb = b.slice(0, n).reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = (a[i] as number) - ma;
    const db = (b[i] as number) - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Comfortable margins around docs/contract.md §3's thresholds (trend 0.05 / 0.01, ATR% 0.02 / 0.03). */
function expectClearly(preset: Preset, m: { trend: number; atrPct: number }) {
  expect(regime(m)).toBe(preset);
  if (preset === "TREND_STRONG") {
    expect(m.trend).toBeGreaterThan(0.065);
    expect(m.atrPct).toBeLessThan(0.016);
  } else if (preset === "CHOP") {
    expect(m.atrPct).toBeGreaterThan(0.04);
  } else {
    expect(m.trend).toBeGreaterThan(0.015);
    expect(m.trend).toBeLessThan(0.04);
    expect(m.atrPct).toBeLessThan(0.018);
  }
}

describe("kline presets", () => {
  let sim: ExchangeSimHandle;
  beforeAll(async () => {
    sim = await startExchangeSim({ apiKey: "k", apiSecret: "s" });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  for (const preset of PRESETS) {
    it(`${preset}: the governor's view (limit 100, open candle dropped) is clearly ${preset}`, async () => {
      for (const [symbol, basePrice, direction] of [
        ["BTCUSDT", 60000, "up"],
        ["ETHUSDT", 3000, "down"],
        ["DOGEUSDT", 0.12, "up"],
        ["SOLUSDT", 150, "down"],
      ] as const) {
        const put = await fetch(`${sim.url}/__sim/klines/${symbol}`, {
          method: "PUT",
          body: JSON.stringify({ preset, interval: "1h", base_price: basePrice, direction }),
        });
        expect(put.status).toBe(200);
        const requested = sim.state.serverTime();
        const res = await fetch(`${sim.url}/fapi/v1/klines?symbol=${symbol}&interval=1h&limit=100`);
        const rows = (await res.json()) as Row[];
        expect(rows).toHaveLength(100);
        const open = rows[rows.length - 1] as Row;
        expect(open[6]).toBeGreaterThanOrEqual(requested); // still open when it was served
        const closed = rows.slice(0, -1);
        expectClearly(preset, indicators(closed));
      }
    });

    it(`${preset}: holds for every seed, both directions, 99 and 149 closed candles`, () => {
      const now = Date.now();
      for (let seed = 0; seed < 60; seed++) {
        for (const direction of ["up", "down"] as const) {
          const rows = generatePreset(
            { preset, count: 150, basePrice: 10 + seed * 37.5, direction, seed: `S${seed}` },
            "1h",
            now,
          ) as Row[];
          expectClearly(preset, indicators(rows.slice(0, -1)));
          expectClearly(preset, indicators(rows.slice(-100, -1)));
        }
      }
    });
  }

  it("is deterministic, and two symbols with the same preset are not correlated", () => {
    const now = Date.now();
    for (const preset of PRESETS) {
      const spec = { preset, count: 150, basePrice: 100, direction: "up" as const };
      const a = generatePreset({ ...spec, seed: "BTCUSDT" }, "1h", now) as Row[];
      const again = generatePreset({ ...spec, seed: "BTCUSDT" }, "1h", now) as Row[];
      const b = generatePreset({ ...spec, seed: "ETHUSDT" }, "1h", now) as Row[];
      expect(again).toEqual(a);
      const corr = pearson(logReturns(a.slice(-100, -1)), logReturns(b.slice(-100, -1)));
      expect(Math.abs(corr)).toBeLessThan(0.5);
    }
  });
});
