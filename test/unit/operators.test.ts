import { describe, expect, it } from "vitest";
import { checkAdminToken } from "../../lib/http/auth.ts";
import { balanceObservation, dependencyObservation } from "../../lib/operators/observe.ts";
import { TradingStateChangeSchema } from "../../lib/operators/trading-state.ts";
import { BinanceRateLimitError, BinanceUnavailableError } from "../../lib/binance/errors.ts";
import type { FuturesAccount } from "../../lib/binance/schemas.ts";

const TOKENS = { admin: "admin-token", read: "read-token" };

describe("checkAdminToken", () => {
  it.each([
    ["no header", undefined, 401, "unauthorized"],
    ["the read token", "Bearer read-token", 403, "forbidden"],
    ["a wrong token", "Bearer admin-tokenx", 401, "unauthorized"],
    ["not a bearer", "admin-token", 401, "unauthorized"],
  ])("%s: %i", (_name, header, status, code) => {
    expect(checkAdminToken(header, TOKENS)).toMatchObject({ ok: false, status, code });
  });

  it("the admin token passes", () => {
    expect(checkAdminToken("Bearer admin-token", TOKENS)).toEqual({ ok: true });
  });

  it("no admin token configured: 503 even for a right-looking one, never open", () => {
    for (const header of [undefined, "Bearer read-token", "Bearer "]) {
      expect(checkAdminToken(header, { admin: undefined, read: "read-token" })).toMatchObject({
        ok: false,
        status: 503,
        code: "admin_not_configured",
      });
    }
  });
});

describe("a trading state change (PUT body)", () => {
  it("needs a state and a reason of 1-200 characters (trimmed)", () => {
    expect(TradingStateChangeSchema.parse({ state: "HALTED", reason: "  x  " })).toEqual({
      state: "HALTED",
      reason: "x",
    });
    for (const body of [
      { state: "HALTED" },
      { state: "HALTED", reason: "   " },
      { state: "HALTED", reason: "x".repeat(201) },
      { state: "halted", reason: "x" },
      { state: "HALTED", reason: "x", actor: "drawdown_breaker" },
      { state: "HALTED", reason: "x", actor: "has space" },
      { state: "HALTED", reason: "x", more: true },
    ]) {
      expect(TradingStateChangeSchema.safeParse(body).success, JSON.stringify(body)).toBe(false);
    }
  });
});

const account = (totalMarginBalance: number) =>
  ({ totalMarginBalance, totalInitialMargin: 0, positions: [] }) as unknown as FuturesAccount;

describe("what an evaluation hands its script for the operators' controls", () => {
  it("the balance only when the breaker is on and the balance is usable", () => {
    const on = { drawdown: { maxPct: 0.1, windowMs: 86_400_000 } };
    expect(balanceObservation(on, account(9_500))).toEqual({
      balance: { value: 9_500, max_pct: 0.1, window_ms: 86_400_000 },
    });
    expect(balanceObservation({ drawdown: null }, account(9_500))).toEqual({});
    expect(balanceObservation(on, account(0))).toEqual({});
    expect(balanceObservation(on, undefined)).toEqual({});
  });

  it("which dependencies answered, by error class name only", () => {
    const ok = { status: "fulfilled", value: account(100) } as const;
    expect(dependencyObservation(ok, { status: "fulfilled", value: {} })).toEqual({
      dependencies: { positions: "ok", binance_backoff: "ok", margin: "ok", regime: "ok" },
    });
    expect(dependencyObservation({ status: "fulfilled", value: account(0) })).toEqual({
      dependencies: { positions: "ok", binance_backoff: "ok", margin: "NoMarginBalance" },
    });
    const down = new BinanceUnavailableError(
      "/fapi/v3/account",
      "http",
      "HTTP 502 from https://x?signature=s",
    );
    expect(
      dependencyObservation(
        { status: "rejected", reason: down },
        { status: "rejected", reason: down },
      ),
    ).toEqual({
      dependencies: { positions: "BinanceUnavailableError", regime: "BinanceUnavailableError" },
    });
    const limited = new BinanceRateLimitError("/fapi/v3/account", 429, 1000, 0);
    expect(dependencyObservation({ status: "rejected", reason: limited })).toEqual({
      dependencies: { binance_backoff: "BinanceRateLimitError" },
    });
  });
});
