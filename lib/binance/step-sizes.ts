/**
 * Each symbol's LOT_SIZE stepSize from `GET /fapi/v1/exchangeInfo` (weight 1,
 * every symbol in one answer), cached in Redis until the end of the UTC day
 * (hash `P:governor:binance:step_sizes`, symbol → stepSize). Read only when a
 * rotation may start, so the hot-path ALLOW never pays for it.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information
 */
import type { Redis } from "@upstash/redis/cloudflare";
import { z } from "zod";
import type { RedisKeys } from "../keys.ts";

/** Only what is read: each symbol's filters; other fields and filters pass unvalidated. */
export const exchangeInfoSchema = z.object({
  symbols: z.array(
    z.object({
      symbol: z.string().min(1),
      filters: z.array(
        z.object({ filterType: z.string(), stepSize: z.string().optional().catch(undefined) }),
      ),
    }),
  ),
});
export type ExchangeInfo = z.output<typeof exchangeInfoSchema>;

const STEP_RE = /^\d+(\.\d+)?$/;

/** symbol → LOT_SIZE stepSize (only positive plain decimals). */
export function stepSizesFrom(info: ExchangeInfo): Map<string, string> {
  const sizes = new Map<string, string>();
  for (const { symbol, filters } of info.symbols) {
    const step = filters.find((f) => f.filterType === "LOT_SIZE")?.stepSize?.trim();
    if (step && STEP_RE.test(step) && Number(step) > 0) sizes.set(symbol, step);
  }
  return sizes;
}

const DAY_MS = 86_400_000;

/** The end of the UTC day of `nowMs` (unix ms): step sizes are cached "for the day". */
export function endOfUtcDay(nowMs: number): number {
  return Math.floor(nowMs / DAY_MS) * DAY_MS + DAY_MS;
}

export interface StepSizeDeps {
  redis: Pick<Redis, "hmget" | "pipeline">;
  keys: Pick<RedisKeys, "stepSizes">;
  now: () => number;
}

/**
 * Step sizes of `symbols`: from `known` (what the state read brought), else
 * from the cache, else (any missing) from one exchangeInfo call that refills
 * the cache for every symbol. A symbol still unknown after that is absent
 * from the map (its rotation is not started). Throws only what `fetchInfo` throws.
 */
export async function loadStepSizes(
  deps: StepSizeDeps,
  symbols: readonly string[],
  fetchInfo: () => Promise<ExchangeInfo>,
  known: ReadonlyMap<string, string> = new Map(),
): Promise<{ sizes: Map<string, string>; fetched: boolean }> {
  const sizes = new Map<string, string>();
  const keep = (symbol: string, step: unknown) => {
    if (typeof step === "string" && STEP_RE.test(step)) sizes.set(symbol, step);
  };
  for (const symbol of symbols) keep(symbol, known.get(symbol));
  const unread = symbols.filter((symbol) => !sizes.has(symbol));
  if (unread.length === 0) return { sizes, fetched: false };
  // Without automatic deserialization the client answers HMGET's raw array, in field order.
  const cached: unknown = await deps.redis.hmget(deps.keys.stepSizes, ...unread);
  unread.forEach((symbol, i) => {
    keep(
      symbol,
      Array.isArray(cached) ? cached[i] : (cached as Record<string, unknown> | null)?.[symbol],
    );
  });
  if (sizes.size === symbols.length) return { sizes, fetched: false };

  const all = stepSizesFrom(await fetchInfo());
  if (all.size > 0) {
    const pipeline = deps.redis.pipeline();
    pipeline.del(deps.keys.stepSizes);
    pipeline.hset(deps.keys.stepSizes, Object.fromEntries(all));
    // A TTL from the governor's clock (as the market caches' PX): an absolute PEXPIREAT would
    // be read on Redis's clock, which a replay's virtual clock is years ahead of.
    const now = deps.now();
    pipeline.pexpire(deps.keys.stepSizes, endOfUtcDay(now) - now);
    await pipeline.exec();
  }
  for (const symbol of symbols) {
    const step = all.get(symbol);
    if (step !== undefined) sizes.set(symbol, step);
  }
  return { sizes, fetched: true };
}
