/**
 * The kline CSV reader, on files shaped like Binance's public data archive
 * (data.binance.vision, USD-M futures klines): 12 columns, header row in
 * newer files only, one file per symbol and month.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { KlineFileError, readKlineDir } from "../../replay/csv.ts";
import { KLINE_HEADER } from "../../replay/generate.ts";

const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 0, 31, 22); // two candles before February

function row(openTime: number, close: number, extra = ""): string {
  const open = close - 1;
  return [
    openTime,
    open.toFixed(2),
    (close + 2).toFixed(2),
    (open - 2).toFixed(2),
    close.toFixed(2),
    "10.000",
    openTime + HOUR - 1,
    "1000.0",
    "42",
    "5.000",
    "500.0",
    extra || "0",
  ].join(",");
}

function rows(from: number, count: number, firstClose = 100): string[] {
  return Array.from({ length: count }, (_, i) => row(from + i * HOUR, firstClose + i));
}

let dirs: string[] = [];
function dirWith(files: Record<string, string[]>): string {
  const dir = mkdtempSync(join(tmpdir(), "replay-csv-"));
  dirs.push(dir);
  for (const [name, lines] of Object.entries(files)) {
    writeFileSync(join(dir, name), `${lines.join("\n")}\n`);
  }
  return dir;
}

afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

describe("replay kline CSV reader", () => {
  it("reads a file with the header row and one without it alike", () => {
    const set = readKlineDir(
      dirWith({
        "BTCUSDT-1h-2024-02.csv": [KLINE_HEADER, ...rows(T0, 3)],
        "ETHUSDT-1h-2024-02.csv": rows(T0, 3),
      }),
    );
    const btc = set.series.get("BTCUSDT")!;
    const eth = set.series.get("ETHUSDT")!;
    expect(set.interval).toBe("1h");
    expect(btc.openTime).toEqual([T0, T0 + HOUR, T0 + 2 * HOUR]);
    expect(btc.close).toEqual([100, 101, 102]);
    expect(eth).toEqual({ ...btc, symbol: "ETHUSDT" });
  });

  it("joins the files of one symbol by time, whatever their names' order", () => {
    const set = readKlineDir(
      dirWith({
        // "a" sorts first but holds the later month.
        "BTCUSDT-1h-a.csv": rows(T0 + 3 * HOUR, 2, 103),
        "BTCUSDT-1h-b.csv": [KLINE_HEADER, ...rows(T0, 3)],
      }),
    );
    const btc = set.series.get("BTCUSDT")!;
    expect(btc.openTime).toEqual([0, 1, 2, 3, 4].map((i) => T0 + i * HOUR));
    expect(btc.close).toEqual([100, 101, 102, 103, 104]);
    expect(set.gaps).toEqual([]);
    expect(set.overlaps).toEqual([]);
    expect(set.files).toEqual(["BTCUSDT-1h-a.csv", "BTCUSDT-1h-b.csv"]);
  });

  it("reports a gap with the first and last missing candle", () => {
    const set = readKlineDir(
      dirWith({ "BTCUSDT-1h-2024-02.csv": [...rows(T0, 2), ...rows(T0 + 5 * HOUR, 2, 105)] }),
    );
    expect(set.gaps).toEqual([
      { symbol: "BTCUSDT", from: T0 + 2 * HOUR, to: T0 + 4 * HOUR, candles: 3 },
    ]);
    expect(set.series.get("BTCUSDT")!.openTime).toHaveLength(4);
  });

  it("keeps an overlapping candle once, counting overlaps and conflicts per pair of files", () => {
    const set = readKlineDir(
      dirWith({
        "BTCUSDT-1h-1.csv": rows(T0, 3),
        // Overlaps the last two candles: one identical, one with another close.
        "BTCUSDT-1h-2.csv": [row(T0 + HOUR, 101), row(T0 + 2 * HOUR, 999), row(T0 + 3 * HOUR, 103)],
      }),
    );
    expect(set.overlaps).toEqual([
      {
        symbol: "BTCUSDT",
        files: ["BTCUSDT-1h-1.csv", "BTCUSDT-1h-2.csv"],
        candles: 2,
        conflicting: 1,
      },
    ]);
    // The first file's row is kept.
    expect(set.series.get("BTCUSDT")!.close).toEqual([100, 101, 102, 103]);
  });

  it("reads microsecond timestamps (Binance's spot archive since 2025) as milliseconds", () => {
    const micro = rows(T0, 2).map((line) => line.replace(/^(\d+)/, "$1000"));
    const set = readKlineDir(dirWith({ "BTCUSDT-1h-x.csv": micro }));
    expect(set.series.get("BTCUSDT")!.openTime).toEqual([T0, T0 + HOUR]);
  });

  it("names the file and line of a malformed row", () => {
    const dir = dirWith({
      "BTCUSDT-1h-x.csv": [KLINE_HEADER, ...rows(T0, 1), `${T0 + HOUR},abc,1,1,1,1`],
    });
    expect(() => readKlineDir(dir)).toThrow(KlineFileError);
    expect(() => readKlineDir(dir)).toThrow(/BTCUSDT-1h-x\.csv:3: column 2 "abc"/);
  });

  it("refuses file names without symbol and interval, and mixed intervals", () => {
    expect(() => readKlineDir(dirWith({ "btc.csv": rows(T0, 1) }))).toThrow(
      /\{SYMBOL\}-\{interval\}/,
    );
    expect(() =>
      readKlineDir(dirWith({ "BTCUSDT-1h-x.csv": rows(T0, 1), "ETHUSDT-15m-x.csv": rows(T0, 1) })),
    ).toThrow(/interval 1h, other files have 15m|interval 15m, other files have 1h/);
  });
});
