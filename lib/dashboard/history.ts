/**
 * The dashboard's history charts (`GET /v1/history` as inline SVG): decisions
 * per minute by outcome, slot holders against desired slots, and rotations
 * started and ended. No library, no CDN.
 *
 * Like ./render.ts, every function here is shipped to the page as source
 * (`HISTORY_RENDERERS`, spliced into the board's renderers), so each is a
 * top-level declaration that uses only its arguments, the others listed in
 * `HISTORY_RENDERERS` and JavaScript built-ins. Nothing here prints text from
 * the data other than numbers it formats itself, so no escaping is needed.
 */
import type { History } from "../metrics/history.ts";

/** Minutes per bar: every minute up to 2 h, then at most 240 bars (6 min each over 24 h). */
export function historyBinMinutes(minutes: number): number {
  if (minutes <= 120) return 1;
  if (minutes <= 360) return 2;
  return Math.ceil(minutes / 240);
}

/** Sums of consecutive `size`-minute groups. */
export function binSums(values: readonly number[], size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i += size) {
    let sum = 0;
    for (let j = i; j < Math.min(values.length, i + size); j++) sum += values[j] ?? 0;
    out.push(sum);
  }
  return out;
}

/**
 * The level at the end of each group: its last known value, else the one
 * before it (a level holds until a decision reports another); null before the
 * first known value.
 */
export function binLevels(values: readonly (number | null)[], size: number): (number | null)[] {
  const out: (number | null)[] = [];
  let last: number | null = null;
  for (let i = 0; i < values.length; i += size) {
    for (let j = i; j < Math.min(values.length, i + size); j++) {
      const v = values[j];
      if (typeof v === "number") last = v;
    }
    out.push(last);
  }
  return out;
}

/** The smallest 1, 2 or 5 × 10^k at least `value` (at least 1). */
export function niceMax(value: number): number {
  if (!(value > 1)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

/** A number for an axis or a legend: integers as they are, others with one or two decimals. */
export function axisNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return value < 10 ? value.toFixed(2).replace(/0$/, "") : value.toFixed(1);
}

/** hh:mm UTC of a unix ms instant. */
export function hhmm(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

/**
 * A chart's SVG: frame, grid lines and y labels at 0, half and `yMax` (or
 * ±`yMax` around a middle zero line when `mirrored`), five time labels, and the
 * marks in `body` (drawn in the plot area: x from 40 to 412, y from 10 to 140).
 */
export function chartSvg(
  history: History,
  yMax: number,
  mirrored: boolean,
  body: string,
  label: string,
): string {
  let grid = "";
  const rows = mirrored
    ? [
        [10, `+${axisNumber(yMax)}`],
        [75, "0"],
        [140, `−${axisNumber(yMax)}`],
      ]
    : [
        [10, axisNumber(yMax)],
        [75, axisNumber(yMax / 2)],
        [140, "0"],
      ];
  for (const [y, text] of rows) {
    grid +=
      `<line x1="40" x2="412" y1="${y}" y2="${y}" class="grid${text === "0" ? " zero" : ""}"/>` +
      `<text x="35" y="${Number(y) + 4}" class="ylab">${text}</text>`;
  }
  let ticks = "";
  for (let i = 0; i <= 4; i++) {
    const x = 40 + (372 * i) / 4;
    const at = history.start_ms + ((history.end_ms - history.start_ms) * i) / 4;
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
    ticks +=
      `<line x1="${x}" x2="${x}" y1="140" y2="144" class="tick"/>` +
      `<text x="${x}" y="157" class="xlab" text-anchor="${anchor}">${i === 4 ? "now" : hhmm(at)}</text>`;
  }
  return (
    `<svg viewBox="0 0 420 162" role="img" aria-label="${label}">` + `${grid}${ticks}${body}</svg>`
  );
}

/** Stacked bars, one per bin: `series` = [values per bin, css class][], bottom first. */
export function stackedBars(
  series: [number[], string][],
  yMax: number,
  zeroY: number,
  height: number,
  direction: number,
): string {
  const bins = series[0]?.[0].length ?? 0;
  const width = 372 / Math.max(1, bins);
  const gap = width > 3 ? width * 0.15 : 0;
  let out = "";
  for (let i = 0; i < bins; i++) {
    let base = 0;
    for (const [values, cls] of series) {
      const v = values[i] ?? 0;
      if (v <= 0) continue;
      const y0 = zeroY - (direction * base * height) / yMax;
      const y1 = zeroY - (direction * (base + v) * height) / yMax;
      const top = Math.min(y0, y1);
      out +=
        `<rect x="${(40 + i * width + gap / 2).toFixed(2)}" y="${top.toFixed(2)}" ` +
        `width="${(width - gap).toFixed(2)}" height="${Math.max(0.6, Math.abs(y1 - y0)).toFixed(2)}" class="${cls}"/>`;
      base += v;
    }
  }
  return out;
}

/** A step line through the levels (null: not drawn), in a plot 130 high from y=10, ending in a dot. */
export function stepLine(levels: readonly (number | null)[], yMax: number, cls: string): string {
  const width = 372 / Math.max(1, levels.length);
  let d = "";
  let drawing = false;
  levels.forEach((level, i) => {
    if (level === null) {
      drawing = false;
      return;
    }
    const y = (140 - (Math.min(level, yMax) * 130) / yMax).toFixed(2);
    const x0 = (40 + i * width).toFixed(2);
    const x1 = (40 + (i + 1) * width).toFixed(2);
    d += drawing ? `V${y}H${x1}` : `M${x0} ${y}H${x1}`;
    drawing = true;
  });
  if (!d) return "";
  // A dot at the latest level: visible even when a single minute is known.
  let last = levels.length - 1;
  while (last > 0 && levels[last] === null) last--;
  const y = 140 - (Math.min(levels[last] ?? 0, yMax) * 130) / yMax;
  return (
    `<path d="${d}" class="${cls}"/>` +
    `<circle cx="${(40 + (last + 1) * width).toFixed(2)}" cy="${y.toFixed(2)}" r="3" class="${cls}"/>`
  );
}

/** A legend: [css class, label, total] entries. */
export function chartLegend(entries: [string, string, string][]): string {
  return (
    `<ul class="legend">` +
    entries
      .map(
        ([cls, name, total]) =>
          `<li><i class="sw ${cls}"></i>${name} <b class="n">${total}</b></li>`,
      )
      .join("") +
    `</ul>`
  );
}

/** Decisions per minute by outcome, stacked (a bin's mean per minute when it spans several). */
export function renderDecisionsChart(history: History): string {
  const size = historyBinMinutes(history.decisions.allow.length);
  // No named inner functions (see the file's comment): the mapping is written out.
  const series: [number[], string][] = (
    [
      [history.decisions.allow, "allow"],
      [history.decisions.block, "block"],
      [history.decisions.wait, "wait"],
      [history.decisions.unavailable, "unavailable"],
    ] as [number[], string][]
  ).map(([values, cls]) => [binSums(values, size).map((v) => v / size), cls]);
  let peak = 0;
  for (let i = 0; i < series[0]![0].length; i++) {
    peak = Math.max(
      peak,
      series.reduce((sum, [values]) => sum + (values[i] ?? 0), 0),
    );
  }
  const yMax = niceMax(peak);
  const t = history.totals.decisions;
  const note = size > 1 ? ` <small>(mean of ${size}-minute bars)</small>` : "";
  return (
    `<figure class="chart" id="chart-decisions"><figcaption>Decisions per minute${note}</figcaption>` +
    chartSvg(history, yMax, false, stackedBars(series, yMax, 140, 130, 1), "decisions per minute") +
    chartLegend([
      ["allow", "ALLOW", String(t.allow)],
      ["block", "BLOCK", String(t.block)],
      ["wait", "waiting", String(t.wait)],
      ["unavailable", "unavailable", String(t.unavailable)],
    ]) +
    `</figure>`
  );
}

/** Slot holders against desired slots, as the decisions reported them. */
export function renderSlotsChart(history: History): string {
  const size = historyBinMinutes(history.slots.holders.length);
  const holders = binLevels(history.slots.holders, size);
  const desired = binLevels(history.slots.desired, size);
  let peak = 0;
  for (const v of [...holders, ...desired]) if (typeof v === "number") peak = Math.max(peak, v);
  const yMax = Math.max(2, Math.ceil((peak + 1) / 2) * 2);
  const body = stepLine(desired, yMax, "desired") + stepLine(holders, yMax, "holders");
  return (
    `<figure class="chart" id="chart-slots"><figcaption>Slot holders against desired</figcaption>` +
    chartSvg(history, yMax, false, body, "slot holders and desired slots") +
    chartLegend([
      ["holders", "holders now", String(holders[holders.length - 1] ?? "—")],
      ["desired", "desired now", String(desired[desired.length - 1] ?? "—")],
    ]) +
    `</figure>`
  );
}

/** Rotations started (up) and ended (down, by outcome) per bar. */
export function renderRotationsChart(history: History): string {
  const size = historyBinMinutes(history.rotations.started.length);
  const started = binSums(history.rotations.started, size);
  const ends: [number[], string][] = [
    [binSums(history.rotations.completed, size), "completed"],
    [binSums(history.rotations.not_granted, size), "not-granted"],
    [binSums(history.rotations.timed_out, size), "timed-out"],
  ];
  let peak = Math.max(0, ...started);
  for (let i = 0; i < started.length; i++) {
    peak = Math.max(
      peak,
      ends.reduce((sum, [values]) => sum + (values[i] ?? 0), 0),
    );
  }
  const yMax = niceMax(peak);
  const t = history.totals.rotations;
  const per = size > 1 ? ` <small>(per ${size} minutes)</small>` : "";
  const body =
    stackedBars([[started, "started"]], yMax, 75, 65, 1) + stackedBars(ends, yMax, 75, 65, -1);
  return (
    `<figure class="chart" id="chart-rotations"><figcaption>Rotations started ↑ and ended ↓${per}</figcaption>` +
    chartSvg(history, yMax, true, body, "rotations started and ended") +
    chartLegend([
      ["started", "started", String(t.started)],
      ["completed", "completed", String(t.completed)],
      ["not-granted", "not granted", String(t.not_granted)],
      ["timed-out", "timed out", String(t.timed_out)],
    ]) +
    `</figure>`
  );
}

/** The history section: the window's three charts and the window switch. */
export function renderHistory(history: History): string {
  const windows = ["1h", "6h", "24h"];
  const buttons = windows
    .map(
      (w) =>
        `<button type="button" data-window="${w}"${w === history.window ? ' class="on" aria-pressed="true"' : ' aria-pressed="false"'}>${w}</button>`,
    )
    .join("");
  const shown = windows.includes(history.window) ? history.window : "";
  const t = history.totals.decisions;
  const quiet = t.allow + t.block + t.wait + t.unavailable === 0;
  return (
    `<section id="history"><h2>Last ${shown} <span class="hint">UTC · per minute · ` +
    `<span class="switch" role="group" aria-label="window">${buttons}</span></span></h2>` +
    (quiet
      ? `<p class="empty-note">No decisions in the last ${shown}: each plan the governor decides adds to these charts.</p>`
      : "") +
    `<div class="charts">${renderDecisionsChart(history)}${renderSlotsChart(history)}${renderRotationsChart(history)}</div>` +
    `</section>`
  );
}

/** Everything `renderHistory` calls: shipped to the page with the board's renderers. */
export const HISTORY_RENDERERS = [
  historyBinMinutes,
  binSums,
  binLevels,
  niceMax,
  axisNumber,
  hhmm,
  chartSvg,
  stackedBars,
  stepLine,
  chartLegend,
  renderDecisionsChart,
  renderSlotsChart,
  renderRotationsChart,
  renderHistory,
];
