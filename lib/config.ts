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
 * Every setting of the governor, its default and its unit: this schema is
 * where settings are documented (the README links here).
 *
 * Environment contract. Every variable has the seed default; a bad
 * value refuses the whole config (the worker then answers 503, grants nothing).
 */
export const EnvSchema = z.object({
  /** @default true — false: entries skip this controller. */
  GOV_ACTIVE_SLOTS_ENABLED: bool.default(true),
  /** slots (symbols holding a position) in the BASE regime */
  GOV_ACTIVE_SLOTS_BASE: int(1, 100).default(4),
  /** slots in TREND_STRONG */
  GOV_ACTIVE_SLOTS_TREND_STRONG: int(1, 100).default(6),
  /** slots in CHOP */
  GOV_ACTIVE_SLOTS_CHOP: int(1, 100).default(3),
  /** Candidate must score >= (1+θ) × victim's entry score. */
  GOV_ROTATION_THRESHOLD: numeric(z.number().min(0).max(10)).default(0.15),
  /** max direction-adjusted correlation of 1h log returns with any other open position */
  GOV_MAX_CORRELATION: numeric(z.number().min(-1).max(1)).default(0.8),
  /** seconds a rotation may wait for its close confirmation */
  GOV_ROTATION_LOCK_TTL: int(5, 86_400).default(120),
  /** max projected initial margin / margin balance (docs/binance.md) */
  GOV_MAX_MARGIN_USAGE_PCT: ratio.default(0.65),
  /** P, the prefix of every Redis key (docs/contract.md §8) */
  GOV_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default("quantum"),
  /** seconds a permit lives */
  GOV_PERMIT_TTL: int(5, 86_400).default(60),
  /** seconds a block record lives */
  GOV_BLOCK_TTL: int(60, 30 * 86_400).default(3600),
  /** seconds a final decision is remembered for idempotent replays; at least the 300 s a signature stays valid */
  GOV_DECISION_TTL: int(300, 30 * 86_400).default(86_400),
  /** seconds a slot reservation (permit issued, position not yet visible) lives */
  GOV_RESERVATION_TTL: int(5, 86_400).default(300),
  /** candle interval of the regime and the correlations */
  GOV_REGIME_INTERVAL: z.enum(["15m", "30m", "1h", "2h", "4h"]).default("1h"),
  /** candles fetched for the regime */
  GOV_REGIME_LOOKBACK: int(60, 1500).default(100),
  /** TREND_STRONG when trend = |ema20 − ema50| / ema50 is above this and ATR% below the next */
  GOV_REGIME_TREND_STRONG_MIN_TREND: numeric(z.number().positive()).default(0.05),
  GOV_REGIME_TREND_STRONG_MAX_ATR_PCT: numeric(z.number().positive()).default(0.02),
  /** else CHOP when ATR% is above this or the trend below the next; else BASE */
  GOV_REGIME_CHOP_MIN_ATR_PCT: numeric(z.number().positive()).default(0.03),
  GOV_REGIME_CHOP_MAX_TREND: numeric(z.number().positive()).default(0.01),
  /** weakness added per hour a position has been held */
  GOV_AGE_PENALTY_PER_HOUR: numeric(z.number().min(0)).default(0.002),
  /** cap of the age penalty */
  GOV_AGE_PENALTY_CAP: numeric(z.number().min(0)).default(0.05),
  /** shadow: decide and record everything, but grant every entry and emit no close plan */
  GOV_MODE: z.enum(["enforce", "shadow"]).default("enforce"),
  /** rotations started per rolling hour (churn budget) */
  GOV_ROTATION_MAX_PER_HOUR: int(0, 1000).default(6),
  /** `off`: the deciding scripts skip counters and history (the bench measures their cost). */
  GOV_METRICS: z.enum(["on", "off"]).default("on"),
  /** ms per Binance call */
  BINANCE_TIMEOUT_MS: int(100, 30_000).default(3000),
  /** testnet by default; production https://fapi.binance.com, demo https://demo-fapi.binance.com */
  BINANCE_BASE_URL: url.default("https://testnet.binancefuture.com"),
  /** Secrets (`wrangler secret put NAME`); the required ones are REQUIRED_SECRETS below. */
  BINANCE_API_KEY: secret,
  BINANCE_API_SECRET: secret,
  UPSTASH_REDIS_REST_URL: url.optional(),
  UPSTASH_REDIS_REST_TOKEN: secret,
  GOV_WEBHOOK_SECRET: secret,
  /** Also accepted while the Apply Layer moves to a new GOV_WEBHOOK_SECRET (docs/deploy.md). */
  GOV_WEBHOOK_SECRET_PREVIOUS: secret,
  GOV_READ_TOKEN: secret,
  /** Bearer token of the admin routes (PUT /v1/trading-state); unset: they refuse (503). */
  GOV_ADMIN_TOKEN: secret,
  /** Where alerts are POSTed (a secret: such URLs often embed a token); unset: none are sent. */
  GOV_ALERT_WEBHOOK_URL: url.optional(),
  /** @default json — the alert body: json (the alert object), slack ({text}) or discord ({content}). */
  GOV_ALERT_FORMAT: z.enum(["json", "slack", "discord"]).default("json"),
  /** seconds an incident must stay resolved before its recovery alert (flapping stays one incident) */
  GOV_ALERT_COOLDOWN_S: int(0, 86_400).default(300),
  /** Drawdown breaker: HALTED when the margin balance falls this fraction below its peak; unset: off. */
  GOV_MAX_DRAWDOWN_PCT: numeric(z.number().gt(0).lt(1)).optional(),
  /** hours of the trailing window the drawdown's peak is taken over */
  GOV_DRAWDOWN_WINDOW_H: numeric(z.number().positive().max(720)).default(24),
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
  if (e.GOV_ADMIN_TOKEN !== undefined && e.GOV_ADMIN_TOKEN === e.GOV_READ_TOKEN) {
    // The read token would then change the trading state.
    throw new ConfigError(["GOV_ADMIN_TOKEN must differ from GOV_READ_TOKEN"]);
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
    /** Accepted besides webhookSecret during a rotation; never used to sign. */
    webhookSecretPrevious: e.GOV_WEBHOOK_SECRET_PREVIOUS,
    readToken: required(e.GOV_READ_TOKEN),
    /** undefined: the admin routes refuse every request. */
    adminToken: e.GOV_ADMIN_TOKEN,
    alerts: {
      webhookUrl: e.GOV_ALERT_WEBHOOK_URL,
      format: e.GOV_ALERT_FORMAT,
      cooldownS: e.GOV_ALERT_COOLDOWN_S,
    },
    /** null: the drawdown breaker is off. */
    drawdown:
      e.GOV_MAX_DRAWDOWN_PCT === undefined
        ? null
        : {
            maxPct: e.GOV_MAX_DRAWDOWN_PCT,
            windowMs: Math.round(e.GOV_DRAWDOWN_WINDOW_H * 3_600_000),
          },
  };
}

export type Config = ReturnType<typeof toConfig>;

/** A secret parseConfig has already checked is set. */
function required(value: string | undefined): string {
  if (value === undefined) throw new ConfigError(["a required secret is not set"]);
  return value;
}
