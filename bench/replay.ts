/**
 * `npm run bench:replay`: how long one replay configuration takes on a year of
 * data. Generates (replay/generate.ts) 1h klines for 20 symbols over 365 days
 * and 10,000 plans into a temp dir, replays them through the governor and the
 * baselines, and prints the seconds each run took; the last line is JSON.
 * Target: ≤ 60 s per configuration on a 2-core machine.
 *
 * On a shared machine the wall time says as much about the neighbours as about
 * the replay, so the CPU seconds are printed too: this process's during each
 * run, and redis-server's for the whole replay (a child: counted once it exits).
 * A replay is one sequential chain, so on an idle machine its wall time is about
 * their sum.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeDataset } from "../replay/generate.ts";
import type { Progress } from "../replay/progress.ts";
import { replay } from "../replay/replay.ts";

const HELP = `Usage: npm run bench:replay -- [--symbols 20] [--days 365] [--plans 10000] [--seed 1] [--keep]

  --keep   leave the generated data and reports in the temp dir (printed)`;

const TARGET_S = 60;

const { values } = parseArgs({
  options: {
    symbols: { type: "string", default: "20" },
    days: { type: "string", default: "365" },
    plans: { type: "string", default: "10000" },
    seed: { type: "string", default: "1" },
    keep: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const size = {
  symbols: Number(values.symbols),
  days: Number(values.days),
  plans: Number(values.plans),
  seed: Number(values.seed),
};
for (const [name, value] of Object.entries(size)) {
  if (!Number.isInteger(value) || value < 0) {
    console.error(
      `--${name} must be a whole number, got ${JSON.stringify(values[name as keyof typeof values])}`,
    );
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), "replay-bench-"));
const started = performance.now();
const data = writeDataset(dir, { ...size, start: Date.UTC(2024, 0, 1) });
const generatedS = (performance.now() - started) / 1000;

/** CPU seconds of exited, waited-for children (redis-server), from /proc/self/stat. */
function childrenCpuS(): number {
  try {
    const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
    // cutime and cstime are fields 16 and 17 of stat(5), in clock ticks (100 per second).
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return NaN;
  }
}

const cpuS = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

/** Wall and CPU seconds per run, measured between the runs' start and end. */
const runs: { name: string; seconds: number; cpu: number }[] = [];
let runStarted = 0;
let cpuStarted = 0;
const timing: Progress = {
  run(_index, _count, name) {
    runs.push({ name, seconds: 0, cpu: 0 });
    runStarted = performance.now();
    cpuStarted = cpuS();
  },
  update() {},
  done() {
    runs.at(-1)!.seconds = (performance.now() - runStarted) / 1000;
    runs.at(-1)!.cpu = cpuS() - cpuStarted;
  },
};

const load = loadavg()[0]!;
const childrenBefore = childrenCpuS();
const replayStarted = performance.now();
const report = await replay({
  plans: data.plans,
  klines: data.klines,
  out: join(dir, "out"),
  balance: 10_000,
  notional: 1000,
  leverage: 5,
  applyDelay: 5,
  settings: {},
  baselines: true,
  progress: timing,
});
const totalS = (performance.now() - replayStarted) / 1000;
const redisCpuS = childrenCpuS() - childrenBefore;

console.log(
  `data: ${size.symbols} symbols × ${size.days} days of 1h klines, ${size.plans} plans (generated in ${generatedS.toFixed(1)} s)`,
);
console.log(`machine: ${cpus().length} cores, load average ${load.toFixed(2)} at start`);
for (const run of runs) {
  const result = report.runs.find((r) => r.name === run.name)!;
  console.log(
    `${run.name.padEnd(10)} ${run.seconds.toFixed(1).padStart(6)} s wall, ${run.cpu.toFixed(1).padStart(6)} s CPU  ` +
      `(${Math.round(size.plans / run.seconds)} plans/s, rotations ${result.rotations.started}/${result.rotations.completed}/${result.rotations.timed_out})`,
  );
}
const governor = runs[0]!;
console.log(
  `whole replay (reading klines and plans, every run, reports): ${totalS.toFixed(1)} s; ` +
    `redis-server CPU ${redisCpuS.toFixed(1)} s`,
);
const idleEstimate = governor.cpu + redisCpuS;
console.log(
  `governor run, CPU of this process + redis-server: ${idleEstimate.toFixed(1)} s ` +
    `(about its wall time on an idle machine; target ≤ ${TARGET_S} s)`,
);
if (governor.seconds > TARGET_S) {
  console.log(
    `note: the governor run took ${governor.seconds.toFixed(1)} s wall, more than the ${TARGET_S} s target ` +
      `(load average ${load.toFixed(2)} on ${cpus().length} cores at start)`,
  );
}
if (values.keep) console.log(`data and reports kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    symbols: size.symbols,
    days: size.days,
    plans: size.plans,
    governor_s: Number(governor.seconds.toFixed(2)),
    governor_cpu_s: Number(governor.cpu.toFixed(2)),
    redis_cpu_s: Number(redisCpuS.toFixed(2)),
    runs: Object.fromEntries(runs.map((r) => [r.name, Number(r.seconds.toFixed(2))])),
    total_s: Number(totalS.toFixed(2)),
    target_s: TARGET_S,
    load_average: Number(load.toFixed(2)),
  }),
);
