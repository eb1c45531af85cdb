import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The one JSON error shape of every route (SPEC §7). */
export function jsonError(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  message: string,
  issues?: unknown,
) {
  return c.json({ error: { code, message, ...(issues === undefined ? {} : { issues }) } }, status);
}
