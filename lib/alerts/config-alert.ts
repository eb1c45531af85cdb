/**
 * The configuration turned invalid: tell a person, though the governor cannot
 * run. Only the variables an alert needs are read (the webhook, its format,
 * and Redis for the once-per-incident record); the alert names the problems
 * (variable names, never values) and is POSTed straight away, since no
 * delivery will run until the configuration is fixed. Its recovery is
 * queued by the first cron run with a valid configuration (see
 * `deliverAlerts` with `configValid`).
 *
 * The incident record in Redis makes it once per incident across isolates; a
 * failed POST is tried again a minute later. Without usable Redis settings
 * there is no shared record: each isolate alerts at most once.
 */
import { z } from "zod";
import { Redis } from "@upstash/redis/cloudflare";
import type { ConfigError } from "../errors.ts";
import { redisKeys } from "../keys.ts";
import { alertBody, ALERT_FORMATS, type Alert } from "./format.ts";

const AlertEnvSchema = z.object({
  GOV_ALERT_WEBHOOK_URL: z.url({ protocol: /^https?$/ }),
  GOV_ALERT_FORMAT: z.enum(ALERT_FORMATS).catch("json"),
  GOV_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .catch("quantum"),
  UPSTASH_REDIS_REST_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .catch(undefined),
  UPSTASH_REDIS_REST_TOKEN: z.string().min(1).optional().catch(undefined),
});

export const CONFIG_INCIDENT = "config_invalid";

/** ms before a failed config alert is tried again (by whichever request or cron run comes next). */
const RETRY_AFTER_MS = 60_000;

/** The incident record, in the shape the Lua incidents use, plus the delivery's own fields. */
const IncidentRecordSchema = z.looseObject({
  kind: z.string(),
  since_ms: z.number(),
  attempted_at_ms: z.number().optional(),
  sent: z.boolean().optional(),
});
type IncidentRecord = z.infer<typeof IncidentRecordSchema>;

/** Issues already alerted by this isolate (when Redis cannot hold the record). */
const alertedHere = new Set<string>();

/** The alert itself: the problems as the config parser names them. */
export function configInvalidAlert(error: ConfigError, nowMs: number): Alert {
  return {
    kind: "config_invalid",
    severity: "critical",
    status: "firing",
    summary: `the configuration is invalid: the governor answers 503 and grants nothing (${error.issues.length} problem(s))`,
    details: { problems: error.issues.join("; ").slice(0, 1000) },
    at: nowMs,
  };
}

/**
 * Alert once per incident that the configuration is invalid. Best effort:
 * never throws. `fetch` is the worker's (a parameter for tests).
 */
export async function alertConfigInvalid(
  env: object,
  error: ConfigError,
  nowMs: number,
  send: typeof fetch = fetch,
): Promise<"sent" | "already_open" | "no_webhook" | "failed"> {
  const parsed = AlertEnvSchema.safeParse(env);
  if (!parsed.success) return "no_webhook";
  const e = parsed.data;
  const redis =
    e.UPSTASH_REDIS_REST_URL && e.UPSTASH_REDIS_REST_TOKEN
      ? new Redis({
          url: e.UPSTASH_REDIS_REST_URL,
          token: e.UPSTASH_REDIS_REST_TOKEN,
          automaticDeserialization: false,
          enableTelemetry: false,
          signal: () => AbortSignal.timeout(2000),
        })
      : null;
  const incidents = redisKeys(e.GOV_KEY_PREFIX).alertIncidents;
  const note = (record: IncidentRecord) =>
    redis!.hset(incidents, { [CONFIG_INCIDENT]: JSON.stringify(record) });
  let record: IncidentRecord = { kind: "config_invalid", since_ms: nowMs, attempted_at_ms: nowMs };
  try {
    if (redis) {
      const stored = IncidentRecordSchema.safeParse(
        JSON.parse(
          ((await redis.hget<string>(incidents, CONFIG_INCIDENT)) as string | null) ?? "null",
        ),
      );
      if (stored.success) {
        // Open already: sent, or an attempt in the last minute (another isolate's, perhaps).
        const { sent, attempted_at_ms: attempted = 0 } = stored.data;
        if (sent || nowMs - attempted < RETRY_AFTER_MS) return "already_open";
        record = { ...stored.data, attempted_at_ms: nowMs };
      }
      await note(record);
    } else if (alertedHere.has(error.message)) {
      return "already_open";
    }
  } catch {
    if (alertedHere.has(error.message)) return "already_open";
  }
  alertedHere.add(error.message);
  try {
    const response = await send(e.GOV_ALERT_WEBHOOK_URL, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: alertBody(configInvalidAlert(error, nowMs), e.GOV_ALERT_FORMAT),
      redirect: "manual",
      signal: AbortSignal.timeout(5000),
    });
    await response.body?.cancel();
    if (response.status >= 200 && response.status < 300) {
      if (redis) await note({ ...record, sent: true }).catch(() => undefined);
      return "sent";
    }
  } catch {
    // below: tried again a minute later (the cron runs every minute)
  }
  alertedHere.delete(error.message);
  return "failed";
}
