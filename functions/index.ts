import { app } from "../lib/http/app.ts";
import { consumePlans } from "../lib/queue/consumer.ts";
import { forwardScheduledSweep } from "../lib/sweep/scheduled.ts";

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  queue: (batch, env) => consumePlans(batch, env),
  scheduled: async (controller, env) => {
    await forwardScheduledSweep(controller, env);
  },
} satisfies ExportedHandler<Env>;
