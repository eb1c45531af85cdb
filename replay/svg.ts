/**
 * equity.svg: the equity curve of every run (top) and its slot holders over
 * time (bottom), inline SVG with no library. Series are thinned to at most
 * MAX_POINTS points (the last sample of each stretch for equity, the most
 * holders of each stretch), coordinates written with one decimal: the same
 * runs always give the same bytes.
 */
import type { RunResult } from "./run.ts";

const WIDTH = 960;
const LEFT = 70;
const RIGHT = 20;
const EQUITY = { top: 40, height: 300 };
const HOLDERS = { top: 390, height: 140 };
const LEGEND_TOP = 560;
const LEGEND_ROW = 18;
const MAX_POINTS = 800;
const COLORS = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

type Curve = RunResult["curve"];

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const fixed = (value: number) => value.toFixed(1);

/** Indexes of the samples kept: the last of each of ≤ MAX_POINTS stretches. */
function thin(length: number): number[][] {
  const stretch = Math.max(1, Math.ceil(length / MAX_POINTS));
  const groups: number[][] = [];
  for (let i = 0; i < length; i += stretch) {
    groups.push(Array.from({ length: Math.min(stretch, length - i) }, (_, k) => i + k));
  }
  return groups;
}

function niceTicks(min: number, max: number, count: number): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) ticks.push(v);
  return ticks;
}

function axisLabel(value: number): string {
  return Math.abs(value) >= 1000 ? `${(value / 1000).toFixed(1)}k` : value.toFixed(0);
}

export function equitySvg(runs: readonly Pick<RunResult, "name" | "curve">[]): string {
  const curves: Curve[] = runs.map((r) => r.curve);
  const first = curves.find((c) => c.at.length > 0);
  const t0 = first?.at[0] ?? 0;
  const t1 = Math.max(t0 + 1, ...curves.map((c) => c.at.at(-1) ?? t0));
  let lo = Infinity;
  let hi = -Infinity;
  let maxHolders = 1;
  for (const c of curves) {
    for (const v of c.equity) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    for (const h of c.holders) maxHolders = Math.max(maxHolders, h);
  }
  if (lo > hi) [lo, hi] = [0, 1];
  const pad = (hi - lo) * 0.05 || 1;
  const [yMin, yMax] = [lo - pad, hi + pad];
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (t: number) => LEFT + ((t - t0) / (t1 - t0)) * plotWidth;
  const yEquity = (v: number) => EQUITY.top + EQUITY.height * (1 - (v - yMin) / (yMax - yMin));
  const yHolders = (v: number) => HOLDERS.top + HOLDERS.height * (1 - v / maxHolders);
  const legendRows = Math.ceil(runs.length / 3);
  const height = LEGEND_TOP + legendRows * LEGEND_ROW + 10;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="24" font-size="14" font-weight="bold">Equity (USDT)</text>`,
    `<text x="${LEFT}" y="${HOLDERS.top - 14}" font-size="14" font-weight="bold">Slot holders (open positions)</text>`,
  ];
  for (const v of niceTicks(yMin, yMax, 5)) {
    const y = fixed(yEquity(v));
    out.push(
      `<line x1="${LEFT}" y1="${y}" x2="${WIDTH - RIGHT}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${LEFT - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${axisLabel(v)}</text>`,
    );
  }
  for (const v of niceTicks(0, maxHolders, Math.min(maxHolders, 5))) {
    const y = fixed(yHolders(v));
    out.push(
      `<line x1="${LEFT}" y1="${y}" x2="${WIDTH - RIGHT}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${LEFT - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${v.toFixed(0)}</text>`,
    );
  }
  for (let i = 0; i <= 5; i++) {
    const t = t0 + ((t1 - t0) * i) / 5;
    const xi = fixed(x(t));
    const anchor = i === 0 ? "start" : i === 5 ? "end" : "middle";
    out.push(
      `<line x1="${xi}" y1="${EQUITY.top}" x2="${xi}" y2="${HOLDERS.top + HOLDERS.height}" stroke="#f0f0f0"/>`,
      `<text x="${xi}" y="${HOLDERS.top + HOLDERS.height + 16}" text-anchor="${anchor}">${new Date(t).toISOString().slice(0, 10)}</text>`,
    );
  }
  curves.forEach((curve, r) => {
    const color = COLORS[r % COLORS.length]!;
    const dash =
      r >= COLORS.length ? ` stroke-dasharray="${4 + 2 * Math.floor(r / COLORS.length)},3"` : "";
    const groups = thin(curve.at.length);
    const equity = groups.map((g) => {
      const i = g.at(-1)!;
      return `${fixed(x(curve.at[i]!))},${fixed(yEquity(curve.equity[i]!))}`;
    });
    const holders: string[] = [];
    let previous: string | undefined;
    for (const g of groups) {
      const most = Math.max(...g.map((i) => curve.holders[i]!));
      const y = fixed(yHolders(most));
      const xs = fixed(x(curve.at[g[0]!]!));
      if (previous !== undefined) holders.push(`${xs},${previous}`);
      holders.push(`${xs},${y}`);
      previous = y;
    }
    const style = `fill="none" stroke="${color}" stroke-width="1.2"${dash}`;
    if (equity.length > 0) out.push(`<polyline ${style} points="${equity.join(" ")}"/>`);
    if (holders.length > 0)
      out.push(`<polyline ${style} opacity="0.75" points="${holders.join(" ")}"/>`);
    const lx = LEFT + (r % 3) * 290;
    const ly = LEGEND_TOP + Math.floor(r / 3) * LEGEND_ROW;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${escape(runs[r]!.name)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
