import type { Redis } from "@upstash/redis/cloudflare";
import { parseConfig, type Config } from "./config.ts";
import { redisKeys, type RedisKeys } from "./keys.ts";
import { createRedis } from "./redis/client.ts";

/** What every entry point needs: parsed config, the Redis client, key names, a clock. */
export interface GovernorContext {
  config: Config;
  redis: Redis;
  keys: RedisKeys;
  /** unix ms */
  now: () => number;
  /** Binance transport for the read paths (sweep, status); @default globalThis.fetch */
  fetch?: typeof fetch;
}

const contexts = new WeakMap<object, GovernorContext>();

/** Build (once per env object) the governor's context; throws ConfigError on bad config. */
export function governorContext(env: object): GovernorContext {
  let context = contexts.get(env);
  if (!context) {
    const config = parseConfig(env as Record<string, unknown>);
    context = {
      config,
      redis: createRedis(config.redis),
      keys: redisKeys(config.keyPrefix),
      now: Date.now,
    };
    contexts.set(env, context);
  }
  return context;
}
