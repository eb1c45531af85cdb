/**
 * Cron (docs/contract.md §6). Cron triggers are not moved by placement, so the cron handler
 * forwards the sweep to the placed fetch handler (lib/placement/forward.ts),
 * which runs it near Binance. Cron deliveries are at-least-once: the first
 * delivery of a scheduled time takes a short Redis guard and sweeps; a duplicate
 * finds the guard and returns before any Binance call.
 */
import { z } from "zod";
import { governorContext, type GovernorContext } from "../context.ts";
import { ConfigError } from "../errors.ts";
import { alertConfigInvalid } from "../alerts/config-alert.ts";
import { deliverAlerts } from "../alerts/deliver.ts";
import { callPlaced, INTERNAL_ROUTES } from "../placement/forward.ts";
import { sweepLocks, type SweepReport } from "./sweep.ts";

/** Seconds a scheduled time's guard lives: duplicates arrive within it. */
export const SWEEP_GUARD_TTL_S = 300;

export const SweepRequestSchema = z.object({
  /** unix ms, the controller's scheduledTime */
  scheduled_time: z.number().int().nonnegative(),
  cron: z.string().max(100),
});

export type ScheduledSweepResult =
  { duplicate: false; report: SweepReport } | { duplicate: true; scheduled_time: number };

/**
 * The sweep at the scheduled instant, once per scheduled time. If the sweep
 * fails, the guard is dropped so a redelivery can run it.
 */
export async function runScheduledSweep(
  scheduledTime: number,
  gov: GovernorContext,
): Promise<ScheduledSweepResult> {
  const guard = gov.keys.sweepGuard(scheduledTime);
  const first = await gov.redis.set(guard, String(gov.now()), {
    nx: true,
    ex: SWEEP_GUARD_TTL_S,
  });
  if (first === null) {
    console.log(JSON.stringify({ msg: "governor.sweep.duplicate", scheduled_time: scheduledTime }));
    return { duplicate: true, scheduled_time: scheduledTime };
  }
  const now = () => scheduledTime;
  try {
    return { duplicate: false, report: await sweepLocks({ ...gov, now }) };
  } catch (error) {
    await gov.redis.del(guard).catch(() => {});
    throw error;
  } finally {
    // The alerts due, the sweep's own ROTATION_TIMEOUTs among them.
    await deliverAlerts({ ...gov, now }).catch((error: unknown) => {
      console.error(
        JSON.stringify({ msg: "governor.alerts.error", error: (error as Error)?.name ?? "error" }),
      );
    });
  }
}

/**
 * Cron entry: hand the scheduled time to the placed fetch handler. Throws when
 * the sweep could not run (the invocation is then reported as failed); the next
 * minute's sweep picks up where this one stopped.
 */
export async function forwardScheduledSweep(
  controller: Pick<ScheduledController, "scheduledTime" | "cron">,
  env: object,
): Promise<unknown> {
  let gov;
  try {
    gov = governorContext(env);
  } catch (error) {
    // An invalid configuration is alerted (once per incident) before the error propagates.
    if (error instanceof ConfigError)
      await alertConfigInvalid(env, error, controller.scheduledTime);
    throw error;
  }
  const answer = await callPlaced(env, gov, INTERNAL_ROUTES.sweep, {
    scheduled_time: controller.scheduledTime,
    cron: controller.cron,
  } satisfies z.infer<typeof SweepRequestSchema>);
  console.log(
    JSON.stringify({
      msg: "governor.cron",
      scheduled_time: controller.scheduledTime,
      placement: (answer as { placement?: unknown }).placement ?? null,
      duplicate: (answer as { duplicate?: unknown }).duplicate ?? null,
    }),
  );
  return answer;
}
