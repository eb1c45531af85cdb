/**
 * Randomized interleavings (fast-check), run inside workerd against the real
 * Redis (through the REST bridge) and the Binance simulator.
 *
 * Each sequence starts from a random world (regime, open positions, the
 * governor's entry records, a pool of plans) and runs 3–8 random steps:
 *  - eval:    K concurrent evaluations (distinct or repeated plan ids);
 *  - hold:    an evaluation that takes its snapshot now (Redis reads, Binance
 *             account and klines, gates) and pauses right before its atomic
 *             slot script, which runs only at a later `release` step — a
 *             deterministic stand-in for a slow evaluation racing the others
 *             (its script context, `now_ms` included, is built at hold time);
 *  - sweep:   the cron sweep;
 *  - confirm: an Apply Layer result for an outstanding close plan
 *             (executed=true closes the position first; executed=false), or a
 *             late one for a rotation already resolved; or a misbehaving one:
 *             naming the wrong symbol, a partial close (the position stays
 *             open), or a redelivery of an earlier result;
 *  - reprop:  the Apply Layer proposes a plan's symbol again under a fresh
 *             plan_id (a retry after a "waiting" answer);
 *  - reuse:   a used plan_id comes back with another symbol (409, or a fresh
 *             evaluation when nothing final is stored for it);
 *  - policy:  an operator removes a symbol from the universe, or restores it;
 *  - margin:  the account's margin use jumps over the cap, or falls back;
 *  - state:   an operator sets the trading state (ACTIVE, REDUCING, HALTED);
 *  - open:    the Apply Layer opens the position of an ALLOWed plan while its
 *             permit is valid (ALLOWs whose permit lapsed never open);
 *  - close:   a position closes on its own (stop-loss, manual);
 *  - regime:  at the next candle close every symbol's market switches preset
 *             (closed candles never change, so a regime can only change when
 *             a candle closes: the clock moves there, and every regime cache
 *             fetched before it expires, including one a paused evaluation
 *             writes late);
 *  - jump:    the clock moves 0–200 s.
 * After every step the model-free checker (./invariants.ts) judges the state.
 * At the end, paused evaluations are released and a sweep runs at clock +
 * TTL + 1 s: every lock must then be complete or timed out.
 *
 * Time: the governor runs on the test's clock (`now: () => clock`), and the
 * exchange simulator is kept on the same clock (`PUT /__sim/clock {skew_ms}`),
 * so signed requests are never "ahead of the server" (-1021) and the klines'
 * open candle moves with the governor's clock, as it would in production.
 *
 * Plan ids come in pairs sharing their first 8 characters, so rotation close
 * plan ids (`rot_{8 chars}_{symbol}`) collide across plans, as the spec allows.
 *
 * Runs: 1,000 random sequences by default (`npm test`), after the minimal
 * counterexamples found so far (deterministic regressions); the soak config
 * (test/soak/vitest.config.ts) provides `interleavingRuns` (10,000) and
 * collects a census of violation kinds instead of stopping at the first.
 * A summary line is printed at the end.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import type { Redis } from "@upstash/redis/cloudflare";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { redis, sim } from "./helpers.ts";
import { governorContext } from "../../lib/context.ts";
import { evaluatePlan } from "../../lib/evaluate/evaluate.ts";
import { sweepLocks } from "../../lib/sweep/sweep.ts";
import { PlanConflictError } from "../../lib/errors.ts";
import { changeTradingState, type TradingStateName } from "../../lib/operators/trading-state.ts";
import { scriptSha } from "../../lib/redis/scripts.ts";
import { closePlanId } from "../../lib/rotation/close-plan-id.ts";
import { SCRIPTS } from "../../lib/rotation/scripts.ts";
import { toHash, toStreamEntries } from "../../lib/redis/replies.ts";
import type { Plan } from "../../lib/plans/schema.ts";
import { redisKeys } from "../../lib/keys.ts";
import {
  countersAgree,
  formatViolations,
  holdersOf,
  InvariantChecker,
  RESOLUTIONS,
  type Violation,
  type WorldSnapshot,
} from "./invariants.ts";

declare module "vitest" {
  interface ProvidedContext {
    /** Number of interleaving sequences (the soak config raises it). */
    interleavingRuns?: number;
    /** fast-check seed to replay a reported failure. */
    interleavingSeed?: number;
    /**
     * Keep going after a failing sequence and report a census of violation kinds
     * at the end (the soak), instead of stopping and shrinking the first one.
     */
    interleavingCollect?: boolean;
  }
}

const RUNS = inject("interleavingRuns") ?? 1_000;
const SEED = inject("interleavingSeed");
const COLLECT = inject("interleavingCollect") ?? false;

/** Violation kinds seen (collect mode): kind -> [count, first report]. */
const census = new Map<string, [number, string]>();

function kindOf(v: Violation): string {
  const reasons = [...v.message.matchAll(/\((active_slots_[a-z_]+)\)/g)].map((m) => m[1]);
  return [v.invariant, ...new Set(reasons)].join(" ");
}

const SYMBOLS = [
  "BTCUSDT",
  "ETHUSDT",
  "SOLUSDT",
  "XRPUSDT",
  "ADAUSDT",
  "BNBUSDT",
  "DOGEUSDT",
  "LTCUSDT",
] as const;
/** Pairs share their first 8 characters, so their close plan ids can collide. */
const PLAN_IDS = [
  "plan0000-a",
  "plan0000-b",
  "plan0001",
  "rotcand-7",
  "rotcand-8",
  "q1",
  "q2",
  "z",
] as const;
const PRESETS = ["BASE", "TREND_STRONG", "CHOP"] as const;
type Preset = (typeof PRESETS)[number];
const MAX_HELD = 3;

const gov = governorContext(env);
const keys = redisKeys(gov.config.keyPrefix);

const DESIRED: Record<Preset, number> = gov.config.slots;
const LOCK_TTL_MS = gov.config.ttl.lock * 1000;

// ---------------------------------------------------------------------------
// Generators

interface WorldSpec {
  preset: Preset;
  positions: { symbol: string; pnl: number; ageHours: number; score: number | null }[];
  plans: { symbol: number; score: number | null }[];
}

type Step =
  | { kind: "eval"; plans: number[] }
  | { kind: "hold"; plan: number }
  | { kind: "release"; which: number }
  | { kind: "sweep" }
  | {
      kind: "confirm";
      which: number;
      executed: boolean;
      late: boolean;
      /** A misbehaving Apply Layer (default: normal). */
      variant?: "normal" | "wrong_symbol" | "partial" | "redeliver";
    }
  | { kind: "reprop"; plan: number }
  | { kind: "reuse"; plan: number; symbol: number }
  | { kind: "policy"; exclude: number | null }
  | { kind: "margin"; tight: boolean }
  | { kind: "state"; to: TradingStateName }
  | { kind: "open"; which: number; all: boolean; pnl: number }
  | { kind: "close"; which: number }
  | { kind: "regime"; preset: Preset }
  | { kind: "jump"; seconds: number };

const planIndex = fc.integer({ min: 0, max: PLAN_IDS.length - 1 });
const score = fc.oneof(
  fc.constant(null),
  fc.integer({ min: 0, max: 12 }).map((x) => x / 10), // weak
  { weight: 2, arbitrary: fc.integer({ min: 20, max: 90 }).map((x) => x / 10) }, // strong
);

const positionArb = (symbol: string) =>
  fc.record({
    symbol: fc.constant(symbol),
    pnl: fc.integer({ min: -20, max: 20 }),
    ageHours: fc.integer({ min: 0, max: 30 }),
    score: fc.oneof(
      fc.constant(null),
      fc.integer({ min: 0, max: 50 }).map((x) => x / 10),
    ),
  });

/** Mostly worlds at or near full slots, where rotations happen. */
const worldArb: fc.Arbitrary<WorldSpec> = fc
  .constantFrom(...PRESETS)
  .chain((preset) =>
    fc.constantFrom(-2, -1, 0, 0, 0, 1).chain((offset) => {
      const n = Math.max(0, Math.min(SYMBOLS.length - 1, DESIRED[preset] + offset));
      return fc.tuple(
        fc.constant(preset),
        fc.shuffledSubarray([...SYMBOLS], { minLength: n, maxLength: n }),
      );
    }),
  )
  .chain(([preset, held]) => {
    // Plans mostly name symbols not held yet (candidates), some a held one.
    const free = SYMBOLS.map((_, i) => i).filter((i) => !held.includes(SYMBOLS[i]!));
    const planSymbol = fc.oneof(
      {
        weight: free.length > 0 ? 3 : 0,
        arbitrary: fc.constantFrom(...(free.length ? free : [0])),
      },
      fc.integer({ min: 0, max: SYMBOLS.length - 1 }),
    );
    return fc.record({
      preset: fc.constant(preset),
      positions: fc.tuple(...held.map(positionArb)),
      plans: fc.array(fc.record({ symbol: planSymbol, score }), {
        minLength: PLAN_IDS.length,
        maxLength: PLAN_IDS.length,
      }),
    });
  });

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("eval" as const),
      plans: fc.array(planIndex, { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("hold" as const), plan: planIndex }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("release" as const), which: fc.nat(MAX_HELD) }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "sweep" as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("confirm" as const),
      which: fc.nat(7),
      executed: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
      late: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, fc.constant(true)),
      variant: fc.oneof(
        { weight: 3, arbitrary: fc.constant("normal" as const) },
        fc.constantFrom("wrong_symbol" as const, "partial" as const, "redeliver" as const),
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("reprop" as const), plan: planIndex }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reuse" as const),
      plan: planIndex,
      symbol: fc.integer({ min: 0, max: SYMBOLS.length - 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("policy" as const),
      exclude: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: SYMBOLS.length - 1 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("margin" as const), tight: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("state" as const),
      to: fc.constantFrom("ACTIVE" as const, "REDUCING" as const, "HALTED" as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("open" as const),
      which: fc.nat(7),
      all: fc.boolean(),
      pnl: fc.integer({ min: -20, max: 20 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("close" as const), which: fc.nat(7) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("regime" as const),
      preset: fc.constantFrom(...PRESETS),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("jump" as const),
      seconds: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 0, max: 30 }) },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 200 }) },
      ),
    }),
  },
);

// ---------------------------------------------------------------------------
// Totals for the summary line

const totals = {
  sequences: 0,
  steps: 0,
  evaluations: 0,
  sweeps: 0,
  confirmations: 0,
  conflicts: 0,
  decisions: {} as Record<string, number>,
  locks: 0,
  completed: 0,
  timedOut: 0,
  reducingSteps: 0,
  maxHolders: 0,
  violations: 0,
  failingSequences: 0,
  ms: 0,
};

// ---------------------------------------------------------------------------
// The exchange simulator's state this file keeps in step with

const simPresets = new Map<string, Preset>();

async function resetSimulator(): Promise<void> {
  await sim("POST", "/__sim/reset");
  // The test plays the Apply Layer: confirmations come only from the steps.
  await sim("PUT", "/__sim/apply", { auto: false });
  simPresets.clear();
}

async function setPresets(preset: Preset): Promise<void> {
  await Promise.all(
    SYMBOLS.filter((s) => simPresets.get(s) !== preset).map(async (symbol) => {
      await sim("PUT", `/__sim/klines/${symbol}`, { preset });
      simPresets.set(symbol, preset);
    }),
  );
}

interface PositionRow {
  symbol: string;
  positionAmt: string;
  entryPrice: string;
  markPrice: string;
  unRealizedProfit: string;
  updateTime: number;
}

function positionRow(symbol: string, amt: number, pnl: number, updateTime: number): PositionRow {
  return {
    symbol,
    positionAmt: String(amt),
    entryPrice: "100",
    markPrice: String(100 + pnl / amt),
    unRealizedProfit: String(pnl),
    updateTime,
  };
}

/** An evaluation whose atomic slot script waits for `gate` (see `hold`). */
function pausingRedis(base: Redis, gate: Promise<void>, paused: () => void, slotsSha: string) {
  const pause = async (script: string) => {
    if (script === slotsSha || script === SCRIPTS.evaluateSlots.source) {
      paused();
      await gate;
    }
  };
  return new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === "evalsha" || prop === "eval") {
        return async (script: string, scriptKeys: string[], args: unknown[]) => {
          await pause(script);
          return target[prop](script, scriptKeys, args);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

// ---------------------------------------------------------------------------
// One sequence

interface Held {
  plan: number;
  desired: number;
  release: () => void;
  done: Promise<unknown>;
}

const CANDLE_MS = 3_600_000;

class Sequence {
  // 90 s before a candle closes, so the first regime change is a short jump
  // (rotations in flight survive it); later ones jump to the next close.
  clock = Math.ceil(Date.now() / CANDLE_MS) * CANDLE_MS - 90_000;
  preset: Preset;
  readonly checker = new InvariantChecker();
  readonly positions = new Map<string, PositionRow>();
  readonly held: Held[] = [];
  /** Plans whose ALLOW the Apply Layer has handled (opened, or the permit lapsed). */
  readonly handled = new Set<string>();
  readonly log: string[] = [];
  last: WorldSnapshot | null = null;
  /** Symbol the operator removed from the universe (null: the whole list). */
  excluded: string | null = null;
  /** The account's margin use is over the cap. */
  marginTight = false;
  /** The trading state an operator set. */
  tradingState: TradingStateName = "ACTIVE";
  /** Plans whose evaluation finished in this step on a snapshot taken earlier (a release). */
  stale = new Set<string>();
  private fresh = 0;
  private syncedClock = Number.NaN;
  private syncedAt = 0;
  private stepNo = 0;

  readonly world: WorldSpec;
  readonly slotsSha: string;

  constructor(world: WorldSpec, slotsSha: string) {
    // A copy: a `reuse` step changes a plan, and fast-check replays the original when shrinking.
    this.world = structuredClone(world);
    this.slotsSha = slotsSha;
    this.preset = world.preset;
  }

  plan(i: number): Plan {
    const spec = this.world.plans[i]!;
    return {
      plan_id: PLAN_IDS[i]!,
      symbol: SYMBOLS[spec.symbol]!,
      action: "OPEN",
      decision: "EXECUTE",
      ...(spec.score === null ? {} : { score: spec.score }),
    };
  }

  deps(redisClient: Redis = gov.redis) {
    return { ...gov, redis: redisClient, now: () => this.clock };
  }

  /** Keep the simulator's clock on the governor's (it drifts with real time between syncs). */
  async syncClock(): Promise<void> {
    if (this.syncedClock === this.clock && Date.now() - this.syncedAt < 1000) return;
    await sim("PUT", "/__sim/clock", { skew_ms: this.clock - Date.now() });
    this.syncedClock = this.clock;
    this.syncedAt = Date.now();
  }

  async putPositions(): Promise<void> {
    await sim("PUT", "/__sim/positions", [...this.positions.values()]);
  }

  async setup(): Promise<void> {
    await redis.flushall();
    await this.syncClock();
    await setPresets(this.preset);
    for (const p of this.world.positions) {
      this.positions.set(
        p.symbol,
        positionRow(p.symbol, 1, p.pnl, this.clock - p.ageHours * 3_600_000),
      );
    }
    await this.putPositions();
    const pipeline = redis.pipeline();
    pipeline.hset(keys.policy, { universe_symbols: JSON.stringify(SYMBOLS) });
    for (const p of this.world.positions) {
      if (p.score === null) continue;
      pipeline.hset(keys.entries, {
        [p.symbol]: JSON.stringify({
          plan_id: `seed-${p.symbol}`,
          score: p.score,
          at: Math.floor(this.clock / 1000) - p.ageHours * 3600,
        }),
      });
    }
    await pipeline.exec();
    await sim("PUT", "/__sim/account", { totalInitialMargin: null, totalMarginBalance: null });
    await this.check("setup");
  }

  async evaluate(i: number | Plan, redisClient?: Redis): Promise<"conflict" | "replayed" | void> {
    totals.evaluations += 1;
    const plan = typeof i === "number" ? this.plan(i) : i;
    try {
      const { body } = await evaluatePlan(plan, this.deps(redisClient));
      const key = `${body.decision}${body.reason ? ` ${body.reason}` : ""}${body.replayed ? " (replayed)" : ""}`;
      totals.decisions[key] = (totals.decisions[key] ?? 0) + 1;
      if (body.replayed) return "replayed";
    } catch (error) {
      if (error instanceof PlanConflictError) {
        totals.conflicts += 1;
        return "conflict";
      }
      // A paused evaluation may outlive its script deadline (real time): the script
      // then writes nothing and the evaluation fails closed, as designed.
      if (redisClient && /deadline/.test(String(error))) {
        totals.decisions["late script (nothing written)"] =
          (totals.decisions["late script (nothing written)"] ?? 0) + 1;
        return;
      }
      // No dependency fault is injected: an evaluation must not fail.
      this.checker.violations.push({
        invariant: "E no evaluation error",
        step: this.stepNo,
        label: `evaluate ${plan.plan_id}`,
        message: `evaluation threw: ${String(error)}`,
      });
    }
  }

  async readWorld(): Promise<WorldSnapshot> {
    const pipeline = redis.pipeline();
    pipeline.xrange(keys.eventsStream, "-", "+");
    pipeline.xrange(keys.applyPlanStream, "-", "+");
    pipeline.xrange(keys.applyResultStream, "-", "+");
    pipeline.hgetall(keys.reservations);
    pipeline.hgetall(keys.claims);
    const [[events, plans, results, reservations, claims], rows] = await Promise.all([
      pipeline.exec() as Promise<unknown[]>,
      sim("GET", "/__sim/positions") as Promise<PositionRow[]>,
    ]);
    return {
      clockMs: this.clock,
      events: toStreamEntries(events),
      applyPlans: toStreamEntries(plans),
      applyResults: toStreamEntries(results),
      reservations: toHash(reservations),
      claims: toHash(claims),
      openSymbols: [
        ...new Set(rows.filter((r) => Math.abs(Number(r.positionAmt)) > 1e-8).map((r) => r.symbol)),
      ],
    };
  }

  async check(label: string, allowance?: number, final = false): Promise<Violation[]> {
    this.last = await this.readWorld();
    this.log.push(label);
    const found = this.checker.observe(this.last, {
      label,
      desired: DESIRED[this.preset],
      allowance,
      final,
      excluded: this.excluded,
      marginTight: this.marginTight,
      tradingState: this.tradingState,
      stale: this.stale,
    });
    this.stale = new Set();
    totals.maxHolders = Math.max(totals.maxHolders, holdersOf(this.last).size);
    return found;
  }

  /** Close plans from apply.plan, split by whether their rotation is still unresolved. */
  closePlans(): { live: Record<string, string>[]; resolved: Record<string, string>[] } {
    const snapshot = this.last!;
    const resolved = new Set(
      snapshot.events
        .filter((e) => RESOLUTIONS.includes(e.fields.event ?? ""))
        .map((e) => `${e.fields.new_plan_id}|${e.fields.close_plan_id}`),
    );
    const all = snapshot.applyPlans
      .filter((p) => p.fields.rotation_trigger === "true")
      .map((p) => p.fields);
    const isResolved = (p: Record<string, string>) => resolved.has(`${p.new_plan_id}|${p.plan_id}`);
    return { live: all.filter((p) => !isResolved(p)), resolved: all.filter(isResolved) };
  }

  async run(step: Step): Promise<void> {
    this.stepNo += 1;
    totals.steps += 1;
    await this.syncClock();
    let allowance: number | undefined;
    let label: string = step.kind;
    switch (step.kind) {
      case "eval": {
        label = `eval [${step.plans.map((i) => PLAN_IDS[i]).join(", ")}]`;
        await Promise.all(step.plans.map((i) => this.evaluate(i)));
        break;
      }
      case "hold": {
        label = `hold ${PLAN_IDS[step.plan]}`;
        if (this.held.length >= MAX_HELD) {
          label += " (skipped: too many held)";
          break;
        }
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let paused!: () => void;
        const pausedAt = new Promise<void>((resolve) => (paused = resolve));
        const done = this.evaluate(step.plan, pausingRedis(gov.redis, gate, paused, this.slotsSha));
        await Promise.race([pausedAt, done]);
        this.held.push({ plan: step.plan, desired: DESIRED[this.preset], release, done });
        break;
      }
      case "release": {
        if (this.held.length === 0) {
          label = "release (none held)";
          break;
        }
        const [held] = this.held.splice(step.which % this.held.length, 1);
        label = `release ${PLAN_IDS[held!.plan]}`;
        this.stale.add(PLAN_IDS[held!.plan]!);
        held!.release();
        await held!.done;
        allowance = held!.desired;
        break;
      }
      case "sweep": {
        totals.sweeps += 1;
        await sweepLocks({ ...gov, now: () => this.clock });
        break;
      }
      case "confirm": {
        const { live, resolved } = this.closePlans();
        // The preferred kind, else the other: a step is rarely wasted.
        const late = step.late ? resolved.length > 0 : live.length === 0;
        const pool = late ? resolved : live;
        if (pool.length === 0) {
          label = "confirm (no close plan yet)";
          break;
        }
        const target = pool[step.which % pool.length]!;
        if (step.variant === "redeliver" && this.last!.applyResults.length > 0) {
          const earlier = this.last!.applyResults[step.which % this.last!.applyResults.length]!;
          label = `confirm: redelivered ${earlier.id} (${earlier.fields.plan_id})`;
          await redis.xadd(keys.applyResultStream, "*", earlier.fields);
          totals.confirmations += 1;
          break;
        }
        // A reduce-only close of a position that is no longer open is rejected by the exchange.
        const executed = step.executed && this.positions.has(target.symbol!);
        let symbol = target.symbol!;
        if (step.variant === "wrong_symbol") {
          symbol = SYMBOLS.find((s) => s !== target.symbol)!;
        } else if (executed && step.variant === "partial") {
          const row = this.positions.get(target.symbol!)!;
          this.positions.set(target.symbol!, {
            ...row,
            positionAmt: String(Number(row.positionAmt) / 2),
          });
          await this.putPositions();
        } else if (executed) {
          this.positions.delete(target.symbol!);
          await this.putPositions();
        }
        const variant = step.variant && step.variant !== "normal" ? ` (${step.variant})` : "";
        label = `confirm ${target.plan_id} executed=${executed}${late ? " (late)" : ""}${variant}`;
        await redis.xadd(keys.applyResultStream, "*", {
          plan_id: target.plan_id!,
          symbol,
          executed: String(executed),
          reduceOnly: "true",
          action: "FULL_CLOSE_PROPOSED",
          ts: String(this.clock),
        });
        totals.confirmations += 1;
        break;
      }
      case "reprop": {
        const plan = { ...this.plan(step.plan), plan_id: `fresh-${++this.fresh}`, score: 3.5 };
        label = `reprop ${plan.plan_id}=${plan.symbol}`;
        await this.evaluate(plan);
        break;
      }
      case "reuse": {
        const plan = { ...this.plan(step.plan), symbol: SYMBOLS[step.symbol]! };
        const outcome = await this.evaluate(plan);
        label = `reuse ${plan.plan_id} for ${plan.symbol}${outcome === "conflict" ? " (409)" : ""}`;
        if (outcome === "replayed" && plan.symbol !== this.plan(step.plan).symbol) {
          this.checker.violations.push({
            invariant: "I10 replay only for the same plan",
            step: this.stepNo,
            label,
            message: `plan_id ${plan.plan_id} reused for ${plan.symbol} got a replayed answer`,
          });
        }
        // Nothing final was stored under the id: the upstream's plan is now this one.
        if (outcome !== "conflict") this.world.plans[step.plan]!.symbol = step.symbol;
        break;
      }
      case "policy": {
        this.excluded = step.exclude === null ? null : SYMBOLS[step.exclude]!;
        label = `policy: ${this.excluded ? `without ${this.excluded}` : "every symbol"}`;
        await redis.hset(keys.policy, {
          universe_symbols: JSON.stringify(SYMBOLS.filter((s) => s !== this.excluded)),
        });
        break;
      }
      case "margin": {
        this.marginTight = step.tight;
        label = `margin ${step.tight ? "over the cap" : "back under it"}`;
        await sim(
          "PUT",
          "/__sim/account",
          step.tight
            ? { totalInitialMargin: "9000", totalMarginBalance: "10000" }
            : { totalInitialMargin: null, totalMarginBalance: null },
        );
        break;
      }
      case "state": {
        label = `state ${this.tradingState} -> ${step.to}`;
        this.tradingState = step.to;
        await changeTradingState(this.deps(), { state: step.to, reason: "model", actor: "model" });
        break;
      }
      case "open": {
        const allowed = this.last!.events.filter(
          (e) => e.fields.event === "PLAN_ALLOWED" && !this.handled.has(e.fields.plan_id!),
        );
        const chosen = step.all
          ? allowed
          : allowed.length > 0
            ? [allowed[step.which % allowed.length]!]
            : [];
        const opened: string[] = [];
        for (const e of chosen) {
          const planId = e.fields.plan_id!;
          const symbol = e.fields.symbol!;
          this.handled.add(planId);
          // The Apply Layer honours the permit's expiry.
          const raw = (await redis.get(keys.permit(planId))) as string | null;
          const expiresAt = raw
            ? Number((JSON.parse(raw) as { expires_at: number }).expires_at)
            : 0;
          if (!(this.clock / 1000 < expiresAt)) {
            opened.push(`${planId}/${symbol} (permit lapsed)`);
            continue;
          }
          const existing = this.positions.get(symbol);
          this.positions.set(
            symbol,
            existing
              ? { ...existing, positionAmt: String(Number(existing.positionAmt) + 1) }
              : positionRow(symbol, 1, step.pnl, this.clock),
          );
          opened.push(`${planId}/${symbol}`);
        }
        if (opened.length > 0) await this.putPositions();
        label = `open [${opened.join(", ")}]`;
        break;
      }
      case "close": {
        const open = [...this.positions.keys()];
        if (open.length === 0) {
          label = "close (none open)";
          break;
        }
        const symbol = open[step.which % open.length]!;
        this.positions.delete(symbol);
        await this.putPositions();
        label = `close ${symbol} (stop-loss)`;
        break;
      }
      case "regime": {
        label = `regime ${this.preset} -> ${step.preset}`;
        this.preset = step.preset;
        this.clock = Math.floor(this.clock / CANDLE_MS) * CANDLE_MS + CANDLE_MS + 1000;
        await this.syncClock();
        await setPresets(step.preset);
        break;
      }
      case "jump": {
        label = `jump +${step.seconds}s`;
        this.clock += step.seconds * 1000;
        await this.syncClock();
        break;
      }
    }
    await this.check(label, allowance);
  }

  /** Release what is still paused, then sweep past every lock's TTL. */
  async finish(): Promise<void> {
    while (this.held.length > 0) await this.run({ kind: "release", which: 0 });
    this.clock += LOCK_TTL_MS + 1000;
    await this.syncClock();
    totals.sweeps += 1;
    await sweepLocks({ ...gov, now: () => this.clock });
    await this.check(`final sweep at +${LOCK_TTL_MS / 1000 + 1}s`, undefined, true);
    const disagreement = countersAgree(
      toHash(await redis.hgetall(keys.metrics)),
      this.last!.events,
    );
    if (disagreement) {
      this.checker.violations.push({
        invariant: "I12 counters agree with the events",
        step: this.stepNo,
        label: "final",
        message: disagreement,
      });
    }
    const events = this.last!.events.map((e) => e.fields.event);
    totals.locks += events.filter((e) => e === "ROTATION_LOCK_CREATED").length;
    totals.completed += events.filter((e) => e === "ROTATION_COMPLETE").length;
    totals.timedOut += events.filter((e) => e === "ROTATION_TIMEOUT").length;
    totals.reducingSteps += this.checker.reducingSteps;
  }
}

function describeWorld(world: WorldSpec): string {
  const positions = world.positions
    .map((p) => `${p.symbol}(pnl ${p.pnl}, ${p.ageHours}h, score ${p.score})`)
    .join(" ");
  const plans = world.plans
    .map((p, i) => `${PLAN_IDS[i]}=${SYMBOLS[p.symbol]}/score ${p.score}`)
    .join(" ");
  return `regime ${world.preset}; positions: ${positions || "none"}; plans: ${plans}`;
}

/** Run one sequence; returns its violations with the world and the steps taken. */
async function runSequence(
  world: WorldSpec,
  steps: readonly Step[],
  slotsSha: string,
): Promise<{ violations: Violation[]; report: string }> {
  // Keep the simulator's request log from growing without bound.
  if (totals.sequences > 0 && totals.sequences % 200 === 0) await resetSimulator();
  totals.sequences += 1;
  const sequence = new Sequence(world, slotsSha);
  await sequence.setup();
  for (const step of steps) await sequence.run(step);
  await sequence.finish();
  const { violations } = sequence.checker;
  if (violations.length > 0) {
    totals.violations += violations.length;
    totals.failingSequences += 1;
  }
  return {
    violations,
    report: `${formatViolations(violations)}\nworld: ${describeWorld(world)}\nsteps: ${sequence.log.join(" | ")}`,
  };
}

type PlanId = (typeof PLAN_IDS)[number];
type Sym = (typeof SYMBOLS)[number];

/** A hand-written world: positions [symbol, pnl], plans by id (others: BTCUSDT, no score). */
function worldOf(
  preset: Preset,
  positions: [Sym, number][],
  plans: Partial<Record<PlanId, [Sym, number | null]>>,
): WorldSpec {
  return {
    preset,
    positions: positions.map(([symbol, pnl]) => ({ symbol, pnl, ageHours: 0, score: null })),
    plans: PLAN_IDS.map((id) => {
      const [symbol, planScore] = plans[id] ?? ["BTCUSDT", null];
      return { symbol: SYMBOLS.indexOf(symbol), score: planScore };
    }),
  };
}

const planNo = (id: PlanId) => PLAN_IDS.indexOf(id);
const symbolNo = (symbol: Sym) => SYMBOLS.indexOf(symbol);

/**
 * Minimal counterexamples found by the property below (hand-reduced from
 * fast-check's shrunk cases), kept as deterministic regression tests.
 */
const COUNTEREXAMPLES: { name: string; world: WorldSpec; steps: Step[] }[] = [
  {
    name: "re-proposals of the incoming symbol under fresh plan ids each started a rotation",
    // BASE (4), full. BTC's plan starts a rotation; the Apply Layer retries BTC under new
    // ids: each retry rotated out another position, and BTC got a permit per rotation.
    world: worldOf(
      "BASE",
      [
        ["ETHUSDT", 0],
        ["SOLUSDT", -10],
        ["XRPUSDT", 0],
        ["ADAUSDT", 0],
      ],
      { "rotcand-7": ["BTCUSDT", 2] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "reprop", plan: planNo("rotcand-7") },
      { kind: "reprop", plan: planNo("rotcand-7") },
    ],
  },
  {
    name: "a partial close reported as executed freed the slot while the victim was still open",
    world: worldOf(
      "BASE",
      [
        ["ETHUSDT", 0],
        ["SOLUSDT", -10],
        ["XRPUSDT", 0],
        ["ADAUSDT", 0],
      ],
      { "rotcand-7": ["BTCUSDT", 2] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "confirm", which: 0, executed: true, late: false, variant: "partial" },
      { kind: "sweep" },
      { kind: "eval", plans: [planNo("rotcand-7")] },
    ],
  },
  {
    name: "a rotation confirmed after its symbol left the universe was granted by the sweep",
    world: worldOf(
      "BASE",
      [
        ["ETHUSDT", 0],
        ["SOLUSDT", -10],
        ["XRPUSDT", 0],
        ["ADAUSDT", 0],
      ],
      { "rotcand-7": ["BTCUSDT", 2] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "policy", exclude: symbolNo("BTCUSDT") },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "sweep" },
    ],
  },
  {
    name: "a rotation confirmed while margin use was over the cap was granted by the sweep",
    world: worldOf(
      "BASE",
      [
        ["ETHUSDT", 0],
        ["SOLUSDT", -10],
        ["XRPUSDT", 0],
        ["ADAUSDT", 0],
      ],
      { "rotcand-7": ["BTCUSDT", 2] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "margin", tight: true },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "sweep" },
    ],
  },
  {
    name: "a plan_id reused for another symbol replayed the first plan's ALLOW",
    world: worldOf("BASE", [["ETHUSDT", 0]], { q1: ["BTCUSDT", null] }),
    steps: [
      { kind: "eval", plans: [planNo("q1")] },
      { kind: "reuse", plan: planNo("q1"), symbol: symbolNo("DOGEUSDT") },
    ],
  },
  {
    name: "a stale positions snapshot after a reservation was dropped on visibility lets a 5th holder in",
    // BASE (4). XRP allowed (reservation). SOL's evaluation snapshots BTC,ETH and pauses.
    // XRP opens; ADA's evaluation sees XRP open, drops XRP's reservation, is allowed (4
    // holders). SOL's script then counts its stale BTC,ETH + ADA's reservation = 3 < 4: ALLOW.
    world: worldOf(
      "BASE",
      [
        ["BTCUSDT", 0],
        ["ETHUSDT", 0],
      ],
      {
        plan0001: ["XRPUSDT", 2],
        "plan0000-a": ["SOLUSDT", 0],
        z: ["ADAUSDT", 0],
      },
    ),
    steps: [
      { kind: "eval", plans: [planNo("plan0001")] },
      { kind: "hold", plan: planNo("plan0000-a") },
      { kind: "open", which: 0, all: true, pnl: 0 },
      { kind: "eval", plans: [planNo("z")] },
      { kind: "release", which: 0 },
    ],
  },
  {
    name: "a position with an outstanding symbol_holds_slot permit is rotated out, then reopened by that permit",
    // BASE (4), full. An entry on ADA is allowed (ADA holds a slot: no reservation). A
    // rotation picks ADA (weakest) as its victim; ADA is closed and confirmed; the Apply
    // Layer then executes the ADA permit (still valid): ADA reopens without a slot, and the
    // rotation completes: 5 holders.
    world: worldOf(
      "BASE",
      [
        ["ADAUSDT", -10],
        ["BNBUSDT", 0],
        ["LTCUSDT", 0],
        ["ETHUSDT", 0],
      ],
      { plan0001: ["ADAUSDT", 0], "plan0000-a": ["BTCUSDT", 2] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("plan0001")] },
      { kind: "eval", plans: [planNo("plan0000-a")] },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "open", which: 0, all: true, pnl: 0 },
      { kind: "eval", plans: [planNo("plan0000-a")] },
    ],
  },
  {
    name: "an entry on the symbol being rotated out shares the claim's slot, so completion adds a holder",
    // CHOP (3), full. BTC's rotation claims ETH (weakest); ETH is closed and confirmed; BNB
    // stops out. Holders: SOL + ETH (claim) = 2. An entry on ETH is allowed (the claim
    // already counts ETH, so its reservation adds nothing), XRP takes the "free" slot, and
    // the sweep completes BTC's rotation: SOL, ETH, XRP, BTC = 4 > 3.
    world: worldOf(
      "CHOP",
      [
        ["BNBUSDT", 0],
        ["ETHUSDT", -10],
        ["SOLUSDT", 0],
      ],
      { "plan0000-b": ["BTCUSDT", 2], "plan0000-a": ["ETHUSDT", null], q1: ["XRPUSDT", null] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("plan0000-b")] },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "close", which: 0 },
      { kind: "eval", plans: [planNo("plan0000-a")] },
      { kind: "eval", plans: [planNo("q1")] },
      { kind: "sweep" },
    ],
  },
  {
    name: "a rotation in flight completes after the regime tightened (holders > desired)",
    // TREND_STRONG (6), 5 held; SOL takes the 6th slot; BTC's rotation claims BNB
    // (weakest); the regime tightens to BASE (4); BNB's close is confirmed and the sweep
    // completes the rotation: a new entry while 6 > 4 ("entries wait until positions close").
    world: worldOf(
      "TREND_STRONG",
      [
        ["DOGEUSDT", 0],
        ["BNBUSDT", -10],
        ["LTCUSDT", 0],
        ["ETHUSDT", 0],
        ["ADAUSDT", 0],
      ],
      { "plan0000-a": ["SOLUSDT", null], "rotcand-7": ["BTCUSDT", 2] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("plan0000-a")] },
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "regime", preset: "BASE" },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "sweep" },
    ],
  },
  {
    name: "a stale snapshot still showing a stopped-out position grants symbol_holds_slot while over capacity",
    // TREND_STRONG -> BASE with 7 held (reducing). SOL's entry snapshots SOL open and
    // pauses; SOL stops out; the paused script answers ALLOW symbol_holds_slot from the
    // stale view: a permit to open SOL (no longer holding a slot) while 7 > 4.
    world: worldOf(
      "TREND_STRONG",
      [
        ["ETHUSDT", 0],
        ["LTCUSDT", 0],
        ["SOLUSDT", 0],
        ["BNBUSDT", 0],
        ["ADAUSDT", 0],
        ["DOGEUSDT", 0],
        ["XRPUSDT", 0],
      ],
      { plan0001: ["SOLUSDT", 0] },
    ),
    steps: [
      { kind: "regime", preset: "BASE" },
      { kind: "hold", plan: planNo("plan0001") },
      { kind: "close", which: 2 },
      { kind: "release", which: 0 },
    ],
  },
  {
    name: "a halt while an evaluation is paused before its slot step (its gates already passed)",
    world: worldOf("BASE", [["ETHUSDT", 0]], { plan0001: ["XRPUSDT", 2], q1: ["ETHUSDT", null] }),
    steps: [
      { kind: "hold", plan: planNo("plan0001") },
      { kind: "hold", plan: planNo("q1") },
      { kind: "state", to: "HALTED" },
      { kind: "release", which: 0 },
      { kind: "release", which: 0 },
    ],
  },
  {
    name: "a rotation confirmed while REDUCING completes without its entry, and a resume lets the plan in",
    world: worldOf(
      "BASE",
      [
        ["ETHUSDT", 0],
        ["SOLUSDT", -10],
        ["XRPUSDT", 0],
        ["ADAUSDT", 0],
      ],
      { "rotcand-7": ["BTCUSDT", 2] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "state", to: "REDUCING" },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "sweep" },
      { kind: "state", to: "ACTIVE" },
      { kind: "eval", plans: [planNo("rotcand-7")] },
    ],
  },
];

// ---------------------------------------------------------------------------

describe("randomized interleavings of evaluations, sweeps, confirmations, regime changes and clock jumps", () => {
  let slotsSha = "";

  beforeAll(async () => {
    slotsSha = await scriptSha(SCRIPTS.evaluateSlots);
    await resetSimulator();
  });

  afterAll(async () => {
    console.log(
      `interleavings summary: ${JSON.stringify({
        sequences: totals.sequences,
        steps: totals.steps,
        evaluations: totals.evaluations,
        sweeps: totals.sweeps,
        confirmations: totals.confirmations,
        conflicts: totals.conflicts,
        locks: totals.locks,
        completed: totals.completed,
        timed_out: totals.timedOut,
        reducing_steps: totals.reducingSteps,
        max_holders: totals.maxHolders,
        violations: totals.violations,
        failing_sequences: totals.failingSequences,
        seconds: Math.round(totals.ms / 100) / 10,
        decisions: totals.decisions,
      })}`,
    );
    await sim("PUT", "/__sim/clock", { skew_ms: 0 });
  });

  describe("counterexamples found by the property (regressions)", () => {
    for (const example of COUNTEREXAMPLES) {
      it(example.name, async () => {
        const started = Date.now();
        const { violations, report } = await runSequence(example.world, example.steps, slotsSha);
        totals.ms += Date.now() - started;
        expect(violations, report).toEqual([]);
      });
    }
  });

  it(
    `holds every invariant after every step (${RUNS} random sequences)`,
    async () => {
      const started = Date.now();
      try {
        await fc.assert(
          fc.asyncProperty(
            worldArb,
            fc.array(stepArb, { minLength: 3, maxLength: 8 }),
            async (world, steps) => {
              const { violations, report } = await runSequence(world, steps, slotsSha);
              if (violations.length === 0) return;
              if (!COLLECT) throw new Error(report);
              for (const kind of new Set(violations.map(kindOf))) {
                const seen = census.get(kind);
                census.set(kind, [(seen?.[0] ?? 0) + 1, seen?.[1] ?? report]);
              }
            },
          ),
          { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
        );
      } finally {
        totals.ms += Date.now() - started;
      }
      if (census.size > 0) {
        const lines = [...census].map(
          ([kind, [n, first]]) => `${n} sequence(s): ${kind}\nfirst:\n${first}`,
        );
        console.log(`interleavings census:\n${lines.join("\n\n")}`);
      }
      expect([...census.keys()], "violation kinds (see the census above)").toEqual([]);
    },
    RUNS * 1_000 + 120_000,
  );
});

describe("the invariant checker itself", () => {
  const entry = (id: string, fields: Record<string, string>) => ({ id, fields });
  const lock = (id: string, plan: string, close: string) =>
    entry(id, {
      event: "ROTATION_LOCK_CREATED",
      new_plan_id: plan,
      new_symbol: "BTCUSDT",
      close_symbol: close,
      close_plan_id: closePlanId(plan, close),
    });
  const closePlan = (id: string, plan: string, close: string) =>
    entry(id, {
      plan_id: closePlanId(plan, close),
      symbol: close,
      rotation_trigger: "true",
      new_plan_id: plan,
    });
  const base: WorldSnapshot = {
    clockMs: 1_000_000,
    events: [],
    applyPlans: [],
    applyResults: [],
    reservations: {},
    claims: {},
    openSymbols: [],
  };
  const names = (checker: InvariantChecker) => checker.violations.map((v) => v.invariant);

  it("I12: reports counters that disagree with the events", () => {
    const events = [
      lock("1-0", "p1", "SOLUSDT"),
      entry("2-0", { event: "PLAN_BLOCKED", plan_id: "p1", reason: "x" }),
      entry("3-0", { event: "ROTATION_COMPLETE", granted: "true" }),
    ];
    const agreeing = {
      "decisions|BLOCK|x": "1",
      "rotations|started": "1",
      "rotations|completed": "1",
    };
    expect(countersAgree(agreeing, events)).toBeNull();
    expect(countersAgree({ ...agreeing, "rotations|completed": "0" }, events)).toBe(
      "rotations completed: counted 0, events 1",
    );
    expect(countersAgree({ ...agreeing, "decisions|ALLOW|y": "1" }, events)).toBe(
      "ALLOW decisions: counted 1, events 0",
    );
  });
  it("flags holders above desired after a new entry, not in the reducing state", () => {
    const checker = new InvariantChecker();
    checker.observe(
      { ...base, openSymbols: ["A", "B", "C", "D", "E"] },
      { label: "s", desired: 4 },
    );
    expect(names(checker)).toEqual([]); // reducing: no entry let in
    checker.observe(
      {
        ...base,
        openSymbols: ["A", "B", "C", "D", "E"],
        reservations: { F: JSON.stringify({ expires_at_ms: 2_000_000 }) },
        events: [entry("5-0", { event: "PLAN_ALLOWED", plan_id: "p", symbol: "F" })],
      },
      { label: "s", desired: 4 },
    );
    expect(names(checker)).toEqual(["I1 holders <= desired"]);
  });

  it("flags two unresolved rotations of one symbol and a close plan without a lock", () => {
    const checker = new InvariantChecker();
    checker.observe(
      {
        ...base,
        events: [lock("1-0", "p1", "SOL"), lock("2-0", "p2", "SOL")],
        applyPlans: [
          closePlan("1-0", "p1", "SOL"),
          closePlan("2-0", "p2", "SOL"),
          closePlan("3-0", "p3", "ETH"),
        ],
      },
      { label: "s", desired: 4 },
    );
    expect(names(checker)).toEqual([
      "I2 one close plan per position per rotation",
      "I2 one close plan per position per rotation",
      "I7 one live rotation per incoming symbol",
    ]);
  });

  it("flags an ALLOW outside the universe or over the margin cap, and a completion while the victim is open", () => {
    const checker = new InvariantChecker();
    checker.observe(
      {
        ...base,
        openSymbols: ["SOL"],
        events: [
          entry("1-0", { event: "PLAN_ALLOWED", plan_id: "p1", symbol: "XRP", reason: "r" }),
          entry("2-0", { event: "PLAN_ALLOWED", plan_id: "p2", symbol: "ADA", reason: "r" }),
          entry("3-0", { event: "ROTATION_COMPLETE", new_plan_id: "p3", close_symbol: "SOL" }),
        ],
      },
      { label: "s", desired: 4, excluded: "XRP", marginTight: true, stale: new Set(["p2"]) },
    );
    expect(names(checker).sort()).toEqual([
      "I4 every lock ends exactly once",
      "I8 no ALLOW while a gate blocks",
      "I8 no ALLOW while a gate blocks",
      "I9 no slot freed while the victim is open",
    ]);
  });

  it("flags an entry ALLOW while the trading state is REDUCING or HALTED, even a stale one", () => {
    for (const tradingState of ["REDUCING", "HALTED"] as const) {
      const checker = new InvariantChecker();
      checker.observe(
        {
          ...base,
          events: [
            entry("1-0", { event: "PLAN_ALLOWED", plan_id: "p1", symbol: "XRP", reason: "r" }),
            entry("2-0", {
              event: "PLAN_ALLOWED",
              plan_id: "c1",
              symbol: "SOL",
              reason: "active_slots_close_allowed",
            }),
          ],
        },
        { label: "s", desired: 4, tradingState, stale: new Set(["p1"]) },
      );
      expect(names(checker)).toEqual(["I11 no entry ALLOW while REDUCING or HALTED"]);
    }
  });

  it("flags an ALLOW of a rotating plan before (or without) a confirmation after its lock", () => {
    const checker = new InvariantChecker();
    const confirmation = entry("1-0", {
      plan_id: "rot_p1_SOL",
      symbol: "SOL",
      executed: "true",
      reduceOnly: "true",
    });
    // A confirmation appended before the lock does not count.
    checker.observe({ ...base, applyResults: [confirmation] }, { label: "s", desired: 4 });
    checker.observe(
      { ...base, applyResults: [confirmation], events: [lock("2-0", "p1", "SOL")] },
      { label: "s", desired: 4 },
    );
    checker.observe(
      {
        ...base,
        applyResults: [confirmation, entry("3-0", { ...confirmation.fields, executed: "false" })],
        events: [
          lock("2-0", "p1", "SOL"),
          entry("4-0", { event: "PLAN_ALLOWED", plan_id: "p1", symbol: "BTCUSDT" }),
        ],
      },
      { label: "s", desired: 4 },
    );
    expect(names(checker)).toContain("I3 no ALLOW before the close is confirmed");
  });

  it("flags a lock resolved twice, a resolution without a lock, and a lock left open at the end", () => {
    const checker = new InvariantChecker();
    const end = (id: string, event: string, plan: string) =>
      entry(id, { event, new_plan_id: plan, close_plan_id: closePlanId(plan, "SOL") });
    checker.observe(
      {
        ...base,
        events: [
          lock("1-0", "p1", "SOL"),
          end("2-0", "ROTATION_COMPLETE", "p1"),
          end("3-0", "ROTATION_TIMEOUT", "p1"),
          end("4-0", "ROTATION_TIMEOUT", "p9"),
          lock("5-0", "p2", "ETH"),
        ],
        applyPlans: [closePlan("1-0", "p1", "SOL"), closePlan("5-0", "p2", "ETH")],
        claims: { p2: "ETH" },
      },
      { label: "end", desired: 4, final: true },
    );
    expect(names(checker)).toEqual(Array(4).fill("I4 every lock ends exactly once"));
  });

  it("flags a decision event after a final one, and a confirmed lock that timed out", () => {
    const checker = new InvariantChecker();
    checker.observe(
      { ...base, events: [lock("1-0", "p1", "SOL")], applyPlans: [closePlan("1-0", "p1", "SOL")] },
      { label: "s", desired: 4 },
    );
    checker.observe(
      {
        ...base,
        events: [lock("1-0", "p1", "SOL")],
        applyPlans: [closePlan("1-0", "p1", "SOL")],
        applyResults: [
          entry("2-0", {
            plan_id: "rot_p1_SOL",
            symbol: "SOL",
            executed: "true",
            reduceOnly: "true",
          }),
        ],
      },
      { label: "s", desired: 4 },
    );
    checker.observe(
      {
        ...base,
        events: [
          lock("1-0", "p1", "SOL"),
          entry("3-0", {
            event: "ROTATION_TIMEOUT",
            new_plan_id: "p1",
            close_plan_id: "rot_p1_SOL",
          }),
          entry("3-1", {
            event: "PLAN_BLOCKED",
            plan_id: "p1",
            reason: "active_slots_rotation_timeout",
          }),
          entry("4-0", { event: "PLAN_ALLOWED", plan_id: "p1", reason: "active_slots_slot_free" }),
        ],
        applyPlans: [closePlan("1-0", "p1", "SOL")],
        applyResults: [
          entry("2-0", {
            plan_id: "rot_p1_SOL",
            symbol: "SOL",
            executed: "true",
            reduceOnly: "true",
          }),
        ],
      },
      { label: "s", desired: 4 },
    );
    expect(names(checker)).toEqual(
      expect.arrayContaining([
        "I5 idempotent final decisions",
        "I6 a confirmed rotation is not timed out",
      ]),
    );
  });
});
