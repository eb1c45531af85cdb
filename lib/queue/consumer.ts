/**
 * Queue consumer entry. Queue consumers are not moved by placement, so a batch of
 * plans is forwarded to the placed fetch handler (lib/placement/forward.ts), which
 * evaluates each message near Binance (./evaluate-batch.ts) and answers, per
 * message, ack or retry; this side applies the answer. Batches from a dead-letter
 * queue are recorded instead (./dead-letters.ts): they touch Redis only.
 */
import { ConfigError } from "../errors.ts";
import { governorContext, type GovernorContext } from "../context.ts";
import { callPlaced, INTERNAL_ROUTES } from "../placement/forward.ts";
import { isDeadLetterQueue, recordDeadLetters } from "./dead-letters.ts";
import { retryDelaySeconds } from "./evaluate-batch.ts";
import { BatchOutcomeSchema, type ForwardedMessage } from "./wire.ts";

/** Seconds a batch waits when the configuration is unusable. */
const CONFIG_RETRY_S = 60;

export async function consumePlans(batch: MessageBatch<unknown>, env: object): Promise<void> {
  let gov: GovernorContext;
  try {
    gov = governorContext(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(
      JSON.stringify({
        msg: "governor.queue.config_invalid",
        queue: batch.queue,
        issues: error.issues,
      }),
    );
    batch.retryAll({ delaySeconds: CONFIG_RETRY_S });
    return;
  }
  if (isDeadLetterQueue(batch.queue)) return recordDeadLetters(batch, gov);

  const messages = batch.messages.map(forwarded);
  let outcomes;
  try {
    const answer = await callPlaced(env, gov, INTERNAL_ROUTES.queue, { messages });
    outcomes = BatchOutcomeSchema.parse(answer).outcomes;
  } catch (error) {
    // Nothing was decided for sure: every message is tried again (bounded by max_retries,
    // then the dead-letter queue), never acked unevaluated.
    console.error(
      JSON.stringify({
        msg: "governor.queue.forward_failed",
        queue: batch.queue,
        messages: messages.length,
        error: error instanceof Error ? `${error.name}: ${error.message}` : "error",
      }),
    );
    for (const message of batch.messages) {
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
    return;
  }
  const byId = new Map(outcomes.map((outcome) => [outcome.id, outcome]));
  for (const message of batch.messages) {
    const outcome = byId.get(message.id);
    if (outcome?.action === "ack") message.ack();
    else {
      message.retry({
        delaySeconds: outcome?.delay_seconds ?? retryDelaySeconds(message.attempts),
      });
    }
  }
}

/** A message as the placed handler receives it; a body JSON cannot carry becomes null. */
function forwarded(message: Message<unknown>): ForwardedMessage {
  let body: unknown = message.body;
  try {
    if (JSON.stringify(body) === undefined) body = null;
  } catch {
    body = null; // e.g. a BigInt or a cycle: the schema rejects null, the message is acked
  }
  return { id: message.id, attempts: message.attempts, body };
}
