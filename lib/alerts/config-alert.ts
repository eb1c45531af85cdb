/**
 * The configuration turned invalid: tell a person, though the governor cannot
 * run. Only the variables an alert needs are read (the webhook, its format,
 * and Redis for the once-per-incident record); the alert names the problems
 * (variable names, never values) and is POSTed straight away, since no
 * delivery will run until the configuration is fixed. Its recovery is
 * queued by the first cron run with a valid configuration (see
 * `deliverAlerts` with `configValid`).
 *
 * Without usable Redis settings there is no shared record: each isolate
 * alerts at most once.
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
  const record = JSON.stringify({ kind: "config_invalid", since_ms: nowMs });
  let opened: boolean;
  try {
    opened = redis
      ? (await redis.hsetnx(incidents, CONFIG_INCIDENT, record)) === 1
      : !alertedHere.has(error.message);
  } catch {
    opened = !alertedHere.has(error.message);
  }
  if (!opened) return "already_open";
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
    if (response.status >= 200 && response.status < 300) return "sent";
  } catch {
    // below: the next attempt (the next cron run) tries again
  }
  alertedHere.delete(error.message);
  await redis?.hdel(incidents, CONFIG_INCIDENT).catch(() => undefined);
  return "failed";
}
