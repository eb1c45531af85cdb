/**
 * `npm run plan -- --symbol BTCUSDT --score 5`: sign and send one plan to a
 * governor and print its decision. See `--help`.
 *
 * Exit codes: 0 the governor answered (ALLOW, BLOCK or IGNORED), 1 an HTTP
 * error (400/401/413/503, ...) or the governor could not be reached, 2 bad
 * command-line flags.
 */
import { exitQuietlyWhenStdoutCloses, usageMessage } from "./cli-args.ts";
import { parseArgs } from "node:util";
import {
  ClientError,
  getWithToken,
  newPlanId,
  postPlan,
  readStackFile,
  stackFilePath,
  trimSlash,
  type JsonResponse,
} from "./stack-client.ts";
import { formatDecision, formatPath, gateViewFrom, parseDecision } from "./plan-view.ts";
import { REASONS } from "../lib/plans/reasons.ts";
import type { DecisionBody } from "../lib/plans/decision.ts";

const HELP = `Usage: npm run plan -- --symbol SYMBOL [flags]

Sign one plan (HMAC-SHA256 over "{unix seconds}.{raw body}" with the webhook
secret) and POST it to {governor}/v1/plans; print the decision.

Plan fields:
  --symbol SYMBOL      symbol, e.g. BTCUSDT (required)
  --plan-id ID         plan_id (default: a fresh "cli-" + 8 hex id)
  --action ACTION      action (default OPEN; FULL_CLOSE_PROPOSED / PARTIAL_* are closes)
  --decision DECISION  decision (default EXECUTE; anything else is IGNORED)
  --side SIDE          side: LONG, SHORT, BUY or SELL
  --qty N              quantity
  --notional N         notional in USDT (margin gate)
  --leverage N         leverage (margin gate)
  --score N            candidate score (rotations need >= 1.15 x the victim's)
  --reduce-only        send reduceOnly: true (the plan is a close)

Where to send it:
  --url URL            governor base URL (env GOV_URL; default: the local stack's)
  --secret SECRET      webhook secret (env GOV_WEBHOOK_SECRET; default: the local stack's)
  --stack-file PATH    local stack file (default: GOV_STACK_FILE or .dev/stack.json,
                       written by \`npm start\`)

Output:
  --explain            also show the gate-by-gate path: universe, positions, regime,
                       correlation, margin, slots (reads GET /v1/status with the read token)
  --wait               while the answer is active_slots_waiting_rotation_close, resubmit
                       the same plan every 0.5 s until the rotation ends (at most 5 min)
  --token TOKEN        read token for --explain (env GOV_READ_TOKEN; default: the local stack's)
  --json               print the governor's raw JSON answer instead of a summary
                       (with --wait: one line per answer)
  --help, -h           show this help

Every answer is followed by "why" (what decided it, with its figures) and,
when something would change it, "next".

Exit codes: 0 answered (ALLOW/BLOCK/IGNORED), 1 HTTP error, governor unreachable or
--wait gave up, 2 bad flags.
Numbers starting with "-" need "=": --score=-1.`;

const options = {
  "plan-id": { type: "string" },
  symbol: { type: "string" },
  action: { type: "string", default: "OPEN" },
  decision: { type: "string", default: "EXECUTE" },
  side: { type: "string" },
  qty: { type: "string" },
  notional: { type: "string" },
  leverage: { type: "string" },
  score: { type: "string" },
  "reduce-only": { type: "boolean" },
  url: { type: "string" },
  secret: { type: "string" },
  "stack-file": { type: "string" },
  json: { type: "boolean" },
  explain: { type: "boolean" },
  wait: { type: "boolean" },
  token: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const NUMERIC = ["qty", "notional", "leverage", "score"] as const;

class UsageError extends Error {}

type Values = ReturnType<typeof parse>["values"];

function parse(args: string[]) {
  return parseArgs({ args, options, strict: true, allowPositionals: false });
}

function buildPlan(values: Values): Record<string, unknown> {
  if (values.symbol === undefined || values.symbol === "") {
    throw new UsageError("--symbol is required");
  }
  const plan: Record<string, unknown> = {
    plan_id: values["plan-id"] ?? newPlanId("cli-"),
    symbol: values.symbol,
    action: values.action,
    decision: values.decision,
  };
  if (values.side !== undefined) plan.side = values.side;
  for (const name of NUMERIC) {
    const raw = values[name];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value)) {
      throw new UsageError(`--${name} must be a number, got ${JSON.stringify(raw)}`);
    }
    plan[name] = value;
  }
  if (values["reduce-only"]) plan.reduceOnly = true;
  return plan;
}

interface Target {
  url: string;
  secret: string;
  /** The read token, when known (--explain). */
  token?: string;
}

/** Governor URL, secret and read token: flags, then env, then the local stack file. */
function target(values: Values, env: NodeJS.ProcessEnv): Target {
  let url = values.url ?? env.GOV_URL;
  let secret = values.secret ?? env.GOV_WEBHOOK_SECRET;
  let token = values.token ?? env.GOV_READ_TOKEN;
  const path = stackFilePath(values["stack-file"], env);
  if (!url || !secret) {
    const stack = readStackFile(path);
    if (!stack) {
      const missing = [!url && "--url (or GOV_URL)", !secret && "--secret (or GOV_WEBHOOK_SECRET)"]
        .filter(Boolean)
        .join(" and ");
      throw new ClientError(
        `no stack file at ${path}: start the local stack (npm start) or pass ${missing}`,
      );
    }
    url ||= stack.governor;
    secret ||= stack.webhook_secret;
    token ||= stack.read_token;
  } else if (!token && values.explain) {
    // A governor named by flags/env may still be the local stack's.
    const stack = readStackFile(path);
    if (stack && trimSlash(stack.governor) === trimSlash(url)) token = stack.read_token;
  }
  return { url, secret, token };
}

const WAIT_INTERVAL_MS = 500;
const WAIT_LIMIT_MS = 300_000;

function describeHttpError(response: JsonResponse): string {
  const error = (response.body as { error?: { code?: string; message?: string } } | null)?.error;
  const summary = error ? `: ${error.code ?? "error"}: ${error.message ?? ""}` : "";
  const json =
    typeof response.body === "string" ? response.text : JSON.stringify(response.body, null, 2);
  return `plan: governor answered HTTP ${response.status}${summary}\n${json}`;
}

/**
 * POST the plan and print the answer: the raw JSON with --json (each answer
 * while waiting), else the summary unless `show` is false (answers while
 * waiting). Undefined after an HTTP error, which is printed.
 */
async function send(
  where: Target,
  plan: Record<string, unknown>,
  values: Values,
  show = true,
): Promise<DecisionBody | undefined> {
  const response = await postPlan(where.url, where.secret, plan);
  const body = response.status === 200 ? parseDecision(response.body) : undefined;
  if (body === undefined) {
    if (values.json) console.log(response.text);
    console.error(describeHttpError(response));
    return undefined;
  }
  if (values.json) console.log(response.text);
  else if (show) console.log(formatDecision(body));
  return body;
}

function waiting(body: DecisionBody): boolean {
  return body.decision === "BLOCK" && body.reason === REASONS.waitingRotationClose;
}

/** The gate-by-gate path, with the status figures when the read token is known. */
async function pathOf(body: DecisionBody, where: Target): Promise<string> {
  if (!where.token) {
    return formatPath(
      body,
      {},
      "no read token (--token or GOV_READ_TOKEN): figures from the answer only",
    );
  }
  try {
    const status = await getWithToken(`${trimSlash(where.url)}/v1/status`, where.token);
    if (status.status !== 200) {
      return formatPath(
        body,
        {},
        `GET /v1/status answered HTTP ${status.status}: figures from the answer only`,
      );
    }
    const { view, note } = gateViewFrom(status.body, body.plan_id);
    return formatPath(body, view, note);
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    return formatPath(body, {}, `${error.message}: figures from the answer only`);
  }
}

export async function main(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: Values;
  let plan: Record<string, unknown>;
  try {
    values = parse(args).values;
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    plan = buildPlan(values);
  } catch (error) {
    const message =
      error instanceof UsageError
        ? error.message
        : usageMessage(error as Error & { code?: string });
    console.error(`plan: ${message} (see --help)`);
    return 2;
  }

  try {
    const where = target(values, env);
    let answer = await send(where, plan, values);
    if (answer === undefined) return 1;
    if (values.wait && waiting(answer)) {
      if (!values.json) {
        console.log(
          `waiting for the close of ${answer.rotation?.close_symbol ?? "the rotated-out position"}: ` +
            `resubmitting ${answer.plan_id} every ${WAIT_INTERVAL_MS / 1000} s ...`,
        );
      }
      const deadline = Date.now() + WAIT_LIMIT_MS;
      while (waiting(answer)) {
        if (Date.now() > deadline) {
          console.error(`plan: still waiting after ${WAIT_LIMIT_MS / 1000} s; giving up`);
          return 1;
        }
        await new Promise((r) => setTimeout(r, WAIT_INTERVAL_MS));
        answer = await send(where, plan, values, false);
        if (answer === undefined) return 1;
      }
      if (!values.json) console.log(formatDecision(answer));
    }
    if (values.explain && !values.json) console.log(await pathOf(answer, where));
    return 0;
  } catch (error) {
    if (error instanceof ClientError) {
      console.error(`plan: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  exitQuietlyWhenStdoutCloses();
  process.exitCode = await main(process.argv.slice(2));
}
