import type { z } from "zod";

/** What reads a payload: a zod schema, or one with a quick check in front (below). */
export interface Parser<T> {
  safeParse(input: unknown): z.ZodSafeParseResult<T>;
}

/**
 * A zod schema with a hand-written check in front of it, for a payload every
 * evaluation reads. zod cannot compile its parsers in Workers (no `eval`):
 * each parse walks the schema, which cost an evaluation about 0.1 ms for the
 * plan and the Binance account together (bench/PROFILE.md). `quick` answers
 * the schema's output for an input it accepts, and undefined for anything
 * else; that goes to the schema, which decides and names what is wrong. So a
 * quick check may refuse more than its schema but never accept more:
 * test/unit/quick-parse.test.ts holds each one to its schema on generated
 * inputs (same output where it accepts; never accepting what the schema
 * refuses).
 */
export function withQuickCheck<S extends z.ZodType>(
  schema: S,
  quick: (input: unknown) => z.output<S> | undefined,
): Parser<z.output<S>> & { schema: S } {
  return {
    schema,
    safeParse(input) {
      const data = quick(input);
      return data === undefined ? schema.safeParse(input) : { success: true, data };
    },
  };
}

// The questions every quick check asks, each answered as its zod counterpart would.

/** A plain object (what JSON.parse makes of `{...}`), for a quick check's first question. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
export const isString = (value: unknown): value is string => typeof value === "string";
export const isBoolean = (value: unknown): value is boolean => typeof value === "boolean";
/** What `z.number()` accepts: a finite number. */
export const isFiniteNumber = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value);
/** What `z.number().int()` accepts, or less: a safe integer. */
export const isSafeInt = (value: unknown): value is number =>
  typeof value === "number" && Number.isSafeInteger(value);
/** A time in unix ms: a non-negative safe integer. */
export const isUnixMs = (value: unknown): value is number => isSafeInt(value) && value >= 0;
/** What `.optional()` adds: undefined passes. */
export const optional = (value: unknown, is: (value: unknown) => boolean): boolean =>
  value === undefined || is(value);
