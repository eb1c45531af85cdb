/**
 * `npm run bench -- --scale`: how the hot path's cost grows with the number of
 * open positions and with the size of the universe, on workerd directly
 * (Miniflare, no `wrangler dev` proxy).
 *
 * One world per cell: N open positions in the simulator (their market caches
 * warmed by margin-cap BLOCKs), a universe of U symbols in
 * `P:policy:current` (`universe_symbols`, the open symbols first, then
 * padding). The measured evaluation is a re-entry on an open position
 * (`symbol_holds_slot`): it reads every open position's cache and correlates
 * against each. Slot caps are raised to 100 for this governor (vars
 * `GOV_ACTIVE_SLOTS_*`), so 100 open positions are not over capacity. Per
 * cell: latency p50 and workerd CPU per evaluation, the floor worker with the
 * same payload sizes, and their difference (the governor's own CPU).
 */
import { readFileSync } from "node:fs";
import { stackClients, type StackClients, type StackInfo } from "./clients.ts";
import { floorRequest, serveFloor, serveGovernor, type DirectWorker } from "./direct.ts";
import type { Options } from "./options.ts";
import {
  measureRoundTrips,
  measureSerial,
  OWN_COST_WARM_UP,
  warmUp,
  type OwnCost,
  type RoundTrips,
} from "./own-cost.ts";
import { f2, round, table } from "./report.ts";
import { range } from "./world.ts";
import { redisKeys } from "../lib/keys.ts";

const POSITIONS = [4, 20, 100] as const;
const UNIVERSES = [10, 200, 2000] as const;
/** universe size of the open-positions rows; open positions of the universe rows */
const BASE_UNIVERSE = 200;
const BASE_POSITIONS = 4;
/** Unmeasured requests per worker before each cell but the first (the JIT is warm by then). */
const CELL_WARM_UP = 20;

interface Cell {
  openPositions: number;
  universeSymbols: number;
  outcome: string;
  governor: OwnCost;
  floor: OwnCost;
  trips: RoundTrips;
  /** klines fetches (Binance) during the measured evaluations */
  klinesFetches: number;
}

export const SLOT_CAPS = {
  GOV_ACTIVE_SLOTS_BASE: "100",
  GOV_ACTIVE_SLOTS_TREND_STRONG: "100",
  GOV_ACTIVE_SLOTS_CHOP: "100",
};

/** All position symbols any cell uses; the first is the measured re-entry. */
export const OPEN = range("V", Math.max(...POSITIONS));

export async function arrange(
  c: StackClients,
  gov: StackClients,
  keyPrefix: string,
  openPositions: number,
  universeSymbols: number,
): Promise<void> {
  const keys = redisKeys(keyPrefix);
  const open = OPEN.slice(0, openPositions);
  const now = Date.now();
  await c.sim(
    "PUT",
    "/__sim/positions",
    open.map((symbol, i) => ({
      symbol,
      positionAmt: "1",
      entryPrice: "100",
      markPrice: String(100 - (i % 7)),
      unRealizedProfit: String(-(i % 7)),
      updateTime: now - 2 * 3_600_000,
    })),
  );
  const padding = range("P", Math.max(0, universeSymbols - open.length));
  await c.redis(["HSET", keys.policy, "universe_symbols", JSON.stringify([...open, ...padding])]);
  // Market caches of every open symbol (a margin-cap BLOCK fetches and caches the regime).
  let next = 0;
  const warm = async () => {
    while (next < open.length) {
      const symbol = open[next++]!;
      await gov.postPlan({ plan_id: planId("warm"), symbol, notional: 1e12, leverage: 1 });
    }
  };
  await Promise.all(Array.from({ length: 4 }, warm));
}

let seq = 0;
const run = Date.now().toString(36).slice(-4).toUpperCase();
/** A plan id unique in its first 8 characters (close plan ids use them). */
export const planId = (tag: string) => `${tag[0]}${String(++seq).padStart(7, "0")}-${tag}-${run}`;

async function measureCell(
  c: StackClients,
  governor: DirectWorker,
  floorWorker: DirectWorker,
  keyPrefix: string,
  n: number,
  openPositions: number,
  universeSymbols: number,
  warm: number,
): Promise<Cell> {
  const gov = stackClients({ ...c.stack, governor: governor.url });
  await arrange(c, gov, keyPrefix, openPositions, universeSymbols);
  const outcomes = new Map<string, number>();
  const plan = () => ({ plan_id: planId("scal"), symbol: OPEN[0]!, score: 1 });
  const reEntry = async () => {
    const answer = await gov.postPlan(plan());
    const key =
      answer.status === 200
        ? `${String(answer.body.decision)} ${String(answer.body.reason ?? "").replace(/^active_slots_/, "")}`
        : `HTTP ${answer.status}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  };
  const governorTarget = { pid: governor.pid, request: reEntry };
  const [sizing] = await measureSerial(c, [governorTarget], 10, warm);
  const floorTarget = {
    pid: floorWorker.pid,
    request: floorRequest(floorWorker, c.stack, sizing!.sizes, plan),
  };
  await warmUp([floorTarget], warm);
  outcomes.clear();
  const simFrom = (await c.simTotals()).count;
  const [governorCost, floor] = await measureSerial(c, [governorTarget, floorTarget], n, 0);
  const klines = (await c.sim("GET", `/__sim/requests?since=${simFrom}&path=/fapi/v1/klines`)) as {
    requests: unknown[];
  };
  const trips = await measureRoundTrips(c, 5, reEntry, governorCost!.p50Ms);
  return {
    openPositions,
    universeSymbols,
    outcome: [...outcomes]
      .map(([k, count]) => (outcomes.size > 1 ? `${count}x ${k}` : k))
      .join(", "),
    governor: governorCost!,
    floor: floor!,
    trips,
    klinesFetches: klines.requests.length,
  };
}

/** The scale table and its JSON line; returns the exit code. */
export async function runScale(options: Options, stack: StackInfo): Promise<number> {
  const c = stackClients(stack);
  await c.redis(["FLUSHALL"]);
  await c.sim("POST", "/__sim/reset");
  await Promise.all(
    OPEN.map((s, i) =>
      c.sim("PUT", `/__sim/klines/${s}`, { preset: i === 0 ? "TREND_STRONG" : "BASE" }),
    ),
  );
  console.error("bench: scale, serving the governor and the floor worker on workerd directly ...");
  const governor = await serveGovernor(stack, options.keyPrefix, SLOT_CAPS);
  const floorWorker = await serveFloor(stack, options.keyPrefix);
  const n = options.scaleEvaluations;
  const cells: Cell[] = [];
  try {
    const plan: [number, number][] = [
      ...POSITIONS.map((p): [number, number] => [p, BASE_UNIVERSE]),
      ...UNIVERSES.map((u): [number, number] => [BASE_POSITIONS, u]),
    ];
    for (const [positions, universe] of plan) {
      console.error(`bench: scale, ${positions} open positions, universe ${universe} ...`);
      const warm = cells.length === 0 ? OWN_COST_WARM_UP : CELL_WARM_UP;
      cells.push(
        await measureCell(
          c,
          governor,
          floorWorker,
          options.keyPrefix,
          n,
          positions,
          universe,
          warm,
        ),
      );
    }
  } finally {
    await governor.dispose();
    await floorWorker.dispose();
  }

  const own = (cell: Cell) => cell.governor.cpuMsPerRequest - cell.floor.cpuMsPerRequest;
  const row = (cell: Cell, label: string) => [
    label,
    cell.outcome,
    f2(cell.governor.p50Ms),
    f2(cell.floor.p50Ms),
    f2(cell.governor.cpuMsPerRequest),
    f2(cell.floor.cpuMsPerRequest),
    f2(own(cell)),
    String(Math.round(cell.governor.sizes.out1)),
    String(cell.trips.sequential),
    String(cell.klinesFetches),
  ];
  const header = [
    "",
    "outcome",
    "p50 ms",
    "floor p50 ms",
    "workerd CPU ms/eval",
    "floor CPU ms/req",
    "own CPU ms/eval",
    "state read answer B",
    "round trips",
    "klines fetches",
  ];
  const byPositions = cells.slice(0, POSITIONS.length);
  const byUniverse = cells.slice(POSITIONS.length);
  console.log(
    `Scale, workerd direct (Miniflare): ${n} serial re-entries on an open position per cell, taking ` +
      `turns with the floor worker's requests, after ${OWN_COST_WARM_UP} warm-up ones each before the ` +
      `first cell and ${CELL_WARM_UP} before each other; caches warm; slot caps raised to 100; ` +
      `load average ${loadAvg().join(" ")}`,
  );
  console.log(
    table(
      header,
      byPositions.map((cell) =>
        row(cell, `${cell.openPositions} open, universe ${cell.universeSymbols}`),
      ),
    ),
  );
  console.log();
  console.log(
    table(
      header,
      byUniverse.map((cell) =>
        row(cell, `universe ${cell.universeSymbols}, ${cell.openPositions} open`),
      ),
    ),
  );
  const slope = (a: Cell, b: Cell, f: (cell: Cell) => number) =>
    (f(b) - f(a)) / (b.openPositions - a.openPositions);
  const [p4, p20, p100] = byPositions as [Cell, Cell, Cell];
  const p50 = (cell: Cell) => cell.governor.p50Ms;
  console.log(
    `  per added open position: latency ${f2(slope(p4, p20, p50))} ms (4->20), ${f2(slope(p20, p100, p50))} ms ` +
      `(20->100); own CPU ${f2(slope(p4, p20, own))} ms (4->20), ${f2(slope(p20, p100, own))} ms (20->100) ` +
      "(a later slope well above the earlier one would mean faster than linear)",
  );
  const json = (cell: Cell) => ({
    open_positions: cell.openPositions,
    universe_symbols: cell.universeSymbols,
    outcome: cell.outcome,
    p50_ms: round(cell.governor.p50Ms),
    floor_worker_p50_ms: round(cell.floor.p50Ms),
    worker_cpu_ms_per_eval: round(cell.governor.cpuMsPerRequest),
    worker_cpu_ms_floor: round(cell.floor.cpuMsPerRequest),
    own_cpu_ms: round(own(cell)),
    read_state_answer_bytes: Math.round(cell.governor.sizes.out1),
    sequential_round_trips: cell.trips.sequential,
    klines_fetches: cell.klinesFetches,
  });
  console.log(
    JSON.stringify({
      mode: "direct",
      evaluations_per_cell: n,
      load_average: loadAvg(),
      by_open_positions: byPositions.map(json),
      by_universe_symbols: byUniverse.map(json),
    }),
  );
  return 0;
}

function loadAvg(): number[] {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
}
