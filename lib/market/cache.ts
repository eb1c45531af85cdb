import { z } from "zod";
import type { Regime } from "../regime/classify.ts";
import { REGIMES } from "../regime/classify.ts";

/**
 * Per-symbol market cache: the regime computed from closed candles and their
 * closes (for return correlations). Closed candles never change, so the entry
 * is valid until the next candle closes (`expires_at_ms`).
 */
export const MarketCacheSchema = z.object({
  expires_at_ms: z.number().int(),
  regime: z.object({
    name: z.enum(REGIMES),
    trend: z.number(),
    atr_pct: z.number(),
    ema_fast: z.number(),
    ema_slow: z.number(),
    atr: z.number(),
    last_close: z.number(),
    candles: z.number().int(),
  }),
  /** [openTime ms, close] of each closed candle, oldest first. */
  closes: z.array(z.tuple([z.number().int(), z.number()])),
});

export type MarketCache = z.infer<typeof MarketCacheSchema>;

/** The cached entry if present, well-formed and not yet expired; else null (refetch). */
export function readMarketCache(raw: string | null | undefined, nowMs: number): MarketCache | null {
  if (!raw) return null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return null;
  }
  const parsed = MarketCacheSchema.safeParse(json);
  if (!parsed.success || parsed.data.expires_at_ms <= nowMs) return null;
  return parsed.data;
}

export function marketCacheEntry(
  regime: Regime,
  closed: readonly { openTime: number; close: number }[],
  expiresAtMs: number,
): MarketCache {
  return {
    expires_at_ms: expiresAtMs,
    regime: { ...regime },
    closes: closed.map((c) => [c.openTime, c.close]),
  };
}
