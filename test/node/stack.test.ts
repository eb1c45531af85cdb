/**
 * `npm start` (dev/stack.ts) end to end: the whole local stack comes up on
 * non-default ports, reports ready, writes its stack file, serves a healthy
 * governor, runs the sweep on its cron (here every second instead of every
 * minute) so a confirmed rotation completes with nobody calling the sweep, and
 * on SIGTERM exits 0 leaving no process or port behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../dev/free-port.ts";
import { stackClients } from "../../bench/clients.ts";
import { REMOTE_SERVICE_ENV_VARS, type StackInfo } from "../../dev/stack-client.ts";
import { waitUntil } from "../support/wait.ts";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");

interface ProcInfo {
  pid: number;
  ppid: number;
  state: string;
  startTime: string;
  cmdline: string;
}

/** Every process on the machine, from /proc (Linux). */
function processes(): ProcInfo[] {
  const list: ProcInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid pgrp ... starttime(22nd field)"
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      list.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        state: fields[0] ?? "",
        startTime: fields[19] ?? "",
        cmdline,
      });
    } catch {
      // exited while we looked
    }
  }
  return list;
}

/** The processes below `root` (children, grandchildren, ...). */
function descendants(root: number): ProcInfo[] {
  const all = processes();
  const found: ProcInfo[] = [];
  const parents = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const proc of all) {
      if (parents.has(proc.ppid) && !parents.has(proc.pid)) {
        parents.add(proc.pid);
        found.push(proc);
        grew = true;
      }
    }
  }
  return found;
}

/** Still running: same process (start time) and not a zombie waiting to be reaped. */
function stillRunning(proc: ProcInfo): boolean {
  const now = processes().find((p) => p.pid === proc.pid);
  return now !== undefined && now.startTime === proc.startTime && !/[ZX]/.test(now.state);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const dir = mkdtempSync(join(tmpdir(), "gov-stack-test-"));
let child: ChildProcess | undefined;
let spawned: ProcInfo[] = [];

afterAll(() => {
  // A failed run must not leave the stack behind.
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const proc of spawned.filter(stillRunning)) {
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("npm start flags", () => {
  function stackWith(args: string[]) {
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
      const proc = spawn(process.execPath, ["dev/stack.ts", ...args], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      proc.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      proc.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      proc.once("error", fail);
      proc.once("close", (code) => done({ code, stdout, stderr }));
    });
  }

  it("--help explains --empty and starts nothing", async () => {
    const { code, stdout } = await stackWith(["--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/--empty\s+start without the demo world/);
    expect(stdout).toContain("GOV_STACK_EMPTY=1");
  });

  it("an unknown flag exits 2 with the usage", async () => {
    const { code, stderr } = await stackWith(["--world", "big"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/Unknown option '--world'/);
    expect(stderr).toContain("Usage: npm start [-- --empty]");
  });
});

describe.skipIf(process.platform !== "linux")("npm start (dev/stack.ts)", () => {
  it("starts everything, reports ready, runs the sweep on its cron, and stops cleanly on SIGTERM", async () => {
    const [govPort, restPort, exchangePort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const stackFile = join(dir, "stack.json");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      GOV_PORT: String(govPort),
      REDIS_REST_PORT: String(restPort),
      EXCHANGE_SIM_PORT: String(exchangePort),
      GOV_STACK_FILE: stackFile,
      // The cron every second instead of at each minute boundary.
      GOV_STACK_CRON_PERIOD_MS: "1000",
    };
    for (const name of REMOTE_SERVICE_ENV_VARS) delete env[name];
    delete env.GOV_STACK_NO_CRON;

    const started = Date.now();
    const proc = spawn(process.execPath, ["dev/stack.ts", "--empty"], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    let stderr = "";
    proc.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) =>
      proc.once("exit", (code) => resolve(code)),
    );
    const stdoutLines: string[] = [];
    const lines = createInterface({ input: proc.stdout! });
    lines.on("line", (line) => stdoutLines.push(line));

    const readyLine = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ready line after 60 s; stderr: ${stderr}`)),
        60_000,
      );
      lines.on("line", (line) => {
        if (line.startsWith("governor ready in ")) {
          clearTimeout(timer);
          resolve(line);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`stack exited early (code ${code}); stderr: ${stderr}`));
      });
    });
    console.info(`npm start: ready line after ${Date.now() - started} ms`);

    const governor = `http://127.0.0.1:${govPort}`;
    const stack = JSON.parse(readFileSync(stackFile, "utf8")) as Record<string, unknown>;
    expect(Object.keys(stack).sort()).toEqual(
      ["admin_token", "exchange", "governor", "read_token", "redis_rest", "webhook_secret"].sort(),
    );
    expect(stack).toEqual({
      governor,
      redis_rest: { url: `http://127.0.0.1:${restPort}`, token: expect.any(String) },
      exchange: {
        url: `http://127.0.0.1:${exchangePort}`,
        api_key: expect.any(String),
        api_secret: expect.any(String),
      },
      webhook_secret: expect.any(String),
      read_token: expect.any(String),
      admin_token: expect.any(String),
    });
    const s = stack as {
      redis_rest: { token: string };
      exchange: { api_key: string; api_secret: string };
      webhook_secret: string;
      read_token: string;
      admin_token: string;
    };
    for (const value of [
      s.redis_rest.token,
      s.exchange.api_key,
      s.exchange.api_secret,
      s.webhook_secret,
      s.read_token,
      s.admin_token,
    ]) {
      expect(value.length).toBeGreaterThanOrEqual(16);
      expect(readyLine).toContain(value);
    }
    expect(readyLine).toContain(`governor=${governor}`);
    expect(readyLine).toContain(`redis_rest=http://127.0.0.1:${restPort}`);
    expect(readyLine).toContain(`exchange=http://127.0.0.1:${exchangePort}`);
    expect(stdoutLines.filter((line) => line.startsWith("governor ready"))).toHaveLength(1);
    // --empty: nothing seeded, and the line says what to try first.
    expect(readyLine).toContain("world=empty (no universe, no klines, no positions)");
    expect(readyLine).toContain("try: npm run universe -- BTCUSDT ETHUSDT ; ");

    expect((await fetch(`${governor}/v1/health`)).status).toBe(200);
    const health = await fetch(`${governor}/v1/health`, {
      headers: { authorization: `Bearer ${s.read_token}` },
    });
    expect(health.status).toBe(200);
    const body = (await health.json()) as {
      ok: boolean;
      redis: { reachable: boolean };
      exchange: { reachable: boolean };
    };
    expect(body.ok).toBe(true);
    expect(body.redis.reachable).toBe(true);
    expect(body.exchange.reachable).toBe(true);

    // The cron: announced, and one line per sweep it runs.
    const announced =
      'cron: the sweep runs every 1000 ms (GOV_STACK_CRON_PERIOD_MS): "* * * * *"; ' +
      "one line per run (off: --no-cron or GOV_STACK_NO_CRON=1)";
    await waitUntil(() => stdoutLines.includes(announced), "the cron's announcement");
    const sweepLine =
      /^cron "\* \* \* \* \*" \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: sweep ran in \d+ ms: locks_checked=(\d+) completed=(\d+) timed_out=\d+ orphans=\d+ waiting=\d+ reservations_dropped=\d+$/;
    await waitUntil(() => stdoutLines.some((l) => sweepLine.test(l)), "a sweep line from the cron");

    // A rotation whose close the Apply Layer simulator confirms is completed by the
    // cron's sweep: nobody resubmits the plan or calls the sweep.
    const c = stackClients(stack as unknown as StackInfo);
    await c.redis([
      "HSET",
      "quantum:policy:current",
      "universe_symbols",
      JSON.stringify(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]),
    ]);
    await c.sim("PUT", "/__sim/klines/BTCUSDT", { preset: "BASE" });
    await c.sim("PUT", "/__sim/apply", { auto: true, delay_ms: 0, executed: true });
    await c.sim(
      "PUT",
      "/__sim/positions",
      [
        ["ETHUSDT", 5],
        ["SOLUSDT", -16], // the weakest
        ["XRPUSDT", 3],
        ["ADAUSDT", 8],
      ].map(([symbol, pnl]) => ({
        symbol,
        positionAmt: "1",
        entryPrice: "100",
        markPrice: String(100 + Number(pnl)),
        unRealizedProfit: String(pnl),
        updateTime: Date.now() - 3_600_000,
      })),
    );
    const rotating = await c.postPlan({ plan_id: "cron-rotation-1", symbol: "BTCUSDT", score: 2 });
    expect(rotating.body).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_waiting_rotation_close",
      rotation: { close_symbol: "SOLUSDT" },
    });
    const completedLine = await waitUntil(
      () => stdoutLines.find((l) => sweepLine.exec(l)?.[2] === "1"),
      "a cron sweep that completes the rotation",
    );
    expect(sweepLine.exec(completedLine)?.[1]).toBe("1");
    expect(await c.redis(["GET", "quantum:permit:cron-rotation-1"])).not.toBeNull();
    const replay = await c.postPlan({ plan_id: "cron-rotation-1", symbol: "BTCUSDT", score: 2 });
    expect(replay.body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_rotation_complete",
      replayed: true,
    });

    // The Workers cron test route is on (without --test-scheduled it would be the app's 404).
    const scheduled = await fetch(`${governor}/__scheduled?cron=*+*+*+*+*`);
    await scheduled.arrayBuffer();
    expect(scheduled.status).not.toBe(404);

    // The admin token changes the trading state (the read token cannot), and with no
    // GOV_ALERT_WEBHOOK_URL of one's own, the alert is printed in this terminal.
    expect(readyLine).toContain("alerts=printed here");
    const halt = (token: string) =>
      fetch(`${governor}/v1/trading-state`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ state: "HALTED", reason: "stack test" }),
      });
    expect((await halt(s.read_token)).status).toBe(403);
    const halted = await halt(s.admin_token);
    expect(halted.status).toBe(200);
    expect(await halted.json()).toMatchObject({ state: "HALTED", changed: true });
    const printed = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no alert printed within 10 s")), 10_000);
      const poll = setInterval(() => {
        const line = stdoutLines.find((l) => l.startsWith("alert | "));
        if (line) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(line);
        }
      }, 50);
    });
    expect(printed).toBe(
      "alert | [governor] CRITICAL trading_state_changed: trading state ACTIVE -> HALTED by operator: stack test",
    );
    for (const value of [s.admin_token, s.read_token, s.webhook_secret]) {
      expect(stdoutLines.filter((l) => l.startsWith("alert | ")).join("\n")).not.toContain(value);
    }

    // What it started: redis-server, wrangler (+ its CLI child), workerd.
    spawned = descendants(proc.pid!);
    const redis = spawned.filter((p) => p.cmdline.startsWith("redis-server"));
    const workerd = spawned.filter((p) => p.cmdline.includes("workerd"));
    expect(redis).toHaveLength(1);
    expect(workerd.length).toBeGreaterThanOrEqual(1);
    expect(spawned.some((p) => p.cmdline.includes("wrangler"))).toBe(true);
    const redisPort = Number(/:(\d+)/.exec(redis[0]!.cmdline)?.[1]);
    expect(redisPort).toBeGreaterThan(0);
    expect(await portOpen(redisPort)).toBe(true);

    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
    // Nothing on stderr but, on a machine slow to start workerd, the one
    // "still waiting for …/v1/health" notice the stack prints after 10 s.
    expect(stderr.replace(/^still waiting for \S+\/v1\/health \(last: .*\)\n/m, "")).toBe("");

    const leftovers = spawned.filter(stillRunning);
    expect(leftovers.map((p) => `${p.pid} ${p.cmdline}`)).toEqual([]);
    for (const port of [govPort, restPort, exchangePort, redisPort]) {
      expect(await portOpen(port), `port ${port} still open`).toBe(false);
    }
    // The stack file described a stack that no longer runs: removed.
    expect(() => readFileSync(stackFile)).toThrow();
  }, 90_000);
});
