/**
 * CLI: `node dev/bridge/main.ts` starts the Upstash REST bridge.
 * Env: REDIS_URL (required, e.g. redis://127.0.0.1:6380), REDIS_REST_TOKEN
 * (required), REDIS_REST_PORT (default 8079), REDIS_REST_HOST (default 127.0.0.1).
 */
import { startRedisRestBridge } from "./server.ts";

const redisUrl = process.env.REDIS_URL;
const token = process.env.REDIS_REST_TOKEN;
const port = Number(process.env.REDIS_REST_PORT ?? 8079);
const host = process.env.REDIS_REST_HOST ?? "127.0.0.1";

if (!redisUrl || !token || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(
    "usage: REDIS_URL=redis://host:port REDIS_REST_TOKEN=... [REDIS_REST_PORT=8079] node dev/bridge/main.ts",
  );
  process.exit(2);
}

try {
  const bridge = await startRedisRestBridge({ redisUrl, token, port, host });
  console.log(`redis-rest-bridge ready url=${bridge.url} redis=${redisUrl}`);
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    bridge.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
} catch (error) {
  console.error(
    `redis-rest-bridge failed to start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
}
