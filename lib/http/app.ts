import { Hono, type Context } from "hono";
import { ConfigError, StateStoreError } from "../errors.ts";
import { governorContext, type GovernorContext } from "../context.ts";
import { evaluatePlan } from "../evaluate/evaluate.ts";
import { PlanSchema } from "../plans/schema.ts";
import { readPlanState } from "../plans/read.ts";
import { checkHealth } from "../health.ts";
import { readStatus } from "../status.ts";
import { bearerMatches, verifyWebhookSignature } from "./auth.ts";
import { jsonError } from "./errors.ts";

/** Webhook bodies over this many bytes are refused with 413. */
export const MAX_PLAN_BYTES = 16 * 1024;

type AppEnv = { Bindings: Env; Variables: { gov: GovernorContext } };

export const app = new Hono<AppEnv>();

app.onError((error, c) => {
  if (error instanceof ConfigError) {
    return jsonError(c, 503, "config_invalid", error.message, error.issues);
  }
  if (error instanceof StateStoreError) {
    return jsonError(c, 503, "dependency_unavailable", error.message);
  }
  console.error(JSON.stringify({ msg: "governor.error", name: error.name, error: error.message }));
  return jsonError(c, 500, "internal", "internal error");
});
app.notFound((c) => jsonError(c, 404, "not_found", `no route ${c.req.method} ${c.req.path}`));

app.use("/v1/*", async (c, next) => {
  c.set("gov", governorContext(c.env));
  await next();
});

const requireReadToken = async (c: Context<AppEnv>, next: () => Promise<void>) => {
  if (!bearerMatches(c.req.header("authorization"), c.var.gov.config.readToken)) {
    return jsonError(c, 401, "unauthorized", "a valid bearer token is required");
  }
  await next();
};

app.get("/v1/health", async (c) => {
  const health = await checkHealth(c.var.gov);
  return c.json(health, health.ok ? 200 : 503);
});

app.post("/v1/plans", async (c) => {
  const gov = c.var.gov;
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > MAX_PLAN_BYTES) {
    return jsonError(c, 413, "payload_too_large", `body over ${MAX_PLAN_BYTES} bytes`);
  }
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > MAX_PLAN_BYTES) {
    return jsonError(c, 413, "payload_too_large", `body over ${MAX_PLAN_BYTES} bytes`);
  }
  const rawBody = new TextDecoder().decode(bytes);
  const auth = await verifyWebhookSignature({
    secret: gov.config.webhookSecret,
    timestamp: c.req.header("x-governor-timestamp"),
    signature: c.req.header("x-governor-signature"),
    rawBody,
    nowMs: gov.now(),
  });
  if (!auth.ok) return jsonError(c, 401, "unauthorized", auth.message);

  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    return jsonError(c, 400, "invalid_json", "body is not valid JSON");
  }
  const plan = PlanSchema.safeParse(json);
  if (!plan.success) {
    return jsonError(c, 400, "invalid_plan", "plan does not match the schema", plan.error.issues);
  }
  const evaluation = await evaluatePlan(plan.data, gov);
  return c.json(evaluation.body, 200);
});

app.get("/v1/plans/:plan_id", requireReadToken, async (c) => {
  const planId = c.req.param("plan_id") ?? "";
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(planId)) {
    return jsonError(c, 400, "invalid_plan_id", "plan_id must be 1-128 of [A-Za-z0-9_.:-]");
  }
  return c.json(await readPlanState(c.var.gov, planId));
});

app.get("/v1/status", requireReadToken, async (c) => c.json(await readStatus(c.var.gov)));
