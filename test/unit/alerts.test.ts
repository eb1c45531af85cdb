import { describe, expect, it } from "vitest";
import { alertBody, alertText, OutboxAlertSchema, type Alert } from "../../lib/alerts/format.ts";
import { ALERT_DELIVERY, retryDelayMs } from "../../lib/alerts/deliver.ts";
import { configInvalidAlert } from "../../lib/alerts/config-alert.ts";
import { ConfigError } from "../../lib/errors.ts";

const AT = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const HALT: Alert = {
  kind: "trading_state_changed",
  severity: "critical",
  status: "firing",
  summary: "trading state ACTIVE -> HALTED by alice: incident",
  details: { to: "HALTED", from: "ACTIVE", drawdown: 0.105, nested: { ignored: true } },
  at: AT,
};

describe("alert bodies (GOV_ALERT_FORMAT)", () => {
  it("json: the alert object with an ISO instant", () => {
    expect(JSON.parse(alertBody(HALT, "json"))).toEqual({
      kind: "trading_state_changed",
      severity: "critical",
      status: "firing",
      summary: "trading state ACTIVE -> HALTED by alice: incident",
      details: { to: "HALTED", from: "ACTIVE", drawdown: 0.105, nested: { ignored: true } },
      at: "2026-01-02T03:04:05.678Z",
    });
  });

  it("slack {text} and discord {content}: one line for a person, details sorted, scalars only", () => {
    const text =
      "[governor] CRITICAL trading_state_changed: trading state ACTIVE -> HALTED by alice: incident\n" +
      "drawdown=0.1050 from=ACTIVE to=HALTED · at 2026-01-02T03:04:05.678Z";
    expect(JSON.parse(alertBody(HALT, "slack"))).toEqual({ text });
    expect(JSON.parse(alertBody(HALT, "discord"))).toEqual({ content: text });
  });

  it("a recovery reads RESOLVED", () => {
    expect(alertText({ ...HALT, status: "resolved", severity: "info" })).toMatch(
      /^\[governor\] RESOLVED trading_state_changed: /,
    );
  });

  it("stays under Discord's 2,000 characters", () => {
    const long = alertText({ ...HALT, summary: "x".repeat(5000) });
    expect(long.length).toBeLessThanOrEqual(1900);
    expect(long.endsWith("…")).toBe(true);
  });

  it("reads outbox entries as the Lua writes them, and refuses malformed ones", () => {
    const fields = {
      kind: "over_capacity",
      severity: "warning",
      status: "firing",
      summary: "s",
      details: "{}",
      at: String(AT),
    };
    expect(OutboxAlertSchema.parse(fields)).toMatchObject({ details: {}, at: AT });
    expect(OutboxAlertSchema.parse({ ...fields, details: "[]" }).details).toEqual({});
    expect(OutboxAlertSchema.safeParse({ ...fields, details: "{oops" }).success).toBe(false);
    expect(OutboxAlertSchema.safeParse({ ...fields, severity: "loud" }).success).toBe(false);
  });

  it("an invalid configuration's alert names variables, never values", () => {
    const error = new ConfigError(["GOV_MAX_CORRELATION: Too big: expected number to be <=1"]);
    const alert = configInvalidAlert(error, AT);
    expect(alert).toMatchObject({ kind: "config_invalid", severity: "critical", status: "firing" });
    expect(alert.details.problems).toBe("GOV_MAX_CORRELATION: Too big: expected number to be <=1");
  });
});

describe("retries", () => {
  it("back off 30 s × 2^(n−1), at most an hour", () => {
    expect([1, 2, 3, 4, 7, 8, 12].map(retryDelayMs)).toEqual([
      30_000, 60_000, 120_000, 240_000, 1_920_000, 3_600_000, 3_600_000,
    ]);
  });

  it("give up after about five hours of attempts", () => {
    let total = 0;
    for (let attempt = 1; attempt < ALERT_DELIVERY.maxAttempts; attempt++) {
      total += retryDelayMs(attempt);
    }
    expect(total / 3_600_000).toBeCloseTo(5.06, 2);
  });
});
