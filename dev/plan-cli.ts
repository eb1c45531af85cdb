/**
 * `npm run plan -- --symbol BTCUSDT --score 5`: sign and send one plan to a
 * governor and print its decision. See `--help`.
 *
 * Exit codes: 0 the governor answered (ALLOW, BLOCK or IGNORED), 1 an HTTP
 * error (400/401/413/503, ...) or the governor could not be reached, 2 bad
 * command-line flags.
 */
import { parseArgs } from "node:util";
import {
  ClientError,
  newPlanId,
  postPlan,
  readStackFile,
  stackFilePath,
  type JsonResponse,
} from "./stack-client.ts";

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
  --json               print the governor's raw JSON answer instead of a summary
  --help, -h           show this help

Exit codes: 0 answered (ALLOW/BLOCK/IGNORED), 1 HTTP error or governor unreachable,
2 bad flags.
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
  help: { type: "boolean", short: "h" },
} as const;

const NUMERIC = ["qty", "notional", "leverage", "score"] as const;

class UsageError extends Error {}

type Values = ReturnType<typeof parse>["values"];

function parse(args: string[]) {
  return parseArgs({ args, options, strict: true, allowPositionals: false });
}

/** parseArgs' errors, as one short line. */
function usageMessage(error: Error & { code?: string }): string {
  const flag = /'(-[^' ]+)/.exec(error.message)?.[1] ?? "";
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${flag}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /argument missing|ambiguous/.test(error.message)
        ? `${flag} needs a value; for one starting with "-" write ${flag}=VALUE`
        : `${flag} takes no value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${/'([^']*)'/.exec(error.message)?.[1] ?? ""}`.trim();
    default:
      return error.message.split("\n")[0] ?? "bad arguments";
  }
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

/** Governor URL and secret: flags, then env, then the local stack file. */
function target(values: Values, env: NodeJS.ProcessEnv): { url: string; secret: string } {
  let url = values.url ?? env.GOV_URL;
  let secret = values.secret ?? env.GOV_WEBHOOK_SECRET;
  if (!url || !secret) {
    const path = stackFilePath(values["stack-file"], env);
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
  }
  return { url, secret };
}

const fmt = (value: unknown, digits: number) =>
  typeof value === "number" ? value.toFixed(digits) : "?";

/** The decision body (SPEC §7), a few aligned lines. */
export function formatDecision(body: Record<string, unknown>): string {
  const lines: string[] = [];
  const head = [body.decision, body.reason].filter((v) => v !== undefined).join(" ");
  lines.push(`${head}${body.replayed ? " (replayed)" : ""}`);
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(9)}${text}`);
  row("plan", `${body.plan_id ?? "?"}${body.symbol ? ` ${String(body.symbol)}` : ""}`);
  const regime = body.regime as Record<string, unknown> | undefined;
  if (regime) {
    const atr = typeof regime.atr_pct === "number" ? `${(regime.atr_pct * 100).toFixed(2)}%` : "?";
    row(
      "regime",
      `${regime.name ?? "?"}  trend ${fmt(regime.trend, 4)}  atr% ${atr}` +
        (regime.desired_slots !== undefined ? `  desired ${regime.desired_slots}` : ""),
    );
  }
  const slots = body.slots as Record<string, unknown> | undefined;
  if (slots) row("slots", `${slots.holders ?? "?"}/${slots.desired ?? "?"} held (holders/desired)`);
  const rotation = body.rotation as Record<string, unknown> | undefined;
  if (rotation) {
    row(
      "rotation",
      `close ${rotation.close_symbol ?? "?"} via ${rotation.close_plan_id ?? "?"}` +
        (rotation.lock_age !== undefined ? `  lock age ${rotation.lock_age} s` : ""),
    );
  }
  return lines.join("\n");
}

function describeHttpError(response: JsonResponse): string {
  const error = (response.body as { error?: { code?: string; message?: string } } | null)?.error;
  const summary = error ? `: ${error.code ?? "error"}: ${error.message ?? ""}` : "";
  const json =
    typeof response.body === "string" ? response.text : JSON.stringify(response.body, null, 2);
  return `plan: governor answered HTTP ${response.status}${summary}\n${json}`;
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
    const { url, secret } = target(values, env);
    const response = await postPlan(url, secret, plan);
    if (response.status !== 200 || typeof response.body !== "object" || response.body === null) {
      if (values.json) console.log(response.text);
      console.error(describeHttpError(response));
      return 1;
    }
    console.log(
      values.json ? response.text : formatDecision(response.body as Record<string, unknown>),
    );
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
  process.exitCode = await main(process.argv.slice(2));
}
