import { governorContext } from "../context.ts";
import { sweepLocks } from "./sweep.ts";

/** Cron entry (SPEC §6): the sweep at the controller's scheduled instant. */
export async function runScheduledSweep(
  controller: Pick<ScheduledController, "scheduledTime">,
  env: object,
) {
  const gov = governorContext(env);
  return sweepLocks({ ...gov, now: () => controller.scheduledTime });
}
