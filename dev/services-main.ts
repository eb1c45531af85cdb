/**
 * Run the local services (redis-server, REST bridge, exchange + Apply Layer
 * simulators) in their own process and print one JSON line describing them.
 * Used by the workers test setup, which cannot load Node-only modules through
 * the Workers-flavoured module resolution. Stops on SIGTERM/SIGINT or when
 * its parent closes stdin.
 */
import { startLocalServices } from "./services.ts";

const services = await startLocalServices();
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
  })}\n`,
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await services.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
