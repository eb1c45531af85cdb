/**
 * `npm start`: the whole local stack on 127.0.0.1.
 *
 *   - a private redis-server (free port) + the Upstash REST bridge (REDIS_REST_PORT, 8079)
 *   - the Binance USD-M simulator + Apply Layer simulator (EXCHANGE_SIM_PORT, 8090)
 *   - the governor in workerd via `wrangler dev` (GOV_PORT, 8787), cron test route on
 *
 * Real services instead of local ones: BINANCE_BASE_URL (+ BINANCE_API_KEY,
 * BINANCE_API_SECRET) and/or UPSTASH_REDIS_REST_URL (+ UPSTASH_REDIS_REST_TOKEN).
 *
 * Operators' controls: a fresh admin token (GOV_ADMIN_TOKEN) each run; the
 * alert settings GOV_ALERT_WEBHOOK_URL, GOV_ALERT_FORMAT, GOV_MAX_DRAWDOWN_PCT
 * and GOV_DRAWDOWN_WINDOW_H are passed to the governor from this environment.
 * With no GOV_ALERT_WEBHOOK_URL, a local receiver (dev/alert-receiver.ts)
 * takes the alerts and prints them here.
 *
 * With local services it seeds the demo world (dev/world.ts: a universe, klines
 * with a regime per symbol, open positions, entry records) so the first plan
 * gets a real answer; `--empty` (or GOV_STACK_EMPTY=1) starts without it.
 * Remote services are never seeded.
 *
 * Prints one ready line once `GET /v1/health` answers 200, writes the same as
 * JSON to `.dev/stack.json` (or GOV_STACK_FILE); wrangler's output goes to
 * `wrangler.log` next to it. Ctrl-C / SIGTERM stops everything; if wrangler
 * dies on its own, everything is stopped and the exit code is 1.
 *
 * The cron, as in production: the sweep runs on wrangler.toml's `[triggers]
 * crons` schedule (dev/cron.ts), one line per run. `--no-cron` or
 * GOV_STACK_NO_CRON=1 turns it off (for callers that run the sweep themselves);
 * GOV_STACK_CRON_PERIOD_MS runs it every that many ms instead (tests).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { CronError, cronsInWranglerToml, minuteSchedule, startLocalCron } from "./cron.ts";
import type { LocalCron, MinuteSchedule } from "./cron.ts";
import { REDIS_INSTALL_HINT, redisServerAvailable } from "./redis-server.ts";
import { startDevServices, type DevServices, type ServicesOptions } from "./services.ts";
import { Redis } from "@upstash/redis";
import { redisKeys } from "../lib/keys.ts";
import { DEMO_WORLD, EMPTY_WORLD, describeWorld, seedWorld } from "./world.ts";
import { stackFilePath, wranglerKeyPrefix } from "./stack-client.ts";
import { alertLine, startAlertReceiver, type AlertReceiverHandle } from "./alert-receiver.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

interface StackFile {
  governor: string;
  redis_rest: { url: string; token: string };
  exchange: { url: string; api_key: string; api_secret: string };
  webhook_secret: string;
  read_token: string;
  admin_token: string;
}

class StackError extends Error {}

const env = process.env;
const wranglerToml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");

const USAGE = `Usage: npm start [-- --empty] [--no-cron]

  --empty     start without the demo world (no universe, no klines, no positions);
              the same as GOV_STACK_EMPTY=1
  --no-cron   do not run the sweep every minute (for harnesses that sweep
              themselves); the same as GOV_STACK_NO_CRON=1

Passed to the governor from the environment when set: GOV_ALERT_WEBHOOK_URL,
GOV_ALERT_FORMAT (json|slack|discord), GOV_MAX_DRAWDOWN_PCT, GOV_DRAWDOWN_WINDOW_H.
Without GOV_ALERT_WEBHOOK_URL, alerts are printed here by a local receiver.`;

const flags = (() => {
  try {
    return parseArgs({
      args: process.argv.slice(2),
      options: {
        empty: { type: "boolean" },
        "no-cron": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message.split("\n")[0]}\n${USAGE}`);
    process.exit(2);
  }
})();
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const emptyRequested = flags.empty === true || /^(1|true|yes)$/i.test(env.GOV_STACK_EMPTY ?? "");
const cronOff =
  flags["no-cron"] === true
    ? "--no-cron"
    : ["1", "true"].includes(env.GOV_STACK_NO_CRON ?? "")
      ? "GOV_STACK_NO_CRON"
      : undefined;
const cronSchedules = cronOff === undefined ? schedules() : [];
const cronPeriodMs = positiveInt("GOV_STACK_CRON_PERIOD_MS");

const govPort = port("GOV_PORT", 8787);
const restPort = port("REDIS_REST_PORT", 8079);
const exchangePort = port("EXCHANGE_SIM_PORT", 8090);
const remoteRedis = remote("UPSTASH_REDIS_REST_URL", ["UPSTASH_REDIS_REST_TOKEN"], (url, get) => ({
  url,
  token: get("UPSTASH_REDIS_REST_TOKEN"),
}));
const remoteExchange = remote(
  "BINANCE_BASE_URL",
  ["BINANCE_API_KEY", "BINANCE_API_SECRET"],
  (url, get) => ({ url, apiKey: get("BINANCE_API_KEY"), apiSecret: get("BINANCE_API_SECRET") }),
);

if (!remoteRedis && !redisServerAvailable()) {
  console.error(REDIS_INSTALL_HINT);
  process.exit(1);
}

const stackFile = stackFilePath(undefined, env);
const stackDir = dirname(stackFile);
const logFile = join(stackDir, "wrangler.log");
const envFile = join(stackDir, "wrangler.env");
const persistDir = join(stackDir, "wrangler-state");

let services: DevServices | undefined;
let alertReceiver: AlertReceiverHandle | undefined;
let wrangler: ChildProcess | undefined;
let cron: LocalCron | undefined;
let stopRequested = false;
let shutdownStarted: Promise<void> | undefined;
let writtenStack: string | undefined;

const startup = start();
const startupSettled = startup.then(
  () => undefined,
  () => undefined,
);
startup.catch((error: unknown) => {
  if (stopRequested) return;
  console.error(`stack failed: ${error instanceof Error ? error.message : String(error)}`);
  if (!(error instanceof StackError)) printLogTail();
  requestStop(1);
});

let signals = 0;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    signals += 1;
    if (signals > 1) {
      // A second Ctrl-C: do not wait for graceful shutdowns any longer.
      killWranglerGroup("SIGKILL");
      process.exit(1);
    }
    requestStop(0);
  });
}

// A closed terminal or a dead parent pipe must not crash us before cleanup.
process.stdout.on("error", () => undefined);
process.stderr.on("error", () => undefined);
// wrangler runs in its own session: never die without stopping it.
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (error: unknown) => {
    console.error(
      `stack error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    requestStop(1);
  });
}

// `npm start` runs us under `sh -c`: a SIGTERM sent to npm stops npm and the
// shell but never reaches this process. Stop when the parent goes away.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) requestStop(0);
}, 250).unref();

async function start(): Promise<void> {
  const ports: [string, number][] = [["GOV_PORT", govPort]];
  if (!remoteRedis) ports.push(["REDIS_REST_PORT", restPort]);
  if (!remoteExchange) ports.push(["EXCHANGE_SIM_PORT", exchangePort]);
  for (const [name, value] of ports) {
    if (!(await portFree(value))) {
      throw new StackError(
        `port ${value} (${name}) is already in use; set ${name} to another port`,
      );
    }
  }

  const keyPrefix = wranglerKeyPrefix();
  const options: ServicesOptions = {
    restPort,
    exchangePort,
    // The Apply Layer simulator must read the streams the governor writes.
    keyPrefix,
    remoteRedis,
    remoteExchange,
  };
  services = await startDevServices(options);
  if (stopRequested) return;
  const { redisRest, exchangeApi, credentials } = services;
  // Alerts come to a local receiver, which prints them here or, with a webhook
  // of one's own (GOV_ALERT_WEBHOOK_URL), relays them to it: that URL (a
  // secret) then never reaches wrangler's command line or its log.
  const ownWebhook = env.GOV_ALERT_WEBHOOK_URL;
  alertReceiver = await startAlertReceiver({
    host: HOST,
    onAlert: (alert) => {
      if (!ownWebhook) {
        for (const line of alertLine(alert.body).split("\n")) console.log(`alert | ${line}`);
        return;
      }
      fetch(ownWebhook, {
        method: "POST",
        headers: { "content-type": alert.content_type || "application/json" },
        body: alert.raw,
      }).catch((error: unknown) => {
        console.error(`alert relay failed: ${(error as Error).name}`);
      });
    },
  });
  const alertWebhook = `${alertReceiver.url}/alerts`;

  mkdirSync(stackDir, { recursive: true });
  // Secrets go to wrangler through a private env file, not the command line.
  const governorEnv = {
    UPSTASH_REDIS_REST_URL: redisRest.url,
    UPSTASH_REDIS_REST_TOKEN: redisRest.token,
    BINANCE_BASE_URL: exchangeApi.url,
    BINANCE_API_KEY: exchangeApi.apiKey,
    BINANCE_API_SECRET: exchangeApi.apiSecret,
    GOV_WEBHOOK_SECRET: credentials.webhookSecret,
    GOV_READ_TOKEN: credentials.readToken,
    GOV_ADMIN_TOKEN: credentials.adminToken,
    GOV_ALERT_WEBHOOK_URL: alertWebhook,
    ...passedThrough([
      "GOV_ALERT_FORMAT",
      "GOV_MAX_DRAWDOWN_PCT",
      "GOV_DRAWDOWN_WINDOW_H",
      "GOV_ALERT_COOLDOWN_S",
    ]),
  };
  writeFileSync(envFile, dotenv(governorEnv), { mode: 0o600 });
  optionalVars = Object.fromEntries(
    Object.entries(governorEnv).filter(([key]) => !declaredInWranglerToml(key)),
  );

  // Seeded while wrangler boots; a remote service is never seeded.
  const world = emptyRequested || remoteRedis || remoteExchange ? EMPTY_WORLD : DEMO_WORLD;
  const seeding =
    world === DEMO_WORLD
      ? seedWorld(world, {
          exchangeUrl: exchangeApi.url,
          redis: new Redis({ url: redisRest.url, token: redisRest.token, enableTelemetry: false }),
          keys: redisKeys(keyPrefix),
        }).catch((error: unknown) => {
          throw new StackError(`seeding the ${world.name} world failed: ${String(error)}`);
        })
      : Promise.resolve();
  // Not awaited yet: a rejection is handled below, after the governor is up.
  seeding.catch(() => undefined);

  const governor = `http://${HOST}:${govPort}`;
  startWrangler();
  await waitHealthy(governor);
  await seeding;
  if (stopRequested) return;

  const stack: StackFile = {
    governor,
    redis_rest: { url: redisRest.url, token: redisRest.token },
    exchange: {
      url: exchangeApi.url,
      api_key: exchangeApi.apiKey,
      api_secret: exchangeApi.apiSecret,
    },
    webhook_secret: credentials.webhookSecret,
    read_token: credentials.readToken,
    admin_token: credentials.adminToken,
  };
  writtenStack = `${JSON.stringify(stack, null, 2)}\n`;
  const tmp = `${stackFile}.${process.pid}.tmp`;
  writeFileSync(tmp, writtenStack, { mode: 0o600 });
  renameSync(tmp, stackFile);

  // performance.now() counts from process start.
  const seconds = (performance.now() / 1000).toFixed(1);
  const token = remoteRedis ? "token from UPSTASH_REDIS_REST_TOKEN" : `token ${redisRest.token}`;
  const keys = remoteExchange
    ? "api_key/api_secret from BINANCE_API_KEY/BINANCE_API_SECRET"
    : `api_key ${exchangeApi.apiKey}, api_secret ${exchangeApi.apiSecret}`;
  const worldNote =
    world === EMPTY_WORLD && !emptyRequested ? " (remote services are never seeded)" : "";
  console.log(
    `governor ready in ${seconds}s: governor=${governor} redis_rest=${redisRest.url} (${token}) ` +
      `exchange=${exchangeApi.url} (${keys}) webhook_secret=${credentials.webhookSecret} ` +
      `read_token=${credentials.readToken} admin_token=${credentials.adminToken} ` +
      `alerts=${ownWebhook ? "relayed to GOV_ALERT_WEBHOOK_URL" : "printed here"} stack_file=${display(stackFile)} ` +
      `wrangler_log=${display(logFile)} world=${describeWorld(world)}${worldNote} ` +
      `try: ${world.tryNext.join(" ; ")}`,
  );
  startCron(governor);
}

/** The sweep on wrangler.toml's cron schedule, as Cloudflare runs it in production. */
function startCron(governor: string): void {
  const route = `GET ${governor}/__scheduled?cron=*+*+*+*+*`;
  if (cronOff !== undefined) {
    console.log(`cron: off (${cronOff}); the sweep runs when called: ${route}`);
    return;
  }
  if (cronSchedules.length === 0) {
    console.log(
      `cron: wrangler.toml has no [triggers] crons; the sweep runs when called: ${route}`,
    );
    return;
  }
  const when = cronPeriodMs
    ? `every ${cronPeriodMs} ms (GOV_STACK_CRON_PERIOD_MS)`
    : "on wrangler.toml's schedule";
  console.log(
    `cron: the sweep runs ${when}: ${cronSchedules.map((c) => `"${c.expression}"`).join(", ")}; ` +
      "one line per run (off: --no-cron or GOV_STACK_NO_CRON=1)",
  );
  cron = startLocalCron({
    governor,
    schedules: cronSchedules,
    periodMs: cronPeriodMs,
    wranglerLog: logFile,
    log: (line) => console.log(line),
    logError: (line) => {
      if (!stopRequested) console.error(line);
    },
  });
}

function schedules(): MinuteSchedule[] {
  try {
    return cronsInWranglerToml(wranglerToml).map(minuteSchedule);
  } catch (error) {
    if (!(error instanceof CronError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}

/**
 * With `secrets.required` in wrangler.toml, `wrangler dev` loads from the env
 * file only the required secrets and the declared [vars], and a `--var` given
 * on its command line wins over both. So the optional settings go as `--var
 * KEY:VALUE`: the dev admin token (a dev credential, printed on the ready line
 * anyway), the local alert receiver's URL, the pass-through settings. No
 * secret of one's own is among them (an alert webhook is relayed, above).
 */
let optionalVars: Record<string, string> = {};

function declaredInWranglerToml(key: string): boolean {
  return new RegExp(`^\\s*${key}\\s*=|"${key}"`, "m").test(wranglerToml);
}

function startWrangler(): void {
  const require = createRequire(import.meta.url);
  const wranglerBin = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
  const log = openSync(logFile, "w", 0o600);
  try {
    wrangler = spawn(
      process.execPath,
      [
        wranglerBin,
        "dev",
        "--config",
        join(ROOT, "wrangler.toml"),
        "--ip",
        HOST,
        "--port",
        String(govPort),
        "--test-scheduled",
        "--show-interactive-dev-session=false",
        "--env-file",
        envFile,
        // The bench compares a governor without its counters (GOV_METRICS=off). A var, not
        // a secret: wrangler dev loads only `secrets.required` from the env file.
        ...(env.GOV_METRICS ? ["--var", `GOV_METRICS:${env.GOV_METRICS}`] : []),
        "--persist-to",
        persistDir,
        ...Object.entries(optionalVars).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
      ],
      {
        cwd: ROOT,
        // Its own process group: Ctrl-C reaches it only through us, and the
        // whole group (wrangler, its CLI child, workerd) is stopped together.
        detached: true,
        stdio: ["ignore", log, log],
        env: {
          ...env,
          CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true",
          CLOUDFLARE_INCLUDE_PROCESS_ENV: "false",
          WRANGLER_SEND_METRICS: "false",
          FORCE_COLOR: "0",
          NO_COLOR: "1",
        },
      },
    );
  } finally {
    closeSync(log);
  }
  const child = wrangler;
  child.once("exit", (code, signal) => {
    if (stopRequested) return;
    console.error(
      `wrangler exited unexpectedly (${signal ?? `code ${code}`}); stopping the stack. ` +
        `Last lines of ${logFile}:`,
    );
    printLogTail();
    requestStop(1);
  });
}

async function waitHealthy(governor: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last: string;
  let warned = false;
  while (!stopRequested) {
    try {
      const response = await fetch(`${governor}/v1/health`, { signal: AbortSignal.timeout(5000) });
      const body = await response.text();
      if (response.status === 200) return;
      last = `${response.status} ${body.slice(0, 500)}`;
    } catch (error) {
      last =
        error instanceof Error
          ? ((error.cause as Error | undefined)?.message ?? error.message)
          : String(error);
    }
    if (!warned && Date.now() > deadline - READY_TIMEOUT_MS + 10_000) {
      warned = true;
      console.error(`still waiting for ${governor}/v1/health (last: ${last})`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `governor not healthy after ${READY_TIMEOUT_MS / 1000}s (last /v1/health: ${last})`,
      );
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

function requestStop(code: number): void {
  stopRequested = true;
  shutdownStarted ??= shutdown(code);
}

async function shutdown(code: number): Promise<void> {
  await startupSettled;
  await cron?.stop();
  let exitCode = code;
  if (wrangler?.pid !== undefined && groupAlive(wrangler.pid)) {
    // Also when wrangler itself is already gone: workerd may have outlived it.
    killWranglerGroup("SIGTERM");
    if (!(await waitGroupGone(STOP_GRACE_MS))) {
      console.error("wrangler did not stop in time; killing it");
      killWranglerGroup("SIGKILL");
      if (!(await waitGroupGone(2000))) exitCode = 1;
    }
  }
  await alertReceiver?.stop().catch(() => undefined);
  await services?.stop().catch((error: unknown) => {
    console.error(`stopping services: ${error instanceof Error ? error.message : String(error)}`);
    exitCode = 1;
  });
  cleanupFiles();
  if (code === 0) console.log("governor stack stopped");
  process.exit(exitCode);
}

/** Signal wrangler's whole process group (wrangler, its CLI child and workerd). */
function killWranglerGroup(signal: NodeJS.Signals): void {
  if (wrangler?.pid === undefined) return;
  try {
    process.kill(-wrangler.pid, signal);
  } catch {
    // already gone
  }
}

async function waitGroupGone(timeoutMs: number): Promise<boolean> {
  const pid = wrangler?.pid;
  if (pid === undefined) return true;
  const deadline = Date.now() + timeoutMs;
  while (groupAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * Whether process group `pgid` still has a live (non-zombie) member. Zombies
 * count for kill(-pgid, 0) until whoever inherited them reaps them, so on
 * Linux /proc is consulted to ignore them.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}

function cleanupFiles(): void {
  rmSync(envFile, { force: true });
  // Remove the stack file only if it still describes this (now stopped) stack.
  try {
    if (writtenStack !== undefined && readFileSync(stackFile, "utf8") === writtenStack) {
      rmSync(stackFile, { force: true });
    }
  } catch {
    // already gone
  }
}

function printLogTail(lines = 30): void {
  if (!existsSync(logFile)) return;
  const text = readFileSync(logFile, "utf8").trim();
  if (text === "") return;
  const tail = text
    .split("\n")
    .filter((line) => !/^(env\.\S+ \(|Binding\s+Resource)/.test(line)) // the bindings table
    .slice(-lines);
  console.error(tail.map((line) => `  wrangler| ${line}`).join("\n"));
}

function port(name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65_535) {
    console.error(`${name} must be a TCP port number, got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return value;
}

function positiveInt(name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${name} must be a positive whole number of ms, got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return value;
}

function remote<T>(
  urlName: string,
  secretNames: string[],
  build: (url: string, get: (name: string) => string) => T,
): T | undefined {
  const url = env[urlName];
  if (!url) return undefined;
  const missing = secretNames.filter((name) => !env[name]);
  if (missing.length > 0) {
    console.error(`${urlName} is set, so ${missing.join(" and ")} must be set too`);
    process.exit(1);
  }
  return build(url, (name) => env[name] ?? "");
}

/** The variables of `names` this process has, to hand to the governor as they are. */
function passedThrough(names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (env[name] ? [[name, env[name]]] : [])));
}

function dotenv(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => {
      if (/['\r\n]/.test(value)) {
        throw new StackError(`${key} contains a quote or newline, which the env file cannot carry`);
      }
      return `${key}='${value}'\n`;
    })
    .join("");
}

function portFree(value: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(value, HOST, () => server.close(() => resolve(true)));
  });
}

/** A path relative to the working directory when it is inside it. */
function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
