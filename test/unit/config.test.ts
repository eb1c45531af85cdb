import { describe, expect, it } from "vitest";
import { parseConfig } from "../../lib/config.ts";
import { ConfigError } from "../../lib/errors.ts";

const SECRETS = {
  UPSTASH_REDIS_REST_URL: "http://127.0.0.1:8079",
  UPSTASH_REDIS_REST_TOKEN: "redis-token-value",
  BINANCE_API_KEY: "key-value",
  BINANCE_API_SECRET: "secret-value",
  GOV_WEBHOOK_SECRET: "webhook-value",
  GOV_READ_TOKEN: "read-value",
};

function configError(env: Record<string, unknown>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig", () => {
  it("applies the seed defaults (lib/config.ts)", () => {
    const config = parseConfig(SECRETS);
    expect(config.enabled).toBe(true);
    expect(config.slots).toEqual({ BASE: 4, TREND_STRONG: 6, CHOP: 3 });
    expect(config.rotationThreshold).toBe(0.15);
    expect(config.maxCorrelation).toBe(0.8);
    expect(config.ttl.lock).toBe(120);
    expect(config.maxMarginUsagePct).toBe(0.65);
    expect(config.keyPrefix).toBe("quantum");
    expect(config.ttl.permit).toBe(60);
    expect(config.ttl.block).toBe(3600);
    expect(config.mode).toBe("enforce");
    expect(config.rotationMaxPerHour).toBe(6);
    expect(config.binance.baseUrl).toBe("https://testnet.binancefuture.com");
  });

  it("reads string values as Workers vars deliver them", () => {
    const config = parseConfig({
      ...SECRETS,
      GOV_ACTIVE_SLOTS_ENABLED: "false",
      GOV_ACTIVE_SLOTS_CHOP: "2",
    });
    expect(config.enabled).toBe(false);
    expect(config.slots.CHOP).toBe(2);
  });

  it.each([
    ["GOV_ACTIVE_SLOTS_BASE", "four"],
    ["GOV_ACTIVE_SLOTS_BASE", "0"],
    ["GOV_ACTIVE_SLOTS_ENABLED", "yes"],
    ["GOV_ROTATION_THRESHOLD", "-1"],
    ["GOV_MAX_MARGIN_USAGE_PCT", "1.5"],
    ["GOV_MODE", "audit"],
    ["GOV_KEY_PREFIX", "has space"],
    ["BINANCE_BASE_URL", "ftp://example.com"],
  ])("refuses %s=%s naming the variable", (name, value) => {
    const error = configError({ ...SECRETS, [name]: value });
    expect(error.issues.join(" ")).toContain(name);
  });

  it("names each missing secret with how to set it, never its value", () => {
    const error = configError({ BINANCE_API_KEY: "key-value" });
    expect(error.message).toContain("GOV_WEBHOOK_SECRET is not set");
    expect(error.message).toContain("wrangler secret put UPSTASH_REDIS_REST_TOKEN");
    expect(error.message).not.toContain("key-value");
  });

  it("keeps a reservation alive at least as long as the permit", () => {
    const config = parseConfig({ ...SECRETS, GOV_PERMIT_TTL: "900", GOV_RESERVATION_TTL: "300" });
    expect(config.ttl.reservation).toBe(900);
  });
});

describe("parseConfig with typed bindings (wrangler's unquoted [vars])", () => {
  it("a JSON number means that number", () => {
    const config = parseConfig({
      ...SECRETS,
      GOV_MAX_MARGIN_USAGE_PCT: 0.3,
      GOV_ACTIVE_SLOTS_BASE: 5,
    });
    expect(config.maxMarginUsagePct).toBe(0.3);
    expect(config.slots.BASE).toBe(5);
  });

  it("a JSON boolean means that boolean", () => {
    expect(parseConfig({ ...SECRETS, GOV_ACTIVE_SLOTS_ENABLED: false }).enabled).toBe(false);
    expect(parseConfig({ ...SECRETS, GOV_ACTIVE_SLOTS_ENABLED: true }).enabled).toBe(true);
  });

  it("an empty string is invalid, never the default", () => {
    for (const name of ["GOV_ROTATION_THRESHOLD", "GOV_ACTIVE_SLOTS_ENABLED", "GOV_KEY_PREFIX"]) {
      const error = configError({ ...SECRETS, [name]: "" });
      expect(error.issues.join("\n")).toContain(name);
    }
  });

  it("an empty secret is refused, naming the variable and not echoing anything", () => {
    const error = configError({ ...SECRETS, GOV_WEBHOOK_SECRET: "" });
    expect(error.issues.join("\n")).toContain("GOV_WEBHOOK_SECRET");
  });

  it("a value of the wrong type (object, array, NaN) refuses to run", () => {
    expect(configError({ ...SECRETS, GOV_ACTIVE_SLOTS_BASE: { n: 4 } }).issues.join()).toContain(
      "GOV_ACTIVE_SLOTS_BASE",
    );
    expect(configError({ ...SECRETS, GOV_ACTIVE_SLOTS_CHOP: [3] }).issues.join()).toContain(
      "GOV_ACTIVE_SLOTS_CHOP",
    );
    expect(configError({ ...SECRETS, GOV_MAX_CORRELATION: Number.NaN }).issues.join()).toContain(
      "GOV_MAX_CORRELATION",
    );
    expect(configError({ ...SECRETS, GOV_ACTIVE_SLOTS_ENABLED: 1 }).issues.join()).toContain(
      "GOV_ACTIVE_SLOTS_ENABLED",
    );
  });

  it("bindings the schema does not name (queues, services) are not looked at", () => {
    expect(() => parseConfig({ ...SECRETS, PLANS_QUEUE: { send() {} } })).not.toThrow();
  });

  it("GOV_DECISION_TTL below the 300 s signature window is refused", () => {
    expect(configError({ ...SECRETS, GOV_DECISION_TTL: "299" }).issues.join()).toContain(
      "GOV_DECISION_TTL",
    );
    expect(parseConfig({ ...SECRETS, GOV_DECISION_TTL: 300 }).ttl.decision).toBe(300);
  });

  it("a secret's value never appears in the error", () => {
    const error = configError({ ...SECRETS, BINANCE_API_KEY: { leaked: "key-value-xyz" } });
    expect(error.message).not.toContain("key-value-xyz");
  });
});

describe("parseConfig: the operators' controls", () => {
  it("off by default: no admin token, no webhook, no breaker", () => {
    const config = parseConfig(SECRETS);
    expect(config.adminToken).toBeUndefined();
    expect(config.alerts).toEqual({ webhookUrl: undefined, format: "json", cooldownS: 300 });
    expect(config.drawdown).toBeNull();
  });

  it("reads the admin token, the alert webhook and format, and the breaker", () => {
    const config = parseConfig({
      ...SECRETS,
      GOV_ADMIN_TOKEN: "admin-value",
      GOV_ALERT_WEBHOOK_URL: "https://hooks.example.com/services/T0/B0/x",
      GOV_ALERT_FORMAT: "slack",
      GOV_ALERT_COOLDOWN_S: "0",
      GOV_MAX_DRAWDOWN_PCT: "0.15",
      GOV_DRAWDOWN_WINDOW_H: 6,
    });
    expect(config.adminToken).toBe("admin-value");
    expect(config.alerts).toEqual({
      webhookUrl: "https://hooks.example.com/services/T0/B0/x",
      format: "slack",
      cooldownS: 0,
    });
    expect(config.drawdown).toEqual({ maxPct: 0.15, windowMs: 6 * 3_600_000 });
    expect(parseConfig({ ...SECRETS, GOV_MAX_DRAWDOWN_PCT: 0.1 }).drawdown?.windowMs).toBe(
      86_400_000,
    );
  });

  it.each([
    ["GOV_MAX_DRAWDOWN_PCT", "0"],
    ["GOV_MAX_DRAWDOWN_PCT", "1"],
    ["GOV_MAX_DRAWDOWN_PCT", "-0.1"],
    ["GOV_DRAWDOWN_WINDOW_H", "0"],
    ["GOV_ALERT_FORMAT", "teams"],
    ["GOV_ALERT_WEBHOOK_URL", "not a url"],
    ["GOV_ADMIN_TOKEN", ""],
  ])("refuses %s=%s naming the variable", (name, value) => {
    expect(configError({ ...SECRETS, [name]: value }).issues.join(" ")).toContain(name);
  });

  it("refuses an admin token equal to the read token (the read token would then be an admin)", () => {
    const error = configError({ ...SECRETS, GOV_ADMIN_TOKEN: SECRETS.GOV_READ_TOKEN });
    expect(error.issues).toEqual(["GOV_ADMIN_TOKEN must differ from GOV_READ_TOKEN"]);
    expect(error.message).not.toContain(SECRETS.GOV_READ_TOKEN);
  });
});
