/**
 * `npm run test:stress`: the test suite on a machine that is busy with something
 * else. Keeps every core busy with CPU hogs (one busy child process per core)
 * while `npm test` runs N times in a row, then stops the hogs and prints a
 * summary: pass/fail and duration of each run. Exit code 0 only if every run
 * passed. A suite that depends on how fast the machine is fails here.
 *
 *   npm run test:stress                      3 runs of `npm test`, one hog per core
 *   npm run test:stress -- --runs 5 --hogs 4
 *   npm run test:stress -- --command "npm run test:faults"
 *
 * Also STRESS_RUNS, STRESS_HOGS, STRESS_COMMAND. Each run's output goes to
 * .dev/stress/run-<n>.log; a failed run's failing tests are printed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const USAGE =
  "usage: npm run test:stress -- [--runs N] [--hogs N] [--command CMD]\n" +
  "  --runs     times the command runs (default 3, or STRESS_RUNS)\n" +
  "  --hogs     busy processes alongside (default: one per core, or STRESS_HOGS)\n" +
  '  --command  what runs (default "npm test", or STRESS_COMMAND)';

interface Options {
  runs: number;
  hogs: number;
  command: string;
}

function options(): Options {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        runs: { type: "string" },
        hogs: { type: "string" },
        command: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const count = (name: string, raw: string | undefined, fallback: number, min: number) => {
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      console.error(`--${name} must be a whole number ≥ ${min}, got ${JSON.stringify(raw)}`);
      process.exit(2);
    }
    return n;
  };
  return {
    runs: count("runs", (values.runs as string) ?? process.env.STRESS_RUNS, 3, 1),
    hogs: count(
      "hogs",
      (values.hogs as string) ?? process.env.STRESS_HOGS,
      availableParallelism(),
      0,
    ),
    command: (values.command as string) ?? process.env.STRESS_COMMAND ?? "npm test",
  };
}

/** A process that keeps one core busy, and exits when this one goes away. */
function startHog(): ChildProcess {
  const busy =
    "const parent = process.ppid;" +
    "for (let i = 0; ; i++) if ((i & 0xfffff) === 0 && process.ppid !== parent) process.exit(0);";
  return spawn(process.execPath, ["-e", busy], { stdio: "ignore" });
}

function stopHogs(hogs: ChildProcess[]): void {
  for (const hog of hogs) if (hog.exitCode === null && hog.signalCode === null) hog.kill("SIGKILL");
}

interface Run {
  n: number;
  code: number | null;
  seconds: number;
  log: string;
}

function runOnce(n: number, command: string, logDir: string): Promise<Run> {
  const log = join(logDir, `run-${n}.log`);
  const out = createWriteStream(log);
  const started = performance.now();
  return new Promise((done) => {
    const child = spawn(command, { cwd: ROOT, shell: true, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.once("close", (code, signal) => {
      out.end(() =>
        done({
          n,
          code: signal ? null : code,
          seconds: (performance.now() - started) / 1000,
          log,
        }),
      );
    });
  });
}

/** The failing tests a vitest log names (its FAIL lines), without colour codes. */
function failures(log: string): string[] {
  // eslint-disable-next-line no-control-regex
  const plain = readFileSync(log, "utf8").replace(/\x1b\[[0-9;]*m/g, "");
  const lines = plain.split("\n").filter((line) => /^\s*(FAIL|×)\s/.test(line));
  return [...new Set(lines.map((line) => line.trim()))].slice(0, 20);
}

async function main(): Promise<number> {
  const { runs, hogs: hogCount, command } = options();
  const logDir = join(ROOT, ".dev", "stress");
  mkdirSync(logDir, { recursive: true });
  const hogs = Array.from({ length: hogCount }, startHog);
  const stop = () => stopHogs(hogs);
  process.once("exit", stop);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      stop();
      process.exit(130);
    });
  }
  console.log(
    `stress: ${runs} × "${command}" with ${hogCount} CPU hog(s) on ${availableParallelism()} core(s); ` +
      `logs in ${relative(process.cwd(), logDir) || "."}`,
  );
  const results: Run[] = [];
  try {
    for (let n = 1; n <= runs; n++) {
      const run = await runOnce(n, command, logDir);
      results.push(run);
      const load = loadavg()[0]!.toFixed(1);
      const verdict = run.code === 0 ? "PASS" : `FAIL (exit ${run.code ?? "signal"})`;
      console.log(
        `run ${n}/${runs}: ${verdict} in ${run.seconds.toFixed(0)} s (load ${load}); log ${relative(process.cwd(), run.log)}`,
      );
      if (run.code !== 0) for (const line of failures(run.log)) console.log(`    ${line}`);
    }
  } finally {
    stop();
  }
  const passed = results.filter((r) => r.code === 0).length;
  const times = results.map((r) => `${r.seconds.toFixed(0)} s`).join(", ");
  console.log(
    `stress: ${passed}/${runs} passed with ${hogCount} hog(s) on ${availableParallelism()} core(s); ` +
      `durations ${times}`,
  );
  return passed === runs ? 0 : 1;
}

process.exitCode = await main();
