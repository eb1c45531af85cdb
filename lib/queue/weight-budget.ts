/**
 * The queue's share of Binance request weight. Binance counts 2400 weight per
 * minute per IP (`X-MBX-USED-WEIGHT-1M`); one evaluation spends 5 (one signed
 * `GET /fapi/v3/account`), a cold regime cache a little more. Queue consumers
 * cannot be paced by `max_concurrency` alone (one invocation evaluates a batch
 * of 10 in well under a second near Binance), so the queue reserves weight in a
 * per-minute Redis counter before evaluating and defers what does not fit to
 * the next minute. The other half of the limit stays free for the webhook (the
 * latency-critical path), the sweep and the operators' status reads.
 *
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info#limits
 */
import type { GovernorContext } from "../context.ts";

/** Weight per minute the queue may spend: half of Binance's 2400 per IP. */
export const QUEUE_WEIGHT_PER_MINUTE = 1200;
/** Weight one evaluation is charged: the account call. */
export const WEIGHT_PER_EVALUATION = 5;

export interface WeightReservation {
  /** How many of the requested evaluations may run now. */
  granted: number;
  /** Seconds until the next minute, when a deferred message can be tried again. */
  retryAfterSeconds: number;
}

/**
 * Reserve weight for up to `evaluations` evaluations in the minute of `nowMs`
 * (unix ms). One Redis request (INCRBY + EXPIRE). A refusal is charged anyway,
 * which only errs on the side of spending less.
 */
export async function reserveQueueWeight(
  gov: Pick<GovernorContext, "redis" | "keys">,
  evaluations: number,
  nowMs: number,
): Promise<WeightReservation> {
  const minute = Math.floor(nowMs / 60_000);
  const retryAfterSeconds = Math.max(1, Math.ceil(((minute + 1) * 60_000 - nowMs) / 1000));
  if (evaluations <= 0) return { granted: 0, retryAfterSeconds };
  const cost = evaluations * WEIGHT_PER_EVALUATION;
  const key = gov.keys.queueWeight(minute);
  const pipeline = gov.redis.pipeline();
  pipeline.incrby(key, cost);
  pipeline.expire(key, 120);
  const [used] = (await pipeline.exec()) as [number, number];
  const before = Number(used) - cost;
  const room = Math.floor((QUEUE_WEIGHT_PER_MINUTE - before) / WEIGHT_PER_EVALUATION);
  return { granted: Math.max(0, Math.min(evaluations, room)), retryAfterSeconds };
}
