/**
 * The bench's command line: options, their defaults and --help.
 */
import { parseArgs } from "node:util";

export const HELP = `Usage: npm run bench -- [options]

  --evaluations N     evaluations in the mixed phase (default 400)
  --concurrency C     requests in flight in the mixed phase (default 8)
  --mix SPEC          shares of the mixed phase, e.g. allow=70,rotation=10,block=20
                      kinds: allow (slot held, re-entry), rotation (slots full, strong
                      candidate: BLOCK waiting + close plan, then the confirmation),
                      universe, threshold, close; block = universe + threshold halves
                      (default allow=70,rotation=10,block=20)
  --per-kind N        evaluations per kind in the serial counting phases (default 20)
  --stack-file PATH   use a running stack (its Redis is FLUSHED, its simulator reset)
  --key-prefix P      GOV_KEY_PREFIX of that stack (default quantum)
  --seed S            seed of the mixed phase's order (default 1)
  --cost-evaluations N
                      hot-path ALLOWs per side in the counters' cost comparison
                      (two more private stacks, GOV_METRICS=on/off; default 200, 0 skips it)
  --baseline DIR      also serve the governor built from DIR (another checkout of this
                      repository, with its node_modules) on workerd directly, and measure it
                      taking turns with this one and the floor worker: before and after a
                      change under the same load (JSON: baseline)
  --scale             only the scale table: hot-path ALLOW latency and the governor's own CPU
                      per evaluation on workerd directly, with 4, 20 and 100 open positions
                      and with universes of 10, 200 and 2,000 symbols (then a JSON line)
  --scale-evaluations N
                      serial evaluations per cell of the scale table (default 100; with
                      far fewer, the CPU columns are mostly noise, even below 0)
  --profile           only the CPU profile: serial re-entries on an open position on workerd
                      directly, sampled by V8 through workerd's inspector; prints the top
                      self-time entries and writes .dev/profiles/*.cpuprofile (then a JSON line)
  --profile-evaluations N
                      profiled evaluations per world (default 300)
  --profile-positions LIST
                      open positions of each profiled world (default 4,100; at most 100)
  --help              this text

Targets: hot-path ALLOW <= 2 Redis requests, Binance weight <= 5.5 per evaluation
with warm caches, 2 sequential dependency round trips, and against the floor worker
(the same dependency calls, nothing else, same runtime, same run): overhead_ms <= 1
and own_cpu_ms <= 1.`;

export type MixedKind = "allow" | "rotation" | "universe" | "threshold" | "close";
export const MIXED_KINDS: readonly MixedKind[] = [
  "allow",
  "rotation",
  "universe",
  "threshold",
  "close",
];
export interface Options {
  evaluations: number;
  concurrency: number;
  mix: Record<MixedKind, number>;
  mixText: string;
  perKind: number;
  stackFile: string | undefined;
  keyPrefix: string;
  seed: number;
  costEvaluations: number;
  baseline: string | undefined;
  scale: boolean;
  scaleEvaluations: number;
  profile: boolean;
  profileEvaluations: number;
  profilePositions: number[];
}

export function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      evaluations: { type: "string" },
      concurrency: { type: "string" },
      mix: { type: "string" },
      "per-kind": { type: "string" },
      "stack-file": { type: "string" },
      "key-prefix": { type: "string" },
      seed: { type: "string" },
      "cost-evaluations": { type: "string" },
      baseline: { type: "string" },
      scale: { type: "boolean" },
      "scale-evaluations": { type: "string" },
      profile: { type: "boolean" },
      "profile-evaluations": { type: "string" },
      "profile-positions": { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) return null;
  const int = (name: string, raw: string | undefined, fallback: number, min: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const mixText = values.mix ?? "allow=70,rotation=10,block=20";
  const mix: Record<MixedKind, number> = {
    allow: 0,
    rotation: 0,
    universe: 0,
    threshold: 0,
    close: 0,
  };
  for (const part of mixText.split(",")) {
    const match = /^\s*([a-z_]+)\s*=\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!match) throw new Error(`--mix: cannot read "${part}" (expected kind=share)`);
    const [, kind, share] = match as unknown as [string, string, string];
    if (kind === "block") {
      mix.universe += Number(share) / 2;
      mix.threshold += Number(share) / 2;
    } else if ((MIXED_KINDS as readonly string[]).includes(kind)) {
      mix[kind as MixedKind] += Number(share);
    } else {
      throw new Error(`--mix: unknown kind "${kind}" (${[...MIXED_KINDS, "block"].join(", ")})`);
    }
  }
  if (Object.values(mix).every((v) => v === 0)) throw new Error("--mix: all shares are 0");
  const profilePositions = (values["profile-positions"] ?? "4,100").split(",").map((part) => {
    const n = Number(part.trim());
    if (!Number.isInteger(n) || n < 1 || n > 100) {
      throw new Error("--profile-positions must list integers from 1 to 100");
    }
    return n;
  });
  return {
    evaluations: int("evaluations", values.evaluations, 400, 1),
    concurrency: int("concurrency", values.concurrency, 8, 1),
    mix,
    mixText,
    perKind: int("per-kind", values["per-kind"], 20, 1),
    stackFile: values["stack-file"],
    keyPrefix: values["key-prefix"] ?? "quantum",
    seed: int("seed", values.seed, 1, 0),
    costEvaluations: int("cost-evaluations", values["cost-evaluations"], 200, 0),
    baseline: values.baseline,
    scale: values.scale ?? false,
    scaleEvaluations: int("scale-evaluations", values["scale-evaluations"], 100, 1),
    profile: values.profile ?? false,
    profileEvaluations: int("profile-evaluations", values["profile-evaluations"], 300, 1),
    profilePositions,
  };
}
