import { z } from "zod";
import { isFiniteNumber, isRecord, withQuickCheck } from "../quick-parse.ts";
import { toHash } from "../redis/replies.ts";
import type { EntryRecord } from "./weakness.ts";

/** `P:governor:entries` values: the governor's record of the entry it allowed. */
const EntryRecordSchema = z.object({ at: z.number(), score: z.number().nullish() });

/** An entry record, checked by hand first: every evaluation reads each open position's. */
export const entryRecordParser = withQuickCheck(EntryRecordSchema, (input) => {
  if (!isRecord(input) || !isFiniteNumber(input.at)) return undefined;
  const score = input.score;
  if (score === undefined) return { at: input.at };
  if (score !== null && !isFiniteNumber(score)) return undefined;
  return { at: input.at, score };
});

/** Entry records by symbol from a raw HGETALL answer; malformed records are skipped. */
export function parseEntries(raw: unknown): Map<string, EntryRecord> {
  const entries = new Map<string, EntryRecord>();
  for (const [symbol, value] of Object.entries(toHash(raw))) {
    try {
      const parsed = entryRecordParser.safeParse(JSON.parse(value));
      if (parsed.success)
        entries.set(symbol, { at: parsed.data.at, score: parsed.data.score ?? 0 });
    } catch {
      // A malformed record is ignored: age falls back to the position's updateTime.
    }
  }
  return entries;
}
