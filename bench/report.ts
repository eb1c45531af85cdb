/**
 * The bench's report: the tables, the notes on missed targets, and the JSON line.
 */
import { cpus } from "node:os";
import { percentile, type StackInfo } from "./clients.ts";
import { byStage, type OwnCost } from "./own-cost.ts";
import { countersCostLines, type CountersCost } from "./counters-cost.ts";
import { MIXED_KINDS, type Options } from "./options.ts";
import type { Bench, Floor, MixedResult, OwnCostResult, Sample } from "./phases.ts";
import type { World } from "./world.ts";

export const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "-");
export const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "-");

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n");
}

export function outcomes(samples: Sample[]): string {
  const counts = new Map<string, number>();
  for (const s of samples) {
    const key = `${s.decision} ${s.reason.replace(/^active_slots_/, "")}`.trim();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => (counts.size > 1 ? `${n}x ${k}` : k)).join(", ");
}

export const KIND_LABEL: Record<string, string> = {
  allow_free: "allow (slot free)",
  allow: "allow (slot held)",
  replay: "replay of that allow",
  threshold: "threshold block",
  universe: "universe block",
  universe_unlisted: "universe block, unlisted",
  close: "close",
  rotation: "rotation start",
  rotation_confirm: "rotation confirm",
  rotation_wait: "rotation (still waiting)",
};

export const byKind = (samples: Sample[]) => {
  const groups = new Map<string, Sample[]>();
  for (const s of samples) groups.set(s.kind, [...(groups.get(s.kind) ?? []), s]);
  return groups;
};

export const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

export function spread(values: number[]): string {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? f2(lo) : `${f2(mean(values))} (${lo}-${hi})`;
}

export const round = (n: number) => Math.round(n * 1000) / 1000;

export interface RunResult {
  options: Options;
  stack: StackInfo;
  ownStack: boolean;
  world: World;
  bench: Bench;
  warm: number;
  floor: Floor;
  loadedFloor: Floor;
  mixed: MixedResult;
  cost: CountersCost | undefined;
  own: OwnCostResult;
  /** klines fetches after warm-up (the unlisted symbol's aside) */
  fetched: string[];
  newPositionFetches: number;
  otherFetches: number;
  crossedHour: boolean;
  /** performance.now() at the start */
  t0: number;
  loadAtStart: number;
}

export function printReport(r: RunResult): void {
  const { options, stack, ownStack, world, bench, warm, floor, loadedFloor, mixed, cost, own } = r;
  const { fetched, newPositionFetches, otherFetches, crossedHour, t0, loadAtStart } = r;
  // -- per-kind table (serial phases)
  const serialGroups = byKind(bench.serial);
  const serialRows = [...serialGroups].map(([kind, samples]) => {
    const redis = samples.map((s) => s.redis!);
    const weight = samples.map((s) => s.weight!);
    return [
      KIND_LABEL[kind] ?? kind,
      String(samples.length),
      outcomes(samples),
      f1(
        percentile(
          samples.map((s) => s.ms),
          50,
        ),
      ),
      spread(redis),
      spread(weight),
    ];
  });
  const kindFigure = (kind: string, field: "redis" | "weight") => {
    const samples = serialGroups.get(kind) ?? [];
    return samples.length ? mean(samples.map((s) => s[field]!)) : NaN;
  };

  // -- mixed phase
  const m = mixed.samples;
  const latencies = m.map((s) => s.ms);
  const n = m.length;
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  const throughput = n / (mixed.wallMs / 1000);
  const redisPerEval = mixed.redisRequests / n;
  const weightPerEval = mixed.binanceWeight / n;
  const ratio = p50 / floor.floorMs;
  const mixedRows = [...byKind(m)].map(([kind, samples]) => [
    KIND_LABEL[kind] ?? kind,
    String(samples.length),
    outcomes(samples),
    f1(
      percentile(
        samples.map((s) => s.ms),
        50,
      ),
    ),
    f1(
      percentile(
        samples.map((s) => s.ms),
        99,
      ),
    ),
  ]);
  const unexpected = m.filter((s) => !s.expected && s.kind !== "rotation_wait");
  const serialUnexpected = bench.serial.filter((s) => !s.expected && s.kind !== "rotation_wait");

  const allowRedis = kindFigure("allow_free", "redis");
  const warmWeights = [...serialGroups]
    .filter(([kind]) => kind !== "universe_unlisted")
    .flatMap(([, samples]) => samples.map((s) => s.weight!));
  const maxWarmWeight = Math.max(...warmWeights);
  const out: string[] = [];
  const say = (line = "") => out.push(line);

  say(
    `Governor bench: ${stack.governor} (${ownStack ? "private stack" : "running stack"}); ` +
      `${cpus().length} CPUs, 1-min load average ${loadAtStart.toFixed(2)} before the run ` +
      "(bench, stack and workerd share them)",
  );
  say(
    `world: universe ${world.universeSize} symbols; ${world.victims.length} open positions (BASE) + ` +
      `${world.held.length} reserved slots = 6 holders = the TREND_STRONG cap; candidates TREND_STRONG; ` +
      `caches warm (${warm} warm-up evaluations excluded)`,
  );
  say();
  say("Per decision kind: serial, each kind in its own phase; I/O counted per evaluation");
  say(
    table(
      ["kind", "n", "outcome", "p50 ms (serial)", "Redis req/eval", "Binance weight/eval"],
      serialRows,
    ),
  );
  say();
  say(
    `I/O floor (serial p50): bridge ["PING"] ${f2(floor.bridgeMs)} ms + simulator /fapi/v1/time ` +
      `${f2(floor.simMs)} ms = ${f2(floor.floorMs)} ms; governor hop alone (GET / -> 404) ${f2(floor.governorHopMs)} ms`,
  );
  say(
    `  same at concurrency ${options.concurrency}: bridge ${f2(loadedFloor.bridgeMs)} + simulator ` +
      `${f2(loadedFloor.simMs)} = ${f2(loadedFloor.floorMs)} ms; governor hop ${f2(loadedFloor.governorHopMs)} ms`,
  );
  say();
  say(
    `Mixed phase: ${n} evaluations at concurrency ${options.concurrency}, mix ${options.mixText} ` +
      `(${MIXED_KINDS.filter((k) => options.mix[k] > 0)
        .map((k) => `${k}=${options.mix[k]}`)
        .join(" ")})`,
  );
  say(table(["kind", "n", "outcome", "p50 ms", "p99 ms"], mixedRows));
  say(
    `  all: p50 ${f2(p50)} ms, p99 ${f2(p99)} ms, ${f1(throughput)} evaluations/s over ${f1(mixed.wallMs)} ms; ` +
      `${f2(redisPerEval)} Redis requests and ${f2(weightPerEval)} Binance weight per evaluation`,
  );
  say(
    `  klines fetches after warm-up (unlisted-symbol row aside): ${fetched.length}, of which ` +
      `${newPositionFetches} for symbols whose position opened during the run (rotation entries)` +
      (crossedHour ? "; a 1h candle closed during the run (every regime cache expires then)" : ""),
  );
  say();

  const ownFields = ownCostFields(own.direct, own.floor);
  const check = (ok: boolean) => (ok ? "met" : "MISSED");
  say("Targets");
  say(`  hot-path ALLOW <= 2 Redis requests: ${f2(allowRedis)} -> ${check(allowRedis <= 2)}`);
  say(
    `  Binance weight <= 5.5 per evaluation, warm caches: mixed ${f2(weightPerEval)}, worst kind ${f2(maxWarmWeight)} -> ` +
      `${check(weightPerEval <= 5.5 && maxWarmWeight <= 5.5)}`,
  );
  if (cost) {
    const ok = cost.on.redisRequestsPerEval <= 2;
    say(
      `  hot-path ALLOW with the counters on <= 2 Redis requests: ${f2(cost.on.redisRequestsPerEval)} -> ${check(ok)}`,
    );
  }
  const trips = own.trips.direct.sequential;
  say(
    `  sequential dependency round trips of a hot-path ALLOW = 2: ${trips} -> ${check(trips === 2)}`,
  );
  // The JSON line's figures, as it rounds them (so 1.004 does not read "1.00 -> MISSED").
  const { overhead_ms, own_cpu_ms } = ownFields;
  say(`  own cost (overhead_ms) <= 1 ms: ${overhead_ms} -> ${check(overhead_ms <= 1)}`);
  say(`  own CPU (own_cpu_ms) <= 1 ms: ${own_cpu_ms} -> ${check(own_cpu_ms <= 1)}`);
  say(
    `  (reported, no longer a target: ratio_p50_to_floor ${f2(ratio)}, against one bridge and one ` +
      "simulator round trip measured from outside the runtime; the floor worker replaced it, see Notes)",
  );
  say();
  if (cost) {
    for (const line of countersCostLines(cost)) say(line);
    say(
      "  The counters add no request: they are HINCRBY/HSET/EXPIRE inside the two scripts an " +
        "evaluation runs anyway (the commands row is exact; CPU and latency rows are within this " +
        "machine's noise when their difference is small against p50).",
    );
    say();
  }

  say("Notes");
  say(
    "  - 'allow (slot held)' in the mixed phase re-enters a symbol that holds a reserved slot " +
      "(reason symbol_holds_slot): a slot-free ALLOW takes a slot for GOV_RESERVATION_TTL (300 s), so " +
      `${options.concurrency} concurrent slot-free ALLOWs would need ${options.concurrency} free slots (the cap is at most 6) ` +
      "and would make the rotation/threshold plans of the same mix over_capacity. Both ALLOW kinds run the same " +
      "two scripts and the same single Binance call (rows above).",
  );
  say(
    "  - rotations run one at a time in the mixed phase (the bench itself opens the new entry's position in the " +
      "simulator after the confirmation); their wait for the Apply Layer simulator is not in any latency figure.",
  );
  if (newPositionFetches > 0) {
    say(
      `  - ${newPositionFetches} klines fetches (weight 2 each) hit symbols whose regime WAS cached in Redis: ` +
        "READ_STATE (lib/rotation/lua/read-state.ts) returns the market caches of the plan's symbol and of the open symbols " +
        "seen by the previous evaluation (key governor:open_symbols) only; a position that opened since (here: " +
        "every rotation's new entry) is missing from that list, so evaluatePlan's marketOf() goes to Binance " +
        "(lib/evaluate/evaluate.ts, `reads.markets.get(symbol) ?? fetchMarket(...)`), and every evaluation in " +
        "flight until one of them rewrites the list does the same. This is what lifts the rotation start and the " +
        "mixed phase above 5 weight. Fix: prefetch the caches of the governor's entry records too (READ_STATE " +
        "already reads HGETALL governor:entries; new positions come from entries it allowed), or read a missing " +
        "cache from Redis before calling Binance.",
    );
  }
  if (otherFetches > 0 && !crossedHour) {
    say(`  - ${otherFetches} other klines fetches after warm-up (unexpected with warm caches)`);
  }
  const unlistedWeight = kindFigure("universe_unlisted", "weight");
  const universeWeight = kindFigure("universe", "weight");
  if (universeWeight > 0) {
    say(
      `  - universe blocks cost ${f2(universeWeight)} Binance weight (${f2(unlistedWeight)} for a symbol the exchange ` +
        "does not list): the account call (and, when the symbol has no cached regime, a klines call) is made " +
        "before the universe gate runs (lib/evaluate/evaluate.ts, evaluatePlan: Promise.allSettled([binance.account(), " +
        "marketOf(plan.symbol)]) precedes runGates). The universe is already in READ_STATE's answer: checking it " +
        "before any Binance call would make these blocks cost 0 weight; an unlisted symbol is also never cached " +
        "(no negative cache), so every such plan pays the failed klines call again.",
    );
  }
  const serialAllowP50 = percentile(
    (serialGroups.get("allow") ?? []).map((s) => s.ms),
    50,
  );
  say(
    `  - ratio_p50_to_floor ${f2(ratio)}. This floor is one bridge + one simulator round trip ` +
      `(${f2(floor.floorMs)} ms); an evaluation makes two in sequence (READ_STATE with GET /fapi/v3/account ` +
      "beside it, then EVALUATE_SLOTS), so even with zero compute it is " +
      `~${f2((2 * floor.bridgeMs) / floor.floorMs)}x or more of it. On top come the governor's own HTTP hop ` +
      `through wrangler dev's proxy into workerd (${f2(floor.governorHopMs)} ms for a bare 404) and its work; ` +
      `serial p50 of an ALLOW is ${f2(serialAllowP50)} ms. At concurrency ${options.concurrency} the bench, ` +
      "node (bridge + simulator) and workerd share this machine's CPUs " +
      `(governor hop ${f2(loadedFloor.governorHopMs)} ms under load), so queueing dominates p50. ` +
      "The like-for-like comparison is the floor worker in the same runtime: overhead_ms and own_cpu_ms.",
  );
  if (unexpected.length > 0 || serialUnexpected.length > 0) {
    say(
      `  - unexpected outcomes: ${unexpected.length} in the mixed phase (${outcomes(unexpected)}), ` +
        `${serialUnexpected.length} in the serial phases (${outcomes(serialUnexpected)})`,
    );
  }
  const rotationWaits = [...m, ...bench.serial].filter((s) => s.kind === "rotation_wait").length;
  if (rotationWaits > 0) {
    say(
      `  - ${rotationWaits} confirmation resubmissions came before apply.result was written (still waiting)`,
    );
  }
  say(`  - total bench time ${f1((performance.now() - t0) / 1000)} s`);
  console.log(out.join("\n"));
  console.log(
    JSON.stringify({
      evaluations: n,
      concurrency: options.concurrency,
      p50_ms: round(p50),
      p99_ms: round(p99),
      throughput_per_s: round(throughput),
      redis_requests_per_eval: round(redisPerEval),
      binance_weight_per_eval: round(weightPerEval),
      floor_ms: round(floor.floorMs),
      ratio_p50_to_floor: round(ratio),
      mode: "direct",
      sequential_round_trips: own.trips.direct.sequential,
      sequential_round_trips_by_latency: round(own.trips.direct.byLatency),
      floor_sequential_round_trips: own.trips.floor.sequential,
      ...ownFields,
      floor_worker_p50_ms: round(own.floor.p50Ms),
      worker_cpu_ms_floor: round(own.floor.cpuMsPerRequest),
      direct_throughput_c8_per_s: round(own.directC8.perS),
      ...(own.baseline
        ? {
            baseline: { root: options.baseline, ...ownCostFields(own.baseline, own.floor) },
          }
        : {}),
      wrangler_dev: {
        eval_p50_ms: round(own.wrangler.p50Ms),
        worker_cpu_ms_per_eval: round(own.wrangler.cpuMsPerRequest),
        sequential_round_trips: own.trips.wrangler?.sequential ?? null,
      },
      ...(cost
        ? {
            counters_cost: {
              evaluations: cost.evaluations,
              redis_requests_per_eval: {
                on: cost.on.redisRequestsPerEval,
                off: cost.off.redisRequestsPerEval,
              },
              redis_commands_per_eval: {
                on: round(cost.on.redisCommandsPerEval),
                off: round(cost.off.redisCommandsPerEval),
              },
              redis_script_usec_per_eval: {
                on: round(cost.on.redisUsecPerEval),
                off: round(cost.off.redisUsecPerEval),
              },
              workerd_cpu_ms_per_eval: {
                on: cost.on.workerdCpuMsPerEval,
                off: cost.off.workerdCpuMsPerEval,
              },
              p50_ms: { on: round(cost.on.p50Ms), off: round(cost.off.p50Ms) },
              p99_ms: { on: round(cost.on.p99Ms), off: round(cost.off.p99Ms) },
            },
          }
        : {}),
    }),
  );
}

/** The JSON fields of one governor against the floor worker measured in the same turns. */
function ownCostFields(cost: OwnCost, floor: OwnCost) {
  return {
    eval_p50_ms: round(cost.p50Ms),
    overhead_ms: round(cost.p50Ms - floor.p50Ms),
    overhead_outside_dependencies_ms: round(
      cost.outsideDependenciesMs - floor.outsideDependenciesMs,
    ),
    overhead_in_dependencies_ms: round(cost.inDependenciesMs - floor.inDependenciesMs),
    overhead_by_stage_ms: byStage((name) => round(cost.stages[name] - floor.stages[name])),
    worker_cpu_ms_per_eval: round(cost.cpuMsPerRequest),
    own_cpu_ms: round(cost.cpuMsPerRequest - floor.cpuMsPerRequest),
  };
}
