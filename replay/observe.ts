/**
 * What the governor's scripts wrote since the last look, read in one pipelined
 * request on the replay's own connection: new governor events (decisions taken
 * by the sweep, rotations started, completed, timed out), new apply.plan
 * entries (rotation close plans to execute), the slot reservations and
 * rotation claims (for the invariants), and the number of live locks.
 */
import type { Redis as DirectRedis } from "ioredis";
import { z } from "zod";
import type { RedisKeys } from "../lib/keys.ts";
import { REASONS } from "../lib/plans/reasons.ts";
import { emptyStep, type GateDecision, type GateStep, type RotationEvent } from "./gate.ts";

const StreamSchema = z.array(z.tuple([z.string(), z.array(z.string())]));
const HashSchema = z.record(z.string(), z.string());
const ReservationSchema = z.looseObject({ expires_at_ms: z.coerce.number() });
const DecisionSchema = z.looseObject({ slots: z.object({ desired: z.number() }).optional() });

const ROTATION_KINDS: Record<string, RotationEvent["kind"]> = {
  ROTATION_LOCK_CREATED: "started",
  ROTATION_COMPLETE: "completed",
  ROTATION_TIMEOUT: "timed_out",
};

function fields(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** The reply of one pipelined command, or its error thrown. */
function reply(results: [Error | null, unknown][] | null, i: number): unknown {
  const [error, value] = results?.[i] ?? [new Error("no reply"), undefined];
  if (error) throw error;
  return value;
}

export class GovernorObserver {
  /** The holders and live locks as last read (what a step that skips the read reuses). */
  last: GateStep = emptyStep();
  private eventsCursor = "0-0";
  private plansCursor = "0-0";
  private readonly redis: DirectRedis;
  private readonly keys: RedisKeys;

  constructor(redis: DirectRedis, keys: RedisKeys) {
    this.redis = redis;
    this.keys = keys;
  }

  /** `own`: the decision the evaluation just answered, if any. */
  async read(own: GateDecision | undefined, at: number): Promise<GateStep> {
    const { keys } = this;
    const results = await this.redis
      .pipeline()
      .xrange(keys.eventsStream, `(${this.eventsCursor}`, "+")
      .xrange(keys.applyPlanStream, `(${this.plansCursor}`, "+")
      .hgetall(keys.reservations)
      .hgetall(keys.claims)
      .zcard(keys.lockIndex)
      .exec();
    const step: GateStep = {
      ...emptyStep(),
      decisions: own ? [own] : [],
      locksLive: Number(reply(results, 4)),
    };
    const sweepGrants: GateDecision[] = [];
    for (const [id, flat] of StreamSchema.parse(reply(results, 0))) {
      this.eventsCursor = id;
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
        f.plan_id !== undefined &&
        f.plan_id !== own?.plan_id
      ) {
        // Decisions of earlier steps that skipped this read, and of the sweep
        // (completing or timing out a lock): the loop counts each plan's last
        // decision and executes a grant once.
        const decision: GateDecision = {
          plan_id: f.plan_id,
          symbol: f.symbol ?? "",
          decision: f.event === "PLAN_ALLOWED" ? "ALLOW" : "BLOCK",
          reason: f.reason ?? "",
        };
        step.decisions.push(decision);
        if (decision.decision === "ALLOW" && decision.reason !== REASONS.closeAllowed) {
          sweepGrants.push(decision);
        }
      }
    }
    for (const [id, flat] of StreamSchema.parse(reply(results, 1))) {
      this.plansCursor = id;
      const f = fields(flat);
      if (/CANCEL/i.test(f.action ?? "")) {
        // A withdrawn close plan (docs/contract.md: a timed-out rotation's close is cancelled
        // by an apply.plan entry naming it).
        const named = f.close_plan_id ?? f.cancels ?? f.plan_id;
        if (named) step.cancelledOrders.push(named);
      } else if (f.rotation_trigger === "true" && f.plan_id && f.symbol) {
        step.closeOrders.push({ plan_id: f.plan_id, symbol: f.symbol });
      }
    }
    for (const [symbol, raw] of Object.entries(HashSchema.parse(reply(results, 2)))) {
      const reservation = ReservationSchema.safeParse(JSON.parse(raw));
      if (reservation.success && reservation.data.expires_at_ms > at) step.reserved.push(symbol);
    }
    step.claimed = [...new Set(Object.values(HashSchema.parse(reply(results, 3))))].sort();
    step.reserved.sort();
    if (sweepGrants.length > 0) await this.addDesired(sweepGrants);
    this.last = { ...step, decisions: [], rotations: [], closeOrders: [], cancelledOrders: [] };
    return step;
  }

  /** The desired slots a grant taken outside an evaluation was decided against, from its record. */
  private async addDesired(grants: GateDecision[]): Promise<void> {
    const bodies = await this.redis.mget(grants.map((g) => this.keys.decision(g.plan_id)));
    grants.forEach((grant, i) => {
      const raw = bodies[i];
      if (!raw) return;
      const body = DecisionSchema.safeParse(JSON.parse(raw));
      if (body.success && body.data.slots) grant.desired = body.data.slots.desired;
    });
  }
}
