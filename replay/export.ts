/**
 * `npm run replay -- export`: write a plan log from a live `P:stream:apply.plan`
 * through the Upstash REST protocol (XRANGE, paged), one plan per line with
 * `ts` (the entry's own, else its stream id's milliseconds). The governor's
 * own rotation close plans (`rotation_trigger=true`) are left out: a replay's
 * governor emits its own. The token is only ever sent as the bearer header.
 */
import { writeFileSync } from "node:fs";
import { z } from "zod";
import { redisKeys } from "../lib/keys.ts";
import { createRedis } from "../lib/redis/client.ts";
import { ReplayPlanSchema, type ReplayPlan } from "./plans.ts";

export interface ExportOptions {
  redisUrl: string;
  token: string;
  /** unix ms, inclusive */
  from: number;
  to: number;
  prefix: string;
  out: string;
  /** entries per XRANGE page @default 500 */
  pageSize?: number;
}

export interface ExportSummary {
  read: number;
  written: number;
  rotationClosePlans: number;
  invalid: number;
}

const PageSchema = z.array(z.tuple([z.string(), z.array(z.string())]));
const NUMBERS = ["qty", "notional", "leverage", "score", "kill_score"] as const;
const STRINGS = ["plan_id", "symbol", "action", "decision", "side"] as const;

/** A stream entry's string fields as a plan, or undefined when it is not one. */
export function planFromEntry(id: string, flat: readonly string[]): ReplayPlan | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
  const plan: Record<string, unknown> = {};
  for (const name of STRINGS) if (f[name] !== undefined) plan[name] = f[name];
  for (const name of NUMBERS) {
    if (f[name] !== undefined && f[name].trim() !== "") plan[name] = Number(f[name]);
  }
  if (f.reduceOnly === "true" || f.reduceOnly === "false")
    plan.reduceOnly = f.reduceOnly === "true";
  const ts = Number(f.ts);
  plan.ts =
    f.ts !== undefined && Number.isSafeInteger(ts) && ts >= 0 ? ts : Number(id.split("-")[0]);
  const parsed = ReplayPlanSchema.safeParse(plan);
  return parsed.success ? parsed.data : undefined;
}

export async function exportPlans(options: ExportOptions): Promise<ExportSummary> {
  const redis = createRedis({ url: options.redisUrl, token: options.token });
  const stream = redisKeys(options.prefix).applyPlanStream;
  const pageSize = options.pageSize ?? 500;
  const summary: ExportSummary = { read: 0, written: 0, rotationClosePlans: 0, invalid: 0 };
  const lines: string[] = [];
  let start = String(options.from);
  for (;;) {
    const page = PageSchema.parse(await redis.xrange(stream, start, String(options.to), pageSize));
    for (const [id, flat] of page) {
      summary.read += 1;
      if (flat.some((v, i) => i % 2 === 0 && v === "rotation_trigger" && flat[i + 1] === "true")) {
        summary.rotationClosePlans += 1;
        continue;
      }
      const plan = planFromEntry(id, flat);
      if (!plan) {
        summary.invalid += 1;
        continue;
      }
      lines.push(JSON.stringify(plan));
      summary.written += 1;
    }
    if (page.length < pageSize) break;
    start = `(${page.at(-1)![0]}`;
  }
  writeFileSync(options.out, lines.map((line) => `${line}\n`).join(""));
  return summary;
}
