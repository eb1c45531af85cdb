/**
 * The measured phases: serial per-kind counting, the I/O floor, the mixed phase
 * at concurrency, and the governor's own cost (wrangler dev, workerd direct,
 * the floor worker).
 */
import { resolve } from "node:path";
import { prng } from "../dev/exchange-sim/klines.ts";
import {
  percentile,
  sleep,
  stackClients,
  type Loose,
  type PlanAnswer,
  type StackClients,
  type StackInfo,
} from "./clients.ts";
import { workerdBelow } from "./cpu.ts";
import { floorRequest, serveFloor, serveGovernor, type DirectWorker } from "./direct.ts";
import { MIXED_KINDS, type MixedKind, type Options } from "./options.ts";
import {
  HOLD_MS,
  measureRoundTrips,
  measureSerial,
  OWN_COST_MIN_REQUESTS,
  OWN_COST_WARM_UP,
  measureThroughput,
  byStage,
  STAGES,
  type OwnCost,
  type RoundTrips,
  type Throughput,
} from "./own-cost.ts";
import { f1, f2, table } from "./report.ts";
import type { World } from "./world.ts";

export interface Sample {
  kind: string;
  ms: number;
  status: number;
  decision: string;
  reason: string;
  /** Governor's Redis requests / Binance weight for this one evaluation (serial phases only). */
  redis?: number;
  weight?: number;
  expected: boolean;
  body: Record<string, Loose>;
}

export function outcome(answer: PlanAnswer): { decision: string; reason: string } {
  if (answer.status !== 200) {
    return { decision: `HTTP ${answer.status}`, reason: String(answer.body?.error?.code ?? "") };
  }
  return { decision: String(answer.body.decision), reason: String(answer.body.reason ?? "") };
}

export const EXPECTED: Record<string, string> = {
  allow_free: "ALLOW active_slots_slot_free",
  allow: "ALLOW active_slots_symbol_holds_slot",
  replay: "ALLOW active_slots_symbol_holds_slot",
  threshold: "BLOCK active_slots_rotation_below_threshold",
  universe: "BLOCK active_slots_not_in_universe",
  universe_unlisted: "BLOCK active_slots_not_in_universe",
  close: "ALLOW active_slots_close_allowed",
  rotation: "BLOCK active_slots_waiting_rotation_close",
  rotation_confirm: "ALLOW active_slots_rotation_complete",
};

export function sampleOf(kind: string, answer: PlanAnswer): Sample {
  const { decision, reason } = outcome(answer);
  return {
    kind,
    ms: answer.ms,
    status: answer.status,
    decision,
    reason,
    expected:
      EXPECTED[kind] === `${decision} ${reason}` &&
      (kind !== "replay" || answer.body.replayed === true),
    body: answer.body,
  };
}

export class Bench {
  readonly w: World;
  readonly c: StackClients;
  readonly serial: Sample[] = [];
  /** Per-evaluation accounting on: each evaluation is bracketed by counter reads. */
  private accounting = false;

  constructor(world: World) {
    this.w = world;
    this.c = world.c;
  }

  /** POST one plan; in accounting mode also its own Redis requests and Binance weight. */
  async evaluate(kind: string, plan: Record<string, unknown>, into?: Sample[]): Promise<Sample> {
    if (!this.accounting) {
      const sample = sampleOf(kind, await this.c.postPlan(plan));
      into?.push(sample);
      return sample;
    }
    const [bridge0, sim0] = await Promise.all([this.c.bridgeStats(), this.c.simTotals()]);
    const own0 = this.c.ownRedisRequests;
    const answer = await this.c.postPlan(plan);
    const [bridge1, sim1] = await Promise.all([this.c.bridgeStats(), this.c.simTotals()]);
    const sample = sampleOf(kind, answer);
    sample.redis = bridge1.requests - bridge0.requests - (this.c.ownRedisRequests - own0);
    sample.weight = sim1.total_weight - sim0.total_weight;
    (into ?? this.serial).push(sample);
    return sample;
  }

  /** Regime caches of every symbol and every Lua script, before anything is measured. */
  async warmUp(concurrency: number): Promise<number> {
    const w = this.w;
    const symbols = [...w.victims, ...w.held, ...w.free, ...w.weak, ...w.outside, ...w.candidates];
    let next = 0;
    const worker = async () => {
      while (next < symbols.length) {
        const symbol = symbols[next++]!;
        // A margin-cap BLOCK: fetches and caches the symbol's regime, takes no slot.
        await this.c.postPlan({
          plan_id: w.planId("warm"),
          symbol,
          notional: 1e12,
          leverage: 1,
        });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    // EVALUATE_SLOTS once (a slot-free ALLOW, released again), RECORD_DECISION via a close.
    const probe = w.free[w.free.length - 1]!;
    const allow = await this.c.postPlan({ plan_id: w.planId("warm"), symbol: probe });
    if (allow.body.decision !== "ALLOW") {
      throw new Error(`warm-up ALLOW failed: ${JSON.stringify(allow.body)}`);
    }
    await w.release(probe);
    await this.c.postPlan({
      plan_id: w.planId("warm"),
      symbol: w.victims[0]!,
      action: "FULL_CLOSE_PROPOSED",
      reduceOnly: true,
    });
    return symbols.length + 2;
  }

  async serialPhases(perKind: number): Promise<void> {
    const w = this.w;
    this.accounting = true;
    // Slots free: 4 open positions, TREND_STRONG candidate (6 slots). Released after each.
    for (let i = 0; i < perKind; i++) {
      const symbol = w.free[i]!;
      await this.evaluate("allow_free", { plan_id: w.planId("free"), symbol, score: 1 });
      await w.release(symbol);
    }
    // Two more holders: 4 positions + 2 reserved slots = 6 = the TREND_STRONG cap.
    this.accounting = false;
    for (const symbol of w.held) {
      const held = await this.c.postPlan({ plan_id: w.planId("hold"), symbol, score: 1 });
      if (held.body.reason !== "active_slots_slot_free") {
        throw new Error(`could not reserve ${symbol}: ${JSON.stringify(held.body)}`);
      }
    }
    // Slots full now: a first threshold block fetches and caches the victims' step sizes
    // (exchangeInfo, the close legs' quantities) once; the measured ones find them cached.
    const warm = await this.c.postPlan({ plan_id: w.planId("weak"), symbol: w.weak[0]! });
    if (warm.body.reason !== "active_slots_rotation_below_threshold") {
      throw new Error(`warm-up threshold block failed: ${JSON.stringify(warm.body)}`);
    }
    this.accounting = true;
    const answered: Record<string, unknown>[] = [];
    for (let i = 0; i < perKind; i++) {
      const symbol = w.held[i % w.held.length]!;
      const plan = { plan_id: w.planId("held"), symbol, score: 1 };
      await this.evaluate("allow", plan);
      answered.push(plan);
    }
    // The same plans sent again: their final answers, replayed.
    for (const plan of answered) await this.evaluate("replay", plan);
    for (let i = 0; i < perKind; i++) {
      const symbol = w.weak[i % w.weak.length]!;
      await this.evaluate("threshold", { plan_id: w.planId("weak"), symbol });
    }
    for (let i = 0; i < perKind; i++) {
      const symbol = w.outside[i % w.outside.length]!;
      await this.evaluate("universe", { plan_id: w.planId("univ"), symbol, score: 5 });
    }
    for (let i = 0; i < Math.min(perKind, 10); i++) {
      await this.evaluate("universe_unlisted", {
        plan_id: w.planId("xunl"),
        symbol: w.unlisted,
        score: 5,
      });
    }
    for (let i = 0; i < perKind; i++) {
      await this.evaluate("close", {
        plan_id: w.planId("close"),
        symbol: w.victims[i % w.victims.length]!,
        action: "FULL_CLOSE_PROPOSED",
        reduceOnly: true,
      });
    }
    for (let i = 0; i < perKind; i++) await this.rotationUnit(this.serial);
    this.accounting = false;
  }

  /**
   * Slots full, strong candidate: BLOCK waiting + close plan; the Apply Layer
   * simulator closes the victim and confirms; the resubmission is ALLOWed
   * (rotation_complete); then the new entry shows up as an open position.
   */
  async rotationUnit(into: Sample[]): Promise<void> {
    const w = this.w;
    const symbol = w.nextCandidate();
    const plan = { plan_id: w.planId("rot"), symbol, score: w.candidateScore() };
    await w.liftRotationBudget();
    const start = await this.evaluate("rotation", plan, into);
    const close = start.body.rotation as
      { close_symbol: string; close_plan_id: string } | undefined;
    if (!start.expected || !close) return;
    await this.waitApplied(close.close_plan_id);
    for (let attempt = 0; ; attempt++) {
      const confirm = await this.evaluate(
        attempt === 0 ? "rotation_confirm" : "rotation_wait",
        plan,
        into,
      );
      if (confirm.decision !== "BLOCK" || confirm.reason !== "active_slots_waiting_rotation_close")
        break;
      if (attempt > 50) throw new Error(`rotation ${plan.plan_id} never confirmed`);
      await sleep(5);
    }
    w.positions.delete(close.close_symbol);
    w.positions.set(symbol, { symbol, pnlPct: -1, ageHours: 0 });
    await w.putPositions();
  }

  private async waitApplied(closePlanId: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const apply = (await this.c.sim("GET", "/__sim/apply")) as {
        applied: { plan_id: string }[];
      };
      if (apply.applied.some((a) => a.plan_id === closePlanId)) {
        // The simulator records the close, then XADDs apply.result.
        await sleep(3);
        return;
      }
      if (Date.now() > deadline) throw new Error(`close plan ${closePlanId} was never applied`);
      await sleep(2);
    }
  }
}

export interface Floor {
  bridgeMs: number;
  simMs: number;
  governorHopMs: number;
  floorMs: number;
}

export async function measureFloor(c: StackClients, reps: number, concurrency = 1): Promise<Floor> {
  const bridge: number[] = [];
  const sim: number[] = [];
  const hop: number[] = [];
  const bearer = { authorization: `Bearer ${c.stack.redis_rest.token}` };
  const worker = async () => {
    for (let i = 0; i < reps; i++) {
      let t = performance.now();
      const r1 = await fetch(`${c.stack.redis_rest.url}/`, {
        method: "POST",
        headers: bearer,
        body: '["PING"]',
      });
      await r1.text();
      bridge.push(performance.now() - t);
      t = performance.now();
      const r2 = await fetch(`${c.stack.exchange.url}/fapi/v1/time`);
      await r2.text();
      sim.push(performance.now() - t);
      t = performance.now();
      const r3 = await fetch(`${c.stack.governor}/`);
      await r3.text();
      hop.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const bridgeMs = percentile(bridge, 50);
  const simMs = percentile(sim, 50);
  return { bridgeMs, simMs, governorHopMs: percentile(hop, 50), floorMs: bridgeMs + simMs };
}

/** The mixed phase's work items (a rotation item is two evaluations), shuffled. */
export function mixedItems(options: Options): MixedKind[] {
  const total = Object.values(options.mix).reduce((a, b) => a + b, 0);
  const n = options.evaluations;
  const counts = Object.fromEntries(MIXED_KINDS.map((k) => [k, 0])) as Record<MixedKind, number>;
  counts.rotation = Math.floor((n * options.mix.rotation) / total / 2);
  const rest = n - counts.rotation * 2;
  const others = MIXED_KINDS.filter((k) => k !== "rotation");
  const otherTotal = others.reduce((a, k) => a + options.mix[k], 0);
  if (otherTotal === 0) {
    // Only rotations: an odd remainder becomes one more rotation start.
    counts.rotation += Math.ceil(rest / 2);
  } else {
    const exact = others.map((k) => ({ k, v: (rest * options.mix[k]) / otherTotal }));
    for (const e of exact) counts[e.k] = Math.floor(e.v);
    let left = rest - exact.reduce((a, e) => a + Math.floor(e.v), 0);
    for (const e of [...exact].sort((a, b) => (b.v % 1) - (a.v % 1))) {
      if (left-- <= 0) break;
      counts[e.k] += 1;
    }
  }
  const items: MixedKind[] = MIXED_KINDS.flatMap((k) => Array<MixedKind>(counts[k]).fill(k));
  const rand = prng(options.seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export interface MixedResult {
  samples: Sample[];
  wallMs: number;
  redisRequests: number;
  binanceWeight: number;
}

export async function mixedPhase(bench: Bench, options: Options): Promise<MixedResult> {
  const { w, c } = bench;
  const items = mixedItems(options);
  const samples: Sample[] = [];
  let rotationBusy: Promise<void> = Promise.resolve();
  let index = 0;
  const counters = { allow: 0, threshold: 0, universe: 0, close: 0 };

  const runItem = async (kind: MixedKind) => {
    switch (kind) {
      case "allow": {
        const symbol = w.held[counters.allow++ % w.held.length]!;
        await bench.evaluate("allow", { plan_id: w.planId("held"), symbol, score: 1 }, samples);
        return;
      }
      case "threshold": {
        const symbol = w.weak[counters.threshold++ % w.weak.length]!;
        await bench.evaluate("threshold", { plan_id: w.planId("weak"), symbol }, samples);
        return;
      }
      case "universe": {
        const symbol = w.outside[counters.universe++ % w.outside.length]!;
        await bench.evaluate("universe", { plan_id: w.planId("univ"), symbol, score: 5 }, samples);
        return;
      }
      case "close": {
        const symbol = w.victims[counters.close++ % w.victims.length]!;
        await bench.evaluate(
          "close",
          { plan_id: w.planId("close"), symbol, action: "FULL_CLOSE_PROPOSED", reduceOnly: true },
          samples,
        );
        return;
      }
      case "rotation": {
        // One rotation at a time: the bench opens the new entry's position itself and
        // must not race the Apply Layer simulator closing another victim.
        const previous = rotationBusy;
        let done!: () => void;
        rotationBusy = new Promise((r) => (done = r));
        await previous;
        try {
          await bench.rotationUnit(samples);
        } finally {
          done();
        }
      }
    }
  };

  await c.bridgeReset();
  const own0 = c.ownRedisRequests;
  const sim0 = await c.simTotals();
  const started = performance.now();
  const worker = async () => {
    while (index < items.length) await runItem(items[index++]!);
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const wallMs = performance.now() - started;
  const [stats, sim1] = await Promise.all([c.bridgeStats(), c.simTotals()]);
  return {
    samples,
    wallMs,
    redisRequests: stats.requests - (c.ownRedisRequests - own0),
    binanceWeight: sim1.total_weight - sim0.total_weight,
  };
}

export interface OwnCostResult {
  wrangler: OwnCost;
  direct: OwnCost;
  floor: OwnCost;
  /** the governor of --baseline, measured taking turns with the two above */
  baseline: OwnCost | undefined;
  /** sequential dependency round trips, counted with the answers held */
  trips: { wrangler: RoundTrips | undefined; direct: RoundTrips; floor: RoundTrips };
  /** hot-path ALLOWs on workerd directly, 8 in flight */
  directC8: Throughput;
}

/**
 * Serial hot-path ALLOWs (a held slot's re-entry) through `wrangler dev`;
 * then on workerd directly, taking turns with the floor worker (on workerd
 * directly, with the Redis payload sizes the direct evaluations had); the
 * sequential round trips of each, counted with every dependency answer held;
 * last the same ALLOWs on workerd directly at concurrency 8. Printed here;
 * returned for the JSON line.
 */
export async function ownCostPhase(
  world: World,
  options: Options,
  stack: StackInfo,
  stackPid: number | undefined,
): Promise<OwnCostResult> {
  const n = Math.max(OWN_COST_MIN_REQUESTS, options.perKind * 5);
  /** A held slot's re-entry: the plan of every own-cost request, the floor's included. */
  const ownPlan = () => ({ plan_id: world.planId("own"), symbol: world.held[0]!, score: 1 });
  const allow = (clients: StackClients) => async () => {
    const answer = await clients.postPlan(ownPlan());
    if (answer.body.decision !== "ALLOW") {
      throw new Error(`own-cost ALLOW failed: ${JSON.stringify(answer.body)}`);
    }
  };
  const c = world.c;
  const wranglerPid = stackPid === undefined ? undefined : workerdBelow(stackPid)[0];
  console.error(
    `bench: own cost, ${n} serial ALLOWs through wrangler dev, direct, and the floor ...`,
  );
  const nan: OwnCost = {
    p50Ms: NaN,
    inDependenciesMs: NaN,
    outsideDependenciesMs: NaN,
    cpuMsPerRequest: NaN,
    sizes: { in1: 0, out1: 0, in2: 0, out2: 0 },
    stages: byStage(() => NaN),
  };
  const [wrangler] =
    wranglerPid === undefined
      ? [nan]
      : await measureSerial(c, [{ pid: wranglerPid, request: allow(c) }], n, OWN_COST_WARM_UP);
  const wranglerTrips =
    wranglerPid === undefined
      ? undefined
      : await measureRoundTrips(c, 10, allow(c), wrangler!.p50Ms);
  // Started inside the try: a build that fails disposes of the workers already served.
  let governor: DirectWorker | undefined;
  let floorWorker: DirectWorker | undefined;
  let baselineWorker: DirectWorker | undefined;
  try {
    governor = await serveGovernor(stack, options.keyPrefix);
    floorWorker = await serveFloor(stack, options.keyPrefix);
    if (options.baseline) {
      baselineWorker = await serveGovernor(
        stack,
        options.keyPrefix,
        {},
        { root: resolve(options.baseline) },
      );
    }
    const directClients = stackClients({ ...stack, governor: governor.url });
    const [sizing] = await measureSerial(
      c,
      [{ pid: governor.pid, request: allow(directClients) }],
      10,
    );
    const toFloor = floorRequest(floorWorker, stack, sizing!.sizes, ownPlan);
    const [direct, floor, baseline] = (await measureSerial(
      c,
      [
        { pid: governor.pid, request: allow(directClients) },
        { pid: floorWorker.pid, request: toFloor },
        ...(baselineWorker
          ? [
              {
                pid: baselineWorker.pid,
                request: allow(stackClients({ ...stack, governor: baselineWorker.url })),
              },
            ]
          : []),
      ],
      n,
      OWN_COST_WARM_UP,
    )) as [OwnCost, OwnCost, OwnCost | undefined];
    const trips = {
      wrangler: wranglerTrips,
      direct: await measureRoundTrips(c, 10, allow(directClients), direct.p50Ms),
      floor: await measureRoundTrips(c, 10, toFloor, floor.p50Ms),
    };
    const directC8 = await measureThroughput(
      governor.pid,
      Math.max(200, n * 2),
      8,
      allow(directClients),
    );
    const ownCostRow = (label: string, cost: OwnCost) => [
      label,
      f2(cost.p50Ms - floor.p50Ms),
      f2(cost.cpuMsPerRequest - floor.cpuMsPerRequest),
      "",
    ];
    const tripsText = (t: RoundTrips | undefined) =>
      t ? `${t.sequential} of ${t.requests} (${f1(t.byLatency)})` : "-";
    console.log(
      table(
        [
          "serial hot-path ALLOW",
          "p50 ms",
          "workerd CPU ms/request",
          `sequential round trips (by latency, answers held ${HOLD_MS} ms)`,
        ],
        [
          [
            "through wrangler dev",
            f2(wrangler!.p50Ms),
            f2(wrangler!.cpuMsPerRequest),
            tripsText(trips.wrangler),
          ],
          [
            "workerd direct (Miniflare)",
            f2(direct.p50Ms),
            f2(direct.cpuMsPerRequest),
            tripsText(trips.direct),
          ],
          [
            "floor worker, direct",
            f2(floor.p50Ms),
            f2(floor.cpuMsPerRequest),
            tripsText(trips.floor),
          ],
          ownCostRow("own cost (direct − floor, taking turns)", direct),
          ...(baseline
            ? [
                [
                  `baseline (${options.baseline}), direct`,
                  f2(baseline.p50Ms),
                  f2(baseline.cpuMsPerRequest),
                  "",
                ],
                ownCostRow("baseline own cost (− floor)", baseline),
              ]
            : []),
        ],
      ),
    );
    const split = (label: string, cost: OwnCost) =>
      `${label} ${f2(cost.inDependenciesMs)} in dependency calls + ${f2(cost.outsideDependenciesMs)} outside them`;
    console.log(
      `  where the p50 goes (dependency calls as the bridge and the simulator logged them, ` +
        `Redis's script time included): ${split("governor", direct)}; ${split("floor", floor)}. ` +
        `Own cost: ${f2(direct.outsideDependenciesMs - floor.outsideDependenciesMs)} ms outside ` +
        `the calls, ${f2(direct.inDependenciesMs - floor.inDependenciesMs)} ms longer calls ` +
        `(the governor's Lua scripts against the floor's one-line ones)`,
    );
    const stages = (cost: OwnCost) =>
      STAGES.map((name) => `${name} ${f2(cost.stages[name] - floor.stages[name])}`).join(", ");
    console.log(
      `  governor − floor by stage (medians, ms; cut at the two Redis calls): ${stages(direct)}` +
        (baseline ? `; baseline: ${stages(baseline)}` : ""),
    );
    console.log(
      `  workerd direct at concurrency ${directC8.concurrency}: ${f1(directC8.perS)} evaluations/s ` +
        `(${directC8.requests} hot-path ALLOWs; serial: ${f1(1000 / direct.p50Ms)}/s at p50), ` +
        `workerd CPU ${f2(directC8.cpuMsPerRequest)} ms/request`,
    );
    return { wrangler: wrangler!, direct, floor, baseline, trips, directC8 };
  } finally {
    await governor?.dispose();
    await floorWorker?.dispose();
    await baselineWorker?.dispose();
  }
}
