/**
 * The direct mode: the built Worker (`wrangler deploy --dry-run` bundle) and
 * the floor worker, each served by workerd through Miniflare's API, with no
 * `wrangler dev` proxy in front; both talk to the stack's bridge and simulator.
 * Requests go to each worker's own socket (Miniflare's `unsafeDirectSockets`;
 * its entry socket still opens, and nothing is sent there), not through
 * Miniflare's entry worker, a dev-only proxy in JavaScript that
 * production does not have (it cost each side about 0.5 ms of CPU and 0.6 to
 * 0.9 ms of p50 per request: bench/PROFILE.md, round 8).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { stripTypeScriptTypes } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_readConfig } from "wrangler";
import { sendPlan, type StackInfo } from "./clients.ts";
import { workerdBelow } from "./cpu.ts";
import type { PayloadSizes } from "./own-cost.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export interface DirectWorker {
  url: string;
  /** the workerd process serving it */
  pid: number;
  /** the module workerd runs (the bundle's text) */
  source: string;
  /** the worker's name: its inspector target is `ws://127.0.0.1:{inspectorPort}/core:user:{name}` */
  name: string;
  dispose(): Promise<void>;
}

/** Options of the workerd process itself. */
export interface ServeOptions {
  /** workerd's V8 inspector (Chrome DevTools protocol) on this port of 127.0.0.1 */
  inspectorPort?: number;
  /** the checkout to build the governor from (default: this one) */
  root?: string;
}

const text = (value: string) => ({ type: "text" as const, value });

/** Serve one module on workerd; returns its URL and workerd's pid. */
async function serve(
  name: string,
  source: string,
  env: Record<string, unknown>,
  options: ServeOptions = {},
): Promise<DirectWorker> {
  const before = new Set(workerdBelow(process.pid));
  const config = {
    name,
    compatibilityDate: "2026-11-01",
    compatibilityFlags: ["nodejs_compat"],
    manifest: {
      mainModule: "index.js",
      modules: { "index.js": { type: "esm", contents: source } },
    },
    env,
  };
  // Miniflare 5's option types are a deep zod union; the shape above is what it validates.
  // The worker's console lines (one JSON decision log per evaluation) are dropped, not printed.
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    handleStructuredLogs: () => undefined,
    ...(options.inspectorPort === undefined ? {} : { inspectorPort: options.inspectorPort }),
    workers: [{ config, dev: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } }],
  } as never);
  await mf.ready;
  const url = String(await mf.unsafeGetDirectURL(name)).replace(/\/$/, "");
  const pid = workerdBelow(process.pid).find((p) => !before.has(p));
  if (pid === undefined) throw new Error(`no workerd process found for ${name}`);
  return { url, pid, source, name, dispose: () => mf.dispose() };
}

function secrets(stack: StackInfo, keyPrefix: string): Record<string, string> {
  return {
    UPSTASH_REDIS_REST_URL: stack.redis_rest.url,
    UPSTASH_REDIS_REST_TOKEN: stack.redis_rest.token,
    BINANCE_BASE_URL: stack.exchange.url,
    BINANCE_API_KEY: stack.exchange.api_key,
    BINANCE_API_SECRET: stack.exchange.api_secret,
    GOV_WEBHOOK_SECRET: stack.webhook_secret,
    GOV_READ_TOKEN: stack.read_token,
    GOV_KEY_PREFIX: keyPrefix,
  };
}

/**
 * The governor as `wrangler deploy` would bundle it, with the default environment's vars
 * (`overrides` replace some of them).
 */
export async function serveGovernor(
  stack: StackInfo,
  keyPrefix: string,
  overrides: Record<string, string> = {},
  options: ServeOptions = {},
): Promise<DirectWorker> {
  const outdir = mkdtempSync(join(tmpdir(), "gov-bench-"));
  execFileSync(
    process.execPath,
    [
      join(
        dirname(fileURLToPath(import.meta.resolve("wrangler/package.json"))),
        "bin",
        "wrangler.js",
      ),
      "deploy",
      "--dry-run",
      "--env=",
      "--outdir",
      outdir,
    ],
    { cwd: options.root ?? ROOT, stdio: "ignore" },
  );
  const config = unstable_readConfig({ config: join(options.root ?? ROOT, "wrangler.toml") });
  const vars = Object.fromEntries(
    Object.entries({ ...config.vars, ...overrides }).map(([k, v]) => [
      k,
      text(typeof v === "string" ? v : JSON.stringify(v)),
    ]),
  );
  const env = {
    ...vars,
    ...Object.fromEntries(Object.entries(secrets(stack, keyPrefix)).map(([k, v]) => [k, text(v)])),
    PLACED: { type: "worker", worker: config.name },
    PLANS_QUEUE: { type: "queue", name: "governor-plans" },
  };
  return serve(
    config.name ?? "governor",
    readFileSync(join(outdir, "index.js"), "utf8"),
    env,
    options,
  );
}

/** The floor worker (bench/floor-worker.ts), types stripped. */
export async function serveFloor(stack: StackInfo, keyPrefix: string): Promise<DirectWorker> {
  const source = stripTypeScriptTypes(readFileSync(join(ROOT, "bench/floor-worker.ts"), "utf8"));
  const env = Object.fromEntries(
    Object.entries(secrets(stack, keyPrefix)).map(([k, v]) => [k, text(v)]),
  );
  return serve("governor-floor", source, env);
}

/**
 * One request to the floor worker: the same signed plan POST the governor
 * gets (`plan()` makes a fresh one), with the payload sizes its dependency
 * calls are padded to in the query. Throws unless the floor answered 200.
 */
export function floorRequest(
  floor: DirectWorker,
  stack: StackInfo,
  sizes: PayloadSizes,
  plan: () => Record<string, unknown>,
): () => Promise<void> {
  const query = new URLSearchParams(
    Object.entries(sizes).map(([k, v]): [string, string] => [
      k,
      String(Number.isFinite(v) ? Math.round(v) : 0),
    ]),
  );
  const url = `${floor.url}/v1/plans?${query}`;
  return async () => {
    const answer = await sendPlan(url, stack.webhook_secret, plan());
    if (answer.status !== 200) throw new Error(`floor worker: HTTP ${answer.status}`);
  };
}
