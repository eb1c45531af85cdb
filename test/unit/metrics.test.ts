import { describe, expect, it } from "vitest";
import {
  exposition,
  metricFamilies,
  tradingStateName,
  type MetricsSnapshot,
} from "../../lib/metrics/exposition.ts";
import { buildHistory, HISTORY_WINDOWS } from "../../lib/metrics/history.ts";
import { METRICS_LUA } from "../../lib/metrics/lua/counters.ts";
import { DURATION_BUCKETS_S, FIELD, historyOutcome } from "../../lib/metrics/series.ts";
import { REASONS } from "../../lib/plans/reasons.ts";
import { parseExposition } from "./prometheus.ts";

const FAMILIES = [
  "governor_decisions_total",
  "governor_rotations_total",
  "governor_dependency_failures_total",
  "governor_evaluation_duration_seconds",
  "governor_slots_desired",
  "governor_slot_holders",
  "governor_rotation_locks",
  "governor_reservations",
  "governor_trading_state",
  "governor_binance_used_weight_1m",
];

function snapshot(counters: Record<string, string>, extra: Partial<MetricsSnapshot> = {}) {
  return {
    counters,
    rotationLocks: 2,
    reservations: 3,
    tradingState: "ACTIVE",
    usedWeight1m: 42,
    ...extra,
  };
}

describe("the exposition", () => {
  it("declares every family with HELP and TYPE, even with nothing counted yet", () => {
    const scrape = parseExposition(exposition(metricFamilies(snapshot({}))));
    expect([...scrape.families.keys()]).toEqual(FAMILIES);
    expect(scrape.families.get("governor_decisions_total")?.type).toBe("COUNTER");
    expect(scrape.families.get("governor_slots_desired")?.type).toBe("GAUGE");
    expect(scrape.families.get("governor_evaluation_duration_seconds")?.type).toBe("HISTOGRAM");
    // Known label sets start at 0, so a first increment is a rate, not a new series.
    for (const outcome of ["started", "completed", "not_granted", "timed_out"]) {
      expect(scrape.value("governor_rotations_total", { outcome })).toBe(0);
    }
    for (const dependency of ["binance", "redis", "klines", "policy"]) {
      expect(scrape.value("governor_dependency_failures_total", { dependency })).toBe(0);
    }
    // No slot decision yet: no sample rather than a made-up 0.
    expect(scrape.families.get("governor_slots_desired")?.metrics).toEqual([]);
    expect(scrape.value("governor_rotation_locks")).toBe(2);
    expect(scrape.value("governor_reservations")).toBe(3);
    expect(scrape.value("governor_binance_used_weight_1m")).toBe(42);
  });

  it("reads decisions, rotations, failures and slots from the counters hash", () => {
    const text = exposition(
      metricFamilies(
        snapshot({
          [FIELD.decision("ALLOW", REASONS.slotFree)]: "7",
          [FIELD.decision("BLOCK", REASONS.overCapacity)]: "2",
          [FIELD.rotation("started")]: "3",
          [FIELD.rotation("timed_out")]: "1",
          [FIELD.failure("klines")]: "4",
          [FIELD.slotsDesired]: "4",
          [FIELD.slotHolders]: "5",
        }),
      ),
    );
    const scrape = parseExposition(text);
    expect(
      scrape.value("governor_decisions_total", { decision: "ALLOW", reason: REASONS.slotFree }),
    ).toBe(7);
    expect(
      scrape.value("governor_decisions_total", { decision: "BLOCK", reason: REASONS.overCapacity }),
    ).toBe(2);
    expect(scrape.value("governor_rotations_total", { outcome: "started" })).toBe(3);
    expect(scrape.value("governor_rotations_total", { outcome: "timed_out" })).toBe(1);
    expect(scrape.value("governor_dependency_failures_total", { dependency: "klines" })).toBe(4);
    expect(scrape.value("governor_slots_desired")).toBe(4);
    expect(scrape.value("governor_slot_holders")).toBe(5);
    expect(text).toContain("# TYPE governor_decisions_total counter\n");
  });

  it("makes the histogram cumulative, with +Inf equal to the count and the sum in seconds", () => {
    const text = exposition(
      metricFamilies(
        snapshot({
          [FIELD.durationBucket("0.005")]: "2",
          [FIELD.durationBucket("0.1")]: "3",
          [FIELD.durationBucket("+Inf")]: "1",
          [FIELD.durationSumMs]: "12345",
        }),
      ),
    );
    const scrape = parseExposition(text);
    // Buckets in increasing order of their bound, as the format requires.
    const les = [...text.matchAll(/_bucket\{le="([^"]+)"\}/g)].map((m) => m[1]);
    expect(les).toEqual([...DURATION_BUCKETS_S.map(String), "+Inf"]);
    const [histogram] = scrape.families.get("governor_evaluation_duration_seconds")!.metrics;
    const buckets = histogram!.buckets!;
    expect(buckets["0.005"]).toBe("2");
    expect(buckets["0.05"]).toBe("2");
    expect(buckets["0.1"]).toBe("5");
    expect(buckets["10"]).toBe("5");
    expect(buckets["+Inf"]).toBe("6");
    expect(histogram!.count).toBe("6");
    expect(Number(histogram!.sum)).toBeCloseTo(12.345, 9);
  });

  it("escapes label values and help text so a parser reads them back exactly", () => {
    const reason = 'odd "reason" with \\ backslash\nand a new line';
    const text = exposition([
      {
        name: "x_total",
        help: "two\nlines \\ and a backslash",
        type: "counter",
        samples: [{ labels: { decision: "BLOCK", reason }, value: 1 }],
      },
    ]);
    expect(text).toContain('reason="odd \\"reason\\" with \\\\ backslash\\nand a new line"');
    const scrape = parseExposition(text);
    expect(scrape.value("x_total", { decision: "BLOCK", reason })).toBe(1);
    expect(scrape.families.get("x_total")?.help).toBe("two\nlines \\ and a backslash");
  });

  it("shows the trading state as one 1 among 0s; absent is ACTIVE", () => {
    expect(tradingStateName(null)).toBe("ACTIVE");
    expect(tradingStateName('{"state":"HALTED","reason":"x"}')).toBe("HALTED");
    expect(tradingStateName("not json")).toBe("INVALID");
    const halted = parseExposition(
      exposition(metricFamilies(snapshot({}, { tradingState: "HALTED" }))),
    );
    expect(halted.value("governor_trading_state", { state: "HALTED" })).toBe(1);
    expect(halted.value("governor_trading_state", { state: "ACTIVE" })).toBe(0);
    expect(halted.value("governor_trading_state", { state: "REDUCING" })).toBe(0);
    const odd = parseExposition(
      exposition(metricFamilies(snapshot({}, { tradingState: "PAUSED" }))),
    );
    expect(odd.value("governor_trading_state", { state: "PAUSED" })).toBe(1);
    expect(odd.value("governor_trading_state", { state: "ACTIVE" })).toBe(0);
  });

  it("has no weight sample when Binance answered none in the last minute", () => {
    const scrape = parseExposition(
      exposition(metricFamilies(snapshot({}, { usedWeight1m: null }))),
    );
    expect(scrape.families.get("governor_binance_used_weight_1m")?.metrics).toEqual([]);
  });
});

describe("history outcomes", () => {
  it("classes every reason: ALLOW, final BLOCK, waiting BLOCK, dependency out", () => {
    expect(historyOutcome("ALLOW", REASONS.slotFree)).toBe("allow");
    expect(historyOutcome("BLOCK", REASONS.overCapacity)).toBe("block");
    expect(historyOutcome("BLOCK", REASONS.waitingRotationClose)).toBe("wait");
    expect(historyOutcome("BLOCK", REASONS.rotationInFlight)).toBe("wait");
    expect(historyOutcome("BLOCK", REASONS.positionsUnavailable)).toBe("unavailable");
    // The Lua table the scripts use is generated from the same rule.
    for (const reason of Object.values(REASONS)) {
      expect(METRICS_LUA).toContain(`['${reason}'] = '${historyOutcome("BLOCK", reason)}'`);
    }
  });
});

describe("buildHistory", () => {
  const now = Date.UTC(2026, 0, 2, 10, 30, 15);

  it("has one element per minute of the window, ending with the current minute", () => {
    for (const [window, minutes] of Object.entries(HISTORY_WINDOWS)) {
      const h = buildHistory(window as keyof typeof HISTORY_WINDOWS, now, []);
      expect(h.decisions.allow).toHaveLength(minutes);
      expect(h.slots.holders).toHaveLength(minutes);
      expect(h.end_ms).toBe(Date.UTC(2026, 0, 2, 10, 31));
      expect(h.end_ms - h.start_ms).toBe(minutes * 60_000);
    }
  });

  it("reads counts, slot levels (null when unknown) and totals from the minutes' hashes", () => {
    const minutes: Record<string, string>[] = Array.from({ length: 60 }, () => ({}));
    minutes[58] = {
      [FIELD.historyDecision("allow")]: "3",
      [FIELD.historyDecision("wait")]: "1",
      [FIELD.rotation("started")]: "1",
      [FIELD.slotHolders]: "4",
      [FIELD.slotsDesired]: "4",
    };
    minutes[59] = { [FIELD.historyDecision("allow")]: "2", [FIELD.rotation("completed")]: "1" };
    const h = buildHistory("1h", now, minutes);
    expect(h.decisions.allow.slice(-3)).toEqual([0, 3, 2]);
    expect(h.decisions.wait.at(-2)).toBe(1);
    expect(h.slots.holders.slice(-3)).toEqual([null, 4, null]);
    expect(h.totals.decisions).toEqual({ allow: 5, block: 0, wait: 1, unavailable: 0 });
    expect(h.totals.rotations).toEqual({ started: 1, completed: 1, not_granted: 0, timed_out: 0 });
  });
});
