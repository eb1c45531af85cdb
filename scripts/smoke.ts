/**
 * `npm run smoke -- --url <governor> --env-file <file>`: check a deployed
 * governor without changing anything it decides. See `--help`.
 *
 * Exit codes: 0 every check passed, 1 a check failed or the governor did not
 * answer, 2 bad flags or a missing/incomplete env file.
 */
import { readFileSync } from "node:fs";
import { parseArgs, parseEnv } from "node:util";
import { GovernorClient, GovernorError } from "../lib/client/governor-client.ts";
import { ClientError, request, trimSlash, type JsonResponse } from "../dev/stack-client.ts";

const HELP = `Usage: npm run smoke -- --url URL --env-file FILE

Check a deployed governor (docs/deploy.md, "Smoke check"). Nothing it decides is
changed: the one plan sent is signed but not EXECUTE, so it is IGNORED and writes
nothing, which the last check verifies.

  1  GET /v1/health answers 200 and both Redis and Binance are reachable
  2  POST /v1/plans unsigned                -> 401
  3  POST /v1/plans with a bad signature    -> 401
  4  POST /v1/plans signed 10 minutes ago   -> 401
  5  GET /v1/status, GET /v1/plans/{id}, GET / without the read token -> 401
  6  GET /v1/status with the read token     -> 200, and Binance positions readable
                                               from where the governor runs
  7  a signed plan with decision SMOKE_TEST -> 200 IGNORED
  8  GET /v1/plans/{that id}                -> no permit, block, lock or decision

Flags:
  --url URL        the governor's base URL (env GOV_URL)
  --env-file FILE  GOV_WEBHOOK_SECRET and GOV_READ_TOKEN, as KEY=VALUE lines or a
                   JSON object (the file given to wrangler deploy --secrets-file
                   serves); without it, both are read from the environment
  --symbol SYMBOL  symbol of the ignored plan (default BTCUSDT)
  --timeout-ms N   per request (default 10000)
  --help, -h       show this help

Exit codes: 0 every check passed, 1 a check failed or the governor did not
answer, 2 bad flags or a missing/incomplete env file.`;

const options = {
  url: { type: "string" },
  "env-file": { type: "string" },
  symbol: { type: "string", default: "BTCUSDT" },
  "timeout-ms": { type: "string", default: "10000" },
  help: { type: "boolean", short: "h" },
} as const;

class UsageError extends Error {}

interface Target {
  url: string;
  webhookSecret: string;
  readToken: string;
  symbol: string;
  timeoutMs: number;
}

interface Check {
  name: string;
  run: () => Promise<string>;
}

/** A failed check: one line saying what was expected and what came back. */
class CheckFailed extends Error {}

function target(args: string[], env: NodeJS.ProcessEnv): Target | "help" {
  let values;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0]);
  }
  if (values.help) return "help";
  const url = values.url ?? env.GOV_URL;
  if (!url) throw new UsageError("--url is required (or GOV_URL)");
  if (!/^https?:\/\/[^/]+/.test(url))
    throw new UsageError(`--url must be http(s)://..., got ${url}`);
  let secrets: Record<string, string | undefined> = env;
  const file = values["env-file"];
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw new UsageError(`cannot read --env-file ${file}: ${(error as Error).message}`);
    }
    secrets = parseSecretsFile(text, file);
  }
  const where = file === undefined ? "the environment" : file;
  const missing = ["GOV_WEBHOOK_SECRET", "GOV_READ_TOKEN"].filter((name) => !secrets[name]);
  if (missing.length > 0) throw new UsageError(`${missing.join(" and ")} missing from ${where}`);
  const timeoutMs = Number(values["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new UsageError(`--timeout-ms must be a positive integer, got ${values["timeout-ms"]}`);
  }
  return {
    url: trimSlash(url),
    webhookSecret: secrets.GOV_WEBHOOK_SECRET!,
    readToken: secrets.GOV_READ_TOKEN!,
    symbol: values.symbol,
    timeoutMs,
  };
}

/** KEY=VALUE lines, or the JSON object `wrangler deploy --secrets-file` also takes. */
function parseSecretsFile(text: string, file: string): Record<string, string | undefined> {
  if (!text.trimStart().startsWith("{")) return parseEnv(text);
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    return Object.fromEntries(
      Object.entries(json).map(([k, v]) => [k, typeof v === "string" ? v : undefined]),
    );
  } catch (error) {
    throw new UsageError(`--env-file ${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function expectStatus(response: JsonResponse, status: number, what: string): void {
  if (response.status !== status) {
    const code = (response.body as { error?: { code?: string } } | null)?.error?.code;
    throw new CheckFailed(
      `${what}: expected HTTP ${status}, got ${response.status}${code ? ` (${code})` : ""}`,
    );
  }
}

function checks(t: Target): Check[] {
  const get = (path: string, token?: string) =>
    request(`${t.url}${path}`, {
      timeoutMs: t.timeoutMs,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  const post = (headers: Record<string, string>, body: string) =>
    request(`${t.url}/v1/plans`, { method: "POST", timeoutMs: t.timeoutMs, headers, body });
  const client = (secret: string, now?: () => number) =>
    new GovernorClient({
      baseUrl: t.url,
      webhookSecret: secret,
      timeoutMs: t.timeoutMs,
      ...(now ? { now } : {}),
    });
  const planId = `smoke-${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 8)}`;
  const plan = { plan_id: planId, symbol: t.symbol, action: "OPEN", decision: "SMOKE_TEST" };

  return [
    {
      name: "health",
      run: async () => {
        const health = await get("/v1/health");
        const body = health.body as {
          ok?: boolean;
          redis?: { reachable?: boolean; latency_ms?: number; error?: string };
          exchange?: { reachable?: boolean; latency_ms?: number; error?: string };
        };
        if (health.status !== 200 || body?.ok !== true) {
          const down = (["redis", "exchange"] as const)
            .filter((name) => body?.[name]?.reachable === false)
            .map((name) => `${name} unreachable (${body[name]?.error ?? "?"})`);
          throw new CheckFailed(
            `GET /v1/health answered ${health.status}${down.length ? `: ${down.join(", ")}` : ""}`,
          );
        }
        return `redis ${body.redis?.latency_ms ?? "?"} ms, exchange ${body.exchange?.latency_ms ?? "?"} ms`;
      },
    },
    {
      name: "unsigned plan refused",
      run: async () => {
        expectStatus(
          await post({ "content-type": "application/json" }, JSON.stringify(plan)),
          401,
          "POST /v1/plans without a signature",
        );
        return "401";
      },
    },
    {
      name: "badly signed plan refused",
      run: async () => {
        const timestamp = String(Math.floor(Date.now() / 1000));
        expectStatus(
          await post(
            {
              "content-type": "application/json",
              "x-governor-timestamp": timestamp,
              "x-governor-signature": "0".repeat(64),
            },
            JSON.stringify(plan),
          ),
          401,
          "POST /v1/plans with a wrong signature",
        );
        return "401";
      },
    },
    {
      name: "stale signature refused",
      run: async () => {
        const stale = await client(t.webhookSecret, () => Date.now() - 600_000).send(plan);
        expectStatus(stale, 401, "POST /v1/plans signed 600 s ago");
        return "401";
      },
    },
    {
      name: "read routes need the token",
      run: async () => {
        for (const path of ["/v1/status", `/v1/plans/${planId}`, "/"]) {
          expectStatus(await get(path), 401, `GET ${path} without a token`);
        }
        return "401 on /v1/status, /v1/plans/{id}, /";
      },
    },
    {
      name: "status with the token",
      run: async () => {
        const status = await get("/v1/status", t.readToken);
        expectStatus(status, 200, "GET /v1/status with GOV_READ_TOKEN");
        const body = status.body as { mode?: string; positions_error?: string | null };
        if (body.positions_error) {
          throw new CheckFailed(
            `Binance positions unavailable from the governor (${body.positions_error}): ` +
              "check BINANCE_API_KEY/SECRET and BINANCE_BASE_URL, and that the governor runs " +
              "where Binance serves (placement, docs/deploy.md)",
          );
        }
        return `mode ${body.mode ?? "?"}, positions readable`;
      },
    },
    {
      name: "signed plan IGNORED",
      run: async () => {
        const answer = await client(t.webhookSecret).send(plan);
        if (answer.status === 401) {
          throw new CheckFailed(
            "signed plan refused with 401: GOV_WEBHOOK_SECRET differs from the governor's",
          );
        }
        expectStatus(answer, 200, "POST /v1/plans (signed, decision SMOKE_TEST)");
        const decision = (answer.body as { decision?: string }).decision;
        if (decision !== "IGNORED") {
          throw new CheckFailed(`expected decision IGNORED, got ${decision ?? "none"}`);
        }
        return `${planId} IGNORED`;
      },
    },
    {
      name: "ignored plan wrote nothing",
      run: async () => {
        const state = await get(`/v1/plans/${planId}`, t.readToken);
        expectStatus(state, 200, `GET /v1/plans/${planId}`);
        const body = state.body as Record<string, unknown>;
        const written = ["permit", "block", "lock", "decision"].filter((k) => body[k] !== null);
        if (written.length > 0) {
          throw new CheckFailed(`the ignored plan left ${written.join(", ")} behind`);
        }
        return "no permit, block, lock or decision";
      },
    },
  ];
}

export async function main(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let t: Target | "help";
  try {
    t = target(args, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`smoke: ${error.message} (see --help)`);
    return 2;
  }
  if (t === "help") {
    console.log(HELP);
    return 0;
  }

  console.log(`smoke: ${t.url}`);
  const failed: string[] = [];
  for (const check of checks(t)) {
    try {
      console.log(`  ok    ${check.name}: ${await check.run()}`);
    } catch (error) {
      if (error instanceof ClientError || error instanceof GovernorError) {
        // No answer at all: the other checks would only repeat it.
        console.error(`  FAIL  ${check.name}: ${error.message}`);
        console.error(`smoke: FAILED: the governor at ${t.url} did not answer`);
        return 1;
      }
      if (!(error instanceof CheckFailed)) throw error;
      failed.push(check.name);
      console.error(`  FAIL  ${check.name}: ${error.message}`);
    }
  }
  if (failed.length > 0) {
    console.error(`smoke: FAILED: ${failed.length} check(s): ${failed.join("; ")}`);
    return 1;
  }
  console.log("smoke: all checks passed");
  return 0;
}

if (import.meta.main) {
  // package.json runs `node scripts/smoke.ts -- ...`: Node reads an `--env-file` flag even
  // after the script name (and exits when the file is missing) unless a `--` comes first.
  const args = process.argv.slice(2);
  process.exitCode = await main(args[0] === "--" ? args.slice(1) : args);
}
