/**
 * `npm run bench -- --profile`: where an evaluation's own CPU goes, sampled by
 * V8 inside workerd.
 *
 * The built Worker is served by workerd directly (Miniflare, as in the direct
 * mode) with its V8 inspector open; the bench attaches over the Chrome
 * DevTools protocol (Node's built-in WebSocket), runs `Profiler.start`,
 * sends serial re-entries on an open position (the hot-path ALLOW of the
 * scale table: the plan's symbol holds its slot), then `Profiler.stop`. Per
 * world (4 and 100 open positions by default) it prints the top self-time
 * entries as shares of the samples taken outside `(idle)` (function, the
 * source file the bundle took it from, line in that bundle), and writes the
 * whole profile to `.dev/profiles/` (open it in Chrome DevTools' Performance
 * panel, or VS Code).
 *
 * Self time is where samples landed: a runtime API implemented natively
 * (fetch, Response.text, console.log) shows up under its own name without a
 * file; a V8 builtin such as JSON.parse is charged to its caller.
 * `(program)` is native work outside any JS frame (the runtime's I/O, the
 * HTTP stack). The inspector itself costs something (console.log, for one,
 * also reports to it): compare shares before and after a change, and take
 * times from the JSON line of `npm run bench`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../dev/free-port.ts";
import { percentile, stackClients, type StackInfo } from "./clients.ts";
import { wallClockMs } from "../dev/wall-clock.ts";
import { cpuMs } from "./cpu.ts";
import { callsWithin, type Interval } from "./own-cost.ts";
import { serveGovernor } from "./direct.ts";
import type { Options } from "./options.ts";
import { f1, f2, table } from "./report.ts";
import { arrange, OPEN, planId, SLOT_CAPS } from "./scale.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** µs between samples */
const SAMPLING_INTERVAL_US = 50;
/** entries in the top table */
const TOP = 15;
/** universe of every profiled world */
const UNIVERSE = 200;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
/** A V8 CPU profile (`Profiler.stop`'s `profile`; the `.cpuprofile` file format). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** One Chrome DevTools protocol session over a WebSocket. */
async function inspector(url: string) {
  const ws = new WebSocket(url);
  await new Promise<void>((ok, fail) => {
    ws.addEventListener("open", () => ok(), { once: true });
    ws.addEventListener("error", () => fail(new Error(`inspector: cannot connect to ${url}`)), {
      once: true,
    });
  });
  let next = 0;
  const waiting = new Map<number, (message: { result?: unknown; error?: unknown }) => void>();
  ws.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message);
  });
  return {
    async send<T = unknown>(method: string, params: object = {}): Promise<T> {
      const id = ++next;
      const answer = await new Promise<{ result?: unknown; error?: unknown }>((done) => {
        waiting.set(id, done);
        ws.send(JSON.stringify({ id, method, params }));
      });
      waiting.delete(id);
      if (answer.error) throw new Error(`inspector ${method}: ${JSON.stringify(answer.error)}`);
      return answer.result as T;
    },
    close: () => ws.close(),
  };
}

/** Source file of each line of a wrangler bundle (its `// path/to/file.ts` markers). */
export function bundleFiles(source: string): (line: number) => string {
  const starts: [number, string][] = [];
  source.split("\n").forEach((text, i) => {
    const marker = /^\/\/ ((?:node_modules|lib|functions)\/\S+)$/.exec(text);
    if (marker) starts.push([i, marker[1]!.replace(/^node_modules\/(?:\.pnpm\/)?/, "")]);
  });
  return (line) => {
    let file = "";
    for (const [start, name] of starts) {
      if (start > line) break;
      file = name;
    }
    return file;
  };
}

export interface SelfTime {
  name: string;
  file: string;
  line: number;
  samples: number;
}

/**
 * Samples by the function they landed in (name, file, line), most first; plus
 * the totals. Counted, not weighted by `timeDeltas`: on a loaded machine the
 * sampler skips ticks (gaps of milliseconds while the isolate waits), and a
 * gap would otherwise be charged to whatever ran next.
 */
export function selfTimes(profile: CpuProfile, fileOf: (line: number) => string) {
  const byNode = new Map<number, number>();
  for (const node of profile.samples) byNode.set(node, (byNode.get(node) ?? 0) + 1);
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parents = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parents.set(child, n.id);
  const entries = new Map<string, SelfTime>();
  let idle = 0;
  for (const [id, samples] of byNode) {
    const frame = nodes.get(id)!.callFrame;
    if (frame.functionName === "(idle)") {
      idle += samples;
      continue;
    }
    const name = frame.functionName || "(anonymous)";
    // A native frame (no script): where it was called from says what it is.
    const caller = frame.url ? undefined : nodes.get(parents.get(id) ?? -1)?.callFrame;
    const file = frame.url
      ? fileOf(frame.lineNumber) || frame.url
      : caller?.url
        ? `called by ${caller.functionName || "(anonymous)"}, ${fileOf(caller.lineNumber)}`
        : "";
    const key = `${name}\u0000${file}\u0000${frame.lineNumber}`;
    const entry = entries.get(key) ?? { name, file, line: frame.lineNumber + 1, samples: 0 };
    entry.samples += samples;
    entries.set(key, entry);
  }
  const byFile = new Map<string, number>();
  for (const e of entries.values()) {
    const group =
      e.file && !e.file.startsWith("called by")
        ? e.file
            .split("/")
            .slice(0, e.file.startsWith("@") ? 2 : 1)
            .join("/")
        : `${e.name} (native)`;
    byFile.set(group, (byFile.get(group) ?? 0) + e.samples);
  }
  const busy = profile.samples.length - idle;
  return {
    idle,
    busy,
    entries: [...entries.values()].sort((a, b) => b.samples - a.samples),
    byFile: [...byFile].sort((a, b) => b[1] - a[1]),
  };
}

/** Profile `n` serial re-entries on an open position in a world of `positions` open positions. */
export async function runProfile(options: Options, stack: StackInfo): Promise<number> {
  const c = stackClients(stack);
  await c.redis(["FLUSHALL"]);
  await c.sim("POST", "/__sim/reset");
  await Promise.all(
    OPEN.map((s, i) =>
      c.sim("PUT", `/__sim/klines/${s}`, { preset: i === 0 ? "TREND_STRONG" : "BASE" }),
    ),
  );
  const port = await freePort();
  console.error(
    `bench: profile, serving the governor on workerd directly, inspector on ${port} ...`,
  );
  const governor = await serveGovernor(stack, options.keyPrefix, SLOT_CAPS, {
    inspectorPort: port,
  });
  const fileOf = bundleFiles(governor.source);
  const gov = stackClients({ ...stack, governor: governor.url });
  const outDir = join(ROOT, ".dev", "profiles");
  mkdirSync(outDir, { recursive: true });
  const n = options.profileEvaluations;
  const summary: Record<string, unknown>[] = [];
  try {
    for (const positions of options.profilePositions) {
      console.error(`bench: profile, ${positions} open positions, ${n} evaluations ...`);
      await arrange(c, gov, options.keyPrefix, positions, UNIVERSE);
      const outcomes = new Map<string, number>();
      const reEntry = async () => {
        const answer = await gov.postPlan({ plan_id: planId("prof"), symbol: OPEN[0]!, score: 1 });
        const key =
          answer.status === 200
            ? `${String(answer.body.decision)} ${String(answer.body.reason ?? "")}`
            : `HTTP ${answer.status}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      };
      for (let i = 0; i < 20; i++) await reEntry();
      outcomes.clear();
      const session = await inspector(`ws://127.0.0.1:${port}/core:user:${governor.name}`);
      let profile: CpuProfile;
      let cpuPerEval = NaN;
      let readBytes = NaN;
      try {
        await session.send("Profiler.enable");
        await session.send("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
        await session.send("Profiler.start");
        const cpu0 = cpuMs(governor.pid);
        const bridgeFrom = (await c.bridgeTimings(0)).count;
        const windows: [number, number][] = [];
        for (let i = 0; i < n; i++) {
          const t0 = wallClockMs();
          await reEntry();
          windows.push([t0, wallClockMs()]);
        }
        cpuPerEval = (cpuMs(governor.pid) - cpu0) / n;
        // Each evaluation's first Redis request is its state read.
        const timings = (await c.bridgeTimings(bridgeFrom)).timings as Interval[];
        readBytes = percentile(
          callsWithin(windows, timings)
            .map((calls) => calls[0]?.bytes_out ?? NaN)
            .filter(Number.isFinite),
          50,
        );
        ({ profile } = await session.send<{ profile: CpuProfile }>("Profiler.stop"));
        await session.send("Profiler.disable");
      } finally {
        session.close();
      }
      const file = join(outDir, `governor-${positions}-positions.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      const t = selfTimes(profile, fileOf);
      const share = (samples: number) => (100 * samples) / t.busy;
      const native = (name: string) => t.entries.find((e) => e.name === name)?.samples ?? 0;
      console.log(
        `Profile: ${positions} open positions, universe ${UNIVERSE}, ${n} serial re-entries ` +
          `(${[...outcomes].map(([k, count]) => `${count}x ${k}`).join(", ")}); ` +
          `${file.slice(ROOT.length + 1)}`,
      );
      console.log(
        `  ${t.busy} samples outside (idle), ${f1(t.busy / n)} per evaluation; workerd CPU ` +
          `${f2(cpuPerEval)} ms per evaluation while profiled (/proc, all threads); ` +
          `(program) ${f1(share(native("(program)")))} %, (garbage collector) ` +
          `${f1(share(native("(garbage collector)")))} %; state read answer ${readBytes} bytes (median)`,
      );
      console.log(
        table(
          ["self", "% of samples", "where"],
          t.entries
            .slice(0, TOP)
            .map((e) => [
              e.name,
              f1(share(e.samples)),
              e.file.startsWith("called by")
                ? e.file
                : e.file
                  ? `${e.file} (bundle line ${e.line})`
                  : "",
            ]),
        ),
      );
      console.log(
        `  by package / directory (% of samples): ${t.byFile
          .slice(0, 12)
          .map(([group, samples]) => `${group} ${f1(share(samples))}`)
          .join(", ")}`,
      );
      console.log();
      const pct = (samples: number) => Math.round(share(samples) * 10) / 10;
      summary.push({
        open_positions: positions,
        evaluations: n,
        samples_per_eval: Math.round((t.busy / n) * 10) / 10,
        workerd_cpu_ms_per_eval: Math.round(cpuPerEval * 100) / 100,
        read_state_answer_bytes: readBytes,
        top: t.entries
          .slice(0, TOP)
          .map((e) => ({ name: e.name, file: e.file, pct: pct(e.samples) })),
        by_package: t.byFile.slice(0, 12).map(([group, samples]) => ({ group, pct: pct(samples) })),
      });
    }
  } finally {
    await governor.dispose();
  }
  console.log(JSON.stringify({ mode: "direct", profile: summary }));
  return 0;
}
