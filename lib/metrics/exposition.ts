/**
 * `GET /metrics`: the Prometheus text exposition format, version 0.0.4.
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 *
 * Counters and the histogram come from the counters hash the deciding scripts
 * write (exact across isolates); gauges are read at scrape time. `metricFamilies`
 * and `exposition` are functions of what was read; `readMetrics` reads it in
 * one Redis request and calls no other dependency.
 */
import { z } from "zod";
import type { GovernorContext } from "../context.ts";
import { stateStoreFailure } from "../errors.ts";
import { toHash } from "../redis/replies.ts";
import {
  bucketLabel,
  DEPENDENCIES,
  DURATION_BUCKETS_S,
  FIELD,
  PREFIX,
  ROTATION_OUTCOMES,
} from "./series.ts";

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Trading states (`P:governor:trading_state`; absent = ACTIVE). */
export const TRADING_STATES = ["ACTIVE", "REDUCING", "HALTED"] as const;

export interface Sample {
  /** Appended to the family's name: `_bucket`, `_sum`, `_count`. */
  suffix?: string;
  labels?: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  samples: Sample[];
}

/** What a scrape reads. */
export interface MetricsSnapshot {
  /** `P:governor:metrics`: field -> integer as text. */
  counters: Record<string, string>;
  /** Indexed rotation locks. */
  rotationLocks: number;
  /** Reservations not yet expired. */
  reservations: number;
  /** The trading state's name. */
  tradingState: string;
  /** The last `X-MBX-USED-WEIGHT-1M` of the last minute; null when none. */
  usedWeight1m: number | null;
}

/** A label value with `\`, `"` and line feeds escaped. */
export function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** HELP text with `\` and line feeds escaped. */
export function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** Families as text: `# HELP`, `# TYPE`, then their samples; LF line ends, LF at the end. */
export function exposition(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      const labels = Object.entries(sample.labels ?? {});
      const labelText = labels.length
        ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
        : "";
      lines.push(`${family.name}${sample.suffix ?? ""}${labelText} ${formatValue(sample.value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The governor's metric families from a snapshot (docs/contract.md §10). */
export function metricFamilies(snapshot: MetricsSnapshot): Family[] {
  const c = snapshot.counters;
  const num = (field: string) => {
    const value = Number(c[field]);
    return Number.isFinite(value) ? value : 0;
  };

  const decisions: Sample[] = Object.keys(c)
    .filter((field) => field.startsWith(PREFIX.decisions))
    .sort()
    .flatMap((field) => {
      const rest = field.slice(PREFIX.decisions.length);
      const at = rest.indexOf("|");
      if (at <= 0) return [];
      return [
        { labels: { decision: rest.slice(0, at), reason: rest.slice(at + 1) }, value: num(field) },
      ];
    });

  let cumulative = 0;
  const buckets: Sample[] = [...DURATION_BUCKETS_S.map(bucketLabel), "+Inf"].map((le) => {
    cumulative += num(FIELD.durationBucket(le));
    return { suffix: "_bucket", labels: { le }, value: cumulative };
  });

  const state = snapshot.tradingState;
  const states = (TRADING_STATES as readonly string[]).includes(state)
    ? [...TRADING_STATES]
    : [...TRADING_STATES, state];
  const slotsKnown = c[FIELD.slotsDesired] !== undefined;

  return [
    {
      name: "governor_decisions_total",
      help:
        "Decisions written by the governor, by decision and reason code, counted by the atomic " +
        "script that wrote them (in shadow mode the would-be decision, as its event records it). " +
        "Replays and IGNORED plans are not decisions.",
      type: "counter",
      samples: decisions,
    },
    {
      name: "governor_rotations_total",
      help:
        "Rotations started, and ended: completed (entry granted), not_granted (completed without " +
        "the entry, or cancelled), timed_out.",
      type: "counter",
      samples: ROTATION_OUTCOMES.map((outcome) => ({
        labels: { outcome },
        value: num(FIELD.rotation(outcome)),
      })),
    },
    {
      name: "governor_dependency_failures_total",
      help:
        "Evaluations and sweeps that could not read a dependency: binance (the account), klines " +
        "(one or more klines requests), policy (no universe, or an unreadable one), redis (an " +
        "evaluation or sweep failed on Redis; counted by the isolate's next script Redis runs).",
      type: "counter",
      samples: DEPENDENCIES.map((dependency) => ({
        labels: { dependency },
        value: num(FIELD.failure(dependency)),
      })),
    },
    {
      name: "governor_evaluation_duration_seconds",
      help:
        "Time from the start of an evaluation to its deciding Redis script (state read, Binance " +
        "calls, gates); the deciding round trip itself is not included. One observation per " +
        "evaluation that reached its deciding script.",
      type: "histogram",
      samples: [
        ...buckets,
        { suffix: "_sum", value: num(FIELD.durationSumMs) / 1000 },
        { suffix: "_count", value: cumulative },
      ],
    },
    {
      name: "governor_slots_desired",
      help: "Slots the regime allows, as the latest decision with slot figures answered.",
      type: "gauge",
      samples: slotsKnown ? [{ value: num(FIELD.slotsDesired) }] : [],
    },
    {
      name: "governor_slot_holders",
      help:
        "Symbols holding a slot (open, reserved or claimed by a rotation), as the latest decision " +
        "with slot figures answered.",
      type: "gauge",
      samples: slotsKnown ? [{ value: num(FIELD.slotHolders) }] : [],
    },
    {
      name: "governor_rotation_locks",
      help: "Rotation locks waiting for their close (indexed locks), at scrape time.",
      type: "gauge",
      samples: [{ value: snapshot.rotationLocks }],
    },
    {
      name: "governor_reservations",
      help: "Slot reservations not yet expired, at scrape time.",
      type: "gauge",
      samples: [{ value: snapshot.reservations }],
    },
    {
      name: "governor_trading_state",
      help: "1 for the current trading state, 0 for the others, at scrape time.",
      type: "gauge",
      samples: states.map((name) => ({ labels: { state: name }, value: name === state ? 1 : 0 })),
    },
    {
      name: "governor_binance_used_weight_1m",
      help:
        "The last X-MBX-USED-WEIGHT-1M Binance answered an evaluation with (limit 2400 per IP per " +
        "minute); no sample when Binance answered none in the last minute.",
      type: "gauge",
      samples: snapshot.usedWeight1m === null ? [] : [{ value: snapshot.usedWeight1m }],
    },
  ];
}

const TradingStateSchema = z.looseObject({ state: z.string().min(1) });
const ReservationSchema = z.looseObject({ expires_at_ms: z.number() });

/** The trading state's name from its key: absent = ACTIVE, unreadable = INVALID. */
export function tradingStateName(raw: string | null): string {
  if (raw === null) return "ACTIVE";
  try {
    const parsed = TradingStateSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data.state : "INVALID";
  } catch {
    return "INVALID";
  }
}

/** Read a scrape's snapshot: one Redis request (a pipeline), no other dependency. */
export async function readMetrics(gov: GovernorContext): Promise<MetricsSnapshot> {
  const { keys, redis } = gov;
  const pipeline = redis.pipeline();
  pipeline.hgetall(keys.metrics);
  pipeline.zcard(keys.lockIndex);
  pipeline.hgetall(keys.reservations);
  pipeline.get(keys.tradingState);
  pipeline.get(keys.binanceUsedWeight);
  const [counters, locks, reservations, state, weight] = (await pipeline
    .exec()
    .catch(stateStoreFailure)) as [unknown, unknown, unknown, string | null, string | null];
  const now = gov.now();
  const live = Object.values(toHash(reservations)).filter((raw) => {
    try {
      const parsed = ReservationSchema.safeParse(JSON.parse(raw));
      return parsed.success && parsed.data.expires_at_ms > now;
    } catch {
      return false;
    }
  });
  const usedWeight = weight === null ? NaN : Number(weight);
  return {
    counters: toHash(counters),
    rotationLocks: Number(locks) || 0,
    reservations: live.length,
    tradingState: tradingStateName(state),
    usedWeight1m: Number.isFinite(usedWeight) ? usedWeight : null,
  };
}
