/**
 * Internal routes of the placed fetch handler, reached by this Worker's own queue
 * consumer and cron handler over the PLACED service binding (lib/placement/forward.ts).
 * Every request is signed like the webhook (HMAC-SHA256 with GOV_WEBHOOK_SECRET over
 * `{timestamp}.{body}`), so a request from the internet is refused before any work.
 * Not part of the public API: absent from /openapi.json.
 */
import { Hono } from "hono";
import { placementOf } from "../placement/forward.ts";
import { evaluateQueuedPlans } from "../queue/evaluate-batch.ts";
import { ForwardedBatchSchema, type BatchOutcome } from "../queue/wire.ts";
import { runScheduledSweep, SweepRequestSchema } from "../sweep/scheduled.ts";
import { INTERNAL_ERROR_CODES, jsonError } from "./errors.ts";
import { webhookAuth, type WebhookEnv } from "./middleware.ts";

type InternalEnv = WebhookEnv & { Variables: { body: unknown } };

export const internalRoutes = new Hono<InternalEnv>();

/** Signature first (nothing is parsed or called for an unsigned request), then JSON. */
internalRoutes.use("*", webhookAuth, async (c, next) => {
  try {
    c.set("body", JSON.parse(c.get("rawBody")));
  } catch {
    return jsonError(c, 400, "invalid_json", "body is not valid JSON");
  }
  await next();
});

internalRoutes.post("/queue", async (c) => {
  const batch = ForwardedBatchSchema.safeParse(c.get("body"));
  if (!batch.success) {
    return jsonError(
      c,
      400,
      INTERNAL_ERROR_CODES.invalidBatch,
      "not a forwarded batch",
      batch.error.issues,
    );
  }
  const answer: BatchOutcome = {
    outcomes: await evaluateQueuedPlans(batch.data.messages, c.get("gov")),
    placement: placementOf(c.req.raw),
  };
  return c.json(answer, 200);
});

internalRoutes.post("/sweep", async (c) => {
  const request = SweepRequestSchema.safeParse(c.get("body"));
  if (!request.success) {
    return jsonError(
      c,
      400,
      INTERNAL_ERROR_CODES.invalidSweep,
      "not a sweep request",
      request.error.issues,
    );
  }
  const result = await runScheduledSweep(request.data.scheduled_time, c.get("gov"));
  return c.json({ ...result, placement: placementOf(c.req.raw) }, 200);
});
