/**
 * report.json (the runs, in a fixed shape) and report.md (runs ranked by PnL
 * and by drawdown). Deterministic: no wall-clock time, runs in the order they
 * ran, reasons sorted, numbers rounded to fixed decimals.
 */
import type { KlineGap, KlineOverlap } from "./csv.ts";
import type { ParamValue } from "./gate.ts";
import type { Violation } from "./invariants.ts";
import type { RunResult } from "./run.ts";

export interface ReplayInputs {
  plans: {
    replayed: number;
    duplicates: number;
    not_execute: number;
    without_klines: number;
    outside_data: number;
  };
  /** ISO, UTC */
  from: string;
  to: string;
  klines: {
    interval: string;
    symbols: string[];
    files: number;
    gaps: KlineGap[];
    overlaps: KlineOverlap[];
  };
  universe: string[];
  balance: number;
  notional: number;
  leverage: number;
  apply_delay_s: number;
  starting_positions: number;
}

export interface RunReport {
  name: string;
  params: Record<string, ParamValue>;
  decisions: RunResult["decisions"];
  rotations: RunResult["rotations"];
  slots: RunResult["slots"];
  pnl: RunResult["pnl"];
  invariant_violations: Violation[];
}

export interface Report {
  inputs: ReplayInputs;
  runs: RunReport[];
}

/** Fixed decimals, and never -0. */
export function round(value: number, decimals: number): number {
  const rounded = Number(value.toFixed(decimals));
  return rounded === 0 ? 0 : rounded;
}

export function runReport(result: RunResult): RunReport {
  return {
    name: result.name,
    params: result.params,
    decisions: result.decisions,
    rotations: result.rotations,
    slots: {
      max_holders: result.slots.max_holders,
      mean_utilization: round(result.slots.mean_utilization, 4),
    },
    pnl: {
      realized: round(result.pnl.realized, 2),
      unrealized: round(result.pnl.unrealized, 2),
      max_drawdown: round(result.pnl.max_drawdown, 2),
      max_drawdown_pct: round(result.pnl.max_drawdown_pct, 4),
    },
    invariant_violations: result.invariant_violations,
  };
}

export function reportJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

const money = (value: number) => value.toFixed(2);
const percent = (value: number) => `${(value * 100).toFixed(2)} %`;
const total = (run: RunReport) => round(run.pnl.realized + run.pnl.unrealized, 2);

/** Stable ranking: ties keep the order the runs ran in. */
function ranked(runs: readonly RunReport[], better: (a: RunReport, b: RunReport) => number) {
  return runs.map((run, i) => ({ run, i })).sort((a, b) => better(a.run, b.run) || a.i - b.i);
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

function pnlTable(runs: readonly RunReport[]): string {
  const rows = ranked(runs, (a, b) => total(b) - total(a)).map(({ run }, i) => [
    String(i + 1),
    run.name,
    money(total(run)),
    money(run.pnl.realized),
    money(run.pnl.unrealized),
    money(run.pnl.max_drawdown),
    `${run.decisions.allow} / ${run.decisions.block}`,
    `${run.rotations.started} / ${run.rotations.completed} / ${run.rotations.timed_out}`,
    String(run.slots.max_holders),
    run.slots.mean_utilization.toFixed(2),
    String(run.invariant_violations.length),
  ]);
  return table(
    [
      "#",
      "run",
      "PnL",
      "realized",
      "unrealized",
      "max drawdown",
      "allow / block",
      "rotations started / completed / timed out",
      "max holders",
      "mean utilization",
      "violations",
    ],
    rows,
  );
}

function drawdownTable(runs: readonly RunReport[]): string {
  const rows = ranked(runs, (a, b) => a.pnl.max_drawdown - b.pnl.max_drawdown).map(({ run }, i) => [
    String(i + 1),
    run.name,
    money(run.pnl.max_drawdown),
    percent(run.pnl.max_drawdown_pct),
    money(total(run)),
  ]);
  return table(["#", "run", "max drawdown", "of peak equity", "PnL"], rows);
}

function runSection(run: RunReport): string {
  const params = Object.entries(run.params)
    .map(([name, value]) => `\`${name}=${value}\``)
    .join(", ");
  const reasons = Object.entries(run.decisions.by_reason).map(([reason, count]) => [
    `\`${reason}\``,
    String(count),
  ]);
  const parts = [
    `### ${run.name}`,
    "",
    `Settings: ${params}.`,
    "",
    `${run.decisions.total} decisions: ${run.decisions.allow} ALLOW, ${run.decisions.block} BLOCK.`,
    "",
    table(["reason", "plans"], reasons),
  ];
  for (const v of run.invariant_violations) {
    parts.push(
      "",
      `**Invariant violated** (${v.invariant}) at step ${v.step}, ${v.at}: ${v.message}. The run stopped there.`,
    );
  }
  return parts.join("\n");
}

function dataNotes(inputs: ReplayInputs): string {
  const { gaps, overlaps } = inputs.klines;
  const lines: string[] = [];
  for (const gap of gaps.slice(0, 50)) {
    lines.push(
      `- gap: ${gap.symbol} ${new Date(gap.from).toISOString()} – ${new Date(gap.to).toISOString()} (${gap.candles} candles missing)`,
    );
  }
  for (const o of overlaps.slice(0, 50)) {
    const where =
      o.files[0] === o.files[1] ? `twice in ${o.files[0]}` : `in ${o.files[0]} and ${o.files[1]}`;
    lines.push(
      `- overlap: ${o.symbol} ${o.candles} candles ${where}, ${o.conflicting} conflicting (the first file's kept)`,
    );
  }
  if (gaps.length > 50 || overlaps.length > 50) lines.push("- … (all of them in report.json)");
  return lines.length > 0 ? lines.join("\n") : "No gaps, no overlaps.";
}

export function reportMarkdown(report: Report): string {
  const { inputs, runs } = report;
  const p = inputs.plans;
  const gapCandles = inputs.klines.gaps.reduce((sum, g) => sum + g.candles, 0);
  const overlapCandles = inputs.klines.overlaps.reduce((sum, o) => sum + o.candles, 0);
  return `${[
    "# Replay report",
    "",
    `${p.replayed} plans from ${inputs.from} to ${inputs.to} on ${inputs.klines.symbols.length} symbols ` +
      `(${inputs.klines.interval} klines, ${inputs.klines.files} files). Balance ${money(inputs.balance)} USDT; ` +
      `a plan without notional enters ${money(inputs.notional)} USDT, without leverage ${inputs.leverage}×; ` +
      `rotation closes execute ${inputs.apply_delay_s} s after their close plan; ${inputs.starting_positions} starting positions.`,
    "",
    `Not replayed: ${p.duplicates} repeated plan_ids, ${p.not_execute} not EXECUTE, ` +
      `${p.without_klines} on symbols without klines, ${p.outside_data} outside the klines' time range. ` +
      `Klines: ${inputs.klines.gaps.length} gaps (${gapCandles} candles), ${inputs.klines.overlaps.length} overlaps (${overlapCandles} candles).`,
    "",
    "![equity and slot holders over time](equity.svg)",
    "",
    "## Ranked by PnL",
    "",
    "PnL = realized + unrealized at the end, USDT. Drawdown: largest fall of equity from its running peak.",
    "",
    pnlTable(runs),
    "",
    "## Ranked by drawdown (smallest first)",
    "",
    drawdownTable(runs),
    "",
    "## Runs",
    "",
    runs.map(runSection).join("\n\n"),
    "",
    "## Data notes",
    "",
    dataNotes(inputs),
    "",
    "## How the book is simulated",
    "",
    "Fills at the next candle's open (entries with the plan's notional and leverage; an entry on a held symbol adds to it, " +
      "an opposite side reduces or flips it, one-way mode); marks at the last closed candle's close; no fees, funding, " +
      "liquidations or margin refusals. `no-gate` opens every EXECUTE entry; `static-N` holds at most N symbols, without " +
      "regime or rotation. Mean utilization = mean slot holders at candle boundaries / the base slots (N for static-N).",
  ].join("\n")}\n`;
}
