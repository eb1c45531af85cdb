/**
 * Run the Binance USD-M futures simulator (and, with REDIS_URL, the Apply
 * Layer simulator, started as dev/services.ts starts it) from the command line:
 *
 *   EXCHANGE_SIM_PORT=8090 BINANCE_API_KEY=... BINANCE_API_SECRET=... \
 *   REDIS_URL=redis://127.0.0.1:6379 GOV_KEY_PREFIX=quantum node dev/exchange-sim/main.ts
 *
 * Prints one JSON line when ready; stops cleanly on SIGINT/SIGTERM.
 */
import { startSimulatedExchange } from "../services.ts";

const DEV_API_KEY = "dev-binance-api-key";
const DEV_API_SECRET = "dev-binance-api-secret";

async function main(): Promise<void> {
  const env = process.env;
  const portRaw = env.EXCHANGE_SIM_PORT ?? "8090";
  const port = Number(portRaw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`EXCHANGE_SIM_PORT must be a port number, got ${portRaw}`);
  }
  const apiKey = env.BINANCE_API_KEY || DEV_API_KEY;
  const redisUrl = env.REDIS_URL || undefined;
  const keyPrefix = env.GOV_KEY_PREFIX || "quantum";
  const sim = await startSimulatedExchange({
    port,
    host: env.EXCHANGE_SIM_HOST || "127.0.0.1",
    apiKey,
    apiSecret: env.BINANCE_API_SECRET || DEV_API_SECRET,
    redisUrl,
    keyPrefix,
  });
  console.log(
    JSON.stringify({
      exchange_sim: sim.url,
      api_key: apiKey,
      apply_sim: redisUrl ? { redis_url: redisUrl, key_prefix: keyPrefix } : null,
    }),
  );
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    sim.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(`exchange-sim: stop failed: ${String(e)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

main().catch((e: unknown) => {
  console.error(`exchange-sim: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
