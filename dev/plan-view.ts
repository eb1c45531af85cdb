/**
 * How `npm run plan` shows a decision: the answer, why and what would change it
 * (lib/plans/explain.ts), the body's figures, and with `--explain` the
 * gate-by-gate path (lib/plans/gate-path.ts) with figures from `GET /v1/status`.
 */
import { z } from "zod";
import { DecisionBodySchema, type DecisionBody } from "../lib/plans/decision.ts";
import { explainDecision } from "../lib/plans/explain.ts";
import { gatePath, type GateMark, type GateView } from "../lib/plans/gate-path.ts";

const fmt = (value: unknown, digits: number) =>
  typeof value === "number" ? value.toFixed(digits) : "?";

const LABEL = 9;
const row = (label: string, text: string) => `  ${label.padEnd(LABEL)}${text}`;

/** The decision body, if the answer is one (docs/contract.md §4). */
export function parseDecision(body: unknown): DecisionBody | undefined {
  const parsed = DecisionBodySchema.safeParse(body);
  return parsed.success ? parsed.data : undefined;
}

/** The decision, why and what would change it, and the body's figures: a few aligned lines. */
export function formatDecision(body: DecisionBody): string {
  const lines: string[] = [];
  const head = [body.decision, body.reason].filter((v) => v !== undefined).join(" ");
  lines.push(`${head}${body.replayed ? " (replayed)" : ""}`);
  const { why, next } = explainDecision(body);
  lines.push(row("why", why));
  if (next) lines.push(row("next", next));
  lines.push(row("plan", `${body.plan_id}${body.symbol ? ` ${body.symbol}` : ""}`));
  const regime = body.regime;
  if (regime) {
    lines.push(
      row(
        "regime",
        `${regime.name}  trend ${fmt(regime.trend, 4)}  atr% ${(regime.atr_pct * 100).toFixed(2)}%` +
          `  desired ${regime.desired_slots}`,
      ),
    );
  }
  const slots = body.slots;
  if (slots) lines.push(row("slots", `${slots.holders}/${slots.desired} held (holders/desired)`));
  const rotation = body.rotation;
  if (rotation) {
    lines.push(
      row(
        "rotation",
        `close ${rotation.close_symbol} via ${rotation.close_plan_id}` +
          (rotation.lock_age !== undefined ? `  lock age ${rotation.lock_age} s` : ""),
      ),
    );
  }
  return lines.join("\n");
}

const MARKS: Record<GateMark, string> = { pass: "✔", fail: "✘", info: "·", skip: "–" };

/** The gate-by-gate path of one decision, under the label "path". */
export function formatPath(body: DecisionBody, view: GateView, note?: string): string {
  const steps = gatePath(body, view);
  const pad = " ".repeat(2 + LABEL);
  const lines = steps.map(
    (step, i) =>
      `${i === 0 ? row("path", "") : pad}${MARKS[step.mark]} ${step.gate.padEnd(12)}${step.text}`,
  );
  if (lines.length === 0) lines.push(row("path", "no gate ran for this plan"));
  lines.push(`${pad}→ ${[body.decision, body.reason].filter(Boolean).join(" ")}`);
  if (note && steps.some((step) => step.text.includes("no figures recorded"))) {
    lines.push(`${pad}(${note})`);
  }
  return lines.join("\n");
}

const PairSchema = z.object({
  symbol: z.string(),
  status: z.string(),
  value: z.number().optional(),
});

/** The parts of `GET /v1/status` the path shows; anything else is ignored. */
const StatusForPathSchema = z.object({
  universe: z.array(z.string()).nullable().optional().catch(undefined),
  positions: z
    .array(z.object({ symbol: z.string() }))
    .nullable()
    .optional()
    .catch(undefined),
  positions_error: z.string().nullable().optional().catch(undefined),
  settings: z.object({ max_correlation: z.number() }).optional().catch(undefined),
  last_gates: z
    .object({
      plan_id: z.string(),
      correlations: z.array(PairSchema),
      margin: z.object({ usage: z.number(), cap: z.number() }).nullable(),
    })
    .nullable()
    .optional()
    .catch(undefined),
});

/**
 * What the status adds to the path. The correlation and margin figures count
 * only when the governor recorded them for this very plan (the latest
 * evaluation may be another one).
 */
export function gateViewFrom(status: unknown, planId: string): { view: GateView; note?: string } {
  const parsed = StatusForPathSchema.safeParse(status);
  if (!parsed.success) return { view: {}, note: "GET /v1/status answered an unexpected shape" };
  const s = parsed.data;
  const gates = s.last_gates;
  const mine = gates?.plan_id === planId;
  return {
    view: {
      universe: s.universe,
      positions: s.positions,
      positionsError: s.positions_error,
      maxCorrelation: s.settings?.max_correlation,
      figures: mine ? { correlations: gates.correlations, margin: gates.margin } : null,
    },
    note:
      gates && !mine
        ? `correlation and margin figures: a later evaluation (${gates.plan_id}) replaced this plan's`
        : undefined,
  };
}
