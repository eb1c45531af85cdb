/**
 * `npm run replay`: read the plan log and the klines, run the governor (once,
 * or once per grid point) and the baselines over them, write the reports.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError } from "../lib/errors.ts";
import { intervalMs, type KlineInterval } from "../lib/market/klines.ts";
import { noGate, staticSlots } from "./baselines.ts";
import type { StartingPosition } from "./book.ts";
import { KlineFileError, readKlineDir } from "./csv.ts";
import type { ParamValue } from "./gate.ts";
import { governorConfig, governorGate } from "./governor.ts";
import { GridError, gridPoints, parseGrid, type GridPoint } from "./grid.ts";
import { Market } from "./market.ts";
import { PlanFileError, readPlanFile } from "./plans.ts";
import { createProgress, type Progress } from "./progress.ts";
import { reportJson, reportMarkdown, runReport, type Report, type ReplayInputs } from "./report.ts";
import { runReplay, type MakeGate, type ReplaySetup, type RunResult } from "./run.ts";
import { startReplayStore } from "./store.ts";
import { equitySvg } from "./svg.ts";

export interface ReplayOptions {
  plans: string;
  klines: string;
  out: string;
  universe?: string[];
  balance: number;
  notional: number;
  leverage: number;
  /** seconds */
  applyDelay: number;
  positions?: string;
  /** GOV_* settings from --set */
  settings: Record<string, string>;
  grid?: string;
  baselines: boolean;
  progress?: Progress;
}

/** Inputs that cannot be replayed as given (exit code 2), naming the flag. */
export class ReplayInputError extends Error {
  override name = "ReplayInputError";
}

const PositionsSchema = z.array(
  z.object({
    symbol: z.string().regex(/^[A-Z0-9]{2,20}$/),
    positionAmt: z.number().finite(),
    entryPrice: z.number().positive().optional(),
    leverage: z.number().positive().max(125).optional(),
  }),
);

function readPositions(file: string | undefined): StartingPosition[] {
  if (file === undefined) return [];
  try {
    return PositionsSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  } catch (error) {
    const detail =
      error instanceof z.ZodError
        ? `${error.issues[0]!.path.join(".")}: ${error.issues[0]!.message}`
        : (error as Error).message;
    throw new ReplayInputError(`--positions ${file}: ${detail}`);
  }
}

interface GatedRun {
  name: string;
  settings: Record<string, string>;
  params: Record<string, ParamValue>;
  baseSlots: number;
}

/** The governor runs: one, or one per grid point; each config checked before anything starts. */
function gatedRuns(options: ReplayOptions, interval: KlineInterval): GatedRun[] {
  let points: GridPoint[] = [{ label: "", settings: {} }];
  try {
    if (options.grid !== undefined) points = gridPoints(parseGrid(options.grid));
  } catch (error) {
    if (error instanceof GridError) throw new ReplayInputError(`--grid: ${error.message}`);
    throw error;
  }
  return points.map((point) => {
    const settings = { ...options.settings, ...point.settings };
    let config;
    try {
      config = governorConfig(settings);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const where = point.label ? `--grid point ${point.label}` : "--set";
      // Name each bad setting with the value it was given.
      const issues = error.issues.map((issue) => {
        const name = issue.split(":")[0]!;
        return name in settings
          ? `${name}=${settings[name]}: ${issue.slice(name.length + 2)}`
          : issue;
      });
      throw new ReplayInputError(`${where}: ${issues.join("; ")}`);
    }
    const regimeMs = intervalMs(config.regime.interval as KlineInterval);
    const dataMs = intervalMs(interval);
    if (regimeMs < dataMs || regimeMs % dataMs !== 0) {
      throw new ReplayInputError(
        `--klines: ${interval} klines cannot serve GOV_REGIME_INTERVAL=${config.regime.interval}`,
      );
    }
    return {
      name: point.label ? `governor ${point.label}` : "governor",
      settings,
      baseSlots: config.slots.BASE,
      params: {
        GOV_ACTIVE_SLOTS_BASE: config.slots.BASE,
        GOV_ACTIVE_SLOTS_TREND_STRONG: config.slots.TREND_STRONG,
        GOV_ACTIVE_SLOTS_CHOP: config.slots.CHOP,
        GOV_ROTATION_THRESHOLD: config.rotationThreshold,
        GOV_MAX_CORRELATION: config.maxCorrelation,
        GOV_MAX_MARGIN_USAGE_PCT: config.maxMarginUsagePct,
        GOV_ROTATION_LOCK_TTL: config.ttl.lock,
        GOV_ROTATION_MAX_PER_HOUR: config.rotationMaxPerHour,
        GOV_MODE: config.mode,
        ...settings,
      },
    };
  });
}

function load(options: ReplayOptions) {
  let klines;
  let log;
  try {
    klines = readKlineDir(options.klines);
  } catch (error) {
    if (error instanceof KlineFileError) throw new ReplayInputError(`--klines: ${error.message}`);
    throw error;
  }
  try {
    log = readPlanFile(options.plans);
  } catch (error) {
    if (error instanceof PlanFileError) throw new ReplayInputError(`--plans: ${error.message}`);
    throw error;
  }
  const market = new Market(klines);
  const span = market.span();
  let withoutKlines = 0;
  let outside = 0;
  const plans = log.plans.filter((plan) => {
    if (!market.has(plan.symbol)) withoutKlines += 1;
    else if (plan.ts < span.from || plan.ts >= span.to) outside += 1;
    else return true;
    return false;
  });
  if (plans.length === 0) {
    throw new ReplayInputError(
      `--plans: no plan to replay (${withoutKlines} on symbols without klines, ${outside} outside ` +
        `${new Date(span.from).toISOString()} – ${new Date(span.to).toISOString()})`,
    );
  }
  const start = Math.floor(plans[0]!.ts / market.step) * market.step;
  const universe = options.universe ?? [...market.symbols];
  const setup: ReplaySetup = {
    market,
    plans,
    start,
    end: span.to,
    balance: options.balance,
    notional: options.notional,
    leverage: options.leverage,
    applyDelayMs: options.applyDelay * 1000,
    positions: readPositions(options.positions),
  };
  const inputs: ReplayInputs = {
    plans: {
      replayed: plans.length,
      duplicates: log.duplicates,
      not_execute: log.notExecute,
      without_klines: withoutKlines,
      outside_data: outside,
    },
    from: new Date(start).toISOString(),
    to: new Date(span.to).toISOString(),
    klines: {
      interval: klines.interval,
      symbols: [...market.symbols],
      files: klines.files.length,
      gaps: klines.gaps,
      overlaps: klines.overlaps,
    },
    universe,
    balance: options.balance,
    notional: options.notional,
    leverage: options.leverage,
    apply_delay_s: options.applyDelay,
    starting_positions: setup.positions.length,
  };
  return { market, setup, inputs, universe };
}

/** The governor's decision log lines are for operators; the replay's record is the report. */
async function withoutGovernorLogs<T>(work: () => Promise<T>): Promise<T> {
  const original = console.log;
  console.log = (...args: unknown[]) => {
    if (typeof args[0] === "string" && args[0].startsWith('{"msg":"governor.')) return;
    original(...args);
  };
  try {
    return await work();
  } finally {
    console.log = original;
  }
}

export async function replay(options: ReplayOptions): Promise<Report> {
  const { market, setup, inputs, universe } = load(options);
  const gated = gatedRuns(options, market.interval);
  const runs: { name: string; make: MakeGate }[] = [];
  const store = await startReplayStore();
  try {
    for (const run of gated) {
      runs.push({
        name: run.name,
        make: (book, now) => governorGate({ ...run, store, market, book, universe, now }),
      });
    }
    if (options.baselines) {
      runs.push({ name: "no-gate", make: async () => noGate(gated[0]!.baseSlots) });
      for (const slots of [...new Set(gated.map((run) => run.baseSlots))]) {
        runs.push({ name: `static-${slots}`, make: async (book) => staticSlots(slots, book) });
      }
    }
    const progress = options.progress ?? createProgress();
    const results: RunResult[] = [];
    await withoutGovernorLogs(async () => {
      for (const [i, run] of runs.entries()) {
        progress.run(i + 1, runs.length, run.name);
        results.push(await runReplay(setup, run.make, (f) => progress.update(f)));
        progress.done();
      }
    });
    const report: Report = { inputs, runs: results.map(runReport) };
    mkdirSync(options.out, { recursive: true });
    writeFileSync(join(options.out, "report.json"), reportJson(report));
    writeFileSync(join(options.out, "report.md"), reportMarkdown(report));
    writeFileSync(join(options.out, "equity.svg"), equitySvg(results));
    return report;
  } finally {
    await store.stop();
  }
}
