/**
 * Report formatting: fixed decimals, stable rankings, the chart's shape, the
 * progress bar on a terminal and its silence elsewhere.
 */
import { describe, expect, it } from "vitest";
import { createProgress } from "../../replay/progress.ts";
import { reportMarkdown, round, type Report, type RunReport } from "../../replay/report.ts";
import { equitySvg } from "../../replay/svg.ts";

function run(name: string, realized: number, drawdown: number): RunReport {
  return {
    name,
    params: {},
    decisions: { total: 1, allow: 1, block: 0, by_reason: { r: 1 } },
    rotations: { started: 0, completed: 0, timed_out: 0 },
    slots: { max_holders: 1, mean_utilization: 0.5 },
    pnl: { realized, unrealized: 0, max_drawdown: drawdown, max_drawdown_pct: drawdown / 10_000 },
    invariant_violations: [],
  };
}

const inputs: Report["inputs"] = {
  plans: { replayed: 1, duplicates: 0, not_execute: 0, without_klines: 0, outside_data: 0 },
  from: "2024-03-01T00:00:00.000Z",
  to: "2024-03-02T00:00:00.000Z",
  klines: { interval: "1h", symbols: ["BTCUSDT"], files: 1, gaps: [], overlaps: [] },
  universe: ["BTCUSDT"],
  balance: 10_000,
  notional: 1000,
  leverage: 5,
  apply_delay_s: 5,
  starting_positions: 0,
};

function rankedNames(md: string, heading: string): string[] {
  const section = md.split(heading)[1]!.split("\n## ")[0]!;
  return [...section.matchAll(/^\| \d+ \| ([^|]+) \|/gm)].map((m) => m[1]!.trim());
}

describe("replay report", () => {
  it("rounds to fixed decimals and never writes -0", () => {
    expect(round(1.005, 2)).toBe(1);
    expect(round(-0.0001, 2)).toBe(0);
    expect(Object.is(round(-0.0001, 2), 0)).toBe(true);
    expect(round(1234.5678, 2)).toBe(1234.57);
  });

  it("ranks by PnL (highest first) and by drawdown (smallest first), ties in run order", () => {
    const md = reportMarkdown({
      inputs,
      runs: [run("a", 10, 50), run("b", 30, 80), run("c", 10, 20)],
    });
    expect(rankedNames(md, "## Ranked by PnL")).toEqual(["b", "a", "c"]);
    expect(rankedNames(md, "## Ranked by drawdown")).toEqual(["c", "a", "b"]);
  });

  it("draws an equity and a holders line per run, thinned to at most 800 points", () => {
    const at = Array.from({ length: 5000 }, (_, i) => i * 3_600_000);
    const curve = { at, equity: at.map((_, i) => 10_000 + i), holders: at.map((_, i) => i % 4) };
    const svg = equitySvg([
      { name: "governor <a&b>", curve },
      { name: "no-gate", curve },
    ]);
    const lines = [...svg.matchAll(/points="([^"]*)"/g)].map((m) => m[1]!.split(" ").length);
    expect(lines).toHaveLength(4);
    expect(Math.max(...lines)).toBeLessThanOrEqual(1600);
    expect(lines[0]).toBeLessThanOrEqual(800);
    expect(svg).toContain("governor &lt;a&amp;b&gt;");
  });
});

describe("replay progress", () => {
  function stream(isTTY: boolean) {
    const written: string[] = [];
    return {
      written,
      stream: { isTTY, columns: 80, write: (text: string) => written.push(text) } as never,
    };
  }

  it("draws a bar on a terminal", () => {
    const tty = stream(true);
    const progress = createProgress(tty.stream);
    progress.run(1, 3, "governor");
    progress.done();
    expect(tty.written.join("")).toContain(
      "run 1/3 governor [------------------------------]   0%",
    );
    expect(tty.written.join("")).toContain("[##############################] 100%");
  });

  it("writes nothing when stderr is not a terminal", () => {
    const pipe = stream(false);
    const progress = createProgress(pipe.stream);
    progress.run(1, 1, "governor");
    progress.update(0.5);
    progress.done();
    expect(pipe.written).toEqual([]);
  });
});
