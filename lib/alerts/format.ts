/**
 * An alert as queued in the outbox (`P:governor:alerts:outbox`, written by
 * the Lua in lib/operators/lua/operators.ts) and as POSTed to
 * GOV_ALERT_WEBHOOK_URL in GOV_ALERT_FORMAT: pure functions of the alert.
 *
 * What goes in an alert comes from the governor's own records (states,
 * reasons, symbols, plan ids, figures, error class names): never a URL, a
 * token, a key or an error message that could carry one.
 */
import { z } from "zod";

export const ALERT_FORMATS = ["json", "slack", "discord"] as const;
export type AlertFormat = (typeof ALERT_FORMATS)[number];

export const ALERT_KINDS = [
  "trading_state_changed",
  "drawdown_breaker_tripped",
  "drawdown_warning",
  "rotation_timeout",
  "dependency_unavailable",
  "over_capacity",
  "config_invalid",
] as const;

const jsonObject = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: "not JSON" });
      return z.NEVER;
    }
  })
  .pipe(z.union([z.record(z.string(), z.unknown()), z.array(z.never())]))
  .transform((value) => (Array.isArray(value) ? {} : value));

/** An outbox entry's fields, read back. */
export const OutboxAlertSchema = z.object({
  kind: z.string().min(1),
  severity: z.enum(["info", "warning", "critical"]),
  /** firing: something needs attention; resolved: it ended (a recovery). */
  status: z.enum(["firing", "resolved"]),
  summary: z.string(),
  details: jsonObject,
  /** unix ms */
  at: z.coerce.number().int().positive(),
});
export type Alert = z.infer<typeof OutboxAlertSchema>;

/** Chat messages are capped (Discord: 2,000 characters). */
const MAX_MESSAGE_CHARS = 1900;

function scalar(value: unknown): string | undefined {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(4);
  if (typeof value === "string" || typeof value === "boolean") return String(value);
  return undefined;
}

/** One line for a person: `[governor] CRITICAL trading_state_changed: summary`, then the details. */
export function alertText(alert: Alert): string {
  const head =
    alert.status === "resolved"
      ? `[governor] RESOLVED ${alert.kind}: ${alert.summary}`
      : `[governor] ${alert.severity.toUpperCase()} ${alert.kind}: ${alert.summary}`;
  const details = Object.entries(alert.details)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([key, value]) => {
      const text = scalar(value);
      return text === undefined ? [] : [`${key}=${text}`];
    })
    .join(" ");
  const text = `${head}\n${details ? `${details} · ` : ""}at ${new Date(alert.at).toISOString()}`;
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS - 1)}…` : text;
}

/** The request body for the webhook, as JSON text. */
export function alertBody(alert: Alert, format: AlertFormat): string {
  switch (format) {
    case "slack":
      return JSON.stringify({ text: alertText(alert) });
    case "discord":
      return JSON.stringify({ content: alertText(alert) });
    case "json":
      return JSON.stringify({
        kind: alert.kind,
        severity: alert.severity,
        status: alert.status,
        summary: alert.summary,
        details: alert.details,
        at: new Date(alert.at).toISOString(),
      });
  }
}
