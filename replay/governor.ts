/**
 * The governor as a replay gate: the project's own `evaluatePlan` and
 * `sweepLocks`, on the private Redis (store.ts) through the REST protocol, with
 * the virtual clock as `now` and the in-process exchange as Binance.
 */
import { randomBytes } from "node:crypto";
import { parseConfig, type Config } from "../lib/config.ts";
import type { GovernorContext } from "../lib/context.ts";
import { endOfUtcDay } from "../lib/binance/step-sizes.ts";
import { evaluatePlan } from "../lib/evaluate/evaluate.ts";
import { redisKeys } from "../lib/keys.ts";
import { nextCloseAfter, type KlineInterval } from "../lib/market/klines.ts";
import { REASONS } from "../lib/plans/reasons.ts";
import { isClose } from "../lib/plans/schema.ts";
import { sweepLocks } from "../lib/sweep/sweep.ts";
import type { Book } from "./book.ts";
import { exchangeFetch, type ExchangeStats } from "./exchange.ts";
import type { CloseOrder, Gate, GateDecision, ParamValue } from "./gate.ts";
import type { Market } from "./market.ts";
import { GovernorObserver } from "./observe.ts";
import type { ReplayPlan } from "./plans.ts";
import type { ReplayStore } from "./store.ts";

/** Binance never sees these: the exchange is in-process. */
const EXCHANGE_URL = "http://exchange.replay.invalid";

/**
 * The governor's config for these settings (`GOV_*` names). Throws the
 * project's ConfigError, naming each bad variable, on a bad value.
 */
export function governorConfig(
  settings: Record<string, string>,
  rest: { url: string; token: string } = { url: "http://127.0.0.1:1", token: "unused" },
): Config {
  const placeholder = () => randomBytes(16).toString("hex");
  return parseConfig({
    ...settings,
    UPSTASH_REDIS_REST_URL: rest.url,
    UPSTASH_REDIS_REST_TOKEN: rest.token,
    BINANCE_BASE_URL: EXCHANGE_URL,
    BINANCE_API_KEY: placeholder(),
    BINANCE_API_SECRET: placeholder(),
    GOV_WEBHOOK_SECRET: placeholder(),
    GOV_READ_TOKEN: placeholder(),
    GOV_ADMIN_TOKEN: placeholder(),
  });
}

/**
 * Run a governor step again when Redis failed it (a request timed out on a
 * starved machine, a script ran past its deadline): each step is atomic and
 * idempotent, so a retry decides what the first attempt would have.
 */
async function retried<T>(step: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= attempts) throw error;
    }
  }
}

export interface GovernorGateOptions {
  name: string;
  params: Record<string, ParamValue>;
  settings: Record<string, string>;
  store: ReplayStore;
  market: Market;
  book: Book;
  universe: readonly string[];
  now: () => number;
  /** counts the Binance requests the governor makes */
  exchangeStats?: ExchangeStats;
}

/** A fresh governor on a flushed Redis, its policy set to the universe. */
export async function governorGate(options: GovernorGateOptions): Promise<Gate> {
  const { store, market, book, now } = options;
  const config = governorConfig(options.settings, store.rest);
  const keys = redisKeys(config.keyPrefix);
  const gov: GovernorContext = {
    config,
    redis: store.redis,
    keys,
    now,
    fetch: exchangeFetch(market, book, now, options.exchangeStats),
  };
  await store.direct.flushall();
  await store.direct.hset(keys.policy, "universe_symbols", JSON.stringify(options.universe));
  const observer = new GovernorObserver(store.direct, keys);

  // Redis expires the market caches (and the step sizes) on its own (real) clock, when
  // the governor's TTL from the virtual clock runs out (the next candle close, the end of
  // the UTC day); a replay compresses hours into milliseconds, so it expires them itself
  // when the virtual clock gets there.
  const interval = config.regime.interval;
  const cacheKeys = [...new Set([...market.symbols, ...options.universe])].map((symbol) =>
    keys.marketCache(symbol, interval),
  );
  let cachesValidUntil = 0;
  let stepSizesValidUntil = 0;
  /**
   * Sends the UNLINK at once, without waiting for it: the governor's requests go
   * through the same connection (store.ts), so Redis runs it before them. The
   * caller awaits the answer once the governor's step is done.
   */
  function expireCaches(at: number): Promise<unknown> {
    if (at < cachesValidUntil) return Promise.resolve();
    cachesValidUntil = nextCloseAfter(interval as KlineInterval, at);
    const expired = [...cacheKeys];
    if (at >= stepSizesValidUntil) {
      stepSizesValidUntil = endOfUtcDay(at);
      expired.push(keys.stepSizes);
    }
    return store.direct.unlink(...expired);
  }
  /** A governor step after the caches due at `at` expired. */
  async function afterExpiry<T>(at: number, step: () => Promise<T>): Promise<T> {
    const expiring = expireCaches(at);
    try {
      return await step();
    } finally {
      await expiring;
    }
  }

  return {
    name: options.name,
    params: options.params,
    baseSlots: config.slots.BASE,
    // Disabled or in shadow mode it grants every entry by design: nothing to hold it to.
    gated: config.enabled && config.mode === "enforce",
    async evaluate(plan: ReplayPlan, at: number) {
      // A retried evaluation whose first attempt did decide answers that decision
      // again (replayed): it is still this plan's decision.
      const { body } = await afterExpiry(at, () => retried(() => evaluatePlan(plan, gov)));
      if (body.decision === "IGNORED") return { ...observer.last };
      const own: GateDecision = {
        plan_id: body.plan_id,
        symbol: plan.symbol,
        decision: body.decision,
        reason: body.reason ?? "",
        desired: body.slots?.desired,
      };
      // A close, or a block that started no rotation, wrote nothing the loop acts
      // on (its own event is read with the next observation): one read saved.
      const startedRotation =
        body.reason === REASONS.waitingRotationClose && body.rotation?.lock_age === 0;
      const entryGrant = body.decision === "ALLOW" && !isClose(plan);
      if (!startedRotation && !entryGrant) return { ...observer.last, decisions: [own] };
      return observer.read(own, at);
    },
    async sweep(at: number) {
      await afterExpiry(at, () => retried(() => sweepLocks(gov)));
      return observer.read(undefined, at);
    },
    async confirm(order: CloseOrder, executed: boolean, at: number) {
      await store.direct.xadd(
        keys.applyResultStream,
        "*",
        "plan_id",
        order.plan_id,
        "symbol",
        order.symbol,
        "executed",
        String(executed),
        "reduceOnly",
        "true",
        "action",
        "FULL_CLOSE_PROPOSED",
        "ts",
        String(at),
      );
    },
  };
}
