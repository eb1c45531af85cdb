/**
 * Apply Layer simulator: executes the governor's rotation close plans.
 *
 * Reads `{prefix}:stream:apply.plan` (XREAD BLOCK on a dedicated connection,
 * starting after the last entry present at start), and for every entry with
 * `action=FULL_CLOSE_PROPOSED` and `rotation_trigger=true`, when the
 * simulator's `apply.auto` is on: waits `apply.delay_ms`, executes the close
 * in the exchange simulator (when `apply.executed`) as the plan says: every leg
 * of `legs` (hedge mode, both sides), else the one `side`/`position_side`/`qty`
 * order, each a reduce-only market order on that position side (a plan
 * without them closes the whole symbol), then XADDs the one execution result
 * of the plan to `{prefix}:stream:apply.result`:
 * `plan_id, symbol, executed, reduceOnly=true, action=FULL_CLOSE_PROPOSED, ts`.
 */
import { Redis } from "ioredis";
import { redisKeys } from "../../lib/keys.ts";
import type { ExchangeState } from "../exchange-sim/state.ts";

export interface ApplySimOptions {
  redisUrl: string;
  keyPrefix: string;
  state: ExchangeState;
  /** XREAD BLOCK timeout in ms (default 1000); stop() does not wait for it. */
  blockMs?: number;
  log?: (line: string) => void;
}

export interface ApplySim {
  /** Number of stream entries read so far (any action). */
  readonly read: number;
  /** Number of rotation close plans picked up for execution so far. */
  readonly seen: number;
  /** Close plans waiting for their `apply.delay_ms` (a reset cancels them). */
  readonly pending: number;
  stop(): Promise<void>;
}

type StreamReply = Array<[string, Array<[string, string[]]>]> | null;

function fieldsToObject(fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i] as string] = fields[i + 1] as string;
  return out;
}

interface Leg {
  position_side: string;
  side: string;
  qty: string;
}

function legsOf(fields: Record<string, string>): Leg[] | undefined {
  if (fields.legs) {
    try {
      const parsed = JSON.parse(fields.legs) as unknown;
      if (Array.isArray(parsed)) return parsed as Leg[];
    } catch {
      return [];
    }
  }
  const { position_side, side, qty } = fields;
  if (position_side && side && qty && ["LONG", "SHORT", "BOTH"].includes(position_side)) {
    return [{ position_side, side, qty }];
  }
  return undefined;
}

/** The orders of one close plan, as an Apply Layer sends them to Binance. */
function executeClose(state: ExchangeState, symbol: string, fields: Record<string, string>): void {
  const legs = legsOf(fields);
  if (legs === undefined) {
    state.closePosition(symbol);
    return;
  }
  for (const leg of legs) state.closeLeg(symbol, leg.position_side, leg.side, String(leg.qty));
}

export async function startApplySim(options: ApplySimOptions): Promise<ApplySim> {
  const keys = redisKeys(options.keyPrefix);
  const state = options.state;
  const blockMs = options.blockMs ?? 1000;
  const log = options.log ?? (() => {});
  const redisOptions = { lazyConnect: true, maxRetriesPerRequest: null, enableReadyCheck: true };
  const reader = new Redis(options.redisUrl, {
    ...redisOptions,
    connectionName: "apply-sim-reader",
  });
  const writer = new Redis(options.redisUrl, {
    ...redisOptions,
    connectionName: "apply-sim-writer",
  });
  // Connection errors are retried by ioredis; keep them from crashing the process.
  reader.on("error", () => {});
  writer.on("error", () => {});

  let stopped = false;
  let seen = 0;
  let read = 0;
  const timers = new Set<NodeJS.Timeout>();
  const cancelPending = () => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  };
  state.resetListeners.add(cancelPending);

  try {
    await Promise.all([reader.connect(), writer.connect()]);
  } catch (e) {
    state.resetListeners.delete(cancelPending);
    reader.disconnect();
    writer.disconnect();
    throw e;
  }

  // Start after the newest entry present now (the id `$` would stand for), but
  // as an explicit id, so nothing appended between two XREADs is missed.
  const newest = (await writer.xrevrange(keys.applyPlanStream, "+", "-", "COUNT", 1)) as Array<
    [string, string[]]
  >;
  let lastId = newest[0]?.[0] ?? "0-0";

  async function execute(fields: Record<string, string>): Promise<void> {
    const symbol = fields.symbol ?? "";
    const executed = state.apply.executed;
    if (executed && symbol) executeClose(state, symbol, fields);
    const planId = fields.plan_id ?? "";
    state.applied.push({ plan_id: planId, symbol, executed, at: state.now() });
    await writer.xadd(
      keys.applyResultStream,
      "*",
      "plan_id",
      planId,
      "symbol",
      symbol,
      "executed",
      executed ? "true" : "false",
      "reduceOnly",
      "true",
      "action",
      "FULL_CLOSE_PROPOSED",
      "ts",
      String(Math.trunc(state.now())),
    );
    log(`apply-sim: ${planId} ${symbol} executed=${executed}`);
  }

  function onPlan(fields: Record<string, string>): void {
    if (fields.action !== "FULL_CLOSE_PROPOSED" || fields.rotation_trigger !== "true") return;
    if (!state.apply.auto) return;
    seen += 1;
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopped) return;
      execute(fields).catch((e: unknown) => log(`apply-sim: XADD failed: ${String(e)}`));
    }, state.apply.delay_ms);
    timers.add(timer);
  }

  // stop() ends the loop at once: a read in flight is left behind, since ioredis
  // never settles it once the server went away first (Ctrl-C reaches the stack's
  // redis-server too) and it is reconnecting.
  let wake = () => {};
  const woken = new Promise<null>((resolve) => (wake = () => resolve(null)));
  const loop = (async () => {
    while (!stopped) {
      try {
        const reply = await Promise.race([
          reader.xread(
            "COUNT",
            100,
            "BLOCK",
            blockMs,
            "STREAMS",
            keys.applyPlanStream,
            lastId,
          ) as Promise<StreamReply>,
          woken,
        ]);
        if (stopped) break;
        if (!reply) continue;
        for (const [, entries] of reply) {
          for (const [id, fields] of entries) {
            lastId = id;
            read += 1;
            onPlan(fieldsToObject(fields));
          }
        }
      } catch (e) {
        if (stopped) break;
        log(`apply-sim: XREAD failed: ${String(e)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  })();

  let stopping: Promise<void> | undefined;
  return {
    get read() {
      return read;
    },
    get seen() {
      return seen;
    },
    get pending() {
      return timers.size;
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        wake();
        cancelPending();
        state.resetListeners.delete(cancelPending);
        reader.disconnect();
        await loop;
        // QUIT politely, but never hang on a Redis that went away.
        await Promise.race([
          writer.quit().catch(() => undefined),
          new Promise((resolve) => setTimeout(resolve, 500).unref()),
        ]);
        writer.disconnect();
      })();
      return stopping;
    },
  };
}
