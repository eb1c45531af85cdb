/**
 * The governor's own cost: hot-path ALLOWs (a held slot's re-entry) one at a
 * time against a governor, the floor worker's requests one at a time, workerd
 * CPU per request from /proc; and the sequential dependency round trips of an
 * evaluation, counted from the start/end times the bridge and the simulator
 * logged (not assumed), with every dependency answer held a fixed time.
 */
import { percentile, type StackClients } from "./clients.ts";
import { wallClockMs } from "../dev/wall-clock.ts";
import { cpuMs } from "./cpu.ts";

export interface Interval {
  started_at: number;
  ended_at: number;
  bytes_in?: number;
  bytes_out?: number;
}

/** Redis payload bytes of an evaluation's two script calls (in = sent by the worker). */
export interface PayloadSizes {
  in1: number;
  out1: number;
  in2: number;
  out2: number;
}

export interface OwnCost {
  p50Ms: number;
  /**
   * median ms of a request spent waiting on its dependencies: the union of the
   * intervals the bridge and the simulator logged for the calls it made (their
   * own handling and Redis's script time included)
   */
  inDependenciesMs: number;
  /** median ms of a request outside its dependency calls: the worker's own latency */
  outsideDependenciesMs: number;
  cpuMsPerRequest: number;
  /** median bytes of the 1st and 2nd Redis request */
  sizes: PayloadSizes;
  /** median ms of each stage of a request, cut at its two Redis calls */
  stages: Stages;
}

/** The stages of a request, in order. */
export const STAGES = ["head", "read", "mid", "slots", "tail"] as const;

/**
 * A request cut at its two Redis calls (as the bridge logged them): before the
 * first starts (`head`: the request's own work up to its first call), the first
 * (`read`), from the later of its end and the account call's end to the second
 * one's start (`mid`), the second (`slots`), and after it (`tail`).
 */
export type Stages = Record<(typeof STAGES)[number], number>;

/** A figure for each stage, in STAGES order. */
export function byStage(figure: (name: keyof Stages) => number): Stages {
  return Object.fromEntries(STAGES.map((name) => [name, figure(name)])) as Stages;
}

/** The stages of one request: its window, its Redis calls in order, its simulator calls. */
export function stagesOf(
  [from, to]: [number, number],
  redis: Interval[],
  sim: Interval[],
): Stages | undefined {
  const [read, slots] = [...redis].sort((a, b) => a.started_at - b.started_at);
  if (redis.length !== 2 || !read || !slots) return undefined;
  const answered = Math.max(read.ended_at, ...sim.map((s) => s.ended_at));
  return {
    head: read.started_at - from,
    read: read.ended_at - read.started_at,
    mid: slots.started_at - answered,
    slots: slots.ended_at - slots.started_at,
    tail: to - slots.ended_at,
  };
}

/** ms covered by a set of intervals (overlaps counted once). */
export function unionMs(calls: Interval[]): number {
  let total = 0;
  let end = -Infinity;
  for (const call of [...calls].sort((a, b) => a.started_at - b.started_at)) {
    if (call.ended_at <= end) continue;
    total += call.ended_at - Math.max(call.started_at, end);
    end = call.ended_at;
  }
  return total;
}

/** Dependency calls in a chain: a call that starts after every earlier one ended begins a new step. */
export function sequentialSteps(calls: Interval[]): number {
  let steps = 0;
  let end = -Infinity;
  for (const call of [...calls].sort((a, b) => a.started_at - b.started_at)) {
    if (call.started_at >= end) {
      steps += 1;
      end = call.ended_at;
    } else end = Math.max(end, call.ended_at);
  }
  return steps;
}

/**
 * Unmeasured requests per worker before the own-cost comparison: V8 tiers an
 * evaluation's functions up over its first several hundred requests (measured:
 * the governor's CPU per evaluation fell by about 0.4 ms over the first 600,
 * the floor's stayed flat), and a deployed isolate serves far more than that.
 */
export const OWN_COST_WARM_UP = 1000;
/** Requests in flight while warming up (the JIT counts calls, not their pace). */
const WARM_UP_CONCURRENCY = 4;
/**
 * Measured requests per worker in the own-cost comparison, at least (also the
 * serial requests through `wrangler dev`). Even so, two builds of the same
 * code differ by up to about 0.1 ms of p50 in one run in several
 * (bench/PROFILE.md, round 8): compare over several runs.
 */
export const OWN_COST_MIN_REQUESTS = 1000;

/** The calls each request made: those that started and ended inside its [start, end] window. */
export function callsWithin<T extends Interval>(windows: [number, number][], calls: T[]): T[][] {
  return windows.map(([from, to]) => calls.filter((r) => r.started_at >= from && r.ended_at <= to));
}

/** A worker to measure: the workerd process serving it, and one request. */
export interface Target {
  pid: number;
  request: () => Promise<void>;
}

/**
 * The order of the targets in round `round` of a comparison: 0 1 2, then
 * 0 2 1, and again. Requests follow each other across rounds too, so over two
 * rounds every target runs right after each other one exactly once (for two
 * targets: 0 1 0 1 ...). In a fixed order of three, one side always ran just
 * after the same other side's request and its after-work (the runtime's, the
 * log line's), and two builds of the same code differed by up to 0.09 ms of
 * p50. Balanced for up to three targets, the most a comparison has.
 */
export function roundOrder(round: number, targets: number): number[] {
  if (targets > 3) throw new RangeError(`roundOrder balances up to 3 targets, not ${targets}`);
  const rest = Array.from({ length: targets - 1 }, (_, i) => i + 1);
  return [0, ...(round % 2 === 0 ? rest : rest.reverse())];
}

/** Each target's request `count` times, unmeasured, a few in flight at once. */
export async function warmUp(targets: readonly Target[], count: number): Promise<void> {
  for (const t of targets) await inFlight(count, WARM_UP_CONCURRENCY, t.request);
}

/**
 * Each target's request n times, one at a time, the targets taking turns
 * (in roundOrder's order: a drift of the machine's load reaches all alike,
 * and none always follows the same one), after
 * `warm` unmeasured ones each (the JIT settles over the first hundreds, so
 * the own-cost comparison passes OWN_COST_WARM_UP):
 * latency, the part of it spent in dependency calls, workerd CPU per request
 * (each target's own process), Redis payload sizes.
 */
export async function measureSerial(
  c: StackClients,
  targets: readonly Target[],
  n: number,
  warm = 5,
): Promise<OwnCost[]> {
  await warmUp(targets, warm);
  const bridgeFrom = ((await c.bridgeTimings(0)) as { count: number }).count;
  const simFrom = (await c.simTotals()).count;
  const windows = targets.map((): [number, number][] => []);
  const cpu0 = targets.map((t) => cpuMs(t.pid));
  for (let i = 0; i < n; i++) {
    for (const k of roundOrder(i, targets.length)) {
      const t0 = wallClockMs();
      await targets[k]!.request();
      windows[k]!.push([t0, wallClockMs()]);
    }
  }
  const cpu1 = targets.map((t) => cpuMs(t.pid));
  const bridge = (await c.bridgeTimings(bridgeFrom)).timings as Interval[];
  const sim = (await c.sim("GET", `/__sim/requests?since=${simFrom}`)).requests as Interval[];
  const median = (values: number[]) => percentile(values, 50);
  return targets.map((_, k) => {
    const perRequest = callsWithin(windows[k]!, bridge);
    const simCalls = callsWithin(windows[k]!, sim);
    const dependencies = perRequest.map((r, i) => [...r, ...simCalls[i]!]);
    const stages = windows[k]!.map((w, i) => stagesOf(w, perRequest[i]!, simCalls[i]!));
    const stage = (name: keyof Stages) =>
      median(stages.map((s) => s?.[name] ?? NaN).filter(Number.isFinite));
    const nth = (i: number, field: "bytes_in" | "bytes_out") =>
      median(perRequest.map((r) => r[i]?.[field] ?? NaN).filter(Number.isFinite));
    return {
      p50Ms: median(windows[k]!.map(([from, to]) => to - from)),
      inDependenciesMs: median(dependencies.map(unionMs)),
      outsideDependenciesMs: median(
        windows[k]!.map(([from, to], i) => to - from - unionMs(dependencies[i]!)),
      ),
      cpuMsPerRequest: (cpu1[k]! - cpu0[k]!) / n,
      sizes: {
        in1: nth(0, "bytes_in"),
        out1: nth(0, "bytes_out"),
        in2: nth(1, "bytes_in"),
        out2: nth(1, "bytes_out"),
      },
      stages: byStage(stage),
    };
  });
}

/** ms each dependency answer is held while the round trips are counted */
export const HOLD_MS = 50;

export interface RoundTrips {
  /** median over evaluations of the longest chain of non-overlapping dependency requests */
  sequential: number;
  /** median dependency requests (bridge + simulator) per evaluation */
  requests: number;
  /** (p50 held − p50 not held) / hold: the chain as the latency sees it */
  byLatency: number;
  holdMs: number;
}

/**
 * The sequential round trips of `request`, counted at the dependencies. Two
 * requests a worker sends at once need not overlap at a fast single-threaded
 * server (the bridge and the simulator share one Node process: one is
 * answered before the other is even read), so their plain start/end times
 * cannot tell "sent together" from "sent after". Here the bridge and the
 * simulator hold every answer `holdMs` first: requests sent together then
 * overlap by nearly `holdMs`, and a request sent only after an answer starts
 * after it ended. Each evaluation's requests are those that started inside its
 * window (bench clock; the processes' clocks agree far better than `holdMs`),
 * and its chain is the number of steps in which each starts after every
 * earlier one ended. `byLatency` checks the count from the other side: each
 * step adds `holdMs` to the evaluation's latency.
 */
export async function measureRoundTrips(
  c: StackClients,
  n: number,
  request: () => Promise<void>,
  unheldP50Ms: number,
  holdMs = HOLD_MS,
): Promise<RoundTrips> {
  await c.bridgeFault({ times: 1_000_000, status: 0, delayMs: holdMs });
  await c.sim("PUT", "/__sim/faults", [{ path: "*", delay_ms: holdMs }]);
  const windows: [number, number][] = [];
  let bridgeFrom: number;
  let simFrom: number;
  try {
    await request();
    bridgeFrom = ((await c.bridgeTimings(0)) as { count: number }).count;
    simFrom = (await c.simTotals()).count;
    for (let i = 0; i < n; i++) {
      const t0 = wallClockMs();
      await request();
      windows.push([t0, wallClockMs()]);
    }
  } finally {
    await c.bridgeFault(null);
    await c.sim("DELETE", "/__sim/faults");
  }
  const bridge = (await c.bridgeTimings(bridgeFrom)).timings as Interval[];
  const sim = (await c.sim("GET", `/__sim/requests?since=${simFrom}`)).requests as Interval[];
  const calls = [...bridge, ...sim];
  const perRequest = windows.map(([from, to]) =>
    calls.filter((r) => r.started_at >= from && r.started_at <= to),
  );
  const median = (values: number[]) => percentile(values, 50);
  const heldP50 = median(windows.map(([from, to]) => to - from));
  return {
    sequential: median(perRequest.map(sequentialSteps)),
    requests: median(perRequest.map((r) => r.length)),
    byLatency: (heldP50 - unheldP50Ms) / holdMs,
    holdMs,
  };
}

/** `request` `count` times, `concurrency` at a time. */
async function inFlight(
  count: number,
  concurrency: number,
  request: () => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < count && !failed) {
      next += 1;
      await request().catch((error: unknown) => {
        failed = true;
        throw error;
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export interface Throughput {
  concurrency: number;
  requests: number;
  perS: number;
  cpuMsPerRequest: number;
}

/** `request` n times with `concurrency` in flight (after `warm` unmeasured ones): requests per second. */
export async function measureThroughput(
  pid: number,
  n: number,
  concurrency: number,
  request: () => Promise<void>,
  warm = 2 * concurrency,
): Promise<Throughput> {
  await inFlight(warm, concurrency, request);
  const cpu0 = cpuMs(pid);
  const t0 = performance.now();
  await inFlight(n, concurrency, request);
  const wallMs = performance.now() - t0;
  return {
    concurrency,
    requests: n,
    perS: n / (wallMs / 1000),
    cpuMsPerRequest: (cpuMs(pid) - cpu0) / n,
  };
}
