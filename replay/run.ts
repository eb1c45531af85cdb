/**
 * One replay run on a virtual clock. Events in time order (ties in this order):
 * a candle boundary (equity and holders sampled), a rotation close plan coming
 * due (`--apply-delay` after it was emitted: the book closes the position and
 * the confirmation is appended to apply.result), the cron sweep (every virtual
 * minute while rotation locks are live), then the next plan.
 *
 * The sweep is skipped while no lock is live: it would only drop expired
 * reservations, which every evaluation ignores and drops by itself, and move
 * the apply.result cursor, which a new lock never reads behind of (its
 * confirmation must come after the lock's own scan point).
 */
import { isClose } from "../lib/plans/schema.ts";
import { Book, closeFraction, entrySide, type StartingPosition } from "./book.ts";
import type { CloseOrder, Gate, GateDecision, GateStep, ParamValue } from "./gate.ts";
import { InvariantChecker, type Violation } from "./invariants.ts";
import type { Market } from "./market.ts";
import type { ReplayPlan } from "./plans.ts";

export interface ReplaySetup {
  market: Market;
  /** EXECUTE plans on symbols with klines, within [start, end], sorted by ts */
  plans: readonly ReplayPlan[];
  /** unix ms, on a candle boundary */
  start: number;
  end: number;
  balance: number;
  notional: number;
  leverage: number;
  applyDelayMs: number;
  positions: readonly StartingPosition[];
}

export interface RunResult {
  name: string;
  params: Record<string, ParamValue>;
  decisions: { total: number; allow: number; block: number; by_reason: Record<string, number> };
  rotations: { started: number; completed: number; timed_out: number };
  slots: { max_holders: number; mean_utilization: number };
  pnl: {
    realized: number;
    unrealized: number;
    max_drawdown: number;
    max_drawdown_pct: number;
  };
  invariant_violations: Violation[];
  /** sampled at every candle boundary; for the chart, not the JSON report */
  curve: { at: number[]; equity: number[]; holders: number[] };
}

const MINUTE_MS = 60_000;

export type MakeGate = (book: Book, now: () => number) => Promise<Gate>;

export async function runReplay(
  setup: ReplaySetup,
  makeGate: MakeGate,
  onProgress: (fraction: number) => void = () => {},
): Promise<RunResult> {
  const { market, plans, start, end } = setup;
  let clock = start;
  const now = () => clock;
  const book = new Book(market, setup.balance);
  for (const position of setup.positions) book.seed(position, setup.leverage, start);
  const gate = await makeGate(book, now);
  const checker = new InvariantChecker(gate);
  const planById = new Map(plans.map((plan) => [plan.plan_id, plan]));
  const decided = new Map<string, GateDecision>();
  const granted = new Set<string>();
  const rotations = { started: 0, completed: 0, timed_out: 0 };
  const curve: RunResult["curve"] = { at: [], equity: [], holders: [] };
  const closes: { order: CloseOrder; at: number }[] = [];
  let maxHolders = book.positions.size;
  let violation: Violation | undefined;
  let next = 0;
  let sampleAt = start;
  let sweepAt = Infinity;
  let stepNo = 0;

  /** Put the step's grants on the book; returns the entry grants. */
  function apply(step: GateStep, at: number): GateDecision[] {
    const grants: GateDecision[] = [];
    for (const decision of step.decisions) {
      decided.set(decision.plan_id, decision);
      const plan = planById.get(decision.plan_id);
      if (decision.decision !== "ALLOW" || !plan || granted.has(plan.plan_id)) continue;
      granted.add(plan.plan_id);
      if (isClose(plan)) {
        const held = book.positions.get(plan.symbol);
        const quote = book.price(plan.symbol, at);
        if (held && quote) book.reduce(plan.symbol, closeFraction(plan, held, quote.price), at);
      } else {
        const notional = plan.notional ?? setup.notional;
        book.enter(plan.symbol, entrySide(plan), notional, plan.leverage ?? setup.leverage, at);
        grants.push(decision);
      }
    }
    for (const rotation of step.rotations) rotations[rotation.kind] += 1;
    for (const cancelled of step.cancelledOrders) {
      const i = closes.findIndex((c) => c.order.plan_id === cancelled);
      if (i >= 0) closes.splice(i, 1);
    }
    for (const order of step.closeOrders) {
      const due = at + setup.applyDelayMs;
      let i = closes.length;
      while (i > 0 && closes[i - 1]!.at > due) i--;
      closes.splice(i, 0, { order, at: due });
    }
    maxHolders = Math.max(maxHolders, book.positions.size);
    return grants;
  }

  for (;;) {
    const tPlan = next < plans.length ? plans[next]!.ts : Infinity;
    const tClose = closes[0]?.at ?? Infinity;
    const tSample = sampleAt <= end ? sampleAt : Infinity;
    const t = Math.min(tSample, tClose, sweepAt, tPlan);
    if (t > end) break;
    clock = t;
    onProgress((t - start) / Math.max(1, end - start));
    if (t === tSample) {
      curve.at.push(t);
      curve.equity.push(book.equity(t));
      curve.holders.push(book.positions.size);
      sampleAt += market.step;
      continue;
    }
    stepNo += 1;
    if (t === tClose) {
      const { order } = closes.shift()!;
      const fill = book.reduce(order.symbol, 1, t);
      await gate.confirm(order, fill !== undefined, t);
      continue;
    }
    const step = t === sweepAt ? await gate.sweep(t) : await gate.evaluate(plans[next++]!, t);
    const grants = apply(step, t);
    violation = checker.check(stepNo, t, step, grants, book);
    if (violation) break;
    sweepAt = step.locksLive > 0 ? (Math.floor(t / MINUTE_MS) + 1) * MINUTE_MS : Infinity;
  }
  onProgress(1);

  return {
    name: gate.name,
    params: gate.params,
    decisions: countDecisions(plans, decided),
    rotations,
    slots: {
      max_holders: maxHolders,
      mean_utilization: mean(curve.holders) / gate.baseSlots,
    },
    pnl: { realized: book.realized, unrealized: book.unrealized(clock), ...drawdown(curve.equity) },
    invariant_violations: violation ? [violation] : [],
    curve,
  };
}

function countDecisions(plans: readonly ReplayPlan[], decided: Map<string, GateDecision>) {
  const counts: RunResult["decisions"] = { total: 0, allow: 0, block: 0, by_reason: {} };
  for (const plan of plans) {
    const decision = decided.get(plan.plan_id);
    if (!decision) continue;
    counts.total += 1;
    if (decision.decision === "ALLOW") counts.allow += 1;
    else counts.block += 1;
    counts.by_reason[decision.reason] = (counts.by_reason[decision.reason] ?? 0) + 1;
  }
  counts.by_reason = Object.fromEntries(
    Object.entries(counts.by_reason).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return counts;
}

function mean(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Largest fall from a running peak, in USDT and as a fraction of that peak. */
function drawdown(equity: readonly number[]) {
  let peak = -Infinity;
  let maxDrawdown = 0;
  let maxDrawdownPct = 0;
  for (const value of equity) {
    peak = Math.max(peak, value);
    maxDrawdown = Math.max(maxDrawdown, peak - value);
    if (peak > 0) maxDrawdownPct = Math.max(maxDrawdownPct, (peak - value) / peak);
  }
  return { max_drawdown: maxDrawdown, max_drawdown_pct: maxDrawdownPct };
}
