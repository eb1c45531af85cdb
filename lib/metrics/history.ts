/**
 * `GET /v1/history`: per-minute buckets of the last 1, 6 or 24 hours, as
 * columns (one array per series, one element per minute, oldest first), built
 * from the history hashes the deciding scripts write (./lua/counters.ts).
 * `buildHistory` is a function of what was read; `readHistory` reads it in
 * one request.
 */
import { z } from "zod";
import type { GovernorContext } from "../context.ts";
import { stateStoreFailure } from "../errors.ts";
import { runScript, type NamedScript } from "../redis/scripts.ts";
import { toHash } from "../redis/replies.ts";
import { READ_HISTORY } from "./lua/read-history.ts";
import { FIELD, HISTORY_OUTCOMES, ROTATION_OUTCOMES } from "./series.ts";

/** Windows and their length in minutes. */
export const HISTORY_WINDOWS = { "1h": 60, "6h": 360, "24h": 1440 } as const;
export type HistoryWindow = keyof typeof HISTORY_WINDOWS;
export const HistoryWindowSchema = z.enum(["1h", "6h", "24h"]);

const counts = z.array(z.number().int());
const gauge = z.array(z.number().int().nullable());

export const HistorySchema = z.object({
  window: HistoryWindowSchema,
  step_s: z.literal(60).describe("Every element of a series covers one minute."),
  start_ms: z.number().describe("unix ms: start of the first minute"),
  end_ms: z
    .number()
    .describe("unix ms: end of the last minute, the current one (still filling up)"),
  decisions: z
    .object({
      allow: counts,
      block: counts.describe("Final BLOCKs."),
      wait: counts.describe(
        "BLOCKs that wait on something outside the plan (a rotation's close, another rotation).",
      ),
      unavailable: counts.describe("BLOCKs because a dependency could not be read."),
    })
    .describe("Decisions written per minute, by outcome."),
  slots: z
    .object({
      holders: gauge,
      desired: gauge,
    })
    .describe(
      "Slot holders and desired slots as the minute's last decision with slot figures answered; null when none did.",
    ),
  rotations: z
    .object({
      started: counts,
      completed: counts.describe("Ended with the entry granted."),
      not_granted: counts.describe(
        "Ended without an entry: a gate blocked at completion, or cancelled.",
      ),
      timed_out: counts,
    })
    .describe("Rotations started and ended per minute."),
  totals: z.object({
    decisions: z.object({
      allow: z.number().int(),
      block: z.number().int(),
      wait: z.number().int(),
      unavailable: z.number().int(),
    }),
    rotations: z.object({
      started: z.number().int(),
      completed: z.number().int(),
      not_granted: z.number().int(),
      timed_out: z.number().int(),
    }),
  }),
});

export type History = z.infer<typeof HistorySchema>;

/** The unix minute of an instant. */
export function minuteOf(ms: number): number {
  return Math.floor(ms / 60_000);
}

/**
 * The window ending with the current minute, from the minutes' hashes (oldest
 * first, one per minute of the window; a missing or empty one is a quiet minute).
 */
export function buildHistory(
  window: HistoryWindow,
  nowMs: number,
  minutes: readonly Record<string, string>[],
): History {
  const n = HISTORY_WINDOWS[window];
  const first = minuteOf(nowMs) - n + 1;
  const count = (hash: Record<string, string> | undefined, field: string) => {
    const value = Number(hash?.[field]);
    return Number.isInteger(value) && value > 0 ? value : 0;
  };
  const level = (hash: Record<string, string> | undefined, field: string) => {
    const raw = hash?.[field];
    const value = raw === undefined ? NaN : Number(raw);
    return Number.isInteger(value) ? value : null;
  };
  const column = <T>(read: (hash: Record<string, string> | undefined) => T) =>
    Array.from({ length: n }, (_, i) => read(minutes[i]));
  const decisions = Object.fromEntries(
    HISTORY_OUTCOMES.map((o) => [o, column((h) => count(h, FIELD.historyDecision(o)))]),
  ) as History["decisions"];
  const rotations = Object.fromEntries(
    ROTATION_OUTCOMES.map((o) => [o, column((h) => count(h, FIELD.rotation(o)))]),
  ) as History["rotations"];
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  return {
    window,
    step_s: 60,
    start_ms: first * 60_000,
    end_ms: (first + n) * 60_000,
    decisions,
    slots: {
      holders: column((h) => level(h, FIELD.slotHolders)),
      desired: column((h) => level(h, FIELD.slotsDesired)),
    },
    rotations,
    totals: {
      decisions: Object.fromEntries(
        HISTORY_OUTCOMES.map((o) => [o, sum(decisions[o])]),
      ) as History["totals"]["decisions"],
      rotations: Object.fromEntries(
        ROTATION_OUTCOMES.map((o) => [o, sum(rotations[o])]),
      ) as History["totals"]["rotations"],
    },
  };
}

const READ_HISTORY_SCRIPT: NamedScript = { name: "read_history", source: READ_HISTORY };

/** Read a window's history (one Redis request); Redis failures answer 503. */
export async function readHistory(gov: GovernorContext, window: HistoryWindow): Promise<History> {
  const now = gov.now();
  const n = HISTORY_WINDOWS[window];
  const raw = await runScript(gov.redis, READ_HISTORY_SCRIPT, [], {
    prefix: gov.keys.history(""),
    from: minuteOf(now) - n + 1,
    count: n,
  }).catch(stateStoreFailure);
  const minutes = Array.isArray(raw) ? raw.map(toHash) : [];
  return buildHistory(window, now, minutes);
}
