/**
 * The governor as a replay gate: the project's own `evaluatePlan` and
 * `sweepLocks`, on the private Redis (store.ts), with the virtual clock as
 * `now` and the in-process exchange as Binance. After each evaluation or sweep
 * one pipelined read picks up what the scripts wrote: new governor events
 * (decisions, rotations), new apply.plan entries (rotation close plans), the
 * reservations and claims (slot holders), and the number of live locks.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { parseConfig, type Config } from "../lib/config.ts";
import type { GovernorContext } from "../lib/context.ts";
import { evaluatePlan } from "../lib/evaluate/evaluate.ts";
import { redisKeys } from "../lib/keys.ts";
import { sweepLocks } from "../lib/sweep/sweep.ts";
import { isClose } from "../lib/plans/schema.ts";
import { REASONS } from "../lib/plans/reasons.ts";
import type { Book } from "./book.ts";
import { exchangeFetch } from "./exchange.ts";
import { emptyStep } from "./gate.ts";
import type {
  CloseOrder,
  Gate,
  GateDecision,
  GateStep,
  ParamValue,
  RotationEvent,
} from "./gate.ts";
import type { Market } from "./market.ts";
import type { ReplayPlan } from "./plans.ts";
import type { ReplayStore } from "./store.ts";

/** Binance never sees these: the exchange is in-process. */
const EXCHANGE_URL = "http://exchange.replay.invalid";

/**
 * The governor's config for these settings (`GOV_*` names). Throws the
 * project's ConfigError, naming each bad variable, on a bad value.
 */
export function governorConfig(
  settings: Record<string, string>,
  rest: { url: string; token: string } = { url: "http://127.0.0.1:1", token: "unused" },
): Config {
  const placeholder = () => randomBytes(16).toString("hex");
  return parseConfig({
    ...settings,
    UPSTASH_REDIS_REST_URL: rest.url,
    UPSTASH_REDIS_REST_TOKEN: rest.token,
    BINANCE_BASE_URL: EXCHANGE_URL,
    BINANCE_API_KEY: placeholder(),
    BINANCE_API_SECRET: placeholder(),
    GOV_WEBHOOK_SECRET: placeholder(),
    GOV_READ_TOKEN: placeholder(),
    GOV_ADMIN_TOKEN: placeholder(),
  });
}

const StreamSchema = z.array(z.tuple([z.string(), z.array(z.string())]));
const FlatHashSchema = z.array(z.string());
const ReservationSchema = z.looseObject({ expires_at_ms: z.coerce.number() });
const DecisionSchema = z.looseObject({
  slots: z.object({ desired: z.number() }).optional(),
});

function fields(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

const ROTATION_KINDS: Record<string, RotationEvent["kind"]> = {
  ROTATION_LOCK_CREATED: "started",
  ROTATION_COMPLETE: "completed",
  ROTATION_TIMEOUT: "timed_out",
};

export interface GovernorGateOptions {
  name: string;
  params: Record<string, ParamValue>;
  settings: Record<string, string>;
  store: ReplayStore;
  market: Market;
  book: Book;
  universe: readonly string[];
  now: () => number;
}

/** A fresh governor on a flushed Redis, its policy set to the universe. */
export async function governorGate(options: GovernorGateOptions): Promise<Gate> {
  const { store, market, book, now } = options;
  const config = governorConfig(options.settings, store.rest);
  const keys = redisKeys(config.keyPrefix);
  const gov: GovernorContext = {
    config,
    redis: store.redis,
    keys,
    now,
    fetch: exchangeFetch(market, book, now),
  };
  await store.redis.flushall();
  await store.redis.hset(keys.policy, { universe_symbols: JSON.stringify(options.universe) });
  let eventsCursor = "0-0";
  let plansCursor = "0-0";
  /** The slot holders and live locks as last observed (what a skipped observation reuses). */
  let last: GateStep = emptyStep();

  /** What the last evaluation or sweep wrote, in one pipelined read. */
  async function observe(own: GateDecision | undefined): Promise<GateStep> {
    const pipeline = store.redis.pipeline();
    pipeline.xrange(keys.eventsStream, `(${eventsCursor}`, "+");
    pipeline.xrange(keys.applyPlanStream, `(${plansCursor}`, "+");
    pipeline.hgetall(keys.reservations);
    pipeline.hgetall(keys.claims);
    pipeline.zcard(keys.lockIndex);
    const [events, plans, reservations, claims, locks] = await pipeline.exec();
    const step: GateStep = {
      decisions: own ? [own] : [],
      rotations: [],
      closeOrders: [],
      reserved: [],
      claimed: [],
      locksLive: Number(locks),
    };
    const granted: string[] = [];
    for (const [id, flat] of StreamSchema.parse(events)) {
      eventsCursor = id;
      const f = fields(flat);
      const kind = f.event ? ROTATION_KINDS[f.event] : undefined;
      if (kind) {
        step.rotations.push({
          kind,
          new_symbol: f.new_symbol ?? "",
          new_plan_id: f.new_plan_id ?? "",
          close_symbol: f.close_symbol ?? "",
          close_plan_id: f.close_plan_id ?? "",
        });
      } else if (
        (f.event === "PLAN_ALLOWED" || f.event === "PLAN_BLOCKED") &&
        f.plan_id !== own?.plan_id
      ) {
        // Decisions of earlier steps (read now) and of the sweep (completing or timing
        // out a lock); the loop counts each plan's last decision and executes a grant once.
        const decision = f.event === "PLAN_ALLOWED" ? "ALLOW" : "BLOCK";
        step.decisions.push({
          plan_id: f.plan_id ?? "",
          symbol: f.symbol ?? "",
          decision,
          reason: f.reason ?? "",
        });
        if (decision === "ALLOW" && f.reason !== REASONS.closeAllowed)
          granted.push(f.plan_id ?? "");
      }
    }
    for (const [id, flat] of StreamSchema.parse(plans)) {
      plansCursor = id;
      const f = fields(flat);
      if (f.rotation_trigger === "true" && f.plan_id && f.symbol) {
        step.closeOrders.push({ plan_id: f.plan_id, symbol: f.symbol });
      }
    }
    const at = now();
    const reserved = fields(FlatHashSchema.parse(reservations ?? []));
    for (const [symbol, raw] of Object.entries(reserved)) {
      const r = ReservationSchema.safeParse(JSON.parse(raw));
      if (r.success && r.data.expires_at_ms > at) step.reserved.push(symbol);
    }
    step.claimed = [...new Set(Object.values(fields(FlatHashSchema.parse(claims ?? []))))];
    if (granted.length > 0) await addDesired(step.decisions, granted);
    last = { ...step, decisions: [], rotations: [], closeOrders: [] };
    return step;
  }

  /** The desired slots of decisions taken by the sweep, from their recorded bodies. */
  async function addDesired(decisions: GateDecision[], planIds: string[]): Promise<void> {
    const pipeline = store.redis.pipeline();
    for (const id of planIds) pipeline.get(keys.decision(id));
    const bodies = await pipeline.exec();
    planIds.forEach((id, i) => {
      const raw = bodies[i];
      if (typeof raw !== "string") return;
      const body = DecisionSchema.safeParse(JSON.parse(raw));
      const decision = decisions.find((d) => d.plan_id === id);
      if (body.success && decision && body.data.slots) decision.desired = body.data.slots.desired;
    });
  }

  return {
    name: options.name,
    params: options.params,
    baseSlots: config.slots.BASE,
    // Disabled or in shadow mode it grants every entry by design: nothing to hold it to.
    gated: config.enabled && config.mode === "enforce",
    async evaluate(plan: ReplayPlan) {
      const { body } = await evaluatePlan(plan, gov);
      if (body.decision === "IGNORED" || body.replayed) return { ...last, decisions: [] };
      const own: GateDecision = {
        plan_id: body.plan_id,
        symbol: plan.symbol,
        decision: body.decision,
        reason: body.reason ?? "",
        desired: body.slots?.desired,
      };
      // A close, or a block that started no rotation, writes nothing the loop acts on
      // (its own event is read with the next observation): one Redis request saved.
      const startedRotation =
        body.reason === REASONS.waitingRotationClose && body.rotation?.lock_age === 0;
      const entryGrant = body.decision === "ALLOW" && !isClose(plan);
      if (!startedRotation && !entryGrant) return { ...last, decisions: [own] };
      return observe(own);
    },
    async sweep() {
      await sweepLocks(gov);
      return observe(undefined);
    },
    async confirm(order: CloseOrder, executed: boolean, at: number) {
      await store.redis.xadd(keys.applyResultStream, "*", {
        plan_id: order.plan_id,
        symbol: order.symbol,
        executed: String(executed),
        reduceOnly: "true",
        action: "FULL_CLOSE_PROPOSED",
        ts: String(at),
      });
    },
  };
}
