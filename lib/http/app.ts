/**
 * The Worker's HTTP app: the sub-apps of each concern (plans.ts, operators.ts,
 * docs.ts, internal.ts) composed with `app.route`, which also merges their
 * OpenAPI definitions into the one document; the middleware every request
 * passes; and the one error handler.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { ConfigError, PlanConflictError, StateStoreError } from "../errors.ts";
import { governorContext } from "../context.ts";
import { alertConfigInvalid } from "../alerts/config-alert.ts";
import { docsFor } from "./docs.ts";
import { ERROR_CODES, jsonError } from "./errors.ts";
import { internalRoutes } from "./internal.ts";
import { afterResponse, answerHeaders, createApp, type AppEnv } from "./middleware.ts";
import { operators } from "./operators.ts";
import { plans } from "./plans.ts";
import { MAX_PLAN_BYTES } from "./routes.ts";

export { MAX_PLAN_BYTES };

export const app = createApp();

app.use("*", answerHeaders);

app.onError((error, c) => {
  // A refusal a middleware answered with (bearerAuth): already in the API's error shape.
  if (error instanceof HTTPException) return error.getResponse();
  if (error instanceof ConfigError) {
    afterResponse(c, alertConfigInvalid(c.env, error, Date.now()));
    return jsonError(c, 503, "config_invalid", error.message, error.issues);
  }
  if (error instanceof PlanConflictError) {
    return jsonError(c, 409, ERROR_CODES.planIdConflict, error.message);
  }
  if (error instanceof StateStoreError) {
    return jsonError(c, 503, "dependency_unavailable", error.message);
  }
  console.error(
    JSON.stringify({
      msg: "governor.error",
      request_id: c.get("requestId"),
      name: error.name,
      error: error.message,
    }),
  );
  return jsonError(c, 500, "internal", "internal error");
});
app.notFound((c) => jsonError(c, 404, "not_found", `no route ${c.req.method} ${c.req.path}`));

const withGovernor = async (c: Context<AppEnv>, next: () => Promise<void>) => {
  c.set("gov", governorContext(c.env));
  await next();
};
app.use("/v1/*", withGovernor);
app.use("/", withGovernor);
app.use("/metrics", withGovernor);
app.use("/__internal/*", withGovernor);

app.route("/", plans);
app.route("/", operators);
app.route("/__internal", internalRoutes);
app.route("/", docsFor(app));
