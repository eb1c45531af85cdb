/**
 * `npm run universe -- BTCUSDT ETHUSDT`: show or set the universe of the local
 * stack (`universe_symbols` of `P:policy:current`, docs/contract.md §8), through its
 * Upstash REST bridge. See `--help`.
 *
 * Exit codes: 0 done, 1 no stack or Redis unreachable, 2 bad command-line flags.
 */
import { exitQuietlyWhenStdoutCloses } from "./cli-args.ts";
import { parseArgs } from "node:util";
import { Redis } from "@upstash/redis";
import { redisKeys } from "../lib/keys.ts";
import { parseUniverse } from "../lib/evaluate/gates.ts";
import { ClientError, readStackFile, stackFilePath, wranglerKeyPrefix } from "./stack-client.ts";

const HELP = `Usage: npm run universe -- [--add] [SYMBOL ...]

Show or set the symbols entries may trade: the JSON array in field
universe_symbols of {GOV_KEY_PREFIX}:policy:current, on the local stack's Redis.

  (no symbols)         print the universe
  SYMBOL ...           set the universe to exactly these symbols
  --add SYMBOL ...     add these symbols to it
  --stack-file PATH    local stack file (default: GOV_STACK_FILE or .dev/stack.json)
  --help, -h           show this help

The same without the CLI, on any Redis:
  HSET quantum:policy:current universe_symbols '["BTCUSDT","ETHUSDT"]'

Exit codes: 0 done, 1 no stack file or Redis unreachable, 2 bad flags.`;

const SYMBOL = /^[A-Z0-9]{2,20}$/;

export async function main(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: { add?: boolean; help?: boolean; "stack-file"?: string };
  let symbols: string[];
  try {
    const parsed = parseArgs({
      args,
      options: {
        add: { type: "boolean" },
        "stack-file": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    });
    values = parsed.values;
    symbols = parsed.positionals;
  } catch (error) {
    console.error(`universe: ${(error as Error).message.split("\n")[0]} (see --help)`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const bad = symbols.filter((s) => !SYMBOL.test(s));
  if (bad.length > 0) {
    console.error(`universe: not a symbol (2-20 of A-Z0-9): ${bad.join(", ")}`);
    return 2;
  }
  if (values.add && symbols.length === 0) {
    console.error("universe: --add needs at least one symbol");
    return 2;
  }

  try {
    const path = stackFilePath(values["stack-file"], env);
    const stack = readStackFile(path);
    if (!stack)
      throw new ClientError(`no stack file at ${path}: start the local stack (npm start)`);
    const redis = new Redis({
      url: stack.redis_rest.url,
      token: stack.redis_rest.token,
      automaticDeserialization: false,
      enableTelemetry: false,
    });
    const key = redisKeys(wranglerKeyPrefix()).policy;
    const current = parseUniverse((await redis.hget<string>(key, "universe_symbols")) ?? null);
    if (symbols.length > 0) {
      const next = values.add
        ? [...new Set([...(current ?? []), ...symbols])]
        : [...new Set(symbols)];
      await redis.hset(key, { universe_symbols: JSON.stringify(next) });
      console.log(`universe set (${key} universe_symbols): ${JSON.stringify(next)}`);
    } else if (current === null) {
      console.log(
        `no universe (${key} universe_symbols is missing or malformed): every entry blocks`,
      );
    } else {
      console.log(`universe (${key} universe_symbols): ${JSON.stringify([...current])}`);
    }
    return 0;
  } catch (error) {
    const message =
      error instanceof ClientError
        ? error.message
        : `Redis at the stack's REST bridge: ${(error as Error).message}`;
    console.error(`universe: ${message}`);
    return 1;
  }
}

if (import.meta.main) {
  exitQuietlyWhenStdoutCloses();
  process.exitCode = await main(process.argv.slice(2));
}
