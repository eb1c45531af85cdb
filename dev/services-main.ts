/**
 * Run the local services (redis-server, REST bridge, exchange + Apply Layer
 * simulators, an alert receiver) in their own process and print one JSON line describing them.
 * Used by the workers test setup, which cannot load Node-only modules through
 * the Workers-flavoured module resolution. Stops on SIGTERM/SIGINT or when
 * its parent closes stdin.
 */
import { startLocalServices } from "./services.ts";
import { startAlertReceiver } from "./alert-receiver.ts";

const services = await startLocalServices();
const alerts = await startAlertReceiver();
const { credentials } = services;
process.stdout.write(
  `${JSON.stringify({
    redis_url: services.redis.url,
    redis_rest: { url: services.bridge.url, token: credentials.redisToken },
    exchange: {
      url: services.exchange.url,
      api_key: credentials.apiKey,
      api_secret: credentials.apiSecret,
    },
    webhook_secret: credentials.webhookSecret,
    read_token: credentials.readToken,
    admin_token: credentials.adminToken,
    alert_receiver: alerts.url,
  })}\n`,
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await alerts.stop();
  await services.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
