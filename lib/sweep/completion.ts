import { z } from "zod";
import type { GovernorContext } from "../context.ts";
import { readSharedBinanceState, sharedBinanceClient } from "../binance/redis-state.ts";
import { openPositionsFromAccount } from "../binance/positions.ts";
import type { FuturesAccount } from "../binance/schemas.ts";
import { readMarketCache, type MarketCache } from "../market/cache.ts";
import { PlanSchema, type Plan } from "../plans/schema.ts";
import { completionVerdict, type CompletionVerdict, type Fetched } from "../evaluate/gates.ts";
import { marketFetcher, marketsOf, settled } from "../evaluate/markets.ts";
import type { CacheWrite } from "../rotation/scripts.ts";
import type { Failures } from "../metrics/failures.ts";
import { balanceObservation, type Observations } from "../operators/observe.ts";

/** What a lock keeps of its plan (older locks kept only the symbol and score). */
const LockSchema = z.object({
  new_symbol: z.string(),
  new_plan_id: z.string(),
  new_score: z.number().nullish(),
  plan: PlanSchema.optional(),
});

export function planOfLock(raw: string): Plan | null {
  const parsed = LockSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) return null;
  const lock = parsed.data;
  return (
    lock.plan ?? {
      plan_id: lock.new_plan_id,
      symbol: lock.new_symbol,
      action: "OPEN",
      decision: "EXECUTE",
      ...(typeof lock.new_score === "number" ? { score: lock.new_score } : {}),
    }
  );
}

export interface CompletionGates {
  /** Open symbols of the snapshot; undefined when Binance could not be read. */
  openSymbols: string[] | undefined;
  /** The gates' verdict for each waiting plan (null: nothing can be judged now). */
  verdicts(plans: readonly Plan[]): Promise<(CompletionVerdict | null)[]>;
  /** Market caches fetched meanwhile, to be written by the next script call. */
  writes: CacheWrite[];
  /** Binance and klines failures met meanwhile, to be counted by the next script call. */
  failures: Failures;
  /** Redis requests made. */
  redisRequests: number;
  /** The margin balance read, for the drawdown breaker (the sweep's script records it). */
  observed: Observations;
}

/**
 * The inputs the gates need to judge waiting rotations at completion, read
 * once per sweep: the policy, the account (positions and margin: one Binance
 * call, honouring the shared backoff) and the market caches, read (and, when
 * cold, fetched) once per batch for the symbols the verdicts need.
 */
export async function completionGates(gov: GovernorContext): Promise<CompletionGates> {
  const { redis, keys, config } = gov;
  const [state, universe] = await Promise.all([
    readSharedBinanceState(gov),
    redis.hget<string>(keys.policy, "universe_symbols"),
  ]);
  const binance = sharedBinanceClient(gov, state);
  const failures: Failures = {};
  let account: Fetched<FuturesAccount>;
  try {
    account = { ok: true, value: await binance.account() };
  } catch (error) {
    account = settled<FuturesAccount>({ status: "rejected", reason: error });
    failures.binance = 1;
  }
  const openSymbols = account.ok
    ? [...new Set(openPositionsFromAccount(account.value).map((p) => p.symbol))]
    : undefined;
  const writes: CacheWrite[] = [];
  const cached = new Map<string, MarketCache>();
  const known = new Map<string, Fetched<MarketCache>>();
  const marketOf = marketFetcher({ ...gov, binance, cached, writes, failures });
  const gates: CompletionGates = {
    openSymbols,
    writes,
    failures,
    redisRequests: 2,
    observed: balanceObservation(config, account.ok ? account.value : undefined),
    async verdicts(plans) {
      if (!account.ok || !openSymbols) return plans.map(() => null);
      const wanted = [...new Set([...plans.map((p) => p.symbol), ...openSymbols])].filter(
        (s) => !known.has(s),
      );
      if (wanted.length > 0) {
        const raws = await redis.mget<(string | null)[]>(
          ...wanted.map((s) => keys.marketCache(s, config.regime.interval)),
        );
        gates.redisRequests += 1;
        wanted.forEach((symbol, i) => {
          const cache = readMarketCache(raws[i], gov.now());
          if (cache) cached.set(symbol, cache);
        });
        for (const [symbol, market] of await marketsOf(wanted, marketOf)) known.set(symbol, market);
      }
      const snapshot = { account, markets: known, entries: new Map() };
      return plans.map((plan) =>
        completionVerdict(plan, universe ?? null, snapshot, config, gov.now()),
      );
    },
  };
  return gates;
}
