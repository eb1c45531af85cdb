/**
 * `npm run replay -- --plans FILE --klines DIR --out DIR [options]`: run the
 * governor over history and compare it with baselines; also `export` (a plan
 * log from a live apply.plan stream) and `generate` (a deterministic data set).
 * See `--help`. Exit codes: 0 done, 1 failed, 2 bad flags or inputs,
 * 3 report written but an invariant was violated.
 */
import { exitQuietlyWhenStdoutCloses, usageMessage } from "../dev/cli-args.ts";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { exportPlans } from "./export.ts";
import { writeDataset } from "./generate.ts";
import { replay, ReplayInputError } from "./replay.ts";

export const EXIT = { ok: 0, failed: 1, usage: 2, violation: 3 } as const;

const HELP = `Usage: npm run replay -- --plans FILE --klines DIR --out DIR [options]
       npm run replay -- export --redis-url URL --token TOKEN --from TIME --to TIME [--out FILE]
       npm run replay -- generate --out DIR [--symbols N] [--days N] [--plans N] [--seed N]

Replay a plan log through the governor (its own gates and Lua scripts on a
private redis-server) on a book simulated from Binance klines, next to the
baselines no-gate and static-N; write report.json, report.md and equity.svg.

  --plans FILE        one plan per line as the webhook takes it, plus ts (unix ms)
  --klines DIR        Binance USD-M kline CSV, {SYMBOL}-{interval}-*.csv, with or
                      without the header row; files of one symbol are joined by time
  --out DIR           where the reports go (created)
  --universe SYMS     policy universe, e.g. BTCUSDT,ETHUSDT (default: every symbol with klines)
  --balance USDT      starting wallet balance (default 10000)
  --notional USDT     entry notional when a plan has none (default 1000)
  --leverage N        leverage when a plan has none (default 5)
  --apply-delay S     seconds before a rotation's close plan executes (default 5)
  --positions FILE    starting book: JSON [{"symbol","positionAmt","entryPrice"?,"leverage"?}]
  --set NAME=VALUE    any GOV_* setting, repeatable (e.g. --set GOV_ROTATION_THRESHOLD=0.2)
  --grid SPEC         every combination, each its own run, e.g.
                      "base=3,4,5 trend=5,6,8 chop=2,3 threshold=0.1,0.15,0.3"
                      (names: base, trend, chop, threshold, correlation, margin,
                      lock_ttl, max_per_hour, or GOV_* names)
  --no-baselines      leave out no-gate and static-N
  --help, -h          this text

export: --redis-url URL (Upstash REST URL), --token TOKEN (or env
  UPSTASH_REDIS_REST_TOKEN), --from/--to TIME (unix ms or ISO date, inclusive),
  --prefix P (GOV_KEY_PREFIX, default quantum), --out FILE (default plans.jsonl).
generate: --out DIR, --symbols N (6), --days N (21), --plans N (300), --seed N (1),
  --start DATE (2024-03-01): DIR/klines/*.csv and DIR/plans.jsonl.

Exit codes: 0 done; 1 the replay failed (e.g. redis-server missing); 2 bad flags
or inputs; 3 report written but an invariant was violated (see report.md).
Numbers starting with "-" need "=": --balance=-1.`;

class UsageError extends Error {}

function parse<const O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(usageMessage(error as Error));
  }
}

function required(values: Record<string, unknown>, flag: string): string {
  const value = values[flag];
  if (typeof value !== "string" || value === "") throw new UsageError(`--${flag} is required`);
  return value;
}

function number(
  values: Record<string, unknown>,
  flag: string,
  fallback: number,
  check: (n: number) => boolean,
  rule: string,
): number {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(value) || !check(value)) {
    throw new UsageError(`--${flag} must be ${rule}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** unix ms or an ISO date. */
function instant(values: Record<string, unknown>, flag: string): number {
  const raw = required(values, flag);
  const value = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isSafeInteger(value)) {
    throw new UsageError(`--${flag} must be unix ms or an ISO date, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function settings(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const match = /^(GOV_[A-Z0-9_]+)=(.*)$/.exec(item);
    if (!match) throw new UsageError(`--set wants GOV_NAME=VALUE, got ${JSON.stringify(item)}`);
    out[match[1]!] = match[2]!;
  }
  return out;
}

function universe(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const symbols = raw.split(",").map((s) => s.trim());
  const bad = symbols.find((s) => !/^[A-Z0-9]{2,20}$/.test(s));
  if (bad !== undefined) {
    throw new UsageError(`--universe: ${JSON.stringify(bad)} is not a symbol (2-20 of A-Z0-9)`);
  }
  return symbols;
}

async function replayCommand(args: string[]): Promise<number> {
  const v = parse(args, {
    plans: { type: "string" },
    klines: { type: "string" },
    out: { type: "string" },
    universe: { type: "string" },
    balance: { type: "string" },
    notional: { type: "string" },
    leverage: { type: "string" },
    "apply-delay": { type: "string" },
    positions: { type: "string" },
    set: { type: "string", multiple: true },
    grid: { type: "string" },
    "no-baselines": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return help();
  const positive = (n: number) => n > 0;
  const report = await replay({
    plans: required(v, "plans"),
    klines: required(v, "klines"),
    out: required(v, "out"),
    universe: universe(v.universe),
    balance: number(v, "balance", 10_000, positive, "a positive number of USDT"),
    notional: number(v, "notional", 1000, positive, "a positive number of USDT"),
    leverage: number(v, "leverage", 5, (n) => n > 0 && n <= 125, "in (0, 125]"),
    applyDelay: number(v, "apply-delay", 5, (n) => n >= 0, "seconds ≥ 0"),
    positions: v.positions,
    settings: settings(v.set),
    grid: v.grid,
    baselines: !v["no-baselines"],
  });
  const violated = report.runs.filter((run) => run.invariant_violations.length > 0);
  for (const run of violated) {
    const first = run.invariant_violations[0]!;
    console.error(
      `${run.name}: invariant ${first.invariant} violated at step ${first.step}: ${first.message}`,
    );
  }
  console.log(
    `replayed ${report.inputs.plans.replayed} plans in ${report.runs.length} runs: ${v.out}/report.md`,
  );
  return violated.length > 0 ? EXIT.violation : EXIT.ok;
}

async function exportCommand(args: string[]): Promise<number> {
  const v = parse(args, {
    "redis-url": { type: "string" },
    token: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    prefix: { type: "string", default: "quantum" },
    out: { type: "string", default: "plans.jsonl" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return help();
  const redisUrl = required(v, "redis-url");
  if (!/^https?:\/\/[^\s]+$/.test(redisUrl)) {
    throw new UsageError(`--redis-url must be an http(s) URL, got ${JSON.stringify(redisUrl)}`);
  }
  const token = v.token ?? process.env.UPSTASH_REDIS_REST_TOKEN ?? "";
  if (token === "") throw new UsageError("--token is required (or set UPSTASH_REDIS_REST_TOKEN)");
  const from = instant(v, "from");
  const to = instant(v, "to");
  if (to < from) throw new UsageError(`--to (${v.to}) is before --from (${v.from})`);
  try {
    const summary = await exportPlans({
      redisUrl,
      token,
      from,
      to,
      prefix: v.prefix!,
      out: v.out!,
    });
    console.log(
      `wrote ${summary.written} plans to ${v.out} (${summary.read} entries read, ` +
        `${summary.rotationClosePlans} governor close plans and ${summary.invalid} invalid entries left out)`,
    );
    return EXIT.ok;
  } catch (error) {
    // The token never leaves in a message, whatever a dependency put there.
    const message = (error instanceof Error ? error.message : String(error)).replaceAll(
      token,
      "***",
    );
    console.error(`export failed: ${message}`);
    return EXIT.failed;
  }
}

function generateCommand(args: string[]): number {
  const v = parse(args, {
    out: { type: "string" },
    symbols: { type: "string" },
    days: { type: "string" },
    plans: { type: "string" },
    seed: { type: "string" },
    start: { type: "string", default: "2024-03-01" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return help();
  const out = required(v, "out");
  const whole = (n: number) => Number.isInteger(n) && n > 0;
  const start = Date.parse(v.start!);
  if (!Number.isFinite(start) || start % 3_600_000 !== 0) {
    throw new UsageError(`--start must be a date on a whole hour, got ${JSON.stringify(v.start)}`);
  }
  const written = writeDataset(out, {
    symbols: number(v, "symbols", 6, whole, "a whole number > 0"),
    days: number(v, "days", 21, whole, "a whole number > 0"),
    plans: number(v, "plans", 300, whole, "a whole number > 0"),
    seed: number(v, "seed", 1, (n) => Number.isInteger(n) && n >= 0, "a whole number ≥ 0"),
    start,
  });
  console.log(`wrote ${written.klines} and ${written.plans}`);
  return EXIT.ok;
}

function help(): number {
  console.log(HELP);
  return EXIT.ok;
}

export async function main(args: string[]): Promise<number> {
  try {
    if (args[0] === "export") return await exportCommand(args.slice(1));
    if (args[0] === "generate") return generateCommand(args.slice(1));
    if (args.length === 0) {
      console.error(HELP);
      return EXIT.usage;
    }
    return await replayCommand(args);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ReplayInputError) {
      console.error(`replay: ${error.message}\n(npm run replay -- --help for usage)`);
      return EXIT.usage;
    }
    console.error(`replay failed: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.failed;
  }
}

if (import.meta.main) {
  exitQuietlyWhenStdoutCloses();
  // Ctrl-C or a SIGTERM exits through "exit", where the private redis-server is stopped.
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => process.exit(130));
  process.exitCode = await main(process.argv.slice(2));
}
