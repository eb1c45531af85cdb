/**
 * The plan log: one JSON plan per line as the webhook takes it (docs/contract.md §2), plus
 * `ts` (unix ms) when it was proposed. Plans are replayed in `ts` order (file
 * order among equal instants); a plan_id seen twice is replayed once (its first
 * line), as the governor's idempotency would answer the second anyway.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { PlanSchema } from "../lib/plans/schema.ts";

export const ReplayPlanSchema = PlanSchema.extend({
  ts: z.number().int().nonnegative(),
});
export type ReplayPlan = z.infer<typeof ReplayPlanSchema>;

export interface PlanLog {
  /** EXECUTE plans, sorted by ts */
  plans: ReplayPlan[];
  /** lines whose plan_id appeared before */
  duplicates: number;
  /** plans whose decision is not EXECUTE (the governor ignores them) */
  notExecute: number;
}

export class PlanFileError extends Error {
  override name = "PlanFileError";
}

export function readPlanFile(file: string): PlanLog {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new PlanFileError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return parsePlanLog(text, file);
}

export function parsePlanLog(text: string, file = "plans"): PlanLog {
  const seen = new Set<string>();
  const plans: ReplayPlan[] = [];
  let duplicates = 0;
  let notExecute = 0;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new PlanFileError(`${file}:${i + 1}: not JSON`);
    }
    const parsed = ReplayPlanSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new PlanFileError(
        `${file}:${i + 1}: ${issue.path.join(".") || "plan"}: ${issue.message}`,
      );
    }
    const plan = parsed.data;
    if (seen.has(plan.plan_id)) {
      duplicates += 1;
      continue;
    }
    seen.add(plan.plan_id);
    if (plan.decision !== "EXECUTE") {
      notExecute += 1;
      continue;
    }
    plans.push(plan);
  }
  // Array.prototype.sort is stable: file order among equal instants.
  plans.sort((a, b) => a.ts - b.ts);
  return { plans, duplicates, notExecute };
}
