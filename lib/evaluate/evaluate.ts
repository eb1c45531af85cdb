import type { Redis } from "@upstash/redis/cloudflare";
import { z } from "zod";
import type { Config } from "../config.ts";
import { StateStoreError } from "../errors.ts";
import type { RedisKeys } from "../keys.ts";
import { createBinanceClient, type BinanceClient } from "../binance/client.ts";
import { closedCandles, nextCloseAfter, type KlineInterval } from "../market/klines.ts";
import { marketCacheEntry, readMarketCache, type MarketCache } from "../market/cache.ts";
import { computeRegime, DEFAULT_REGIME_THRESHOLDS } from "../regime/classify.ts";
import type { EntryRecord } from "../rotation/weakness.ts";
import { isClose, type Plan } from "../plans/schema.ts";
import { isFinal, REASONS, type Reason } from "../plans/reasons.ts";
import { ScriptDecisionSchema, type DecisionBody } from "../plans/decision.ts";
import { planKeyPrefixes, runScript, scriptKeys, SCRIPTS } from "../redis/scripts.ts";
import { toHash } from "../redis/replies.ts";
import { runGates, type Snapshot } from "./gates.ts";

export interface EvaluationDeps {
  redis: Redis;
  config: Config;
  keys: RedisKeys;
  /** unix ms */
  now: () => number;
  fetch?: typeof fetch;
}

export interface Evaluation {
  body: DecisionBody;
  latencyMs: number;
}

/** A value the evaluation asks to be cached alongside its decision: [key, value, ttl ms]. */
type CacheWrite = [string, string, number];

const EntryRecordSchema = z.object({ at: z.number(), score: z.number().nullish() });

/**
 * Evaluate one plan (SPEC §5). Redis is touched twice on the hot path: one
 * pipeline of reads, then one script that decides atomically and writes the
 * permit or block, the event and the decision cache. Throws StateStoreError
 * when Redis itself is unusable (the caller answers 503; nothing is granted).
 */
export async function evaluatePlan(plan: Plan, deps: EvaluationDeps): Promise<Evaluation> {
  const started = deps.now();
  const finish = (body: DecisionBody): Evaluation => {
    const evaluation = { body, latencyMs: deps.now() - started };
    logDecision(plan, evaluation, deps.config);
    return evaluation;
  };

  if (plan.decision !== "EXECUTE") {
    return finish({ plan_id: plan.plan_id, symbol: plan.symbol, decision: "IGNORED" });
  }
  if (isClose(plan)) return finish(await record(plan, "ALLOW", REASONS.closeAllowed, deps));
  if (!deps.config.enabled) return finish(await record(plan, "ALLOW", REASONS.disabled, deps));

  const reads = await readState(plan, deps);
  if (reads.decision) return finish({ ...reads.decision, replayed: true });

  const writes: CacheWrite[] = [];
  const binance = createBinanceClient({
    ...deps.config.binance,
    fetch: deps.fetch,
    now: deps.now,
    timeOffsetMs: reads.timeOffsetMs,
    backoffUntilMs: reads.backoffUntilMs,
    onTimeOffset: (offset) => {
      writes.push([deps.keys.binanceTimeOffset, String(offset), 3_600_000]);
    },
    onBackoff: (until) => {
      writes.push([deps.keys.binanceBackoff, String(until), Math.max(1, until - deps.now())]);
    },
  });

  const [positions, market] = await Promise.allSettled([
    binance.positionRisk(),
    reads.market ?? fetchMarket(plan.symbol, binance, deps, writes),
  ]);
  const snapshot: Snapshot = {
    universe: reads.universe,
    positions:
      positions.status === "fulfilled"
        ? { ok: true, rows: positions.value }
        : { ok: false, error: describe(positions.reason) },
    market:
      market.status === "fulfilled"
        ? { ok: true, cache: market.value }
        : { ok: false, error: describe(market.reason) },
    entries: reads.entries,
  };

  const outcome = runGates(plan, snapshot, deps.config, deps.now());
  if (outcome.kind === "block") {
    return finish(
      await record(plan, "BLOCK", outcome.reason, deps, writes, {
        details: outcome.details,
        regime: outcome.regime,
      }),
    );
  }
  const { step } = outcome;
  const answer = await runScript(deps.redis, SCRIPTS.evaluateSlots, scriptKeys(deps.keys), {
    ...scriptContext(deps, writes),
    plan: { plan_id: plan.plan_id, symbol: plan.symbol, score: plan.score },
    desired: step.desired,
    open_symbols: step.openSymbols,
    victims: step.victims,
    regime: step.regime,
    threshold: deps.config.rotationThreshold,
    max_rotations_per_hour: deps.config.rotationMaxPerHour,
  }).catch(stateStoreFailure);
  return finish(decisionFrom(answer));
}

/** Write a decision taken before the slot step (one request, idempotent). */
async function record(
  plan: Plan,
  decision: "ALLOW" | "BLOCK",
  reason: Reason,
  deps: EvaluationDeps,
  writes: CacheWrite[] = [],
  extra: Partial<DecisionBody> = {},
): Promise<DecisionBody> {
  const response: DecisionBody = {
    plan_id: plan.plan_id,
    symbol: plan.symbol,
    decision,
    reason,
    ...withoutUndefined(extra),
  };
  const answer = await runScript(deps.redis, SCRIPTS.recordDecision, scriptKeys(deps.keys), {
    ...scriptContext(deps, writes),
    response,
    final: isFinal(decision, reason),
  }).catch(stateStoreFailure);
  return decisionFrom(answer);
}

/** Context every decision-writing script reads (see PRELUDE in lib/redis/lua.ts). */
export function scriptContext(
  deps: Pick<EvaluationDeps, "config" | "keys" | "now">,
  writes: CacheWrite[] = [],
) {
  const { ttl } = deps.config;
  return {
    now_ms: String(deps.now()),
    keys: planKeyPrefixes(deps.keys),
    shadow: deps.config.mode === "shadow",
    cache_writes: writes,
    ttl: {
      permit: ttl.permit,
      block: ttl.block,
      decision: ttl.decision,
      reservation: ttl.reservation,
      lock: ttl.lock,
      // The key outlives its logical timeout, so a timeout is observed, never silently expired.
      lock_redis: ttl.lock * 2 + 300,
    },
  };
}

export function decisionFrom(answer: unknown): DecisionBody {
  const parsed = ScriptDecisionSchema.safeParse(
    typeof answer === "string" ? JSON.parse(answer) : answer,
  );
  if (!parsed.success) throw new StateStoreError("decision script answered an unexpected shape");
  const { replayed, response } = parsed.data;
  return replayed ? { ...response, replayed: true } : response;
}

interface StateReads {
  decision: DecisionBody | null;
  universe: string | null;
  backoffUntilMs: number;
  timeOffsetMs: number;
  market: MarketCache | null;
  entries: Map<string, EntryRecord>;
}

/** Request 1: everything the gates need from Redis, in one pipeline. */
async function readState(plan: Plan, deps: EvaluationDeps): Promise<StateReads> {
  const { keys, config } = deps;
  const pipeline = deps.redis.pipeline();
  pipeline.get(keys.decision(plan.plan_id));
  pipeline.hget(keys.policy, "universe_symbols");
  pipeline.get(keys.binanceBackoff);
  pipeline.get(keys.binanceTimeOffset);
  pipeline.get(keys.klines(plan.symbol, config.regime.interval));
  pipeline.hgetall(keys.entries);
  const [decision, universe, backoff, offset, market, entries] = (await pipeline
    .exec()
    .catch(stateStoreFailure)) as [
    string | null,
    string | null,
    string | null,
    string | null,
    string | null,
    Record<string, string> | null,
  ];
  return {
    decision: decision ? decisionFrom({ replayed: false, response: JSON.parse(decision) }) : null,
    universe: universe ?? null,
    backoffUntilMs: Number(backoff) || 0,
    timeOffsetMs: Number(offset) || 0,
    market: readMarketCache(market, deps.now()),
    entries: parseEntries(entries),
  };
}

export function parseEntries(raw: unknown): Map<string, EntryRecord> {
  const entries = new Map<string, EntryRecord>();
  for (const [symbol, value] of Object.entries(toHash(raw))) {
    try {
      const parsed = EntryRecordSchema.safeParse(JSON.parse(value));
      if (parsed.success)
        entries.set(symbol, { at: parsed.data.at, score: parsed.data.score ?? 0 });
    } catch {
      // A malformed record is ignored: age falls back to the position's updateTime.
    }
  }
  return entries;
}

/** Cold path: fetch klines, compute the regime, and cache it until the next candle closes. */
async function fetchMarket(
  symbol: string,
  binance: BinanceClient,
  deps: EvaluationDeps,
  writes: CacheWrite[],
): Promise<MarketCache> {
  const { interval, lookback } = deps.config.regime;
  const rows = await binance.klines(symbol, interval, lookback);
  const now = deps.now();
  const closed = closedCandles(rows, now);
  const regime = computeRegime(closed, { ...DEFAULT_REGIME_THRESHOLDS, ...deps.config.regime });
  const expiresAt = nextCloseAfter(interval as KlineInterval, now);
  const entry = marketCacheEntry(regime, closed, expiresAt);
  writes.push([deps.keys.klines(symbol, interval), JSON.stringify(entry), expiresAt - now]);
  return entry;
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function stateStoreFailure(error: unknown): never {
  if (error instanceof StateStoreError) throw error;
  throw new StateStoreError("Redis is unreachable or failed", { cause: error });
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** One structured log line per decision (SPEC §5). */
function logDecision(plan: Plan, evaluation: Evaluation, config: Config): void {
  const { body } = evaluation;
  console.log(
    JSON.stringify({
      msg: "governor.decision",
      plan_id: plan.plan_id,
      symbol: plan.symbol,
      decision: body.decision,
      reason: body.reason,
      replayed: body.replayed ?? false,
      regime: body.regime?.name,
      trend: body.regime?.trend,
      atr_pct: body.regime?.atr_pct,
      slots_used: body.slots?.holders,
      slots_desired: body.slots?.desired,
      close_symbol: body.rotation?.close_symbol,
      lock_age: body.rotation?.lock_age,
      shadow: config.mode === "shadow",
      latency_ms: evaluation.latencyMs,
    }),
  );
}
