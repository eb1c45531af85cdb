import { z } from "zod";
import { toHash } from "../redis/replies.ts";
import type { EntryRecord } from "./weakness.ts";

/** `P:governor:entries` values: the governor's record of the entry it allowed. */
const EntryRecordSchema = z.object({ at: z.number(), score: z.number().nullish() });

/** Entry records by symbol from a raw HGETALL answer; malformed records are skipped. */
export function parseEntries(raw: unknown): Map<string, EntryRecord> {
  const entries = new Map<string, EntryRecord>();
  for (const [symbol, value] of Object.entries(toHash(raw))) {
    try {
      const parsed = EntryRecordSchema.safeParse(JSON.parse(value));
      if (parsed.success)
        entries.set(symbol, { at: parsed.data.at, score: parsed.data.score ?? 0 });
    } catch {
      // A malformed record is ignored: age falls back to the position's updateTime.
    }
  }
  return entries;
}
