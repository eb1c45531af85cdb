/**
 * Replays end to end: the governor's own evaluation and sweep on a private
 * redis-server (the REST bridge's protocol, in-process), over generated klines and plans.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noGate } from "../../replay/baselines.ts";
import { readKlineDir } from "../../replay/csv.ts";
import type { Gate } from "../../replay/gate.ts";
import { writeDataset } from "../../replay/generate.ts";
import { Market } from "../../replay/market.ts";
import { parsePlanLog, readPlanFile } from "../../replay/plans.ts";
import { replay, ReplayInputError, type ReplayOptions } from "../../replay/replay.ts";
import type { Report } from "../../replay/report.ts";
import { runReplay } from "../../replay/run.ts";

const START = Date.UTC(2024, 2, 1);
let dir: string;
let data: { klines: string; plans: string };
let report: Report;

function options(out: string, extra: Partial<ReplayOptions> = {}): ReplayOptions {
  return {
    plans: data.plans,
    klines: data.klines,
    out: join(dir, out),
    balance: 10_000,
    notional: 1000,
    leverage: 5,
    applyDelay: 5,
    settings: {},
    baselines: true,
    ...extra,
  };
}

const read = (out: string, file: string) => readFileSync(join(dir, out, file), "utf8");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "replay-run-"));
  data = writeDataset(join(dir, "data"), {
    symbols: 6,
    start: START,
    days: 7,
    plans: 120,
    seed: 3,
  });
  report = await replay(options("a"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("replay end to end", () => {
  it("writes report.json with one run per configuration, in the documented shape", () => {
    const json = JSON.parse(read("a", "report.json"));
    expect(json).toEqual(report);
    expect(json.runs.map((r: any) => r.name)).toEqual(["governor", "no-gate", "static-4"]);
    for (const run of json.runs) {
      expect(Object.keys(run)).toEqual([
        "name",
        "params",
        "decisions",
        "rotations",
        "slots",
        "pnl",
        "invariant_violations",
      ]);
      expect(Object.keys(run.decisions)).toEqual(["total", "allow", "block", "by_reason"]);
      expect(Object.keys(run.rotations)).toEqual(["started", "completed", "timed_out"]);
      expect(Object.keys(run.slots)).toEqual(["max_holders", "mean_utilization"]);
      expect(Object.keys(run.pnl)).toEqual(
        expect.arrayContaining(["realized", "unrealized", "max_drawdown"]),
      );
      expect(run.decisions.total).toBe(120);
      expect(run.decisions.allow + run.decisions.block).toBe(120);
      const byReason = Object.values(run.decisions.by_reason) as number[];
      expect(byReason.reduce((a, b) => a + b, 0)).toBe(120);
      expect(run.invariant_violations).toEqual([]);
      expect(run.pnl.realized).not.toBe(0);
      expect(run.pnl.max_drawdown).toBeGreaterThan(0);
    }
    expect(json.inputs.plans.replayed).toBe(120);
    expect(json.inputs.klines).toMatchObject({ interval: "1h", files: 12, gaps: [], overlaps: [] });
  });

  it("starts and completes rotations in the governor run when slots are full", () => {
    const governor = report.runs[0]!;
    expect(governor.rotations.started).toBeGreaterThan(0);
    expect(governor.rotations.completed).toBe(governor.rotations.started);
    expect(governor.decisions.by_reason.active_slots_rotation_complete).toBeGreaterThan(0);
    expect(governor.slots.max_holders).toBeLessThanOrEqual(6);
    expect(governor.params).toMatchObject({
      GOV_ACTIVE_SLOTS_BASE: 4,
      GOV_ROTATION_THRESHOLD: 0.15,
    });
  });

  it("opens every EXECUTE entry in no-gate and holds at most N symbols in static-N", () => {
    const entries = parsePlanLog(readFileSync(data.plans, "utf8")).plans.filter(
      (p) => p.action === "OPEN",
    ).length;
    const [, noGate, staticN] = report.runs;
    expect(noGate!.decisions.by_reason).toEqual({
      baseline_close: 120 - entries,
      baseline_no_gate: entries,
    });
    expect(noGate!.slots.max_holders).toBe(6);
    expect(staticN!.slots.max_holders).toBe(4);
    expect(staticN!.decisions.by_reason.baseline_slots_full).toBeGreaterThan(0);
  });

  it("writes report.md ranked by PnL and by drawdown, and equity.svg with every run", () => {
    const md = read("a", "report.md");
    expect(md).toContain("## Ranked by PnL");
    expect(md).toContain("## Ranked by drawdown");
    const pnlRows = md
      .split("## Ranked by PnL")[1]!
      .split("##")[0]!
      .match(/^\| \d+ \| [^|]+/gm);
    expect(pnlRows?.map((r) => r.split("|")[2]!.trim()).sort()).toEqual(
      ["governor", "no-gate", "static-4"].sort(),
    );
    const svg = read("a", "equity.svg");
    expect(svg.startsWith("<svg")).toBe(true);
    // Per run: an equity curve and a holders line.
    expect(svg.match(/<polyline /g)).toHaveLength(6);
    for (const name of ["governor", "no-gate", "static-4"])
      expect(svg).toContain(`>${name}</text>`);
  });

  it("gives byte-identical reports for the same inputs", async () => {
    await replay(options("b"));
    for (const file of ["report.json", "report.md", "equity.svg"]) {
      expect(read("b", file)).toBe(read("a", file));
    }
  });

  it("runs every grid combination, each against its own static-N", async () => {
    const grid = await replay(
      options("grid", { grid: "base=3,5 chop=1,4", settings: { GOV_ROTATION_THRESHOLD: "0.1" } }),
    );
    expect(grid.runs.map((r) => r.name)).toEqual([
      "governor base=3 chop=1",
      "governor base=3 chop=4",
      "governor base=5 chop=1",
      "governor base=5 chop=4",
      "no-gate",
      "static-3",
      "static-5",
    ]);
    expect(grid.runs[1]!.params).toMatchObject({
      GOV_ACTIVE_SLOTS_BASE: "3",
      GOV_ACTIVE_SLOTS_CHOP: "4",
      GOV_ROTATION_THRESHOLD: "0.1",
    });
    // The data is mostly CHOP: one CHOP slot holds far fewer positions than four.
    expect(grid.runs[0]!.decisions).not.toEqual(grid.runs[1]!.decisions);
    expect(grid.runs[0]!.slots.max_holders).toBeLessThan(grid.runs[1]!.slots.max_holders);
  });

  it("blocks plans on symbols left out of --universe, while the baselines still trade them", async () => {
    const narrow = await replay(
      options("universe", { universe: ["BTCUSDT", "ETHUSDT", "SOLUSDT"] }),
    );
    const outside = readPlanFile(data.plans).plans.filter(
      (p) => !["BTCUSDT", "ETHUSDT", "SOLUSDT"].includes(p.symbol),
    );
    const entriesOutside = outside.filter((p) => p.action === "OPEN").length;
    expect(narrow.inputs.universe).toEqual(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    expect(narrow.runs[0]!.decisions.by_reason.active_slots_not_in_universe).toBe(entriesOutside);
    expect(narrow.runs[0]!.slots.max_holders).toBeLessThanOrEqual(3);
    expect(narrow.runs[1]!.slots.max_holders).toBe(6);
  });

  it("times every rotation out when the close takes longer than GOV_ROTATION_LOCK_TTL", async () => {
    const slow = await replay(
      options("slow", {
        applyDelay: 90,
        settings: { GOV_ROTATION_LOCK_TTL: "30" },
        baselines: false,
      }),
    );
    const { rotations, decisions } = slow.runs[0]!;
    expect(rotations.started).toBeGreaterThan(0);
    expect(rotations.timed_out).toBe(rotations.started);
    expect(rotations.completed).toBe(0);
    expect(decisions.by_reason.active_slots_rotation_timeout).toBe(rotations.started);
  });
});

describe("replay starting book", () => {
  it("puts --positions on the book before the first plan, as the exchange shows them", async () => {
    const market = new Market(readKlineDir(data.klines));
    const plans = readPlanFile(data.plans).plans;
    const seen: string[][] = [];
    await runReplay(
      {
        market,
        plans: plans.slice(0, 1),
        start: Math.floor(plans[0]!.ts / market.step) * market.step,
        end: market.span().to,
        balance: 10_000,
        notional: 1000,
        leverage: 5,
        applyDelayMs: 5000,
        positions: [
          { symbol: "BTCUSDT", positionAmt: 0.05, entryPrice: 42000 },
          { symbol: "SOLUSDT", positionAmt: -10, leverage: 3 },
        ],
      },
      async (book) => ({
        ...noGate(4),
        async evaluate(plan) {
          seen.push([...book.positions.values()].map((p) => `${p.symbol}:${p.amt}:${p.leverage}`));
          return noGate(4).evaluate(plan, 0);
        },
      }),
    );
    expect(seen).toEqual([["BTCUSDT:0.05:5", "SOLUSDT:-10:3"]]);
  });

  it("refuses a --positions file that is not a list of positions, naming the field", async () => {
    const file = join(dir, "positions.json");
    writeFileSync(file, JSON.stringify([{ symbol: "BTCUSDT", positionAmt: "lots" }]));
    await expect(replay(options("never", { positions: file }))).rejects.toThrow(
      new ReplayInputError(
        `--positions ${file}: 0.positionAmt: Invalid input: expected number, received string`,
      ),
    );
  });
});

describe("replay invariants", () => {
  it("stops a run at the step that put holders above the cap, and reports it", async () => {
    const market = new Market(readKlineDir(data.klines));
    const plans = readPlanFile(data.plans).plans;
    // A gate that grants every entry but claims a cap of 2 slots.
    const leaky = (): Gate => ({
      name: "leaky",
      params: {},
      baseSlots: 2,
      fixedCap: 2,
      gated: true,
      async evaluate(plan) {
        return {
          decisions: [
            { plan_id: plan.plan_id, symbol: plan.symbol, decision: "ALLOW", reason: "leak" },
          ],
          rotations: [],
          closeOrders: [],
          reserved: [],
          claimed: [],
          cancelledOrders: [],
          locksLive: 0,
        };
      },
      async sweep() {
        throw new Error("no locks, no sweep");
      },
      async confirm() {},
    });
    const result = await runReplay(
      {
        market,
        plans,
        start: Math.floor(plans[0]!.ts / market.step) * market.step,
        end: market.span().to,
        balance: 10_000,
        notional: 1000,
        leverage: 5,
        applyDelayMs: 5000,
        positions: [],
      },
      async () => leaky(),
    );
    expect(result.invariant_violations).toHaveLength(1);
    const [violation] = result.invariant_violations;
    expect(violation).toMatchObject({ invariant: "holders_within_desired" });
    expect(violation!.message).toMatch(/granted with 3 holders for 2 slots/);
    // The run stopped there: later plans were never decided.
    expect(result.decisions.total).toBeLessThan(plans.length);
    expect(result.decisions.total).toBe(violation!.step);
  });
});
