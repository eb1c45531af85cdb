/**
 * What the replay loop asks of whatever decides plans: the governor itself
 * (governor.ts) or a baseline (baselines.ts). Each answers, per step, the
 * decisions it took, the rotation events, the close orders it emitted, and the
 * slots it holds beyond the book's open positions (for the invariants).
 */
import type { ReplayPlan } from "./plans.ts";

export interface GateDecision {
  plan_id: string;
  symbol: string;
  decision: "ALLOW" | "BLOCK";
  reason: string;
  /** the desired slots the decision was taken against, when it says */
  desired?: number;
}

export interface RotationEvent {
  kind: "started" | "completed" | "timed_out";
  new_symbol: string;
  new_plan_id: string;
  close_symbol: string;
  close_plan_id: string;
}

/** A rotation close plan to execute (XADDed by the governor to apply.plan). */
export interface CloseOrder {
  plan_id: string;
  symbol: string;
}

export interface GateStep {
  decisions: GateDecision[];
  rotations: RotationEvent[];
  closeOrders: CloseOrder[];
  /** close plan ids the governor withdrew (a timed-out rotation's cancellation) */
  cancelledOrders: string[];
  /** symbols with a live slot reservation (every entry ALLOW makes one) */
  reserved: string[];
  /** symbols claimed by an in-flight rotation (being closed) */
  claimed: string[];
  /** rotation locks still waiting: while > 0 the loop sweeps every virtual minute */
  locksLive: number;
}

export type ParamValue = string | number | boolean;

export interface Gate {
  readonly name: string;
  readonly params: Record<string, ParamValue>;
  /** Slots the utilization figure is measured against. */
  readonly baseSlots: number;
  /** Cap on holders to check at every grant (static-N); undefined: each decision's desired. */
  readonly fixedCap?: number;
  /** Whether the gate's decisions are checked against the slot invariants at all. */
  readonly gated: boolean;
  evaluate(plan: ReplayPlan, at: number): Promise<GateStep>;
  /** The cron sweep at a virtual minute (only called while locks are live). */
  sweep(at: number): Promise<GateStep>;
  /** Append the Apply Layer's execution result of a close order. */
  confirm(order: CloseOrder, executed: boolean, at: number): Promise<void>;
}

export function emptyStep(): GateStep {
  return {
    decisions: [],
    rotations: [],
    closeOrders: [],
    cancelledOrders: [],
    reserved: [],
    claimed: [],
    locksLive: 0,
  };
}
