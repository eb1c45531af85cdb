/**
 * The local stand-in for Cloudflare's Cron Triggers under `npm start`: the
 * schedules of wrangler.toml's `[triggers] crons`, each run through wrangler
 * dev's cron test route (`GET /__scheduled?cron=...`, the worker's `scheduled`
 * handler) at the minute boundaries it names, one log line per run.
 *
 * Only minute schedules are supported (`* * * * *`, `*\/N * * * *`); anything
 * else is refused with a message, rather than run at the wrong times.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";

export class CronError extends Error {}

export interface MinuteSchedule {
  /** The expression as written in wrangler.toml. */
  expression: string;
  /** Runs at the minutes of the hour divisible by this (1: every minute). */
  everyMinutes: number;
}

const MINUTE_MS = 60_000;

/** The expressions of `[triggers] crons = [...]` in wrangler.toml's text ([] when there is none). */
export function cronsInWranglerToml(toml: string): string[] {
  const triggers = /^\[triggers\]\s*$([\s\S]*?)(?=^\s*\[|(?![\s\S]))/m.exec(toml)?.[1] ?? "";
  const list = /^\s*crons\s*=\s*\[([^\]]*)\]/m.exec(triggers)?.[1];
  if (list === undefined) return [];
  return [...list.matchAll(/"([^"]*)"|'([^']*)'/g)].map((m) => (m[1] ?? m[2] ?? "").trim());
}

/** `* * * * *` or `*\/N * * * *` (N = 1..59), other fields `*`; anything else throws CronError. */
export function minuteSchedule(expression: string): MinuteSchedule {
  const fields = expression.trim().split(/\s+/);
  const [minute, ...rest] = fields;
  const every = minute === "*" ? 1 : Number(/^\*\/(\d{1,2})$/.exec(minute ?? "")?.[1]);
  if (fields.length !== 5 || rest.some((f) => f !== "*") || !(every >= 1 && every <= 59)) {
    throw new CronError(
      `wrangler.toml cron "${expression}": the local cron runs only minute schedules ` +
        `("* * * * *" or "*/N * * * *"). Start with --no-cron and run the sweep with ` +
        `GET /__scheduled?cron=${encodeURIComponent(expression)}`,
    );
  }
  return { expression, everyMinutes: every };
}

/** The first instant (unix ms) strictly after `afterMs` at which the schedule fires. */
export function nextRunAfter(schedule: MinuteSchedule, afterMs: number): number {
  let at = Math.floor(afterMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  // Minutes of the hour, as cron counts them (UTC; every zone's offset is whole minutes).
  while (new Date(at).getUTCMinutes() % schedule.everyMinutes !== 0) at += MINUTE_MS;
  return at;
}

/** The counts of the governor's `governor.sweep` log line, as one line of `key=value`. */
export function sweepSummary(logText: string): string | undefined {
  const lines = logText.split("\n").filter((line) => line.includes('"msg":"governor.sweep"'));
  const last = lines.at(-1);
  if (last === undefined) return undefined;
  try {
    const report = JSON.parse(last.slice(last.indexOf("{"))) as Record<string, unknown>;
    return ["locks_checked", "completed", "timed_out", "orphans", "waiting", "reservations_dropped"]
      .filter((key) => typeof report[key] === "number")
      .map((key) => `${key}=${String(report[key])}`)
      .join(" ");
  } catch {
    return undefined;
  }
}

export interface LocalCronOptions {
  governor: string;
  schedules: MinuteSchedule[];
  /** ms; when set, every schedule runs this often from now on instead (for tests). */
  periodMs?: number;
  /** wrangler's log: each run's line carries the sweep's counts the governor logged there. */
  wranglerLog?: string;
  log(line: string): void;
  logError(line: string): void;
  now?: () => number;
}

export interface LocalCron {
  /** Stop scheduling; resolves once a run in progress has finished. */
  stop(): Promise<void>;
}

/** Run each schedule at its instants until stopped. A run still going when the next is due makes that one skip. */
export function startLocalCron(options: LocalCronOptions): LocalCron {
  const now = options.now ?? Date.now;
  const aborter = new AbortController();
  let stopped = false;
  const loops = options.schedules.map(async (schedule) => {
    let due = options.periodMs ? now() + options.periodMs : nextRunAfter(schedule, now());
    while (!stopped) {
      await sleepUntil(due, now, aborter.signal);
      if (stopped) break;
      await runOnce(schedule, due, options, aborter.signal);
      due = options.periodMs
        ? Math.max(due + options.periodMs, now())
        : nextRunAfter(schedule, Math.max(due, now()));
    }
  });
  return {
    async stop() {
      stopped = true;
      aborter.abort();
      await Promise.all(loops);
    },
  };
}

async function runOnce(
  schedule: MinuteSchedule,
  dueMs: number,
  options: LocalCronOptions,
  signal: AbortSignal,
): Promise<void> {
  const at = new Date(dueMs).toISOString().replace(/\.\d{3}Z$/, "Z");
  const prefix = `cron "${schedule.expression}" ${at}: sweep`;
  const logFrom = options.wranglerLog ? fileSize(options.wranglerLog) : 0;
  const started = performance.now();
  let status: number;
  let text: string;
  try {
    const url = `${options.governor}/__scheduled?${new URLSearchParams({ cron: schedule.expression })}`;
    const response = await fetch(url, { signal });
    status = response.status;
    text = await response.text();
  } catch (error) {
    if (signal.aborted) return;
    const cause = (error as Error).cause;
    options.logError(
      `${prefix} failed: ${cause instanceof Error ? cause.message : (error as Error).message}`,
    );
    return;
  }
  const ms = Math.round(performance.now() - started);
  if (status !== 200) {
    options.logError(`${prefix} failed: HTTP ${status} ${text.trim().slice(0, 200)} (${ms} ms)`);
    return;
  }
  const counts = options.wranglerLog
    ? await summaryAppended(options.wranglerLog, logFrom, signal)
    : undefined;
  options.log(`${prefix} ran in ${ms} ms${counts ? `: ${counts}` : ""}`);
}

/**
 * The sweep's counts from the lines wrangler appended to its log since `from`.
 * wrangler writes the worker's output and answers the request separately, so
 * the line may land a moment after the answer: looked for a few times, briefly.
 */
async function summaryAppended(
  path: string,
  from: number,
  signal: AbortSignal,
): Promise<string | undefined> {
  for (let attempt = 0; attempt < 20 && !signal.aborted; attempt++) {
    const summary = sweepSummary(readFrom(path, from));
    if (summary !== undefined) return summary;
    await sleepUntil(Date.now() + 50, Date.now, signal);
  }
  return undefined;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function readFrom(path: string, from: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const length = Math.max(0, Math.min(fileSize(path) - from, 1 << 20));
    const buffer = Buffer.alloc(length);
    const read = readSync(fd, buffer, 0, length, from);
    return buffer.subarray(0, read).toString("utf8");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Resolves at `atMs` (re-checking the clock, so a long timer cannot fire early) or on abort. */
async function sleepUntil(atMs: number, now: () => number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const left = atMs - now();
    if (left <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(left, 2 ** 31 - 1));
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
