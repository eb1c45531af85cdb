import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * Every `error.code` the HTTP API answers with: the one list the handlers are
 * typed against and the OpenAPI document lists per route (routes.ts).
 */
export const ERROR_CODES = {
  invalidJson: "invalid_json",
  invalidPlan: "invalid_plan",
  invalidPlanId: "invalid_plan_id",
  unauthorized: "unauthorized",
  payloadTooLarge: "payload_too_large",
  planIdConflict: "plan_id_conflict",
  notFound: "not_found",
  configInvalid: "config_invalid",
  dependencyUnavailable: "dependency_unavailable",
  internal: "internal",
  invalidTradingState: "invalid_trading_state",
  forbidden: "forbidden",
  adminNotConfigured: "admin_not_configured",
  invalidWindow: "invalid_window",
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** Codes of the internal routes the Worker calls on itself (not in the API document). */
export const INTERNAL_ERROR_CODES = {
  invalidBatch: "invalid_batch",
  invalidSweep: "invalid_sweep",
} as const;

type InternalErrorCode = (typeof INTERNAL_ERROR_CODES)[keyof typeof INTERNAL_ERROR_CODES];

/** The one JSON error shape of every route (docs/contract.md §4). */
export function jsonError<S extends ContentfulStatusCode, C extends ErrorCode | InternalErrorCode>(
  c: Context,
  status: S,
  code: C,
  message: string,
  issues?: readonly unknown[],
) {
  return c.json(
    { error: { code, message, ...(issues === undefined ? {} : { issues: [...issues] }) } },
    status,
  );
}
