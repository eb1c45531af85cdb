import { runNodeScript } from "./run-node.ts";
/**
 * `npm run replay` (replay/cli.ts) as a process: help, errors naming the flag
 * and the value, a small replay, and `export` from a real apply.plan stream
 * (redis-server behind the REST bridge).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startRedisRestBridge, type RedisRestBridge } from "../../dev/bridge/server.ts";
import { startRedisServer, type RedisServerHandle } from "../../dev/redis-server.ts";
import { main } from "../../replay/cli.ts";
import { exportPlans } from "../../replay/export.ts";
import { writeDataset } from "../../replay/generate.ts";

const dir = mkdtempSync(join(tmpdir(), "replay-cli-"));
let data: { klines: string; plans: string };

/** The CLI in this process (its exit code and what it printed): for the many refusal cases. */
async function mainIn(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const printed = { stdout: "", stderr: "" };
  const log = vi
    .spyOn(console, "log")
    .mockImplementation((...a) => void (printed.stdout += `${a.join(" ")}\n`));
  const error = vi
    .spyOn(console, "error")
    .mockImplementation((...a) => void (printed.stderr += `${a.join(" ")}\n`));
  try {
    return { code: await main(args), ...printed };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** The CLI as a process, as `npm run replay` starts it. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runNodeScript("replay/cli.ts", args, { PATH: process.env.PATH, ...env });
}

beforeAll(() => {
  data = writeDataset(join(dir, "data"), {
    symbols: 5,
    start: Date.UTC(2024, 2, 1),
    days: 3,
    plans: 40,
    seed: 5,
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("replay CLI", () => {
  it("--help lists the flags and the exit codes, exit 0", async () => {
    const { code, stdout } = await cli(["--help"]);
    expect(code).toBe(0);
    for (const flag of ["--plans", "--klines", "--out", "--universe", "--balance", "--notional"]) {
      expect(stdout).toContain(flag);
    }
    for (const flag of ["--leverage", "--apply-delay", "--positions", "--set", "--grid"]) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toMatch(/Exit codes: 0 done; 1 .*; 2 bad flags/s);
  });

  it("refuses bad flags with exit 2, naming the flag and the value", async () => {
    const cases: [string[], string][] = [
      [["--plans", "p", "--klines", "k", "--out", "o", "--bogus"], "unknown flag --bogus"],
      [["--klines", "k", "--out", "o"], "--plans is required"],
      [
        ["--plans", "p", "--klines", "k", "--out", "o", "--balance", "lots"],
        '--balance must be a positive number of USDT, got "lots"',
      ],
      [
        ["--plans", "p", "--klines", "k", "--out", "o", "--leverage", "200"],
        '--leverage must be in (0, 125], got "200"',
      ],
      [
        ["--plans", "p", "--klines", "k", "--out", "o", "--set", "slots=3"],
        '--set wants GOV_NAME=VALUE, got "slots=3"',
      ],
      [
        ["--plans", "p", "--klines", "k", "--out", "o", "--universe", "BTCUSDT,eth"],
        '--universe: "eth" is not a symbol',
      ],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await mainIn(args);
      expect(code).toBe(2);
      expect(stderr).toContain(message);
    }
  });

  it("names a bad setting, a bad grid name and a bad plan line, exit 2", async () => {
    const base = ["--plans", data.plans, "--klines", data.klines, "--out", join(dir, "x")];
    const setting = await mainIn([...base, "--set", "GOV_ACTIVE_SLOTS_BASE=0"]);
    expect(setting.code).toBe(2);
    expect(setting.stderr).toContain("--set: GOV_ACTIVE_SLOTS_BASE=0:");
    const grid = await mainIn([...base, "--grid", "base=3,4 speed=2"]);
    expect(grid.code).toBe(2);
    expect(grid.stderr).toContain('--grid: unknown name "speed"');
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, `${readFileSync(data.plans, "utf8")}{"plan_id":"x","symbol":"btc"}\n`);
    const plans = await mainIn(["--plans", bad, "--klines", data.klines, "--out", join(dir, "x")]);
    expect(plans.code).toBe(2);
    expect(plans.stderr).toMatch(/--plans: .*bad\.jsonl:41: symbol: 2-20 of \[A-Z0-9\]/);
  });

  it("replays and writes the three reports, exit 0, quiet on a non-terminal", async () => {
    const out = join(dir, "out");
    const { code, stdout, stderr } = await cli([
      "--plans",
      data.plans,
      "--klines",
      data.klines,
      "--out",
      out,
      "--grid",
      "threshold=0.1",
    ]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toBe(`replayed 40 plans in 3 runs: ${out}/report.md\n`);
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    expect(report.runs.map((r: any) => r.name)).toEqual([
      "governor threshold=0.1",
      "no-gate",
      "static-4",
    ]);
    expect(readFileSync(join(out, "report.md"), "utf8")).toContain("| 1 |");
    expect(readFileSync(join(out, "equity.svg"), "utf8")).toContain("</svg>");
  });
});

describe("replay export", () => {
  const token = "export-test-token-5f1c";
  let redis: RedisServerHandle;
  let bridge: RedisRestBridge;
  let client: Redis;
  const stream = "quantum:stream:apply.plan";

  beforeAll(async () => {
    redis = await startRedisServer();
    bridge = await startRedisRestBridge({ redisUrl: redis.url, token, port: 0 });
    client = new Redis(redis.url);
    const add = (ms: number, fields: Record<string, string>) =>
      client.xadd(stream, `${ms}-0`, ...Object.entries(fields).flat());
    await add(1000, { plan_id: "early", symbol: "BTCUSDT", action: "OPEN", decision: "EXECUTE" });
    for (let i = 0; i < 5; i++) {
      await add(2000 + i, {
        plan_id: `p${i}`,
        symbol: "ETHUSDT",
        action: "OPEN",
        decision: "EXECUTE",
        side: "LONG",
        score: "1.5",
        notional: "250",
        ts: String(1990 + i),
      });
    }
    await add(2100, {
      plan_id: "c1",
      symbol: "ETHUSDT",
      action: "FULL_CLOSE_PROPOSED",
      decision: "EXECUTE",
      reduceOnly: "true",
    });
    await add(2200, {
      plan_id: "rot_p1_BTCUSDT",
      symbol: "BTCUSDT",
      action: "FULL_CLOSE_PROPOSED",
      decision: "EXECUTE",
      reduceOnly: "true",
      rotation_trigger: "true",
    });
    await add(2300, { plan_id: "broken", symbol: "nope" });
    await add(9000, { plan_id: "late", symbol: "BTCUSDT", action: "OPEN", decision: "EXECUTE" });
  });

  afterAll(async () => {
    client.disconnect();
    await bridge.stop();
    await redis.stop();
  });

  it("pages through the range, leaving out governor close plans and invalid entries", async () => {
    const out = join(dir, "paged.jsonl");
    const summary = await exportPlans({
      redisUrl: bridge.url,
      token,
      from: 2000,
      to: 5000,
      prefix: "quantum",
      out,
      pageSize: 2,
    });
    expect(summary).toEqual({ read: 8, written: 6, rotationClosePlans: 1, invalid: 1 });
    const lines = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((p) => p.plan_id)).toEqual(["p0", "p1", "p2", "p3", "p4", "c1"]);
    expect(lines[0]).toEqual({
      plan_id: "p0",
      symbol: "ETHUSDT",
      action: "OPEN",
      decision: "EXECUTE",
      side: "LONG",
      notional: 250,
      score: 1.5,
      ts: 1990,
    });
    expect(lines[5]).toMatchObject({ plan_id: "c1", reduceOnly: true, ts: 2100 });
  });

  it("writes the file from the CLI and never prints the token, even on failure", async () => {
    const out = join(dir, "cli.jsonl");
    const [ok, denied] = await Promise.all([
      cli([
        "export",
        "--redis-url",
        bridge.url,
        "--token",
        token,
        "--from",
        "1970-01-01T00:00:02.000Z",
        "--to",
        "5000",
        "--out",
        out,
      ]),
      cli(
        ["export", "--redis-url", bridge.url, "--from", "0", "--to", "5000", "--out", `${out}.x`],
        { UPSTASH_REDIS_REST_TOKEN: `${token}-wrong` },
      ),
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("wrote 6 plans");
    expect(readFileSync(out, "utf8").trim().split("\n")).toHaveLength(6);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("export failed");
    for (const output of [ok.stdout, ok.stderr, denied.stdout, denied.stderr]) {
      expect(output).not.toContain(token);
    }
    const badTime = await mainIn([
      "export",
      "--redis-url",
      bridge.url,
      "--token",
      token,
      "--from",
      "yesterday",
      "--to",
      "5",
    ]);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('--from must be unix ms or an ISO date, got "yesterday"');
  });
});
