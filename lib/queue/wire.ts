/**
 * What the queue consumer sends to the placed fetch handler (lib/placement/forward.ts)
 * and what comes back: per message, ack it or retry it after a delay, and why.
 */
import { z } from "zod";

/** One queue message as forwarded: its id, delivery count and body (any JSON). */
export const ForwardedMessageSchema = z.object({
  id: z.string().min(1).max(256),
  attempts: z.number().int().min(0),
  body: z.unknown(),
});
export type ForwardedMessage = z.infer<typeof ForwardedMessageSchema>;

/** A batch is at most 100 messages (Cloudflare Queues' max_batch_size). */
export const ForwardedBatchSchema = z.object({
  messages: z.array(ForwardedMessageSchema).max(100),
});

export const MessageOutcomeSchema = z.discriminatedUnion("action", [
  z.object({ id: z.string(), action: z.literal("ack") }),
  z.object({
    id: z.string(),
    action: z.literal("retry"),
    /** seconds */
    delay_seconds: z.number().int().min(0).max(43_200),
    /** why: a BLOCK reason, an error name or `weight_budget`; recorded if the message dies. */
    reason: z.string().max(200),
  }),
]);
export type MessageOutcome = z.infer<typeof MessageOutcomeSchema>;

export const BatchOutcomeSchema = z.object({
  outcomes: z.array(MessageOutcomeSchema),
  /** Where the placed handler ran (`cf-placement` / colo); null locally. */
  placement: z.string().nullable(),
});
export type BatchOutcome = z.infer<typeof BatchOutcomeSchema>;
