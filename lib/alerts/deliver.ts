/**
 * Alert delivery: outbox → GOV_ALERT_WEBHOOK_URL, never in a decision's path.
 * The cron sweep drains the outbox every minute, and the admin route after it
 * has answered (`waitUntil`). Each run leases the alerts it sends (so two runs
 * never send one twice), POSTs them, and settles: delivered ones leave the
 * outbox, failed ones wait with exponential backoff, and after MAX_ATTEMPTS
 * one is dropped and recorded (ALERT_DROPPED).
 */
import { z } from "zod";
import type { GovernorContext } from "../context.ts";
import { runScript } from "../redis/scripts.ts";
import { scriptContext, scriptKeys, SCRIPTS } from "../rotation/scripts.ts";
import { alertBody, OutboxAlertSchema } from "./format.ts";

export const ALERT_DELIVERY = {
  /** Alerts sent per run. */
  batch: 20,
  /** Outbox entries looked at per run (from the oldest). */
  scan: 200,
  /** ms an alert stays leased to the run sending it. */
  leaseMs: 60_000,
  /** ms per webhook request. */
  timeoutMs: 5_000,
  /** Failed attempts before an alert is dropped (about 5 h of retries). */
  maxAttempts: 12,
} as const;

/** ms to wait after the `attempt`-th failed attempt: 30 s × 2^(attempt−1), at most 1 h. */
export function retryDelayMs(attempt: number): number {
  return Math.min(3_600_000, 30_000 * 2 ** Math.max(0, attempt - 1));
}

const ClaimedSchema = z.union([
  z.array(
    z.object({
      id: z.string(),
      attempts: z.number().int().min(0),
      fields: z.record(z.string(), z.string()),
    }),
  ),
  z.object({}).strict(),
]);

export interface DeliveryReport {
  /** Why nothing was attempted, if so. */
  skipped?: "no_webhook";
  claimed: number;
  delivered: number;
  retrying: number;
  dropped: number;
  /** What each failed attempt got: an HTTP status or an error class name. */
  failures: string[];
}

export interface DeliveryOptions {
  fetch?: typeof fetch;
}

/** Send what is due in the outbox (one batch). Never throws for a receiver's failure. */
export async function deliverAlerts(
  gov: GovernorContext,
  options: DeliveryOptions = {},
): Promise<DeliveryReport> {
  const report: DeliveryReport = {
    claimed: 0,
    delivered: 0,
    retrying: 0,
    dropped: 0,
    failures: [],
  };
  const { webhookUrl, format } = gov.config.alerts;
  if (!webhookUrl) return { ...report, skipped: "no_webhook" };
  const send = options.fetch ?? fetch;
  const keys = scriptKeys(gov.keys);

  const raw = await runScript(gov.redis, SCRIPTS.claimAlerts, keys, {
    ...scriptContext(gov),
    max: ALERT_DELIVERY.batch,
    scan: ALERT_DELIVERY.scan,
    lease_ms: ALERT_DELIVERY.leaseMs,
  });
  const parsed = ClaimedSchema.parse(typeof raw === "string" ? JSON.parse(raw) : raw);
  const claimed = Array.isArray(parsed) ? parsed : [];
  report.claimed = claimed.length;
  if (claimed.length === 0) return report;

  const outcomes = await Promise.all(
    claimed.map(async ({ id, attempts, fields }) => {
      const alert = OutboxAlertSchema.safeParse(fields);
      if (!alert.success) return { id, attempts, kind: fields.kind ?? "", error: "invalid_alert" };
      try {
        const response = await send(webhookUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: alertBody(alert.data, format),
          redirect: "manual",
          signal: AbortSignal.timeout(ALERT_DELIVERY.timeoutMs),
        });
        await response.body?.cancel();
        if (response.status >= 200 && response.status < 300) return { id, attempts, kind: "" };
        return { id, attempts, kind: alert.data.kind, error: `HTTP ${response.status}` };
      } catch (error) {
        return { id, attempts, kind: alert.data.kind, error: (error as Error).name || "error" };
      }
    }),
  );

  const now = gov.now();
  const delivered: string[] = [];
  const retry: { id: string; attempts: number; next_at_ms: number; error: string }[] = [];
  const dropped: { id: string; kind: string; attempts: number; error: string }[] = [];
  for (const outcome of outcomes) {
    if (outcome.error === undefined) {
      delivered.push(outcome.id);
      continue;
    }
    report.failures.push(outcome.error);
    const attempts = outcome.attempts + 1;
    if (attempts >= ALERT_DELIVERY.maxAttempts || outcome.error === "invalid_alert") {
      dropped.push({ id: outcome.id, kind: outcome.kind, attempts, error: outcome.error });
    } else {
      retry.push({
        id: outcome.id,
        attempts,
        next_at_ms: now + retryDelayMs(attempts),
        error: outcome.error,
      });
    }
  }
  await runScript(gov.redis, SCRIPTS.settleAlerts, keys, {
    ...scriptContext(gov),
    delivered,
    retry,
    dropped,
  });
  report.delivered = delivered.length;
  report.retrying = retry.length;
  report.dropped = dropped.length;
  // Counts and statuses only: the webhook URL is a secret.
  console.log(JSON.stringify({ msg: "governor.alerts", ...report }));
  return report;
}
