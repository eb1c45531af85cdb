import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The one JSON error shape of every route (SPEC §7). */
export function jsonError<S extends ContentfulStatusCode>(
  c: Context,
  status: S,
  code: string,
  message: string,
  issues?: readonly unknown[],
) {
  return c.json(
    { error: { code, message, ...(issues === undefined ? {} : { issues: [...issues] }) } },
    status,
  );
}
