/**
 * The model of the interleavings test (./interleavings.test.ts): a Sequence
 * carries out the generated steps (./interleavings-generators.ts) inside
 * workerd against the real Redis (through the REST bridge) and the Binance
 * simulator, playing the Apply Layer and the operators itself, and after
 * every step has the model-free checker (./invariants.ts) judge the state. At
 * the end, paused evaluations are released and a sweep runs at clock + TTL +
 * 1 s: every lock must then be complete or timed out.
 *
 * Time: the governor runs on the test's clock (`now: () => clock`), and the
 * exchange simulator is kept on the same clock (`PUT /__sim/clock {skew_ms}`),
 * so signed requests are never "ahead of the server" (-1021) and the klines'
 * open candle moves with the governor's clock, as it would in production.
 */
import { env } from "cloudflare:workers";
import type { Redis } from "@upstash/redis/cloudflare";
import { beforeSlotScript, redis, sim } from "./helpers.ts";
import { governorContext } from "../../lib/context.ts";
import { evaluatePlan } from "../../lib/evaluate/evaluate.ts";
import { sweepLocks } from "../../lib/sweep/sweep.ts";
import { PlanConflictError } from "../../lib/errors.ts";
import { changeTradingState, type TradingStateName } from "../../lib/operators/trading-state.ts";
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
import {
  describeWorld,
  MAX_HELD,
  PLAN_IDS,
  SYMBOLS,
  type Preset,
  type Step,
  type WorldSpec,
} from "./interleavings-generators.ts";

const gov = governorContext(env);
const keys = redisKeys(gov.config.keyPrefix);

/** The slots of each regime, as the governor is configured. */
export const DESIRED: Record<Preset, number> = gov.config.slots;
const LOCK_TTL_MS = gov.config.ttl.lock * 1000;

// ---------------------------------------------------------------------------
// Totals for the summary line

export const totals = {
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

export async function resetSimulator(): Promise<void> {
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

/** The symbols with a non-zero position. */
function openSymbolsOf(rows: PositionRow[]): string[] {
  return [
    ...new Set(rows.filter((r) => Math.abs(Number(r.positionAmt)) > 1e-8).map((r) => r.symbol)),
  ];
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

// ---------------------------------------------------------------------------
// One sequence

interface Held {
  plan: number;
  desired: number;
  /** The exchange's open symbols when it paused: its account view, which its script decides on. */
  view: string[];
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
  /** Plans whose evaluation finished in this step on a snapshot taken earlier (a release), with its open symbols. */
  stale = new Map<string, string[]>();
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
      openSymbols: openSymbolsOf(rows),
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
    this.stale = new Map();
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
        const done = this.evaluate(
          step.plan,
          beforeSlotScript(gov.redis, this.slotsSha, async () => {
            paused();
            await gate;
          }),
        );
        await Promise.race([pausedAt, done]);
        const view = openSymbolsOf((await sim("GET", "/__sim/positions")) as PositionRow[]);
        this.held.push({ plan: step.plan, desired: DESIRED[this.preset], view, release, done });
        break;
      }
      case "release": {
        if (this.held.length === 0) {
          label = "release (none held)";
          break;
        }
        const [held] = this.held.splice(step.which % this.held.length, 1);
        label = `release ${PLAN_IDS[held!.plan]}`;
        this.stale.set(PLAN_IDS[held!.plan]!, held!.view);
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

/** Run one sequence; returns its violations with the world and the steps taken. */
export async function runSequence(
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
