/**
 * `npm run demo` (dev/demo.ts) end to end: it starts its own stack on free
 * ports, walks the rotation story, exits 0, and leaves no process or port
 * behind; and it reuses a running stack (twice in a row) without stopping it.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../dev/free-port.ts";
import {
  envWithoutStackOverrides,
  governorHealthy,
  startStack,
  type RunningStack,
} from "../../dev/stack-client.ts";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const dir = mkdtempSync(join(tmpdir(), "gov-demo-test-"));

interface Proc {
  pid: number;
  startTime: string;
  cmdline: string;
}

/** Live (non-zombie) processes below `root`, from /proc. */
function descendants(root: number): Proc[] {
  const all: (Proc & { ppid: number; state: string })[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      all.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        state: fields[0] ?? "",
        startTime: fields[19] ?? "",
        cmdline: readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim(),
      });
    } catch {
      // exited while we looked
    }
  }
  const parents = new Set([root]);
  const found: Proc[] = [];
  for (let grew = true; grew;) {
    grew = false;
    for (const proc of all) {
      if (parents.has(proc.ppid) && !parents.has(proc.pid)) {
        parents.add(proc.pid);
        if (!/[ZX]/.test(proc.state)) found.push(proc);
        grew = true;
      }
    }
  }
  return found;
}

function stillRunning(proc: Proc): boolean {
  try {
    const stat = readFileSync(`/proc/${proc.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] === proc.startTime && !/[ZX]/.test(fields[0] ?? "");
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("error", () => done(false));
  });
}

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return envWithoutStackOverrides(extra);
}

/** Run the demo; while it runs, remember every process below it. */
function runDemo(env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; stdout: string; stderr: string; seen: Proc[] }>(
    (done, fail) => {
      const child = spawn(process.execPath, ["dev/demo.ts"], {
        cwd: ROOT,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      const seen = new Map<string, Proc>();
      const watch = setInterval(() => {
        if (child.pid === undefined) return;
        for (const proc of descendants(child.pid)) seen.set(`${proc.pid}/${proc.startTime}`, proc);
      }, 100);
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.once("error", (error) => {
        clearInterval(watch);
        fail(error);
      });
      child.once("close", (code) => {
        clearInterval(watch);
        done({ code, stdout, stderr, seen: [...seen.values()] });
      });
    },
  );
}

let leftovers: Proc[] = [];
let reused: RunningStack | undefined;

afterAll(async () => {
  await reused?.stop();
  // A failed run must not leave the stack behind.
  for (const proc of leftovers.filter(stillRunning)) {
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe.skipIf(process.platform !== "linux")("npm run demo (dev/demo.ts)", () => {
  it("starts its own stack, shows the whole rotation, exits 0 and stops everything", async () => {
    const ports = {
      GOV_PORT: await freePort(),
      REDIS_REST_PORT: await freePort(),
      EXCHANGE_SIM_PORT: await freePort(),
    };
    const stackFile = join(dir, "own", "stack.json");
    const { code, stdout, stderr, seen } = await runDemo(
      baseEnv({
        GOV_STACK_FILE: stackFile,
        GOV_PORT: String(ports.GOV_PORT),
        REDIS_REST_PORT: String(ports.REDIS_REST_PORT),
        EXCHANGE_SIM_PORT: String(ports.EXCHANGE_SIM_PORT),
      }),
    );
    leftovers = seen;

    expect(stderr, stdout).toBe("");
    expect(code, stdout).toBe(0);
    expect(stdout).toContain("starting the local stack");
    expect(stdout).toContain(`governor http://127.0.0.1:${ports.GOV_PORT}`);
    for (let n = 1; n <= 7; n++) expect(stdout).toMatch(new RegExp(`\\] ${n}\\. `));
    const closePlanId = /close plan (rot_demo[0-9a-f]{4}_SOLUSDT)/.exec(stdout)?.[1];
    expect(closePlanId).toBeDefined();
    expect(stdout).toContain("BLOCK active_slots_waiting_rotation_close");
    expect(stdout).toMatch(/quantum:rotation:lock:demo[0-9a-f]{8} \(TTL \d+ s\)/);
    expect(stdout).toMatch(
      new RegExp(`quantum:stream:apply\\.plan \\d+-\\d+  plan_id=${closePlanId} symbol=SOLUSDT`),
    );
    expect(stdout).toContain("event=ROTATION_LOCK_CREATED");
    expect(stdout).toMatch(
      new RegExp(`quantum:stream:apply\\.result \\d+-\\d+  plan_id=${closePlanId}`),
    );
    expect(stdout).toContain("executed=true");
    expect(stdout).toContain("event=ROTATION_COMPLETE");
    expect(stdout).toContain("event=PLAN_ALLOWED");
    expect(stdout).toMatch(/quantum:permit:demo[0-9a-f]{8} \(TTL \d+ s\)/);
    expect(stdout).toContain('"decision":"ALLOW"');
    expect(stdout).toContain("ALLOW active_slots_rotation_complete (replayed)");
    expect(stdout).toContain("demo passed");
    expect(stdout).toMatch(/total \d+\.\ds/);

    // Nothing of the stack remains: its processes are gone, its ports refuse connections.
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter(stillRunning).map((p) => p.cmdline)).toEqual([]);
    for (const port of Object.values(ports)) expect(await portOpen(port)).toBe(false);
    expect(existsSync(stackFile)).toBe(false);
  }, 90_000);

  it("reuses a running stack, leaves it running, and can run again", async () => {
    const stackFile = join(dir, "reused", "stack.json");
    reused = await startStack({
      args: ["--no-cron"],
      env: baseEnv({
        GOV_STACK_EMPTY: "1",
        GOV_STACK_FILE: stackFile,
        GOV_PORT: String(await freePort()),
        REDIS_REST_PORT: String(await freePort()),
        EXCHANGE_SIM_PORT: String(await freePort()),
      }),
    });
    for (let run = 1; run <= 2; run++) {
      const { code, stdout, stderr } = await runDemo(baseEnv({ GOV_STACK_FILE: stackFile }));
      expect(stderr, stdout).toBe("");
      expect(code, stdout).toBe(0);
      expect(stdout).toContain(`reusing the running stack: governor ${reused.info.governor}`);
      expect(stdout).toContain("reused stack, no FLUSHDB");
      expect(stdout).not.toContain("stopping the stack");
      expect(stdout).toContain("demo passed");
    }
    expect(await governorHealthy(reused.info.governor)).toBe(true);
    expect(await reused.stop()).toBe(0);
    reused = undefined;
  }, 90_000);
});
