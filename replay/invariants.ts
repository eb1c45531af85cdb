/**
 * The slot invariants, checked after every step of a gated run (the governor,
 * static-N). The first violation stops the run; the report names the step.
 *
 * - holders (open positions ∪ reservations ∪ rotation claims) never exceed the
 *   desired slots a grant was decided against (static-N: N);
 * - no permit without a slot: every governor entry ALLOW holds a reservation;
 * - no entry before its close: a rotation completes only once the book no
 *   longer holds the position it closes, and no plan is granted while its
 *   rotation is still waiting;
 * - one live rotation per incoming symbol, one close plan per position.
 */
import type { Book } from "./book.ts";
import type { Gate, GateDecision, GateStep, RotationEvent } from "./gate.ts";

export interface Violation {
  step: number;
  /** ISO time on the virtual clock */
  at: string;
  invariant: string;
  message: string;
}

export class InvariantChecker {
  private readonly live = new Map<string, RotationEvent>();
  private readonly gate: Gate;

  constructor(gate: Gate) {
    this.gate = gate;
  }

  /** `grants`: the entry ALLOWs of this step, already applied to the book. */
  check(
    stepNo: number,
    at: number,
    step: GateStep,
    grants: readonly GateDecision[],
    book: Book,
  ): Violation | undefined {
    if (!this.gate.gated) return undefined;
    const fail = (invariant: string, message: string): Violation => ({
      step: stepNo,
      at: new Date(at).toISOString(),
      invariant,
      message,
    });
    for (const rotation of step.rotations) {
      const broken = this.rotation(rotation, book);
      if (broken) return fail(broken[0], broken[1]);
    }
    const holders = new Set([...book.positions.keys(), ...step.reserved, ...step.claimed]);
    const reserved = new Set(step.reserved);
    for (const grant of grants) {
      const cap = this.gate.fixedCap ?? grant.desired;
      if (cap !== undefined && holders.size > cap) {
        return fail(
          "holders_within_desired",
          `${grant.plan_id} (${grant.symbol}) granted with ${holders.size} holders for ${cap} slots: ${[...holders].sort().join(",")}`,
        );
      }
      if (this.gate.fixedCap === undefined && !reserved.has(grant.symbol)) {
        return fail(
          "permit_has_slot",
          `${grant.plan_id} (${grant.symbol}) granted without a slot reservation`,
        );
      }
      const waiting = [...this.live.values()].find((r) => r.new_plan_id === grant.plan_id);
      if (waiting) {
        return fail(
          "entry_after_close",
          `${grant.plan_id} granted while its rotation (closing ${waiting.close_symbol}) still waits`,
        );
      }
    }
    return undefined;
  }

  private rotation(event: RotationEvent, book: Book): [string, string] | undefined {
    if (event.kind === "started") {
      for (const other of this.live.values()) {
        if (other.new_symbol === event.new_symbol) {
          return [
            "one_rotation_per_symbol",
            `${event.new_plan_id} started a rotation for ${event.new_symbol} while ${other.new_plan_id}'s is live`,
          ];
        }
        if (other.close_symbol === event.close_symbol) {
          return [
            "one_close_per_position",
            `${event.close_plan_id} is a second close plan for ${event.close_symbol} (${other.close_plan_id} is live)`,
          ];
        }
      }
      this.live.set(event.new_plan_id, event);
      return undefined;
    }
    this.live.delete(event.new_plan_id);
    if (event.kind === "completed" && book.positions.has(event.close_symbol)) {
      return [
        "entry_after_close",
        `rotation of ${event.new_plan_id} completed while ${event.close_symbol} is still open`,
      ];
    }
    return undefined;
  }
}
