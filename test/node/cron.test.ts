/**
 * The local cron's schedule (dev/cron.ts): read from wrangler.toml, minute
 * schedules only, fired at the minute boundaries cron names (fixed instants).
 * The cron running the real sweep under `npm start` is in stack.test.ts.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  CronError,
  cronsInWranglerToml,
  minuteSchedule,
  nextRunAfter,
  sweepSummary,
} from "../../dev/cron.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe("the schedule in wrangler.toml", () => {
  it("is the project's production cron, every minute", () => {
    const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
    expect(cronsInWranglerToml(toml)).toEqual(["* * * * *"]);
  });

  it("reads every expression of [triggers] crons, and nothing outside that table", () => {
    const toml = [
      'name = "x"',
      'crons = ["0 0 * * *"]',
      "[triggers]",
      "crons = [",
      '  "* * * * *",',
      "  '*/5 * * * *'",
      "]",
      "[vars]",
      'crons = ["1 1 * * *"]',
    ].join("\n");
    expect(cronsInWranglerToml(toml)).toEqual(["* * * * *", "*/5 * * * *"]);
    expect(cronsInWranglerToml('[vars]\nA = "1"\n')).toEqual([]);
  });
});

describe("minute schedules", () => {
  it("accepts every minute and every N minutes", () => {
    expect(minuteSchedule("* * * * *")).toEqual({ expression: "* * * * *", everyMinutes: 1 });
    expect(minuteSchedule(" */15  * * * * ").everyMinutes).toBe(15);
  });

  it.each(["0 * * * *", "*/0 * * * *", "*/60 * * * *", "* * * * 1", "1-5 * * * *", "* * * *", ""])(
    "refuses %j, saying what it runs and how to do without",
    (expression) => {
      expect(() => minuteSchedule(expression)).toThrow(CronError);
      expect(() => minuteSchedule(expression)).toThrow(/only minute schedules.*--no-cron/);
    },
  );

  it("fires at the next minute boundary, strictly after the given instant", () => {
    const every = minuteSchedule("* * * * *");
    expect(iso(nextRunAfter(every, at("2026-05-01T10:00:00.000Z")))).toBe(
      "2026-05-01T10:01:00.000Z",
    );
    expect(iso(nextRunAfter(every, at("2026-05-01T10:00:59.999Z")))).toBe(
      "2026-05-01T10:01:00.000Z",
    );
    expect(iso(nextRunAfter(every, at("2026-05-01T23:59:30.000Z")))).toBe(
      "2026-05-02T00:00:00.000Z",
    );
  });

  it("fires every N minutes at the minutes of the hour divisible by N", () => {
    const seven = minuteSchedule("*/7 * * * *");
    const runs: string[] = [];
    let t = at("2026-05-01T10:50:00.000Z");
    for (let i = 0; i < 4; i++) runs.push(iso((t = nextRunAfter(seven, t))).slice(11, 16));
    expect(runs).toEqual(["10:56", "11:00", "11:07", "11:14"]);
  });
});

describe("the run's log line", () => {
  it("carries the counts of the governor's sweep line from wrangler's log", () => {
    const log = [
      "[wrangler:info] GET /v1/health 200 OK (3ms)",
      '{"msg":"governor.sweep","locks_checked":2,"completed":1,"timed_out":0,"orphans":0,"waiting":1,"reservations_dropped":0,"completed_plans":["p1"],"duration_ms":9}',
      "[wrangler:info] GET /__scheduled 200 OK (20ms)",
    ].join("\n");
    expect(sweepSummary(log)).toBe(
      "locks_checked=2 completed=1 timed_out=0 orphans=0 waiting=1 reservations_dropped=0",
    );
    expect(sweepSummary("[wrangler:info] nothing here")).toBeUndefined();
  });
});

describe("npm start's arguments", () => {
  const stack = (...args: string[]) =>
    spawnSync(process.execPath, ["dev/stack.ts", ...args], { cwd: ROOT, encoding: "utf8" });

  it("--help names --no-cron and starts nothing", () => {
    const { status, stdout } = stack("--help");
    expect(status).toBe(0);
    expect(stdout).toContain("--no-cron");
  });

  it("an unknown argument exits 2 with the usage, before starting anything", () => {
    const { status, stderr } = stack("--no-crons");
    expect(status).toBe(2);
    expect(stderr).toMatch(
      /Unknown option '--no-crons'.*\nUsage: npm start \[-- --empty\] \[--no-cron\]/,
    );
  });
});
