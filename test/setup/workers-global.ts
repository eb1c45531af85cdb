import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { TestProject } from "vitest/node";

interface ServicesLine {
  redis_rest: { url: string; token: string };
  exchange: { url: string; api_key: string; api_secret: string };
  webhook_secret: string;
  read_token: string;
  admin_token: string;
  alert_receiver: string;
}

/**
 * Starts a private redis-server, the Upstash REST bridge, the Binance +
 * Apply Layer simulators and an alert receiver on free ports (in a child process), and hands their
 * URLs and dev credentials to the worker under test as bindings.
 */
export default async function setup(project: TestProject) {
  const child = spawn(process.execPath, ["dev/services-main.ts"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`local services exited early (code ${code})`)));
  });
  const services = JSON.parse(line) as ServicesLine;
  project.provide("workerBindings", {
    UPSTASH_REDIS_REST_URL: services.redis_rest.url,
    UPSTASH_REDIS_REST_TOKEN: services.redis_rest.token,
    BINANCE_BASE_URL: services.exchange.url,
    BINANCE_API_KEY: services.exchange.api_key,
    BINANCE_API_SECRET: services.exchange.api_secret,
    GOV_WEBHOOK_SECRET: services.webhook_secret,
    GOV_READ_TOKEN: services.read_token,
    GOV_ADMIN_TOKEN: services.admin_token,
    // Not the governor's GOV_ALERT_WEBHOOK_URL: a test that wants alerts delivered sets that.
    ALERT_RECEIVER_URL: services.alert_receiver,
  });
  return async () => {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
}
