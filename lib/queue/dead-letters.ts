/**
 * Dead letters: a plan message that exhausted its retries (`max_retries` in
 * wrangler.toml) lands on the dead-letter queue. Without a consumer Cloudflare
 * keeps it four days and deletes it silently; this consumer records each one in
 * the bounded stream `P:governor:dead_letters` with why it died (the reason of
 * its last retry, kept by ./evaluate-batch.ts) and its body, for `/v1/status`
 * and the dashboard. Only Redis is touched here: no placement needed.
 *
 * @see https://developers.cloudflare.com/queues/configuration/dead-letter-queues/
 */
import { z } from "zod";
import type { GovernorContext } from "../context.ts";
import type { StreamEntry } from "../redis/replies.ts";

/** Dead-letter queues are named `{plans queue}-dlq` in every environment (wrangler.toml). */
export const DEAD_LETTER_SUFFIX = "-dlq";
/** Entries kept in the stream (approximate trimming, `MAXLEN ~`). */
export const DEAD_LETTERS_MAXLEN = 1000;
/** Newest dead letters shown on `/v1/status` and the dashboard. */
export const DEAD_LETTERS_SHOWN = 5;
/** Characters of a dead message's body kept. */
export const DEAD_LETTER_BODY_CHARS = 2000;
/** Seconds before a batch Redis refused is recorded again. */
const RECORD_RETRY_S = 60;

/** What the recorder uses of a MessageBatch. */
export interface DeadLetterBatch {
  queue: string;
  messages: readonly { id: string; body: unknown }[];
  ackAll(): void;
  retryAll(options?: { delaySeconds?: number }): void;
}

export function isDeadLetterQueue(queue: string): boolean {
  return queue.endsWith(DEAD_LETTER_SUFFIX);
}

const RetryRecordSchema = z.object({
  reason: z.string(),
  attempts: z.number(),
  at: z.number(),
});

function decodeBody(body: unknown): unknown {
  if (typeof body !== "string") return body;
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | null)?.[name];
  return typeof value === "string" ? value.slice(0, 128) : "";
}

function parseRetryRecord(raw: unknown) {
  if (typeof raw !== "string") return undefined;
  try {
    const parsed = RetryRecordSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Record every message of a dead-letter batch (two Redis requests), then ack
 * them. Each also gets one log line, the record of last resort: if Redis refuses,
 * the batch is retried, and after the DLQ consumer's own retries it is gone.
 */
export async function recordDeadLetters(
  batch: DeadLetterBatch,
  gov: GovernorContext,
): Promise<void> {
  const letters = batch.messages.map((message) => {
    const body = decodeBody(message.body);
    let text: string;
    try {
      text = JSON.stringify(body) ?? "null";
    } catch {
      text = "(not serializable)";
    }
    return {
      message,
      planId: field(body, "plan_id"),
      symbol: field(body, "symbol"),
      body: text.slice(0, DEAD_LETTER_BODY_CHARS),
    };
  });
  try {
    const read = gov.redis.pipeline();
    for (const { planId } of letters) read.get(gov.keys.queueRetry(planId || "-"));
    read.incrby(gov.keys.deadLetterCount, letters.length);
    const replies = (await read.exec()) as unknown[];
    const total = Number(replies.at(-1));
    const write = gov.redis.pipeline();
    letters.forEach((letter, i) => {
      const lastRetry = letter.planId ? parseRetryRecord(replies[i]) : undefined;
      const fields = {
        seq: String(total - letters.length + i + 1),
        at: String(gov.now()),
        queue: batch.queue,
        message_id: letter.message.id,
        plan_id: letter.planId,
        symbol: letter.symbol,
        reason: lastRetry?.reason ?? "unknown",
        attempts: String(lastRetry ? lastRetry.attempts : ""),
        last_retry_at: String(lastRetry?.at ?? ""),
        body: letter.body,
      };
      console.error(JSON.stringify({ msg: "governor.dead_letter", ...fields }));
      write.xadd(gov.keys.deadLetters, "*", fields, {
        trim: { type: "MAXLEN", threshold: DEAD_LETTERS_MAXLEN, comparison: "~" },
      });
    });
    await write.exec();
    batch.ackAll();
  } catch (error) {
    console.error(
      JSON.stringify({
        msg: "governor.dead_letter.unrecorded",
        queue: batch.queue,
        messages: letters.length,
        error: error instanceof Error ? error.name : "error",
      }),
    );
    batch.retryAll({ delaySeconds: RECORD_RETRY_S });
  }
}

export const DeadLetterViewSchema = z.object({
  seq: z.number().int(),
  at_ms: z.number().describe("unix ms, when it was recorded"),
  plan_id: z.string(),
  symbol: z.string(),
  reason: z
    .string()
    .describe(
      "Why its last retry happened: a BLOCK reason (e.g. active_slots_positions_unavailable), an error name, weight_budget, or unknown.",
    ),
  attempts: z.number().int().nullable().describe("Deliveries before it died, when known."),
  message_id: z.string(),
  body: z
    .string()
    .describe(`The message body as JSON, at most ${DEAD_LETTER_BODY_CHARS} characters.`),
});

export const DeadLettersViewSchema = z.object({
  count: z.number().int().describe("Dead letters recorded since the stream began."),
  recent: z.array(DeadLetterViewSchema).describe(`Newest first, at most ${DEAD_LETTERS_SHOWN}.`),
});
export type DeadLettersView = z.infer<typeof DeadLettersViewSchema>;

/** The status view of the newest dead-letter entries (XREVRANGE, newest first). */
export function deadLettersView(entries: readonly StreamEntry[]): DeadLettersView {
  const recent = entries.map(({ id, fields }) => ({
    seq: Number(fields.seq) || 0,
    at_ms: Number(fields.at) || Number(id.split("-")[0]) || 0,
    plan_id: fields.plan_id ?? "",
    symbol: fields.symbol ?? "",
    reason: fields.reason ?? "unknown",
    attempts: fields.attempts ? Number(fields.attempts) : null,
    message_id: fields.message_id ?? "",
    body: fields.body ?? "",
  }));
  return { count: recent[0]?.seq ?? 0, recent };
}
