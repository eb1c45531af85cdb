/**
 * The operators' view as served by `GET /v1/status` (and embedded in the
 * dashboard at `GET /`): the zod schemas of every field, which the OpenAPI
 * document is generated from (docs/contract.md §4).
 */
import { z } from "zod";
import { DeadLettersViewSchema } from "../queue/dead-letters.ts";
import { REGIMES } from "../regime/classify.ts";
import { TradingStateSchema } from "../operators/trading-state.ts";

/** What holds a slot (STATUS_VIEW, lib/rotation/lua/status-view.ts, says which). */
export const HOLDER_KINDS = ["position", "reservation", "rotation"] as const;

/**
 * A lock's state as shown, one per phase of `lock_phase` (lib/rotation/lua/locks.ts),
 * the rule the sweep and the evaluation resolve locks by.
 */
export const LOCK_STATES = [
  "waiting_close",
  "close_confirmed",
  "close_unverified",
  "victim_still_open",
  "timing_out",
  "cancelling",
] as const;

export const RegimeViewSchema = z.object({
  symbol: z.string(),
  name: z.enum(REGIMES),
  trend: z.number(),
  atr_pct: z.number(),
  desired_slots: z.number().int(),
});

export const HolderSchema = z.object({
  symbol: z.string(),
  kind: z
    .enum(HOLDER_KINDS)
    .describe(
      "position: open on the exchange; reservation: permit issued, position not yet visible; rotation: claimed by a lock, being closed.",
    ),
  plan_id: z
    .string()
    .nullable()
    .describe("The reservation's plan, or the lock (new entry's plan) that claimed the slot."),
});

const PositionViewSchema = z.object({
  symbol: z.string(),
  side: z.enum(["LONG", "SHORT", "HEDGED"]),
  position_amt: z.number().describe("Net signed amount over the symbol's rows."),
  entry_price: z.number().describe("Notional-weighted over the symbol's rows."),
  mark_price: z
    .number()
    .describe("notional / positionAmt, from the account (GET /fapi/v3/account)."),
  unrealized_pnl: z.number(),
  pnl_pct: z.number().describe("unRealizedProfit / (|positionAmt| × entryPrice)"),
  age_hours: z
    .number()
    .describe("Since the governor's entry record, else the position's updateTime."),
  age_source: z
    .enum(["entry_record", "update_time"])
    .describe(
      "entry_record: the governor's record of the entry it allowed; update_time: Binance's last change of the position (moves with every fill: a lower bound of the age).",
    ),
  age_penalty: z.number(),
  weakness: z
    .number()
    .describe(
      "−pnl_pct + age_penalty: the weakest unclaimed position is the next rotation victim.",
    ),
  entry_score: z
    .number()
    .nullable()
    .describe(
      "The score the governor recorded when it allowed the entry; null when it has no record.",
    ),
  victim_rank: z
    .number()
    .int()
    .nullable()
    .describe("1 = the next rotation victim; null for a position a rotation already claimed."),
  rotating_out_for: z
    .string()
    .nullable()
    .describe("plan_id of the lock rotating this position out, if any."),
});

const ReservationViewSchema = z.object({
  symbol: z.string(),
  plan_id: z.string(),
  expires_at_ms: z.number().describe("unix ms"),
  expires_in_s: z.number().int(),
});

const LockViewSchema = z.object({
  plan_id: z.string(),
  new_symbol: z.string(),
  new_plan_id: z.string(),
  close_symbol: z.string(),
  close_plan_id: z.string(),
  created_at: z.number().int().describe("unix seconds"),
  age_s: z.number().int(),
  ttl_s: z.number().int(),
  timeout_in_s: z
    .number()
    .int()
    .describe(
      "Seconds until the lock's TTL runs out; negative past it. Whether it then times out is `state`'s to say: a confirmed close still completes.",
    ),
  state: z
    .enum(LOCK_STATES)
    .describe(
      "What the next sweep (or the plan's resubmission) does with the lock, by the rule it resolves locks with. " +
        "waiting_close: no effective confirmation yet, within its TTL. " +
        "close_confirmed: confirmed and the victim is gone from the exchange: it completes (the entry only if every gate passes). " +
        "close_unverified: confirmed, but the exchange could not be read to check the victim is gone. " +
        "victim_still_open: confirmed, yet the exchange still shows the victim open (a partial close): it waits. " +
        "timing_out: past its TTL without an effective confirmation: it times out. " +
        "cancelling: the plan's decision became final: the rotation is cancelled.",
    ),
  confirmation_id: z
    .string()
    .nullable()
    .describe(
      "The apply.result entry that confirmed the close, if any (possibly not yet read by the sweep).",
    ),
  new_score: z.number().nullable(),
  victim_weakness: z.number().nullable(),
});

const EventViewSchema = z
  .object({
    id: z.string(),
    at_ms: z.number().describe("unix ms, from the stream entry id"),
    event: z.string(),
  })
  .catchall(z.union([z.string(), z.number()]))
  .describe(
    "The event's own fields as strings: plan_id, symbol, reason, new_symbol, close_symbol, lock_age, ...",
  );

export const StatusSchema = z.object({
  at: z.number().describe("unix ms, the governor's clock when the view was built"),
  mode: z.enum(["enforce", "shadow"]),
  enabled: z.boolean(),
  trading_state: TradingStateSchema.describe(
    "ACTIVE, REDUCING or HALTED, with who set it, why and when (GET /v1/trading-state).",
  ),
  universe: z
    .array(z.string())
    .nullable()
    .describe(
      "Allowed symbols from the policy; null when the policy is missing or malformed (every entry blocks).",
    ),
  regime: RegimeViewSchema.nullable().describe(
    "The regime that sets the slot count now: the latest evaluated symbol's (or the newest lock's).",
  ),
  regimes: z
    .array(RegimeViewSchema)
    .describe(
      "Cached regimes of the symbols that matter now (holders, lock entries, latest evaluation).",
    ),
  slots: z.object({
    desired: z.number().int().nullable().describe("Slots the current regime allows."),
    holders: z.number().int().nullable().describe("null when open positions could not be read"),
    free: z.number().int().nullable(),
    state: z
      .enum(["free", "full", "over_capacity", "unknown"])
      .describe(
        "free: entries allowed; full: an entry needs a rotation; over_capacity: entries wait.",
      ),
    by_regime: z.object({ BASE: z.number(), TREND_STRONG: z.number(), CHOP: z.number() }),
    holder_symbols: z.array(z.string()),
    holder_detail: z.array(HolderSchema),
  }),
  settings: z.object({
    rotation_threshold: z.number(),
    lock_ttl_s: z.number().int(),
    max_correlation: z.number(),
    max_margin_usage_pct: z.number(),
  }),
  positions: z
    .array(PositionViewSchema)
    .nullable()
    .describe("Weakest first; null when Binance could not be read (see positions_error)."),
  positions_error: z.string().nullable(),
  reservations: z.array(ReservationViewSchema),
  locks: z.array(LockViewSchema).describe("Oldest first."),
  orphaned_locks: z
    .array(z.string())
    .describe(
      "Indexed locks with no live lock: gone, unreadable, or deleted before their key expired; the next sweep ends them and releases their claims.",
    ),
  locks_total: z.number().int(),
  confirmations_read_to_end: z
    .boolean()
    .describe(
      "Whether the view read P:stream:apply.result to its end past the sweep's cursor (it reads a bounded " +
        "number of entries); when false, a result it did not reach may still confirm a lock shown timing_out.",
    ),
  last_gates: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe("Correlation and margin figures of the latest evaluation that reached those gates."),
  events: z.array(EventViewSchema).describe("Newest first."),
  dead_letters: DeadLettersViewSchema.describe(
    "Plan messages the queue gave up on (P:governor:dead_letters), with why they died.",
  ),
});

export type Status = z.infer<typeof StatusSchema>;
export type HolderView = z.infer<typeof HolderSchema>;
export type PositionView = z.infer<typeof PositionViewSchema>;
export type LockView = z.infer<typeof LockViewSchema>;
