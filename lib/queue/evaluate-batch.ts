/**
 * The queue's evaluation, run by the placed fetch handler (POST /__internal/queue):
 * the same evaluation per message as the webhook (docs/contract.md §4). A dependency outage
 * (Redis down, or a BLOCK *_unavailable) retries the message with backoff; an
 * invalid message is acked and recorded, never looped; what the minute's Binance
 * weight budget cannot cover waits for the next minute. Each retry's reason is
 * kept in Redis for a day, so a message that finally dies says why.
 */
import type { GovernorContext } from "../context.ts";
import { PlanConflictError } from "../errors.ts";
import { evaluatePlan } from "../evaluate/evaluate.ts";
import { isClose, planParser, type Plan } from "../plans/schema.ts";
import { reserveQueueWeight } from "./weight-budget.ts";
import type { ForwardedMessage, MessageOutcome } from "./wire.ts";

/** Seconds before a message whose dependencies were down is tried again. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(300, 5 * 2 ** Math.max(0, attempts - 1));
}

/** Seconds a retry's reason is kept (longer than 10 retries at the longest backoff). */
export const RETRY_REASON_TTL_S = 86_400;

/** A queue body may be the plan or its JSON text. */
function decodeBody(body: unknown): unknown {
  if (typeof body !== "string") return body;
  try {
    return JSON.parse(body);
  } catch {
    return body; // left as a string: the schema rejects it
  }
}

/** Whether evaluating `plan` calls Binance (entries do; ignored plans and closes do not). */
function spendsWeight(plan: Plan, gov: GovernorContext): boolean {
  return plan.decision === "EXECUTE" && !isClose(plan) && gov.config.enabled;
}

export async function evaluateQueuedPlans(
  messages: readonly ForwardedMessage[],
  gov: GovernorContext,
): Promise<MessageOutcome[]> {
  const outcomes = new Map<string, MessageOutcome>();
  const retries: { message: ForwardedMessage; planId: string; reason: string }[] = [];
  const retry = (message: ForwardedMessage, planId: string, reason: string, delay?: number) => {
    const delaySeconds = delay ?? retryDelaySeconds(message.attempts);
    outcomes.set(message.id, {
      id: message.id,
      action: "retry",
      delay_seconds: delaySeconds,
      reason,
    });
    retries.push({ message, planId, reason });
  };

  const valid: { message: ForwardedMessage; plan: Plan }[] = [];
  for (const message of messages) {
    const parsed = planParser.safeParse(decodeBody(message.body));
    if (parsed.success) {
      valid.push({ message, plan: parsed.data });
    } else {
      await recordInvalid(gov, message, parsed.error.issues);
      outcomes.set(message.id, { id: message.id, action: "ack" });
    }
  }

  let budget: Awaited<ReturnType<typeof reserveQueueWeight>> | undefined;
  try {
    const costly = valid.filter(({ plan }) => spendsWeight(plan, gov)).length;
    budget = await reserveQueueWeight(gov, costly, gov.now());
  } catch (error) {
    for (const { message, plan } of valid) retry(message, plan.plan_id, errorName(error));
  }

  let granted = budget?.granted ?? 0;
  for (const { message, plan } of budget ? valid : []) {
    if (spendsWeight(plan, gov)) {
      if (granted === 0) {
        retry(message, plan.plan_id, "weight_budget", budget!.retryAfterSeconds);
        continue;
      }
      granted -= 1;
    }
    try {
      // The message id stands for a request id in the evaluation's log line.
      const { body: decision } = await evaluatePlan(plan, { ...gov, requestId: message.id });
      // A restricted location (HTTP 451) will not pass on a retry: the message is done.
      const restricted = decision.details?.detail === "restricted_location";
      if (
        decision.decision === "BLOCK" &&
        decision.reason?.endsWith("_unavailable") &&
        !restricted
      ) {
        retry(message, plan.plan_id, decision.reason);
      } else {
        outcomes.set(message.id, { id: message.id, action: "ack" });
      }
    } catch (error) {
      if (error instanceof PlanConflictError) {
        // Recorded by the script (PLAN_ID_CONFLICT); retrying cannot help.
        console.error(
          JSON.stringify({
            msg: "governor.queue.plan_id_conflict",
            message_id: message.id,
            plan_id: plan.plan_id,
          }),
        );
        outcomes.set(message.id, { id: message.id, action: "ack" });
        continue;
      }
      console.error(
        JSON.stringify({
          msg: "governor.queue.retry",
          message_id: message.id,
          plan_id: plan.plan_id,
          error: errorName(error),
          attempts: message.attempts,
        }),
      );
      retry(message, plan.plan_id, errorName(error));
    }
  }

  await recordRetryReasons(gov, retries);
  return messages.map((message) => outcomes.get(message.id)!);
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : "error";
}

/** One Redis request for the batch's retries; failure to record never fails the batch. */
async function recordRetryReasons(
  gov: GovernorContext,
  retries: { message: ForwardedMessage; planId: string; reason: string }[],
) {
  if (retries.length === 0) return;
  const pipeline = gov.redis.pipeline();
  for (const { message, planId, reason } of retries) {
    pipeline.set(
      gov.keys.queueRetry(planId),
      JSON.stringify({ reason, attempts: message.attempts, message_id: message.id, at: gov.now() }),
      { ex: RETRY_REASON_TTL_S },
    );
  }
  await pipeline.exec().catch(() => {
    // Redis down: the retry happens anyway; a death is then recorded without its reason.
  });
}

/** Keep a trace of an invalid message (event stream + log); failure to record never loops it. */
async function recordInvalid(gov: GovernorContext, message: ForwardedMessage, issues: unknown) {
  const body = decodeBody(message.body) as Record<string, unknown> | null;
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
