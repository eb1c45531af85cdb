import { governorContext } from "../context.ts";
import { ConfigError } from "../errors.ts";
import { alertConfigInvalid } from "../alerts/config-alert.ts";
import { deliverAlerts } from "../alerts/deliver.ts";
import { sweepLocks } from "./sweep.ts";

/**
 * Cron entry (SPEC §6): the sweep at the controller's scheduled instant, then
 * the alerts due (the sweep's own ROTATION_TIMEOUTs among them). An invalid
 * configuration is alerted (once per incident) before the error propagates.
 */
export async function runScheduledSweep(
  controller: Pick<ScheduledController, "scheduledTime">,
  env: object,
) {
  let gov;
  try {
    gov = governorContext(env);
  } catch (error) {
    if (error instanceof ConfigError)
      await alertConfigInvalid(env, error, controller.scheduledTime);
    throw error;
  }
  const now = () => controller.scheduledTime;
  try {
    return await sweepLocks({ ...gov, now });
  } finally {
    await deliverAlerts({ ...gov, now }).catch((error: unknown) => {
      console.error(
        JSON.stringify({ msg: "governor.alerts.error", error: (error as Error)?.name ?? "error" }),
      );
    });
  }
}
