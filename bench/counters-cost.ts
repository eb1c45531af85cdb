/**
 * What the counters and the history cost on the hot path: two private stacks
 * side by side, one with GOV_METRICS=on (the default) and one with
 * GOV_METRICS=off (the deciding scripts skip every metric write), the same
 * world on both, and the same hot-path ALLOW (slot held, regime cached) sent
 * to each in turn (A B B A ...), serially. Per evaluation, for each:
 *
 *   - latency (client side: request sent to body read), p50 and p99;
 *   - Redis REST requests (counted at each stack's bridge): must stay at 2;
 *   - Redis: `INFO commandstats` read after every evaluation: the usec Redis
 *     spent running its two scripts, counters included (median over the
 *     evaluations: on a shared machine a preempted script shows as an
 *     outlier), and the commands they ran (exact: what the counters add,
 *     HINCRBY/HSET/EXPIRE, shows as a whole number);
 *   - workerd CPU: the run time of each stack's workerd processes
 *     (bench/cpu.ts), over the whole run.
 */
import { startPrivateStack, type PrivateStack } from "../dev/stack-client.ts";
import { redisKeys } from "../lib/keys.ts";
import { percentile, stackClients, type StackClients } from "./clients.ts";
import { workerdCpuMsBelow } from "./cpu.ts";

export interface SideFigures {
  p50Ms: number;
  p99Ms: number;
  redisRequestsPerEval: number;
  redisUsecPerEval: number;
  /** Redis commands the two scripts ran (HGET, SET, HINCRBY, ...). */
  redisCommandsPerEval: number;
  workerdCpuMsPerEval: number | null;
  decisions: string;
}

export interface CountersCost {
  evaluations: number;
  on: SideFigures;
  off: SideFigures;
}

interface Side {
  name: "on" | "off";
  stack: PrivateStack;
  c: StackClients;
  latencies: number[];
  /** usec Redis spent in the scripts of each evaluation. */
  scriptUsec: number[];
  outcomes: Map<string, number>;
}

/**
 * From `INFO commandstats`: usec Redis spent in EVALSHA and EVAL so far, and
 * every other command but INFO: the commands the scripts called, plus the
 * Apply Layer simulator's XREAD BLOCK polling (about one a second, on both
 * sides alike; the bench's own arrangements happen before the first read).
 */
async function scriptStats(c: StackClients): Promise<{ usec: number; commands: number }> {
  const info = String(await c.redis(["INFO", "commandstats"]));
  let usec = 0;
  let commands = 0;
  for (const match of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+),usec=(\d+)/gm)) {
    const [, name, calls, spent] = match as unknown as [string, string, string, string];
    if (name === "evalsha" || name === "eval") usec += Number(spent);
    else if (name !== "info") commands += Number(calls);
  }
  return { usec, commands };
}

/** Evaluations before measuring (workerd's JIT, Redis' script cache). */
const WARM_EVALUATIONS = 40;

async function arrange(c: StackClients): Promise<void> {
  const keys = redisKeys("quantum");
  await c.redis(["FLUSHALL"]);
  await c.sim("POST", "/__sim/reset");
  await c.sim("PUT", "/__sim/klines/BTCUSDT", { preset: "BASE" });
  await c.sim("PUT", "/__sim/positions", [
    {
      symbol: "ETHUSDT",
      positionAmt: "1",
      entryPrice: "100",
      markPrice: "101",
      unRealizedProfit: "1",
      updateTime: Date.now() - 3_600_000,
    },
  ]);
  await c.redis(["HSET", keys.policy, "universe_symbols", JSON.stringify(["BTCUSDT", "ETHUSDT"])]);
  // Caches and scripts warm; BTCUSDT then holds a reserved slot (every next plan: the hot path).
  const warm = await c.postPlan({ plan_id: "cost-warm-0", symbol: "BTCUSDT", score: 1 });
  if (warm.body.decision !== "ALLOW") {
    throw new Error(`counters cost: warm-up ALLOW failed: ${JSON.stringify(warm.body)}`);
  }
  for (let i = 1; i <= WARM_EVALUATIONS; i++) {
    await c.postPlan({ plan_id: `cost-warm-${i}`, symbol: "BTCUSDT", score: 1 });
  }
}

function figures(
  side: Side,
  n: number,
  redisRequests: number,
  commands: number,
  cpu: number | null,
): SideFigures {
  return {
    p50Ms: percentile(side.latencies, 50),
    p99Ms: percentile(side.latencies, 99),
    redisRequestsPerEval: redisRequests / n,
    redisUsecPerEval: percentile(side.scriptUsec, 50),
    redisCommandsPerEval: commands / n,
    workerdCpuMsPerEval: cpu === null ? null : cpu / n,
    decisions: [...side.outcomes].map(([k, v]) => `${v}x ${k}`).join(", "),
  };
}

/** Start both stacks, run `evaluations` hot-path ALLOWs on each, stop them. */
export async function measureCountersCost(evaluations: number): Promise<CountersCost> {
  const started: PrivateStack[] = [];
  try {
    // One after the other: two wrangler dev starting at once race for their sockets.
    const sides: Side[] = [];
    for (const name of ["on", "off"] as const) {
      const stack = await startPrivateStack({ env: { GOV_METRICS: name } });
      started.push(stack);
      sides.push({
        name,
        stack,
        c: stackClients(stack.info),
        latencies: [],
        scriptUsec: [],
        outcomes: new Map(),
      });
    }
    for (const side of sides) await arrange(side.c);

    const before = await Promise.all(
      sides.map(async (side) => ({
        bridge: (await side.c.bridgeStats()).requests,
        own: side.c.ownRedisRequests,
        script: await scriptStats(side.c),
        cpu: workerdCpuMsBelow(side.stack.child.pid!),
      })),
    );
    const lastUsec = before.map((b) => b.script.usec);
    for (let i = 0; i < evaluations; i++) {
      // A B B A: neither side always goes first.
      const order = i % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const answer = await side.c.postPlan({
          plan_id: `cost-${side.name}-${i}`,
          symbol: "BTCUSDT",
          score: 1,
        });
        side.latencies.push(answer.ms);
        const at = sides.indexOf(side);
        const { usec } = await scriptStats(side.c);
        side.scriptUsec.push(usec - lastUsec[at]!);
        lastUsec[at] = usec;
        const key = `${answer.body.decision} ${String(answer.body.reason ?? "").replace(/^active_slots_/, "")}`;
        side.outcomes.set(key, (side.outcomes.get(key) ?? 0) + 1);
      }
    }
    const after = await Promise.all(
      sides.map(async (side, i) => {
        const cpu = workerdCpuMsBelow(side.stack.child.pid!);
        const script = await scriptStats(side.c);
        const bridge = (await side.c.bridgeStats()).requests;
        const b = before[i]!;
        // The bridge counts the bench's own INFO requests too: they come off.
        const requests = bridge - b.bridge - (side.c.ownRedisRequests - b.own);
        return figures(
          side,
          evaluations,
          requests,
          script.commands - b.script.commands,
          cpu === null || b.cpu === null ? null : cpu - b.cpu,
        );
      }),
    );
    return { evaluations, on: after[0]!, off: after[1]! };
  } finally {
    await Promise.all(started.map((stack) => stack.stop()));
  }
}

/** The report's section: both sides and the difference. */
export function countersCostLines(cost: CountersCost): string[] {
  const f2 = (n: number) => n.toFixed(2);
  const f0 = (n: number) => n.toFixed(0);
  const cpu = (n: number | null) => (n === null ? "-" : f2(n));
  const diff = (a: number | null, b: number | null, fmt: (n: number) => string) =>
    a === null || b === null ? "-" : `${a - b >= 0 ? "+" : ""}${fmt(a - b)}`;
  const { on, off } = cost;
  const rows: [string, string, string, string][] = [
    ["p50 latency, ms", f2(on.p50Ms), f2(off.p50Ms), diff(on.p50Ms, off.p50Ms, f2)],
    ["p99 latency, ms", f2(on.p99Ms), f2(off.p99Ms), diff(on.p99Ms, off.p99Ms, f2)],
    [
      "Redis requests / evaluation",
      f2(on.redisRequestsPerEval),
      f2(off.redisRequestsPerEval),
      diff(on.redisRequestsPerEval, off.redisRequestsPerEval, f2),
    ],
    [
      "Redis script time, µs / evaluation (median)",
      f0(on.redisUsecPerEval),
      f0(off.redisUsecPerEval),
      diff(on.redisUsecPerEval, off.redisUsecPerEval, f0),
    ],
    [
      "Redis commands run / evaluation",
      f2(on.redisCommandsPerEval),
      f2(off.redisCommandsPerEval),
      diff(on.redisCommandsPerEval, off.redisCommandsPerEval, f2),
    ],
    [
      "workerd CPU, ms / evaluation",
      cpu(on.workerdCpuMsPerEval),
      cpu(off.workerdCpuMsPerEval),
      diff(on.workerdCpuMsPerEval, off.workerdCpuMsPerEval, f2),
    ],
  ];
  const width = [0, 1, 2, 3].map((i) =>
    Math.max(...[["", "GOV_METRICS=on", "off", "on − off"], ...rows].map((r) => r[i]!.length)),
  );
  const line = (r: string[]) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(width[i]!) : cell.padStart(width[i]!))).join("  ");
  return [
    `Counters' cost: hot-path ALLOW (slot held, regime cached), ${cost.evaluations} per side, ` +
      "two private stacks alternating A B B A, serial",
    line(["", "GOV_METRICS=on", "off", "on − off"]),
    ...rows.map(line),
    `  decisions: on ${on.decisions}; off ${off.decisions}`,
  ];
}
