import { z } from "zod";
import { ConfigError } from "./errors.ts";

const bool = z.enum(["true", "false"]).transform((v) => v === "true");
/** A number written as text; empty or not a number is invalid (never 0). */
const numeric = (schema: z.ZodNumber) =>
  z.string().trim().min(1, "must not be empty").transform(Number).pipe(schema);
const int = (min: number, max: number) => numeric(z.number().int().min(min).max(max));
const ratio = numeric(z.number().positive().max(1));
const url = z.url({ protocol: /^https?$/ });
const secret = z.string().min(1).optional();

/**
 * Environment contract (SPEC §2). Every variable has the seed default; a bad
 * value refuses the whole config (the worker then answers 503, grants nothing).
 */
export const EnvSchema = z.object({
  /** @default true — false: entries skip this controller. */
  GOV_ACTIVE_SLOTS_ENABLED: bool.default(true),
  GOV_ACTIVE_SLOTS_BASE: int(1, 100).default(4),
  GOV_ACTIVE_SLOTS_TREND_STRONG: int(1, 100).default(6),
  GOV_ACTIVE_SLOTS_CHOP: int(1, 100).default(3),
  /** Candidate must score >= (1+θ) × victim's entry score. */
  GOV_ROTATION_THRESHOLD: numeric(z.number().min(0).max(10)).default(0.15),
  GOV_MAX_CORRELATION: numeric(z.number().min(-1).max(1)).default(0.8),
  /** seconds a rotation may wait for its close confirmation */
  GOV_ROTATION_LOCK_TTL: int(5, 86_400).default(120),
  GOV_MAX_MARGIN_USAGE_PCT: ratio.default(0.65),
  GOV_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default("quantum"),
  /** seconds */
  GOV_PERMIT_TTL: int(5, 86_400).default(60),
  /** seconds */
  GOV_BLOCK_TTL: int(60, 30 * 86_400).default(3600),
  /** seconds a final decision is remembered for idempotent replays; at least the 300 s a signature stays valid */
  GOV_DECISION_TTL: int(300, 30 * 86_400).default(86_400),
  /** seconds a slot reservation (permit issued, position not yet visible) lives */
  GOV_RESERVATION_TTL: int(5, 86_400).default(300),
  GOV_REGIME_INTERVAL: z.enum(["15m", "30m", "1h", "2h", "4h"]).default("1h"),
  GOV_REGIME_LOOKBACK: int(60, 1500).default(100),
  GOV_REGIME_TREND_STRONG_MIN_TREND: numeric(z.number().positive()).default(0.05),
  GOV_REGIME_TREND_STRONG_MAX_ATR_PCT: numeric(z.number().positive()).default(0.02),
  GOV_REGIME_CHOP_MIN_ATR_PCT: numeric(z.number().positive()).default(0.03),
  GOV_REGIME_CHOP_MAX_TREND: numeric(z.number().positive()).default(0.01),
  /** weakness added per hour a position has been held */
  GOV_AGE_PENALTY_PER_HOUR: numeric(z.number().min(0)).default(0.002),
  GOV_AGE_PENALTY_CAP: numeric(z.number().min(0)).default(0.05),
  GOV_MODE: z.enum(["enforce", "shadow"]).default("enforce"),
  GOV_ROTATION_MAX_PER_HOUR: int(0, 1000).default(6),
  /** `off`: the deciding scripts skip counters and history (the bench measures their cost). */
  GOV_METRICS: z.enum(["on", "off"]).default("on"),
  /** ms per Binance call */
  BINANCE_TIMEOUT_MS: int(100, 30_000).default(3000),
  BINANCE_BASE_URL: url.default("https://testnet.binancefuture.com"),
  BINANCE_API_KEY: secret,
  BINANCE_API_SECRET: secret,
  UPSTASH_REDIS_REST_URL: url.optional(),
  UPSTASH_REDIS_REST_TOKEN: secret,
  GOV_WEBHOOK_SECRET: secret,
  GOV_READ_TOKEN: secret,
});

const REQUIRED_SECRETS = [
  "UPSTASH_REDIS_REST_URL",
  "UPSTASH_REDIS_REST_TOKEN",
  "BINANCE_API_KEY",
  "BINANCE_API_SECRET",
  "GOV_WEBHOOK_SECRET",
  "GOV_READ_TOKEN",
] as const;

/**
 * The environment's variables as text. Wrangler hands unquoted `[vars]` to the
 * worker as JSON-typed bindings (`0.3`, `false`): they mean what they say, so
 * numbers and booleans become their text. Anything else that is not a string
 * (an object, an array) is invalid for every variable; bindings the schema
 * does not name (queues, services) are not looked at.
 */
function variablesAsText(env: Record<string, unknown>): {
  text: Record<string, string>;
  issues: string[];
} {
  const text: Record<string, string> = {};
  const issues: string[] = [];
  for (const name of Object.keys(EnvSchema.shape)) {
    const value = env[name];
    if (value === undefined || value === null) continue;
    if (typeof value === "string") text[name] = value;
    else if (typeof value === "number" || typeof value === "boolean") text[name] = String(value);
    else issues.push(`${name}: expected a string, number or boolean`);
  }
  return { text, issues };
}

/**
 * Parse the worker's environment. Throws ConfigError naming each bad or
 * missing variable (values are never echoed). An empty string is a value,
 * and an invalid one for every variable: it never stands for "unset".
 */
export function parseConfig(env: Record<string, unknown>): Config {
  const { text, issues } = variablesAsText(env);
  const parsed = EnvSchema.safeParse(text);
  if (!parsed.success || issues.length > 0) {
    throw new ConfigError([
      ...issues,
      ...(parsed.error?.issues ?? []).map((issue) => `${issue.path.join(".")}: ${issue.message}`),
    ]);
  }
  const e = parsed.data;
  const missing = REQUIRED_SECRETS.filter((name) => !e[name]);
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map((name) => `${name} is not set (set it with \`wrangler secret put ${name}\`)`),
    );
  }
  return toConfig(e);
}

/** The parsed configuration, in the domain's names: its type is this function's. */
function toConfig(e: z.output<typeof EnvSchema>) {
  return {
    enabled: e.GOV_ACTIVE_SLOTS_ENABLED,
    mode: e.GOV_MODE,
    keyPrefix: e.GOV_KEY_PREFIX,
    slots: {
      BASE: e.GOV_ACTIVE_SLOTS_BASE,
      TREND_STRONG: e.GOV_ACTIVE_SLOTS_TREND_STRONG,
      CHOP: e.GOV_ACTIVE_SLOTS_CHOP,
    },
    rotationThreshold: e.GOV_ROTATION_THRESHOLD,
    maxCorrelation: e.GOV_MAX_CORRELATION,
    maxMarginUsagePct: e.GOV_MAX_MARGIN_USAGE_PCT,
    rotationMaxPerHour: e.GOV_ROTATION_MAX_PER_HOUR,
    metrics: e.GOV_METRICS === "on",
    ttl: {
      lock: e.GOV_ROTATION_LOCK_TTL,
      permit: e.GOV_PERMIT_TTL,
      block: e.GOV_BLOCK_TTL,
      decision: e.GOV_DECISION_TTL,
      reservation: Math.max(e.GOV_RESERVATION_TTL, e.GOV_PERMIT_TTL),
    },
    regime: {
      interval: e.GOV_REGIME_INTERVAL,
      lookback: e.GOV_REGIME_LOOKBACK,
      trendStrongMinTrend: e.GOV_REGIME_TREND_STRONG_MIN_TREND,
      trendStrongMaxAtrPct: e.GOV_REGIME_TREND_STRONG_MAX_ATR_PCT,
      chopMinAtrPct: e.GOV_REGIME_CHOP_MIN_ATR_PCT,
      chopMaxTrend: e.GOV_REGIME_CHOP_MAX_TREND,
    },
    agePenalty: { perHour: e.GOV_AGE_PENALTY_PER_HOUR, cap: e.GOV_AGE_PENALTY_CAP },
    binance: {
      baseUrl: e.BINANCE_BASE_URL.replace(/\/+$/, ""),
      apiKey: required(e.BINANCE_API_KEY),
      apiSecret: required(e.BINANCE_API_SECRET),
      timeoutMs: e.BINANCE_TIMEOUT_MS,
    },
    redis: { url: required(e.UPSTASH_REDIS_REST_URL), token: required(e.UPSTASH_REDIS_REST_TOKEN) },
    webhookSecret: required(e.GOV_WEBHOOK_SECRET),
    readToken: required(e.GOV_READ_TOKEN),
  };
}

export type Config = ReturnType<typeof toConfig>;

/** A secret parseConfig has already checked is set. */
function required(value: string | undefined): string {
  if (value === undefined) throw new ConfigError(["a required secret is not set"]);
  return value;
}
