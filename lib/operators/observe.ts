/**
 * What an evaluation (or the sweep) observed on its way to a decision, handed
 * to the deciding script, which records it in the same atomic step (see
 * `observe_balance` and `observe_dependencies` in ./lua/operators.ts): the
 * margin balance for the drawdown breaker, and which dependencies answered.
 * No extra call: these are the reads the gates already made.
 */
import type { Config } from "../config.ts";
import type { FuturesAccount } from "../binance/schemas.ts";

/** The part of a script's context these observations fill. */
export interface Observations {
  balance?: { value: number; max_pct: number; window_ms: number };
  dependencies?: Partial<Record<"positions" | "margin" | "regime" | "binance_backoff", string>>;
}

/** Errors that mean the shared 429/418 backoff, not an outage. */
const BACKOFF_ERRORS = new Set(["BinanceRateLimitError", "BinanceBackoffActiveError"]);

function errorName(reason: unknown): string {
  return reason instanceof Error ? reason.name : "error";
}

/** The margin balance, for the drawdown breaker (nothing when it is off or the account is unread). */
export function balanceObservation(
  config: Pick<Config, "drawdown">,
  account: FuturesAccount | undefined,
): Observations {
  if (!config.drawdown || !account || !(account.totalMarginBalance > 0)) return {};
  return {
    balance: {
      value: account.totalMarginBalance,
      max_pct: config.drawdown.maxPct,
      window_ms: config.drawdown.windowMs,
    },
  };
}

/**
 * Which dependencies answered: "ok", or the error's class name (never its
 * message: an alert carries no URL or secret). `regime` is the plan symbol's
 * market, when it was needed.
 */
export function dependencyObservation(
  account: PromiseSettledResult<FuturesAccount>,
  market?: PromiseSettledResult<unknown>,
): Observations {
  const seen: NonNullable<Observations["dependencies"]> = {};
  if (account.status === "fulfilled") {
    seen.positions = "ok";
    seen.binance_backoff = "ok";
    seen.margin = account.value.totalMarginBalance > 0 ? "ok" : "NoMarginBalance";
  } else if (BACKOFF_ERRORS.has(errorName(account.reason))) {
    seen.binance_backoff = errorName(account.reason);
  } else {
    seen.positions = errorName(account.reason);
  }
  if (market) seen.regime = market.status === "fulfilled" ? "ok" : errorName(market.reason);
  return { dependencies: seen };
}
