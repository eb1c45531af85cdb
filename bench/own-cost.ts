/**
 * The governor's own cost: hot-path ALLOWs (a held slot's re-entry) one at a
 * time against a governor, the floor worker's requests one at a time, workerd
 * CPU per request from /proc, and the sequential dependency round trips of
 * each evaluation counted from the start/end times the bridge and the
 * simulator logged (not assumed).
 */
import { percentile, type StackClients } from "./clients.ts";
import { cpuMs } from "./cpu.ts";

export interface Interval {
  started_at: number;
  ended_at: number;
  bytes_in?: number;
  bytes_out?: number;
}

export interface OwnCost {
  p50Ms: number;
  cpuMsPerRequest: number;
  /** median over requests of the longest chain of non-overlapping dependency calls */
  sequentialRoundTrips: number;
  /** median bytes of the 1st and 2nd Redis request (in = sent by the worker) */
  sizes: { in1: number; out1: number; in2: number; out2: number };
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

const now = () => performance.timeOrigin + performance.now();

/** `request` n times in a row (after `warm` unmeasured ones), with the dependency calls of each. */
export async function measureSerial(
  c: StackClients,
  pid: number,
  n: number,
  request: () => Promise<void>,
  warm = 5,
): Promise<OwnCost> {
  for (let i = 0; i < warm; i++) await request();
  const bridgeFrom = ((await c.bridgeTimings(0)) as { count: number }).count;
  const simFrom = (await c.simTotals()).count;
  const windows: [number, number][] = [];
  const cpu0 = cpuMs(pid);
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await request();
    windows.push([t0, now()]);
  }
  const cpu1 = cpuMs(pid);
  const bridge = (await c.bridgeTimings(bridgeFrom)).timings as Interval[];
  const sim = (await c.sim("GET", `/__sim/requests?since=${simFrom}`)).requests as Interval[];
  const perRequest = windows.map(([from, to]) => {
    const inside = (r: Interval) => r.started_at >= from && r.ended_at <= to;
    return { redis: bridge.filter(inside), binance: sim.filter(inside) };
  });
  const median = (values: number[]) => percentile(values, 50);
  const nth = (i: number, field: "bytes_in" | "bytes_out") =>
    median(perRequest.map((r) => r.redis[i]?.[field] ?? NaN).filter(Number.isFinite));
  return {
    p50Ms: median(windows.map(([from, to]) => to - from)),
    cpuMsPerRequest: (cpu1 - cpu0) / n,
    sequentialRoundTrips: median(
      perRequest.map((r) => sequentialSteps([...r.redis, ...r.binance])),
    ),
    sizes: {
      in1: nth(0, "bytes_in"),
      out1: nth(0, "bytes_out"),
      in2: nth(1, "bytes_in"),
      out2: nth(1, "bytes_out"),
    },
  };
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
  const run = async (count: number) => {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        next += 1;
        await request();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  await run(warm);
  const cpu0 = cpuMs(pid);
  const t0 = performance.now();
  await run(n);
  const wallMs = performance.now() - t0;
  return {
    concurrency,
    requests: n,
    perS: n / (wallMs / 1000),
    cpuMsPerRequest: (cpuMs(pid) - cpu0) / n,
  };
}
