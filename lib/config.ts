import { z } from "zod";
import { ConfigError } from "./errors.ts";

const bool = z.enum(["true", "false"]).transform((v) => v === "true");
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const ratio = z.coerce.number().positive().max(1);
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
  GOV_ROTATION_THRESHOLD: z.coerce.number().min(0).max(10).default(0.15),
  GOV_MAX_CORRELATION: z.coerce.number().min(-1).max(1).default(0.8),
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
  /** seconds a final decision is remembered for idempotent replays */
  GOV_DECISION_TTL: int(60, 30 * 86_400).default(86_400),
  /** seconds a slot reservation (permit issued, position not yet visible) lives */
  GOV_RESERVATION_TTL: int(5, 86_400).default(300),
  GOV_REGIME_INTERVAL: z.enum(["15m", "30m", "1h", "2h", "4h"]).default("1h"),
  GOV_REGIME_LOOKBACK: int(60, 1500).default(100),
  GOV_REGIME_TREND_STRONG_MIN_TREND: z.coerce.number().positive().default(0.05),
  GOV_REGIME_TREND_STRONG_MAX_ATR_PCT: z.coerce.number().positive().default(0.02),
  GOV_REGIME_CHOP_MIN_ATR_PCT: z.coerce.number().positive().default(0.03),
  GOV_REGIME_CHOP_MAX_TREND: z.coerce.number().positive().default(0.01),
  /** weakness added per hour a position has been held */
  GOV_AGE_PENALTY_PER_HOUR: z.coerce.number().min(0).default(0.002),
  GOV_AGE_PENALTY_CAP: z.coerce.number().min(0).default(0.05),
  GOV_MODE: z.enum(["enforce", "shadow"]).default("enforce"),
  GOV_ROTATION_MAX_PER_HOUR: int(0, 1000).default(6),
  /** ms per Binance call */
  BINANCE_TIMEOUT_MS: int(100, 30_000).default(3000),
  BINANCE_BASE_URL: url.default("https://testnet.binancefuture.com"),
  BINANCE_API_KEY: secret,
  BINANCE_API_SECRET: secret,
  UPSTASH_REDIS_REST_URL: url.optional(),
  UPSTASH_REDIS_REST_TOKEN: secret,
  GOV_WEBHOOK_SECRET: secret,
  /** Also accepted while the Apply Layer moves to a new GOV_WEBHOOK_SECRET (docs/deploy.md). */
  GOV_WEBHOOK_SECRET_PREVIOUS: secret,
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

export interface Config {
  enabled: boolean;
  mode: "enforce" | "shadow";
  keyPrefix: string;
  slots: { BASE: number; TREND_STRONG: number; CHOP: number };
  rotationThreshold: number;
  maxCorrelation: number;
  maxMarginUsagePct: number;
  rotationMaxPerHour: number;
  /** seconds */
  ttl: { lock: number; permit: number; block: number; decision: number; reservation: number };
  regime: {
    interval: string;
    lookback: number;
    trendStrongMinTrend: number;
    trendStrongMaxAtrPct: number;
    chopMinAtrPct: number;
    chopMaxTrend: number;
  };
  agePenalty: { perHour: number; cap: number };
  binance: { baseUrl: string; apiKey: string; apiSecret: string; timeoutMs: number };
  redis: { url: string; token: string };
  webhookSecret: string;
  /** Accepted besides webhookSecret during a rotation; never used to sign. */
  webhookSecretPrevious: string | undefined;
  readToken: string;
}

/**
 * Parse the worker's environment. Throws ConfigError naming each bad or
 * missing variable (values of secrets are never echoed).
 */
export function parseConfig(env: Record<string, unknown>): Config {
  const raw = Object.fromEntries(
    Object.entries(env).filter(([, v]) => typeof v === "string" && v !== ""),
  );
  const parsed = EnvSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  const missing = REQUIRED_SECRETS.filter((name) => !e[name]);
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map((name) => `${name} is not set (set it with \`wrangler secret put ${name}\`)`),
    );
  }
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
      apiKey: e.BINANCE_API_KEY!,
      apiSecret: e.BINANCE_API_SECRET!,
      timeoutMs: e.BINANCE_TIMEOUT_MS,
    },
    redis: { url: e.UPSTASH_REDIS_REST_URL!, token: e.UPSTASH_REDIS_REST_TOKEN! },
    webhookSecret: e.GOV_WEBHOOK_SECRET!,
    webhookSecretPrevious: e.GOV_WEBHOOK_SECRET_PREVIOUS,
    readToken: e.GOV_READ_TOKEN!,
  };
}
