import type { Redis } from "@upstash/redis/cloudflare";
import type { Config } from "../config.ts";
import { PlanConflictError, StateStoreError, stateStoreFailure } from "../errors.ts";
import type { RedisKeys } from "../keys.ts";
import { createBinanceClient } from "../binance/client.ts";
import type { MarketCache } from "../market/cache.ts";
import { offerMarkets, offeredDigests, takeMarkets } from "../market/held.ts";
import type { EntryRecord } from "../rotation/weakness.ts";
import { parseEntries } from "../rotation/entries.ts";
import { isClose, planFingerprint, type Plan } from "../plans/schema.ts";
import { isFinal, REASONS, type Reason } from "../plans/reasons.ts";
import { scriptDecisionParser, type DecisionBody } from "../plans/decision.ts";
import { runScript } from "../redis/scripts.ts";
import { scriptContext, scriptKeys, SCRIPTS, type CacheWrite } from "../rotation/scripts.ts";
import { REDIS_TIMEOUT_MS } from "../redis/rest.ts";
import {
  heldUniverse,
  holdUniverse,
  runGates,
  type Fetched,
  type SlotStep,
  type Snapshot,
  universeGate,
} from "./gates.ts";
import { marketFetcher, marketsOf, settled } from "./markets.ts";
import { readStateParser } from "./read-state.ts";
import { openPositionsFromAccount } from "../binance/positions.ts";
import {
  binanceClientOptions,
  recordBackoff,
  TIME_OFFSET_TTL_MS,
  type SharedBinanceState,
} from "../binance/redis-state.ts";
import { BinanceBackoffActiveError } from "../binance/errors.ts";
import {
  confirmSpeculation,
  knownFinalPlan,
  lastGateInputs,
  maySpeculate,
  rememberFinalPlan,
  rememberBinanceState,
  rememberedBinanceState,
  rememberRead,
  rememberGateInputs,
} from "../binance/isolate-state.ts";
import { victimsForSlotStep } from "../rotation/victims.ts";
import {
  balanceObservation,
  dependencyObservation,
  type Observations,
} from "../operators/observe.ts";
import { noteFailure, recordingFailures, type Failures } from "../metrics/failures.ts";

export interface EvaluationDeps {
  redis: Redis;
  config: Config;
  keys: RedisKeys;
  /** unix ms */
  now: () => number;
  fetch?: typeof fetch;
  /** The HTTP request id (or queue message id) every log line of this evaluation carries. */
  requestId?: string;
  /**
   * Where work that must not delay the answer goes: the decision's log line.
   * The webhook runs it after answering (lib/http/plans.ts); @default at once.
   */
  afterAnswer?: (work: () => void) => void;
}

export interface Evaluation {
  body: DecisionBody;
  latencyMs: number;
  /** The deciding script queued alerts: deliver them after answering (never before). */
  alertsQueued: boolean;
}

/** A decision as a script answered it, with the number of alerts it queued. */
interface Decided {
  body: DecisionBody;
  alerts: number;
}

/**
 * Evaluate one plan (docs/contract.md §3). Redis is touched twice on the hot path: one
 * read-only script, then one script that decides atomically and writes the
 * permit or block, the event and the decision cache. Throws StateStoreError
 * when Redis itself is unusable (the caller answers 503; nothing is granted).
 */
export async function evaluatePlan(plan: Plan, deps: EvaluationDeps): Promise<Evaluation> {
  const started = deps.now();
  const logged: { weakest?: SlotStep["victims"][number] } = {};
  const scope = deps.keys.binanceBackoff;
  const finish = ({ body, alerts }: Decided): Evaluation => {
    const evaluation = { body, latencyMs: deps.now() - started, alertsQueued: alerts > 0 };
    // A final decision is cached for ttl.decision from its first answer (a replay does not extend it).
    const final =
      body.decision === "ALLOW" ||
      (body.decision === "BLOCK" && body.reason !== undefined && isFinal("BLOCK", body.reason));
    if (final && !(body.replayed && knownFinalPlan(scope, plan.plan_id, started))) {
      rememberFinalPlan(scope, plan.plan_id, started + deps.config.ttl.decision * 1000);
    }
    const log = () => logDecision(plan, evaluation, deps, logged.weakest);
    if (deps.afterAnswer) deps.afterAnswer(log);
    else log();
    return evaluation;
  };
  // What the deciding script counts besides the decision (docs/contract.md §10).
  const measured: Measured = { started, failures: {} };

  if (plan.decision !== "EXECUTE") {
    return finish({
      body: { plan_id: plan.plan_id, symbol: plan.symbol, decision: "IGNORED" },
      alerts: 0,
    });
  }
  if (isClose(plan)) {
    return finish(await record(plan, "ALLOW", REASONS.closeAllowed, deps, measured));
  }
  if (!deps.config.enabled) {
    return finish(await record(plan, "ALLOW", REASONS.disabled, deps, measured));
  }

  // The account call starts beside the state read when this isolate knows the
  // shared Binance state; the read confirms it (lib/binance/isolate-state.ts).
  const writes: CacheWrite[] = [];
  const known = rememberedBinanceState(scope);
  // Not for an entry the last read says cannot pass (trading state, universe), nor for a
  // plan whose decision this isolate saw become final (a replay): no weight spent.
  const last = lastGateInputs(scope);
  const mayPass =
    (!last || (!last.tradingBlocked && universeGate(plan, last.universe) === null)) &&
    !knownFinalPlan(scope, plan.plan_id, deps.now());
  const speculative =
    known && mayPass && maySpeculate(known, deps.now())
      ? settle(binanceFor(deps, known, writes).account())
      : undefined;

  const reads = await readState(plan, deps);
  rememberRead(scope, reads, known);
  rememberGateInputs(scope, {
    tradingBlocked: reads.tradingBlock !== undefined && reads.tradingBlock !== null,
    universe: reads.universe,
  });
  // An early answer does not wait for the speculative call: its weight is spent, its result unused.
  if (reads.decision) return finish({ body: { ...reads.decision, replayed: true }, alerts: 0 });
  // REDUCING / HALTED: no further Binance call is spent on an entry that cannot pass.
  if (reads.tradingBlock) {
    return finish(await record(plan, "BLOCK", reads.tradingBlock, deps, measured));
  }

  const outsideUniverse = universeGate(plan, reads.universe);
  if (outsideUniverse) {
    return finish(await record(plan, "BLOCK", outsideUniverse, deps, measured));
  }

  const binance = binanceFor(deps, reads, writes);
  const marketOf = marketFetcher({
    ...deps,
    binance,
    cached: reads.markets,
    writes,
    failures: measured.failures,
  });

  // One Binance call on the warm path: the account (positions + margin), with the
  // plan's regime fetched alongside only when its cache is cold.
  const [account, planMarket] = await Promise.allSettled([
    speculative ? confirmed(speculative, reads, deps.now()) : binance.account(),
    marketOf(plan.symbol),
  ]);
  const markets = new Map<string, Fetched<MarketCache>>([[plan.symbol, settled(planMarket)]]);
  if (account.status === "rejected") measured.failures.binance = 1;
  const observed: Observations = {
    ...balanceObservation(deps.config, account.status === "fulfilled" ? account.value : undefined),
    ...dependencyObservation(account, planMarket),
  };
  if (account.status === "fulfilled") {
    const others = [
      ...new Set(openPositionsFromAccount(account.value).map((p) => p.symbol)),
    ].filter((symbol) => symbol !== plan.symbol);
    writes.push([deps.keys.openSymbols, JSON.stringify(others), 3_600_000]);
    for (const [symbol, leg] of await marketsOf(others, marketOf)) markets.set(symbol, leg);
  }
  const snapshot: Snapshot = {
    account: settled(account),
    markets,
    entries: reads.entries,
  };

  const outcome = runGates(plan, snapshot, deps.config, deps.now());
  if (outcome.figures) {
    writes.push([
      deps.keys.lastGates,
      JSON.stringify({
        at: deps.now(),
        plan_id: plan.plan_id,
        symbol: plan.symbol,
        ...outcome.figures,
      }),
      86_400_000,
    ]);
  }
  if (outcome.kind === "block") {
    return finish(
      await record(
        plan,
        "BLOCK",
        outcome.reason,
        deps,
        measured,
        writes,
        { details: outcome.details, regime: outcome.regime },
        observed,
      ),
    );
  }
  const { step } = outcome;
  logged.weakest = step.victims[0];
  const victims = await victimsForSlotStep(step, plan.symbol, reads.entries.keys(), {
    ...deps,
    binance,
    cached: reads.stepSizes,
  });
  return finish(
    await decide(SCRIPTS.evaluateSlots, deps, measured, {
      ...scriptContext(deps, writes),
      ...observed,
      fingerprint: planFingerprint(plan),
      // The whole plan: a rotation keeps it, so its completion can run the gates again.
      plan: planRecord(plan),
      desired: step.desired,
      open_symbols: step.openSymbols,
      victims,
      regime: step.regime,
      required_victim: step.requiredVictim ?? undefined,
      threshold: deps.config.rotationThreshold,
      max_rotations_per_hour: deps.config.rotationMaxPerHour,
    }),
  );
}

/** ms the last `X-MBX-USED-WEIGHT-1M` is kept: after a minute without a Binance answer it is stale. */
const USED_WEIGHT_TTL_MS = 60_000;

/** Queue a cache write, replacing an earlier one of the same key. */
function cacheWrite(writes: CacheWrite[], write: CacheWrite): void {
  const at = writes.findIndex(([key]) => key === write[0]);
  if (at >= 0) writes[at] = write;
  else writes.push(write);
}

/** What an evaluation measured before its deciding script: its start, the dependencies that failed. */
interface Measured {
  /** unix ms */
  started: number;
  failures: Failures;
}

/**
 * Run a deciding script. Its context carries, for the counters it writes
 * (docs/contract.md §10), the failures this evaluation met and its duration so
 * far: from the start of the evaluation to this call, i.e. everything but the
 * deciding round trip itself.
 */
async function decide(
  script: (typeof SCRIPTS)["evaluateSlots" | "recordDecision"],
  deps: EvaluationDeps,
  measured: Measured,
  ctx: object,
): Promise<Decided> {
  return recordingFailures(
    measured.failures,
    async (failures) => {
      const answer = await runScript(deps.redis, script, scriptKeys(deps.keys), {
        ...ctx,
        deadline_ms: answerDeadline(),
        failures,
        duration_ms: deps.now() - measured.started,
      }).catch(stateStoreFailure);
      return decided(answer);
    },
    (error) => error instanceof PlanConflictError,
  );
}

/**
 * A Binance client on a given view of the shared state; what it learns (a
 * resync's offset, a backoff) goes to Redis and to this isolate's memory.
 */
function binanceFor(deps: EvaluationDeps, state: SharedBinanceState, writes: CacheWrite[]) {
  const scope = deps.keys.binanceBackoff;
  return createBinanceClient({
    ...binanceClientOptions(deps, state),
    onTimeOffset: (offset) => {
      rememberBinanceState(scope, { timeOffsetMs: offset });
      writes.push([deps.keys.binanceTimeOffset, String(offset), TIME_OFFSET_TTL_MS]);
    },
    // The failure path writes the (escalated) backoff at once: lib/binance/redis-state.ts.
    onBackoff: async (until, { retryAfterMs }) => {
      rememberBinanceState(scope, { backoffUntilMs: until });
      const shared = await recordBackoff(deps, retryAfterMs);
      rememberBinanceState(scope, { backoffUntilMs: Math.max(until, shared) });
      return shared;
    },
    onWeight: (weight) => {
      cacheWrite(writes, [deps.keys.binanceUsedWeight, String(weight), USED_WEIGHT_TTL_MS]);
    },
  });
}

/** A promise that never rejects: a speculative call must not surface as an unhandled rejection. */
function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return promise.then(
    (value) => ({ status: "fulfilled", value }),
    (reason: unknown) => ({ status: "rejected", reason }),
  );
}

/** The speculative account answer as the read confirms it: a backoff the call did not honour fails closed. */
async function confirmed<T>(
  speculative: Promise<PromiseSettledResult<T>>,
  read: SharedBinanceState,
  nowMs: number,
): Promise<T> {
  const result = await speculative;
  if (confirmSpeculation(read, nowMs) === "discard") {
    throw new BinanceBackoffActiveError("/fapi/v3/account", read.backoffUntilMs);
  }
  if (result.status === "rejected") throw result.reason;
  return result.value;
}

/** The plan's fields the gates read, as a rotation lock keeps them. */
function planRecord(plan: Plan) {
  const { plan_id, symbol, action, decision, side, qty, notional, leverage, score, reduceOnly } =
    plan;
  return withoutUndefined({
    plan_id,
    symbol,
    action,
    decision,
    side,
    qty,
    notional,
    leverage,
    score,
    reduceOnly,
  });
}

/** Write a decision taken before the slot step (one request, idempotent). */
async function record(
  plan: Plan,
  decision: "ALLOW" | "BLOCK",
  reason: Reason,
  deps: EvaluationDeps,
  measured: Measured,
  writes: CacheWrite[] = [],
  extra: Partial<DecisionBody> = {},
  observed: Observations = {},
): Promise<Decided> {
  const response: DecisionBody = {
    plan_id: plan.plan_id,
    symbol: plan.symbol,
    decision,
    reason,
    ...withoutUndefined(extra),
  };
  return decide(SCRIPTS.recordDecision, deps, measured, {
    ...scriptContext(deps, writes),
    ...observed,
    fingerprint: planFingerprint(plan),
    response,
  });
}

/** ms of slack between the script's deadline and the client's timeout (clock skew, transit). */
const DEADLINE_MARGIN_MS = 250;

/**
 * Real-time instant (unix ms) after which a decision script must write
 * nothing: by then the client has timed out and answered 503 "nothing
 * granted", so a late permit would contradict the answer (Redis compares it
 * with its own TIME; lib/rotation/lua/prelude.ts).
 */
function answerDeadline(): string {
  return String(Date.now() + REDIS_TIMEOUT_MS - DEADLINE_MARGIN_MS);
}

/** A decision script's answer: the decision, and how many alerts the script queued. */
function decided(answer: unknown): Decided {
  const json: unknown = typeof answer === "string" ? JSON.parse(answer) : answer;
  const body = decisionFrom(answer, json);
  const alerts = (json as { alerts?: unknown }).alerts;
  return {
    body,
    alerts: Number.isInteger(alerts) && (alerts as number) >= 0 ? (alerts as number) : 0,
  };
}

/** The decision in a script's answer (`json`: the answer already parsed, when it was). */
export function decisionFrom(
  answer: unknown,
  json: unknown = typeof answer === "string" ? JSON.parse(answer) : answer,
): DecisionBody {
  throwIfConflict(json);
  const parsed = scriptDecisionParser.safeParse(json);
  if (!parsed.success) {
    const late = typeof answer === "string" && answer.includes('"late":true');
    throw new StateStoreError(
      late
        ? "Redis ran the decision past its deadline; nothing was written"
        : "decision script answered an unexpected shape",
    );
  }
  const { replayed, response } = parsed.data;
  return replayed ? { ...response, replayed: true } : response;
}

interface StateReads {
  decision: DecisionBody | null;
  universe: string | null;
  backoffUntilMs: number;
  timeOffsetMs: number;
  /** Valid market caches of the plan's symbol and the symbols open at the last evaluation. */
  markets: Map<string, MarketCache>;
  entries: Map<string, EntryRecord>;
  /** Cached step sizes (the close legs' quantities) of those same symbols. */
  stepSizes: Map<string, string>;
  /** The trading state's BLOCK (REDUCING / HALTED), unless a rotation of this plan waits. */
  tradingBlock: typeof REASONS.reducing | typeof REASONS.halted | null;
}

/** A script found this plan_id used by another plan: refuse (HTTP 409), grant nothing. */
function throwIfConflict(json: unknown): void {
  if (typeof json === "object" && json !== null && "conflict" in json) {
    throw new PlanConflictError("this plan_id was already used for a different plan");
  }
}

/** Request 1: everything the gates need from Redis, in one script that writes nothing. */
async function readState(plan: Plan, deps: EvaluationDeps): Promise<StateReads> {
  const { keys, config } = deps;
  const marketPrefix = keys.marketCache("", config.regime.interval);
  const offer = offerMarkets(marketPrefix, plan.symbol, deps.now());
  const universeOffer = heldUniverse();
  const answer = await runScript(
    deps.redis,
    SCRIPTS.readState,
    [
      ...scriptKeys(keys),
      keys.binanceBackoff,
      keys.binanceTimeOffset,
      keys.openSymbols,
      keys.stepSizes,
    ],
    {
      ...scriptContext(deps),
      plan_id: plan.plan_id,
      symbol: plan.symbol,
      fingerprint: planFingerprint(plan),
      market_prefix: marketPrefix,
      market_digests: offeredDigests(offer),
      universe_digest: universeOffer?.digest,
    },
  ).catch((error: unknown) => {
    noteFailure("redis");
    return stateStoreFailure(error);
  });
  const json: unknown = typeof answer === "string" ? JSON.parse(answer) : answer;
  throwIfConflict(json);
  const parsed = readStateParser.safeParse(json);
  if (!parsed.success) throw new StateStoreError("state read answered an unexpected shape");
  const state = parsed.data;
  // The universe: the offered text when the script found it current, else the one it sent.
  const universe = state.universe_held ? universeOffer?.raw : (state.universe ?? null);
  if (universe === undefined) {
    throw new StateStoreError("state read answered a universe it was not offered");
  }
  if (state.universe !== undefined && state.universe_digest !== undefined) {
    holdUniverse(state.universe, state.universe_digest);
  }
  const markets = takeMarkets(
    marketPrefix,
    {
      markets: recordOf(state.markets),
      digests: recordOf(state.market_digests),
      held: Object.keys(recordOf(state.markets_held)),
    },
    offer,
    deps.now(),
  );
  return {
    decision: state.decision
      ? decisionFrom({ replayed: false, response: JSON.parse(state.decision) })
      : null,
    universe,
    backoffUntilMs: Number(state.backoff_until) || 0,
    timeOffsetMs: Number(state.time_offset) || 0,
    markets,
    entries: parseEntries(state.entries),
    stepSizes: new Map(Object.entries(state.step_sizes)),
    tradingBlock: state.trading_block ?? null,
  };
}

/** cjson answers an empty table as `[]` or `{}`: a record either way. */
function recordOf<V>(value: Record<string, V> | never[]): Record<string, V> {
  return Array.isArray(value) ? {} : value;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** What happened to a rotation lock in this decision, for operators' logs. */
function lockEvent(body: DecisionBody): string | undefined {
  if (body.reason === REASONS.rotationComplete) return "confirmed";
  if (body.reason === REASONS.rotationTimeout) return "timeout";
  if (body.reason === REASONS.waitingRotationClose && body.rotation) {
    return body.rotation.lock_age === 0 && !body.replayed ? "created" : "waiting";
  }
  return undefined;
}

/** One structured log line per decision (docs/contract.md §10). */
function logDecision(
  plan: Plan,
  evaluation: Evaluation,
  deps: Pick<EvaluationDeps, "config" | "requestId">,
  weakest: SlotStep["victims"][number] | undefined,
): void {
  const { body } = evaluation;
  console.log(
    JSON.stringify({
      msg: "governor.decision",
      request_id: deps.requestId,
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
      weakest: weakest && {
        symbol: weakest.symbol,
        weakness: weakest.weakness,
        pnl_pct: weakest.pnl_pct,
      },
      lock: lockEvent(body),
      close_symbol: body.rotation?.close_symbol,
      lock_age: body.rotation?.lock_age,
      shadow: deps.config.mode === "shadow",
      latency_ms: evaluation.latencyMs,
    }),
  );
}
