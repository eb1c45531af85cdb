/**
 * Run `node dev/stack.ts` (the `npm start` stack) as a child process on free
 * ports with a private stack file, wait for its ready line, and stop it again.
 * Used by the benchmark (bench/run.ts) and the fault suite (test/faults).
 *
 * The child stops by itself when this process goes away (dev/stack.ts watches
 * its parent), so a crashed caller does not leave a stack behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./free-port.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The content of `.dev/stack.json` (the README (Local stack)). */
export interface StackInfo {
  governor: string;
  redis_rest: { url: string; token: string };
  exchange: { url: string; api_key: string; api_secret: string };
  webhook_secret: string;
  read_token: string;
  /** The admin token (PUT /v1/trading-state). */
  admin_token?: string;
}

export interface StackProcess {
  stack: StackInfo;
  /** pid of the `node dev/stack.ts` process (its redis-server is a direct child of it). */
  pid: number;
  stackFile: string;
  /** The ports it was started on. */
  ports: { governor: number; redisRest: number; exchange: number };
  /** The ready line the stack printed. */
  readyLine: string;
  /** SIGTERM, wait for a clean exit (SIGKILL after `graceMs`), remove the temp dir. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartStackOptions {
  /** Extra environment for the stack (e.g. UPSTASH_REDIS_REST_URL to use a bridge of the caller's). */
  env?: Record<string, string>;
  /** @default 90_000 */
  readyTimeoutMs?: number;
  /** Receives every line the stack prints (stdout and stderr). */
  onLine?: (line: string) => void;
  /**
   * Run the local cron (the sweep each minute). Off by default: the callers (the
   * fault suite, the benchmark) run the sweep themselves, and a sweep at a minute
   * boundary would add Redis requests to what they count.
   * @default false
   */
  cron?: boolean;
}

/** Parse and check a stack file written by dev/stack.ts. */
export function readStackFile(path: string): StackInfo {
  const raw = JSON.parse(readFileSync(path, "utf8")) as Partial<StackInfo>;
  const ok =
    typeof raw.governor === "string" &&
    typeof raw.redis_rest?.url === "string" &&
    typeof raw.redis_rest.token === "string" &&
    typeof raw.exchange?.url === "string" &&
    typeof raw.exchange.api_key === "string" &&
    typeof raw.exchange.api_secret === "string" &&
    typeof raw.webhook_secret === "string" &&
    typeof raw.read_token === "string";
  if (!ok) throw new Error(`${path} is not a stack file written by dev/stack.ts`);
  return raw as StackInfo;
}

/** `n` distinct free TCP ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

export async function startStackProcess(options: StartStackOptions = {}): Promise<StackProcess> {
  const [governorPort, restPort, exchangePort] = (await freePorts(3)) as [number, number, number];
  const dir = mkdtempSync(join(tmpdir(), "gov-stack-"));
  const stackFile = join(dir, "stack.json");
  const args = options.cron ? [] : ["--no-cron"];
  const child = spawn(process.execPath, [join(ROOT, "dev", "stack.ts"), ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      GOV_PORT: String(governorPort),
      REDIS_REST_PORT: String(restPort),
      EXCHANGE_SIM_PORT: String(exchangePort),
      GOV_STACK_FILE: stackFile,
      // Benchmarks and fault tests build their own state: no demo world.
      GOV_STACK_EMPTY: "1",
      ...options.env,
    },
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolveExit) =>
    child.once("exit", (code) => resolveExit(code)),
  );

  const stop = async (graceMs = 15_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const readyLine = await waitReady(child, output, options, exited);
    return {
      stack: readStackFile(stackFile),
      pid: child.pid!,
      stackFile,
      ports: { governor: governorPort, redisRest: restPort, exchange: exchangePort },
      readyLine,
      stop,
    };
  } catch (error) {
    await stop(5_000);
    throw error;
  }
}

function waitReady(
  child: ChildProcess,
  output: string[],
  options: StartStackOptions,
  exited: Promise<number | null>,
): Promise<string> {
  const timeoutMs = options.readyTimeoutMs ?? 90_000;
  return new Promise((resolveReady, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const tail = () => output.slice(-20).join("\n");
    const timer = setTimeout(
      () => settle(() => reject(new Error(`stack not ready after ${timeoutMs} ms:\n${tail()}`))),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() === "") continue;
        output.push(line);
        if (output.length > 200) output.shift();
        options.onLine?.(line);
        if (line.startsWith("governor ready")) settle(() => resolveReady(line));
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) =>
      settle(() => reject(new Error(`stack exited (code ${code}) before ready:\n${tail()}`))),
    );
  });
}

/**
 * Direct children of `pid` whose command name is `comm` (Linux /proc), e.g. the
 * redis-server a stack process started.
 */
export function childPids(pid: number, comm: string): number[] {
  let children: string;
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8");
  } catch {
    return [];
  }
  return children
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((child) => {
      try {
        return readFileSync(`/proc/${child}/comm`, "utf8").trim() === comm;
      } catch {
        return false;
      }
    });
}
