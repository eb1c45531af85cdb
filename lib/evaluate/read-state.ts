/**
 * What READ_STATE answers (lib/rotation/lua/read-state.ts): its schema, and
 * the quick check in front of it (lib/quick-parse.ts), since every evaluation
 * reads one. Lua's cjson writes an empty table as `[]` or `{}`: both read as
 * an empty record.
 */
import { z } from "zod";
import { REASONS } from "../plans/reasons.ts";
import { isRecord, isString, optional, withQuickCheck } from "../quick-parse.ts";

/** A record of `value`s, or the `[]` cjson makes of an empty table. */
const recordOrEmpty = <V extends z.ZodType>(value: V) =>
  z.record(z.string(), value).or(z.array(z.never()));

export const ReadStateSchema = z.object({
  decision: z.string().optional(),
  universe: z.string().optional(),
  universe_digest: z.string().optional(),
  universe_held: z.literal(true).optional(),
  backoff_until: z.string().optional(),
  time_offset: z.string().optional(),
  entries: z.unknown(),
  markets: recordOrEmpty(z.string()),
  markets_held: recordOrEmpty(z.literal(true)),
  market_digests: recordOrEmpty(z.string()),
  step_sizes: recordOrEmpty(z.string()),
  trading_block: z.enum([REASONS.reducing, REASONS.halted]).optional(),
});
export type ReadState = z.output<typeof ReadStateSchema>;

const TRADING_BLOCKS: ReadonlySet<unknown> = new Set(
  ReadStateSchema.shape.trading_block.unwrap().options,
);

/** `value` as recordOrEmpty reads it, or undefined (an own `__proto__` key is left to zod). */
function quickRecord<V>(
  value: unknown,
  valid: (v: unknown) => v is V,
): Record<string, V> | never[] | undefined {
  if (Array.isArray(value)) return value.length === 0 ? [] : undefined;
  if (!isRecord(value) || Object.hasOwn(value, "__proto__")) return undefined;
  const out: Record<string, V> = {};
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const v = value[key];
    if (!valid(v)) return undefined;
    out[key] = v;
  }
  return out;
}

const isTrue = (v: unknown): v is true => v === true;

function quickReadState(answer: unknown): ReadState | undefined {
  if (
    !isRecord(answer) ||
    !Object.hasOwn(answer, "entries") ||
    !optional(answer.decision, isString) ||
    !optional(answer.universe, isString) ||
    !optional(answer.universe_digest, isString) ||
    !optional(answer.universe_held, isTrue) ||
    !optional(answer.backoff_until, isString) ||
    !optional(answer.time_offset, isString) ||
    (answer.trading_block !== undefined && !TRADING_BLOCKS.has(answer.trading_block))
  ) {
    return undefined;
  }
  const markets = quickRecord(answer.markets, isString);
  const marketsHeld = quickRecord(answer.markets_held, isTrue);
  const marketDigests = quickRecord(answer.market_digests, isString);
  const stepSizes = quickRecord(answer.step_sizes, isString);
  if (!markets || !marketsHeld || !marketDigests || !stepSizes) return undefined;
  return {
    decision: answer.decision as string | undefined,
    universe: answer.universe as string | undefined,
    universe_digest: answer.universe_digest as string | undefined,
    universe_held: answer.universe_held as true | undefined,
    backoff_until: answer.backoff_until as string | undefined,
    time_offset: answer.time_offset as string | undefined,
    entries: answer.entries,
    markets,
    markets_held: marketsHeld,
    market_digests: marketDigests,
    step_sizes: stepSizes,
    trading_block: answer.trading_block as ReadState["trading_block"],
  };
}

/** READ_STATE's answer as ReadStateSchema reads it, checked by hand first. */
export const readStateParser = withQuickCheck(ReadStateSchema, quickReadState);
