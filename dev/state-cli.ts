/**
 * `npm run state -- halt --reason "exchange incident"`: show or set the
 * governor's trading state (`GET` / `PUT {governor}/v1/trading-state`). See `--help`.
 *
 * Exit codes: 0 done (also when the state was already in force), 1 an HTTP
 * error (401/403/503, ...) or the governor could not be reached, 2 bad
 * command-line flags.
 */
import { userInfo } from "node:os";
import { exitQuietlyWhenStdoutCloses } from "./cli-args.ts";
import { parseArgs } from "node:util";
import { z } from "zod";
import {
  ClientError,
  getWithToken,
  readStackFile,
  request,
  stackFilePath,
  trimSlash,
  type JsonResponse,
} from "./stack-client.ts";

const HELP = `Usage: npm run state -- COMMAND [flags]

Show or set the governor's trading state: GET / PUT {governor}/v1/trading-state.

Commands:
  show                   print the trading state, who set it, why and when
  halt --reason TEXT     HALTED: every entry is refused, no rotation starts; closes pass
  reduce --reason TEXT   REDUCING: no entry that adds risk, no new rotation; closes pass
  resume [--reason TEXT] ACTIVE: entries are evaluated again (also after the drawdown
                         breaker halted; default reason "resumed from the command line")

Flags:
  --reason TEXT        why (1-200 characters): recorded with the change and in its alert
  --actor NAME         who asks (1-64 of A-Za-z0-9_.@:-; default cli:$USER)
  --url URL            governor base URL (env GOV_URL; default: the local stack's)
  --token TOKEN        the admin token for halt/reduce/resume (env GOV_ADMIN_TOKEN), the
                       read token for show (env GOV_READ_TOKEN); default: the local stack's
  --stack-file PATH    local stack file (default: GOV_STACK_FILE or .dev/stack.json,
                       written by \`npm start\`)
  --json               print the governor's raw JSON answer instead of a summary
  --help, -h           show this help

Exit codes: 0 done (also when the state was already in force), 1 HTTP error or governor
unreachable, 2 bad flags.`;

const options = {
  reason: { type: "string" },
  actor: { type: "string" },
  url: { type: "string" },
  token: { type: "string" },
  "stack-file": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const COMMANDS = { show: null, halt: "HALTED", reduce: "REDUCING", resume: "ACTIVE" } as const;
type Command = keyof typeof COMMANDS;

const DEFAULT_RESUME_REASON = "resumed from the command line";

class UsageError extends Error {}

const StateSchema = z.object({
  state: z.enum(["ACTIVE", "REDUCING", "HALTED"]),
  reason: z.string().optional(),
  actor: z.string().optional(),
  at: z.number().optional(),
  changed: z.boolean().optional(),
  previous: z.enum(["ACTIVE", "REDUCING", "HALTED"]).optional(),
});
type StateAnswer = z.infer<typeof StateSchema>;

/** `cli:` and the login name, made to fit the actor's alphabet. */
function defaultActor(): string {
  let name = "unknown";
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry: keep "unknown"
  }
  return `cli:${name.replace(/[^A-Za-z0-9_.@-]/g, "_")}`.slice(0, 64);
}

const EFFECT = {
  ACTIVE: "entries are evaluated as usual",
  REDUCING: "no entry that adds risk and no new rotation; closes pass",
  HALTED: "every entry is refused and no rotation starts; closes pass",
} as const;

/** One line per fact: the state, who and when, why, what it means and what would end it. */
export function formatState(answer: StateAnswer): string {
  const who = answer.actor ? ` by ${answer.actor}` : "";
  const when = answer.at ? ` at ${new Date(answer.at).toISOString()}` : "";
  const head =
    answer.changed === false
      ? `already ${answer.state}${who}${when}: nothing changed`
      : answer.previous && answer.changed
        ? `${answer.state} (was ${answer.previous})${who}${when}`
        : `${answer.state}${who}${when}`;
  const lines = [head];
  if (answer.reason) lines.push(`  why      ${answer.reason}`);
  lines.push(`  effect   ${EFFECT[answer.state]}`);
  if (answer.state !== "ACTIVE") lines.push('  next     npm run state -- resume --reason "..."');
  return lines.join("\n");
}

function parseFlags(args: string[]) {
  return parseArgs({ args, options, strict: true, allowPositionals: true });
}
type Values = ReturnType<typeof parseFlags>["values"];

function parse(args: string[]): { command: Command; values: Values } {
  const parsed = parseFlags(args);
  const [command, ...extra] = parsed.positionals;
  if (parsed.values.help) return { command: "show", values: parsed.values };
  if (command === undefined)
    throw new UsageError("a command is required: show, halt, reduce or resume");
  if (!(command in COMMANDS)) {
    throw new UsageError(
      `unknown command ${JSON.stringify(command)}: show, halt, reduce or resume`,
    );
  }
  if (extra.length > 0) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(extra[0])} (quote a reason: --reason "...")`,
    );
  }
  const values = parsed.values;
  if (command === "show" && values.reason !== undefined) {
    throw new UsageError("--reason is for halt, reduce and resume, not show");
  }
  if ((command === "halt" || command === "reduce") && !values.reason?.trim()) {
    throw new UsageError(`${command} needs --reason "..." (why, for the audit trail)`);
  }
  if (values.reason !== undefined && values.reason.trim().length > 200) {
    throw new UsageError(`--reason is ${values.reason.trim().length} characters; at most 200`);
  }
  if (values.actor !== undefined && !/^[A-Za-z0-9_.@:-]{1,64}$/.test(values.actor)) {
    throw new UsageError(
      `--actor must be 1-64 of A-Za-z0-9_.@:-, got ${JSON.stringify(values.actor)}`,
    );
  }
  return { command: command as Command, values };
}

/** Governor URL and token: flags, then env, then the local stack file. */
function target(
  values: { url?: string; token?: string; "stack-file"?: string },
  admin: boolean,
  env: NodeJS.ProcessEnv,
): { url: string; token: string } {
  const tokenFlag = admin ? "--token (or GOV_ADMIN_TOKEN)" : "--token (or GOV_READ_TOKEN)";
  let url = values.url ?? env.GOV_URL;
  let token = values.token ?? (admin ? env.GOV_ADMIN_TOKEN : env.GOV_READ_TOKEN);
  if (url && token) return { url, token };
  const path = stackFilePath(values["stack-file"], env);
  const stack = readStackFile(path);
  if (!stack) {
    const missing = [!url && "--url (or GOV_URL)", !token && tokenFlag]
      .filter(Boolean)
      .join(" and ");
    throw new ClientError(
      `no stack file at ${path}: start the local stack (npm start) or pass ${missing}`,
    );
  }
  url ||= stack.governor;
  const fromStack = admin ? stack.admin_token : stack.read_token;
  if (!fromStack && !token) {
    throw new ClientError(
      `${path} has no admin_token (its stack predates the trading state controls): restart npm start, or pass ${tokenFlag}`,
    );
  }
  token ||= fromStack!;
  return { url, token };
}

function describeHttpError(response: JsonResponse): string {
  const error = (response.body as { error?: { code?: string; message?: string } } | null)?.error;
  const summary = error ? `: ${error.code ?? "error"}: ${error.message ?? ""}` : "";
  return `state: governor answered HTTP ${response.status}${summary}`;
}

export async function main(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let command: Command;
  let values: Values;
  try {
    ({ command, values } = parse(args));
    if (values.help) {
      console.log(HELP);
      return 0;
    }
  } catch (error) {
    const message =
      error instanceof UsageError ? error.message : (error as Error).message.split("\n")[0];
    console.error(`state: ${message} (see --help)`);
    return 2;
  }

  try {
    const to = COMMANDS[command];
    const where = target(values, to !== null, env);
    const url = `${trimSlash(where.url)}/v1/trading-state`;
    const response =
      to === null
        ? await getWithToken(url, where.token)
        : await request(url, {
            method: "PUT",
            headers: {
              authorization: `Bearer ${where.token}`,
              "content-type": "application/json",
            },
            body: JSON.stringify({
              state: to,
              reason: values.reason?.trim() || DEFAULT_RESUME_REASON,
              actor: values.actor ?? defaultActor(),
            }),
          });
    const answer = response.status === 200 ? StateSchema.safeParse(response.body) : undefined;
    if (!answer?.success) {
      if (values.json) console.log(response.text);
      console.error(describeHttpError(response));
      return 1;
    }
    console.log(values.json ? response.text : formatState(answer.data));
    return 0;
  } catch (error) {
    if (error instanceof ClientError) {
      console.error(`state: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  exitQuietlyWhenStdoutCloses();
  process.exitCode = await main(process.argv.slice(2));
}
