/**
 * Shared helpers for the local-stack clients (`npm run plan`, `npm run demo`),
 * the benchmark and the tests: the one reader of `.dev/stack.json`
 * (`stackFilePath`, `readStackFile`), the one starter of `dev/stack.ts`
 * (`startStack`; `startPrivateStack` for a stack of one's own on free ports),
 * plans signed by the governor client (lib/client), and the read endpoints.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import {
  GovernorClient,
  GovernorUnavailableError,
  readAnswer,
  unreachableReason,
} from "../lib/client/governor-client.ts";
import { freePort } from "./free-port.ts";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** A client-side problem worth one clear line (bad stack file, unreachable governor, ...). */
export class ClientError extends Error {}

const StackFileSchema = z.object({
  governor: z.string().url(),
  redis_rest: z.object({ url: z.string().url(), token: z.string().min(1) }),
  exchange: z.object({ url: z.string().url(), api_key: z.string(), api_secret: z.string() }),
  webhook_secret: z.string().min(1),
  read_token: z.string().min(1),
  /** Written since the trading state controls; a stack started before them has none. */
  admin_token: z.string().min(1).optional(),
});

/** What `npm start` writes to `.dev/stack.json` (the README (Local stack)). */
export type StackInfo = z.infer<typeof StackFileSchema>;

/**
 * Where the stack file is: `explicit` (relative to the working directory) if
 * given, else GOV_STACK_FILE or `.dev/stack.json` relative to the repository,
 * exactly as dev/stack.ts resolves it.
 */
export function stackFilePath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return resolve(explicit);
  return resolve(ROOT, env.GOV_STACK_FILE || ".dev/stack.json");
}

/** The stack file's content, or undefined when there is no such file. Throws on a bad file. */
export function readStackFile(path: string): StackInfo | undefined {
  if (!existsSync(path)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ClientError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = StackFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ClientError(
      `${path} is not a stack file (${issue?.path.join(".") || "root"}: ${issue?.message})`,
    );
  }
  return parsed.data;
}

/** GOV_KEY_PREFIX as wrangler.toml sets it for the local governor (default `quantum`). */
export function wranglerKeyPrefix(): string {
  const toml = readFileSync(resolve(ROOT, "wrangler.toml"), "utf8");
  return /^GOV_KEY_PREFIX\s*=\s*"([^"]*)"/m.exec(toml)?.[1] ?? "quantum";
}

/** A fresh plan id: `{prefix}-{8 hex}`, so its first 8 characters (the close plan id) vary. */
export function newPlanId(prefix: string): string {
  return `${prefix}${randomBytes(4).toString("hex")}`;
}

export interface JsonResponse {
  status: number;
  /** The parsed body, or the raw text when it is not JSON. */
  body: unknown;
  text: string;
}

/** fetch with a timeout; network failures become a one-line ClientError. */
export async function request(
  url: string,
  init: RequestInit & { timeoutMs?: number } = {},
): Promise<JsonResponse> {
  const { timeoutMs = 10_000, ...rest } = init;
  let response: Response;
  try {
    response = await fetch(url, { ...rest, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new ClientError(
      `${rest.method ?? "GET"} ${url} failed: ${unreachableReason(error, timeoutMs)}`,
    );
  }
  return readAnswer(response);
}

/** POST one signed plan to `{governor}/v1/plans` (lib/client), once; any status is returned. */
export async function postPlan(
  governor: string,
  secret: string,
  plan: Record<string, unknown>,
): Promise<JsonResponse> {
  const client = new GovernorClient({
    baseUrl: governor,
    webhookSecret: secret,
    timeoutMs: 10_000,
  });
  try {
    return await client.send(plan);
  } catch (error) {
    if (error instanceof GovernorUnavailableError) throw new ClientError(error.message);
    throw error;
  }
}

/** GET a read endpoint with the bearer token. */
export function getWithToken(url: string, token: string): Promise<JsonResponse> {
  return request(url, { headers: { authorization: `Bearer ${token}` } });
}

/** Whether `{governor}/v1/health` answers 200. */
export async function governorHealthy(governor: string, timeoutMs = 3000): Promise<boolean> {
  try {
    return (await request(`${trimSlash(governor)}/v1/health`, { timeoutMs })).status === 200;
  } catch {
    return false;
  }
}

export function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

// ---------------------------------------------------------------------------
// dev/stack.ts as a child process

export interface RunningStack {
  info: StackInfo;
  readyLine: string;
  child: ChildProcess;
  /** SIGTERM, wait for a clean exit (SIGKILL after `graceMs`); resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * Spawn `node dev/stack.ts` with `env`, wait for its ready line, and read the
 * stack file it wrote. `env` is the child's whole environment. stdout/stderr
 * lines other than the ready line go to `onOutput`.
 */
export async function startStack(options: {
  env: NodeJS.ProcessEnv;
  /** Arguments for dev/stack.ts, e.g. ["--empty", "--no-cron"]. */
  args?: string[];
  timeoutMs?: number;
  onOutput?: (line: string) => void;
}): Promise<RunningStack> {
  const { env, args = [], timeoutMs = 90_000, onOutput = () => {} } = options;
  const child = spawn(process.execPath, [resolve(ROOT, "dev/stack.ts"), ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((done) => {
    child.once("exit", (code, signal) => done(signal ? null : code));
  });
  const tail: string[] = [];
  const remember = (line: string) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    onOutput(line);
  };
  createInterface({ input: child.stderr! }).on("line", remember);
  const stdout = createInterface({ input: child.stdout! });

  const stop = async (graceMs = 20_000): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return exited;
  };

  let readyLine: string;
  let isReady = false;
  try {
    readyLine = await new Promise<string>((ready, fail) => {
      const timer = setTimeout(
        () => fail(new ClientError(`the stack printed no ready line within ${timeoutMs} ms`)),
        timeoutMs,
      );
      stdout.on("line", (line) => {
        if (!isReady && line.startsWith("governor ready in ")) {
          isReady = true;
          clearTimeout(timer);
          ready(line);
        } else {
          remember(line);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        fail(
          new ClientError(
            `the stack exited (code ${code}) before it was ready:\n${tail.map((l) => `  | ${l}`).join("\n")}`,
          ),
        );
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const file = stackFilePath(undefined, env);
  const info = readStackFile(file);
  if (!info) {
    await stop();
    throw new ClientError(`the stack is ready but wrote no ${file}`);
  }
  return { info, readyLine, child, stop };
}

export interface PrivateStack extends RunningStack {
  /** Its stack file, in a temporary directory removed by `stop`. */
  stackFile: string;
  /** The ports it was started on. */
  ports: { governor: number; redisRest: number; exchange: number };
}

/**
 * A stack of the caller's own (the benchmark, the fault suite, the browser
 * tests): `startStack` on free ports with a private stack file and no demo
 * world, this process's environment plus `options.env`. The local cron is off
 * unless asked for: those callers run the sweep themselves, and a sweep at a
 * minute boundary would add Redis requests to what they count. The child stops
 * by itself when this process goes away (dev/stack.ts watches its parent).
 */
export async function startPrivateStack(
  options: {
    /** Extra environment, e.g. UPSTASH_REDIS_REST_URL for a bridge of the caller's. */
    env?: Record<string, string>;
    /** @default false */
    cron?: boolean;
    timeoutMs?: number;
    onOutput?: (line: string) => void;
  } = {},
): Promise<PrivateStack> {
  const [governor, redisRest, exchange] = await freePorts(3);
  const dir = mkdtempSync(join(tmpdir(), "gov-stack-"));
  const stackFile = join(dir, "stack.json");
  try {
    const running = await startStack({
      // This process's pointers at other services (a real Upstash, Binance) never reach it.
      env: envWithoutStackOverrides({
        GOV_PORT: String(governor),
        REDIS_REST_PORT: String(redisRest),
        EXCHANGE_SIM_PORT: String(exchange),
        GOV_STACK_FILE: stackFile,
        GOV_STACK_EMPTY: "1",
        ...options.env,
      }),
      args: options.cron ? [] : ["--no-cron"],
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.onOutput === undefined ? {} : { onOutput: options.onOutput }),
    });
    return {
      ...running,
      stackFile,
      ports: { governor, redisRest, exchange },
      async stop(graceMs) {
        try {
          return await running.stop(graceMs);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** `n` distinct free TCP ports on 127.0.0.1. */
async function freePorts(n: 3): Promise<[number, number, number]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports] as [number, number, number];
}

/** Variables that point the stack at a remote Redis or Binance instead of the local services. */
export const REMOTE_SERVICE_ENV_VARS = [
  "UPSTASH_REDIS_REST_URL",
  "UPSTASH_REDIS_REST_TOKEN",
  "BINANCE_BASE_URL",
  "BINANCE_API_KEY",
  "BINANCE_API_SECRET",
] as const;

/** Variables that point a governor, the stack or the CLI at other services or ports. */
export const STACK_ENV_VARS = [
  "GOV_URL",
  "GOV_WEBHOOK_SECRET",
  "GOV_ADMIN_TOKEN",
  "GOV_ALERT_WEBHOOK_URL",
  ...REMOTE_SERVICE_ENV_VARS,
  "GOV_PORT",
  "REDIS_REST_PORT",
  "EXCHANGE_SIM_PORT",
] as const;

/** This process's environment without STACK_ENV_VARS, plus `extra`. */
export function envWithoutStackOverrides(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of STACK_ENV_VARS) delete env[name];
  return { ...env, ...extra };
}
