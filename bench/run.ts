/**
 * `npm run bench`: latency, throughput and per-evaluation I/O of `POST /v1/plans`
 * on the local stack.
 *
 * It starts its own stack (`node dev/stack.ts` on free ports, private stack file)
 * unless `--stack-file` names a running one (whose Redis is then FLUSHED and whose
 * simulator is reset), arranges a world (universe, positions, regimes), warms the
 * caches (regime klines of every symbol, Lua scripts), then measures:
 *
 *   1. per decision kind, each in its own serial phase: Redis REST requests
 *      (counted at the bridge, minus the bench's own) and Binance request weight
 *      (counted at the simulator) of every single evaluation, and its latency;
 *   2. the governor's own cost (phases.ts, own-cost.ts): serial hot-path ALLOWs
 *      through `wrangler dev`, then on workerd directly taking turns with the
 *      floor worker (floor-worker.ts: the same signed plan POST, the same
 *      dependency calls, nothing else), each warmed up to steady state first:
 *      p50 and workerd CPU per request, their differences (`overhead_ms`,
 *      `own_cpu_ms`), the p50 split into time in dependency calls and outside
 *      them, the sequential round trips counted at the dependencies, and
 *      throughput at concurrency 8;
 *   3. the I/O floor: p50 of a bare bridge round trip (`["PING"]`) plus p50 of a
 *      bare simulator round trip (`GET /fapi/v1/time`);
 *   4. a mixed phase at the requested concurrency: p50/p99 latency, throughput,
 *      Redis requests and Binance weight per evaluation;
 *   5. the counters' cost (./counters-cost.ts): the hot-path ALLOW on two more
 *      private stacks, GOV_METRICS=on and off, side by side.
 *
 * With --scale it measures only how the hot path grows with open positions and
 * universe size (./scale.ts); with --profile it only samples where an
 * evaluation's CPU goes (./profile.ts). The parts: options.ts (command line), world.ts
 * (the arranged world), phases.ts (the measured phases), report.ts (tables and
 * the JSON line); this file only composes them.
 *
 * Prints a table, notes on missed targets, and last one JSON line.
 */
import { loadavg } from "node:os";
import {
  ClientError,
  readStackFile,
  startPrivateStack,
  type PrivateStack,
} from "../dev/stack-client.ts";
import { stackClients, type StackInfo } from "./clients.ts";
import { measureCountersCost, type CountersCost } from "./counters-cost.ts";
import { HELP, parseOptions, type Options } from "./options.ts";
import { Bench, measureFloor, mixedItems, mixedPhase, ownCostPhase } from "./phases.ts";
import { runProfile } from "./profile.ts";
import { printReport } from "./report.ts";
import { runScale } from "./scale.ts";
import { World } from "./world.ts";

async function main(): Promise<number> {
  let options: Options | null;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (!options) {
    console.log(HELP);
    return 0;
  }

  startedAt = Date.now();
  loadAtStart = loadavg()[0] ?? 0;
  let own: PrivateStack | undefined;
  let stack: StackInfo;
  const t0 = performance.now();
  if (options.stackFile) {
    const existing = readStackFile(options.stackFile);
    if (!existing) throw new ClientError(`no stack file at ${options.stackFile}`);
    stack = existing;
    console.error(`bench: using the running stack of ${options.stackFile} (Redis FLUSHED)`);
  } else {
    console.error("bench: starting a private stack (node dev/stack.ts on free ports) ...");
    own = await startPrivateStack();
    stack = own.info;
  }
  const stopStack = async () => {
    await own?.stop();
    own = undefined;
  };
  process.once("SIGINT", () => void stopStack().then(() => process.exit(130)));
  try {
    if (options.profile) return await runProfile(options, stack);
    return options.scale
      ? await runScale(options, stack)
      : await runBench(options, stack, t0, own?.child.pid);
  } finally {
    await stopStack();
  }
}

async function runBench(
  options: Options,
  stack: StackInfo,
  t0: number,
  stackPid: number | undefined,
): Promise<number> {
  const ownStack = stackPid !== undefined;
  const c = stackClients(stack);
  const items = mixedItems(options);
  const mixedRotations = items.filter((k) => k === "rotation").length;
  const world = new World(
    c,
    options.keyPrefix,
    options.perKind + 1,
    options.perKind + mixedRotations,
  );
  const bench = new Bench(world);

  await world.setup();
  const warm = await bench.warmUp(options.concurrency);
  console.error(`bench: world ready, ${warm} warm-up evaluations (excluded); counting phases ...`);
  const measuredFrom = (await c.simTotals()).count;
  await bench.serialPhases(options.perKind);
  const own = await ownCostPhase(world, options, stack, stackPid);
  const floor = await measureFloor(c, 200);
  const loadedFloor = await measureFloor(c, 40, options.concurrency);
  console.error(
    `bench: mixed phase, ${options.evaluations} evaluations at concurrency ${options.concurrency} ...`,
  );
  const mixed = await mixedPhase(bench, options);
  let cost: CountersCost | undefined;
  if (options.costEvaluations > 0) {
    console.error(
      `bench: counters' cost, ${options.costEvaluations} hot-path ALLOWs on each of two more stacks (GOV_METRICS=on/off) ...`,
    );
    cost = await measureCountersCost(options.costEvaluations);
  }
  const klinesLog = (await c.sim(
    "GET",
    `/__sim/requests?since=${measuredFrom}&path=/fapi/v1/klines`,
  )) as { requests: { query: Record<string, string> }[] };
  const fetched = klinesLog.requests
    .map((r) => r.query.symbol ?? "")
    .filter((symbol) => symbol !== world.unlisted);
  const candidateSet = new Set(world.candidates);
  const newPositionFetches = fetched.filter((symbol) => candidateSet.has(symbol)).length;
  const otherFetches = fetched.length - newPositionFetches;
  const crossedHour = Math.floor(startedAt / 3_600_000) !== Math.floor(Date.now() / 3_600_000);
  printReport({
    options,
    stack,
    ownStack,
    world,
    bench,
    warm,
    floor,
    loadedFloor,
    mixed,
    cost,
    own,
    fetched,
    newPositionFetches,
    otherFetches,
    crossedHour,
    t0,
    loadAtStart,
  });
  return 0;
}

let startedAt = Date.now();
let loadAtStart = 0;

void main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    process.exit(1);
  },
);
