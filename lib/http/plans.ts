/**
 * The Apply Layer's routes: the webhook (POST /v1/plans) and a plan's record
 * (GET /v1/plans/{plan_id}).
 */
import { evaluatePlan } from "../evaluate/evaluate.ts";
import { planParser } from "../plans/schema.ts";
import { readPlanState } from "../plans/read.ts";
import { deliverAlerts } from "../alerts/deliver.ts";
import { ERROR_CODES, jsonError } from "./errors.ts";
import {
  afterAnswering,
  afterResponse,
  createApp,
  maxBody,
  readTokenAuth,
  webhookAuth,
  type WebhookEnv,
} from "./middleware.ts";
import { MAX_PLAN_BYTES, getPlanRoute, postPlanRoute } from "./routes.ts";

export const plans = createApp<WebhookEnv>();

/** In this order: body size (413), signature (401), JSON and the plan schema (400), evaluation. */
plans.openapi(
  { ...postPlanRoute, middleware: [maxBody(MAX_PLAN_BYTES), webhookAuth] as const },
  async (c) => {
    const gov = c.get("gov");
    let json: unknown;
    try {
      json = JSON.parse(c.get("rawBody"));
    } catch {
      return jsonError(c, 400, ERROR_CODES.invalidJson, "body is not valid JSON");
    }
    const plan = planParser.safeParse(json);
    if (!plan.success) {
      return jsonError(
        c,
        400,
        ERROR_CODES.invalidPlan,
        "plan does not match the schema",
        plan.error.issues,
      );
    }
    const evaluation = await evaluatePlan(plan.data, {
      ...gov,
      requestId: c.get("requestId"),
      afterAnswer: (work) => afterAnswering(c, work),
    });
    // Alerts the decision queued go out after the answer (the cron delivers them otherwise).
    if (evaluation.alertsQueued) afterResponse(c, deliverAlerts(gov));
    return c.json(evaluation.body, 200);
  },
);

plans.openapi({ ...getPlanRoute, middleware: [readTokenAuth] as const }, async (c) =>
  c.json(await readPlanState(c.get("gov"), c.req.valid("param").plan_id), 200),
);
