/**
 * wrangler.toml: the default configuration and `--env staging` / `--env production`
 * are each complete (wrangler environments inherit neither vars, queues, services nor
 * secrets), placed near Binance, bound to themselves for the queue and cron paths, and
 * agree with the governor's own configuration contract (lib/config.ts).
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { ConfigError } from "../../lib/errors.ts";
import { parseConfig } from "../../lib/config.ts";
import { isDeadLetterQueue } from "../../lib/queue/dead-letters.ts";
import { PLACED_BINDING } from "../../lib/placement/forward.ts";

const CONFIG = resolve(fileURLToPath(import.meta.url), "../../../wrangler.toml");
const BASE_NAME = "governor-active-slots";
const ENVIRONMENTS = [undefined, "staging", "production"] as const;

interface QueueConsumer {
  queue: string;
  dead_letter_queue?: string;
  max_concurrency?: number | null;
}

/** The parts of a resolved configuration checked here. */
interface ResolvedConfig {
  name?: string;
  placement?: unknown;
  services?: unknown;
  triggers: { crons?: string[] };
  secrets?: { required?: string[] };
  vars: Record<string, unknown>;
  queues: { producers?: { binding: string; queue: string }[]; consumers?: QueueConsumer[] };
}

function read(env: (typeof ENVIRONMENTS)[number]): ResolvedConfig {
  return unstable_readConfig({ config: CONFIG, env }) as ResolvedConfig;
}

const label = (env: string | undefined) => env ?? "default";

describe.each(ENVIRONMENTS.map((env) => ({ env, name: label(env) })))(
  "wrangler.toml, $name configuration",
  ({ env }) => {
    const config = read(env);
    const workerName = env ? `${BASE_NAME}-${env}` : BASE_NAME;

    it("is deployed under its own Worker name", () => {
      expect(config.name).toBe(workerName);
    });

    it("places the fetch handler near AWS ap-northeast-1 (Binance)", () => {
      expect(config.placement).toEqual({ region: "aws:ap-northeast-1" });
    });

    it("binds PLACED to this same Worker, so the queue and cron paths reach the placed fetch handler", () => {
      expect(config.services).toEqual([{ binding: PLACED_BINDING, service: workerName }]);
    });

    it("runs the sweep every minute", () => {
      expect(config.triggers.crons).toEqual(["* * * * *"]);
    });

    it("lists exactly the secrets the governor refuses to run without", () => {
      const required = config.secrets?.required ?? [];
      const secrets = Object.fromEntries(required.map((name) => [name, `dev-${name}`]));
      secrets.UPSTASH_REDIS_REST_URL = "https://example.upstash.io";
      const vars = config.vars as Record<string, string>;
      expect(() => parseConfig({ ...vars, ...secrets })).not.toThrow();
      for (const name of required) {
        const without = { ...vars, ...secrets, [name]: undefined };
        expect(() => parseConfig(without)).toThrow(ConfigError);
        expect(() => parseConfig(without)).toThrow(new RegExp(`${name} is not set`));
      }
    });

    it("has a plans queue with its dead-letter queue, and a consumer for each", () => {
      const [producer] = config.queues.producers ?? [];
      const consumers = config.queues.consumers ?? [];
      expect(producer?.binding).toBe("PLANS_QUEUE");
      const plans = consumers.find((c) => c.queue === producer?.queue);
      expect(plans?.dead_letter_queue).toBeDefined();
      expect(isDeadLetterQueue(plans!.queue)).toBe(false);
      expect(isDeadLetterQueue(plans!.dead_letter_queue!)).toBe(true);
      expect(plans?.max_concurrency).toBe(2);
      const dlq = consumers.find((c) => c.queue === plans?.dead_letter_queue);
      expect(dlq).toBeDefined();
      expect(dlq?.dead_letter_queue).toBeUndefined();
      expect(consumers).toHaveLength(2);
    });
  },
);

describe("wrangler.toml across environments", () => {
  const configs = ENVIRONMENTS.map(read);

  it("every environment sets the same variables, and only the Binance URL differs", () => {
    const [base, staging, production] = configs.map((c) => c.vars as Record<string, string>);
    expect(Object.keys(staging!).sort()).toEqual(Object.keys(base!).sort());
    expect(Object.keys(production!).sort()).toEqual(Object.keys(base!).sort());
    const { BINANCE_BASE_URL: _, ...shared } = base!;
    expect(staging).toMatchObject(shared);
    expect(production).toMatchObject(shared);
    expect(staging!.BINANCE_BASE_URL).toBe("https://testnet.binancefuture.com");
    expect(production!.BINANCE_BASE_URL).toBe("https://fapi.binance.com");
  });

  it("no two environments share a queue", () => {
    const names = configs.flatMap((c) => (c.queues.consumers ?? []).map((q) => q.queue));
    expect(new Set(names).size).toBe(names.length);
  });

  it("every environment requires the same secrets", () => {
    const lists = configs.map((c) => c.secrets?.required);
    expect(lists[1]).toEqual(lists[0]);
    expect(lists[2]).toEqual(lists[0]);
  });
});
