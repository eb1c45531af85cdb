import { ConfigError, PlanConflictError } from "../errors.ts";
import { governorContext, type GovernorContext } from "../context.ts";
import { evaluatePlan } from "../evaluate/evaluate.ts";
import { PlanSchema } from "../plans/schema.ts";

/** Seconds before a message whose dependencies were down is tried again. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(300, 5 * 2 ** Math.max(0, attempts - 1));
}

/**
 * Queue consumer (SPEC §7): the same evaluation per message. A dependency
 * outage (Redis down, or a BLOCK *_unavailable) retries the message with
 * backoff; an invalid message is acked and recorded, never looped.
 */
export async function consumePlans(batch: MessageBatch<unknown>, env: object): Promise<void> {
  let gov: GovernorContext;
  try {
    gov = governorContext(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(JSON.stringify({ msg: "governor.queue.config_invalid", issues: error.issues }));
    batch.retryAll({ delaySeconds: 60 });
    return;
  }
  for (const message of batch.messages) {
    let body = message.body;
    if (typeof body === "string") {
      try {
        body = JSON.parse(body);
      } catch {
        // left as a string: the schema rejects it below
      }
    }
    const plan = PlanSchema.safeParse(body);
    if (!plan.success) {
      await recordInvalid(gov, message, plan.error.issues);
      message.ack();
      continue;
    }
    try {
      // The message id stands for a request id in the evaluation's log line.
      const { body: decision } = await evaluatePlan(plan.data, { ...gov, requestId: message.id });
      if (decision.decision === "BLOCK" && decision.reason?.endsWith("_unavailable")) {
        message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
      } else {
        message.ack();
      }
    } catch (error) {
      if (error instanceof PlanConflictError) {
        // Recorded by the script (PLAN_ID_CONFLICT); retrying cannot help.
        console.error(
          JSON.stringify({
            msg: "governor.queue.plan_id_conflict",
            message_id: message.id,
            plan_id: plan.data.plan_id,
          }),
        );
        message.ack();
        continue;
      }
      console.error(
        JSON.stringify({
          msg: "governor.queue.retry",
          message_id: message.id,
          plan_id: plan.data.plan_id,
          error: error instanceof Error ? error.name : "error",
          attempts: message.attempts,
        }),
      );
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  }
}

/** Keep a trace of an invalid message (event stream + log); failure to record never loops it. */
async function recordInvalid(gov: GovernorContext, message: Message<unknown>, issues: unknown) {
  const body = message.body as Record<string, unknown> | null;
  const planId = typeof body?.plan_id === "string" ? body.plan_id.slice(0, 128) : "";
  const summary = JSON.stringify(issues).slice(0, 2000);
  console.error(
    JSON.stringify({
      msg: "governor.queue.invalid",
      message_id: message.id,
      plan_id: planId,
      issues: summary,
    }),
  );
  try {
    await gov.redis.xadd(gov.keys.eventsStream, "*", {
      event: "PLAN_INVALID",
      ts: String(gov.now()),
      message_id: message.id,
      plan_id: planId,
      issues: summary,
    });
  } catch {
    // Redis down: the log line above is the record.
  }
}
