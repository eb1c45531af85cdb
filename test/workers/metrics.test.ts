/**
 * `GET /metrics` and `GET /v1/history` against the real worker, Redis (through
 * the REST bridge) and the exchange simulator: N evaluations of a kind move
 * their counter by exactly N and nothing else, dependency failures are
 * counted once per evaluation that met them, rotations by how they end, and
 * the counters always agree with the events the same scripts wrote. The
 * exposition is read with a real parser (../unit/prometheus.ts).
 */
import { createScheduledController, env } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index.ts";
import { parseExposition, type Scrape } from "../unit/prometheus.ts";
import {
  bridge,
  events,
  faultPositions,
  getJson,
  keys,
  postPlan,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  sim,
  simRequests,
  streamEntries,
} from "./helpers.ts";

const N = 5;
const KLINES = "/fapi/v1/klines";
const UNIVERSE = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "BNBUSDT"];

async function scrapeResponse(token = env.GOV_READ_TOKEN!): Promise<Response> {
  return exports.default.fetch(
    new Request("http://governor/metrics", { headers: { authorization: `Bearer ${token}` } }),
  );
}

async function scrape(): Promise<Scrape> {
  const response = await scrapeResponse();
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

/** Every counter sample as `name{labels}` -> value (histogram: its count and sum). */
function counterSeries(s: Scrape): Map<string, number> {
  const out = new Map<string, number>();
  for (const family of s.families.values()) {
    if (family.type === "COUNTER") {
      for (const m of family.metrics)
        out.set(`${family.name}${JSON.stringify(m.labels ?? {})}`, Number(m.value));
    } else if (family.type === "HISTOGRAM") {
      const [h] = family.metrics;
      out.set(`${family.name}_count`, Number(h?.count ?? 0));
    }
  }
  return out;
}

/** Counters that moved between two scrapes, with how much. */
function moved(before: Scrape, after: Scrape): Record<string, number> {
  const a = counterSeries(before);
  const out: Record<string, number> = {};
  for (const [series, value] of counterSeries(after)) {
    const delta = value - (a.get(series) ?? 0);
    if (delta !== 0) out[series] = delta;
  }
  return out;
}

const decisions = (decision: string, reason: string) =>
  `governor_decisions_total${JSON.stringify({ decision, reason })}`;
const rotations = (outcome: string) => `governor_rotations_total${JSON.stringify({ outcome })}`;
const failures = (dependency: string) =>
  `governor_dependency_failures_total${JSON.stringify({ dependency })}`;
const DURATIONS = "governor_evaluation_duration_seconds_count";

/** The counters and the event stream are written by the same scripts: they agree. */
async function expectCountersMatchEvents(): Promise<void> {
  const s = await scrape();
  const all = await events();
  const count = (kind: string, match: (e: Record<string, string>) => boolean = () => true) =>
    all.filter((e) => e.event === kind && match(e)).length;
  const decisionFamily = s.families.get("governor_decisions_total")!.metrics;
  const sum = (decision: string) =>
    decisionFamily
      .filter((m) => m.labels?.decision === decision)
      .reduce((total, m) => total + Number(m.value), 0);
  expect({
    allowed: sum("ALLOW"),
    blocked: sum("BLOCK"),
    started: s.value("governor_rotations_total", { outcome: "started" }),
    completed: s.value("governor_rotations_total", { outcome: "completed" }),
    not_granted: s.value("governor_rotations_total", { outcome: "not_granted" }),
    timed_out: s.value("governor_rotations_total", { outcome: "timed_out" }),
  }).toEqual({
    allowed: count("PLAN_ALLOWED"),
    blocked: count("PLAN_BLOCKED"),
    started: count("ROTATION_LOCK_CREATED"),
    completed: count("ROTATION_COMPLETE", (e) => e.granted === "true"),
    not_granted:
      count("ROTATION_COMPLETE", (e) => e.granted === "false") + count("ROTATION_CANCELLED"),
    timed_out: count("ROTATION_TIMEOUT"),
  });
  // Every rotation started has ended, or its lock is still indexed.
  expect(s.value("governor_rotation_locks")).toBe(await redis.zcard(keys.lockIndex));
}

async function sweepAt(scheduledTime: number) {
  await worker.scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), env);
}

async function waitFor(probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("condition not met");
}

describe("GET /metrics", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(UNIVERSE);
    await setRegime("BTCUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("needs the read token and answers the text format 0.0.4", async () => {
    expect((await scrapeResponse("wrong")).status).toBe(401);
    const response = await exports.default.fetch(new Request("http://governor/metrics"));
    expect(response.status).toBe(401);
    const ok = await scrapeResponse();
    expect(ok.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const s = parseExposition(await ok.text());
    expect(s.families.size).toBe(10);
  });

  it("N evaluations of a kind move their counter by exactly N, and nothing else", async () => {
    expect((await postPlan({ plan_id: "warm", symbol: "BTCUSDT" })).body.reason).toBe(
      "active_slots_slot_free",
    );
    const before = await scrape();
    for (let i = 0; i < N; i++) {
      const held = await postPlan({ plan_id: `held-${i}`, symbol: "BTCUSDT" });
      expect(held.body.reason).toBe("active_slots_symbol_holds_slot");
      const outside = await postPlan({ plan_id: `out-${i}`, symbol: "DOGEUSDT" });
      expect(outside.body.reason).toBe("active_slots_not_in_universe");
      const close = await postPlan({
        plan_id: `close-${i}`,
        symbol: "ETHUSDT",
        action: "FULL_CLOSE_PROPOSED",
      });
      expect(close.body.reason).toBe("active_slots_close_allowed");
      // Neither a replay nor a plan that is not EXECUTE is a decision.
      expect((await postPlan({ plan_id: `held-${i}`, symbol: "BTCUSDT" })).body.replayed).toBe(
        true,
      );
      await postPlan({ plan_id: `ign-${i}`, symbol: "BTCUSDT", decision: "HOLD" });
    }
    const after = await scrape();
    expect(moved(before, after)).toEqual({
      [decisions("ALLOW", "active_slots_symbol_holds_slot")]: N,
      [decisions("BLOCK", "active_slots_not_in_universe")]: N,
      [decisions("ALLOW", "active_slots_close_allowed")]: N,
      [DURATIONS]: 3 * N,
    });
    const [h] = after.families.get("governor_evaluation_duration_seconds")!.metrics;
    expect(Number(h!.buckets!["+Inf"])).toBe(Number(h!.count));
    expect(Number(h!.sum)).toBeGreaterThanOrEqual(0);
    expect(after.value("governor_slots_desired")).toBe(4);
    expect(after.value("governor_slot_holders")).toBe(2);
    expect(after.value("governor_reservations")).toBe(1);
    await expectCountersMatchEvents();
  });

  it("counts a Binance outage once per evaluation that met it", async () => {
    await postPlan({ plan_id: "warm", symbol: "BTCUSDT" });
    const before = await scrape();
    await faultPositions({ status: 503 });
    for (let i = 0; i < N; i++) {
      const { body } = await postPlan({ plan_id: `bx-${i}`, symbol: "BTCUSDT" });
      expect(body.reason).toBe("active_slots_positions_unavailable");
    }
    expect(moved(before, await scrape())).toEqual({
      [failures("binance")]: N,
      [decisions("BLOCK", "active_slots_positions_unavailable")]: N,
      [DURATIONS]: N,
    });
  });

  it("counts klines that cannot be read once per evaluation", async () => {
    await postPlan({ plan_id: "warm", symbol: "BTCUSDT" }); // ETHUSDT's market is cached
    const before = await scrape();
    await sim("PUT", "/__sim/faults", { path: KLINES, status: 500 });
    for (let i = 0; i < N; i++) {
      const { body } = await postPlan({ plan_id: `kx-${i}`, symbol: "XRPUSDT" });
      expect(body.reason).toBe("active_slots_regime_unavailable");
    }
    expect(moved(before, await scrape())).toEqual({
      [failures("klines")]: N,
      [decisions("BLOCK", "active_slots_regime_unavailable")]: N,
      [DURATIONS]: N,
    });
  });

  it("counts a missing policy as a policy failure", async () => {
    const before = await scrape();
    await redis.del(keys.policy);
    for (let i = 0; i < N; i++) {
      const { body } = await postPlan({ plan_id: `px-${i}`, symbol: "BTCUSDT" });
      expect(body.reason).toBe("active_slots_no_policy");
    }
    expect(moved(before, await scrape())).toEqual({
      [failures("policy")]: N,
      [decisions("BLOCK", "active_slots_no_policy")]: N,
      [DURATIONS]: N,
    });
  });

  it("counts Redis failures once Redis answers again", async () => {
    await postPlan({ plan_id: "warm", symbol: "BTCUSDT" });
    const before = await scrape();
    await bridge("PUT", "fault", { times: 1000, status: 500 });
    for (let i = 0; i < N; i++) {
      expect((await postPlan({ plan_id: `rx-${i}`, symbol: "BTCUSDT" })).status).toBe(503);
    }
    await bridge("PUT", "fault", null);
    // Nothing could be written while Redis failed.
    expect(moved(before, await scrape())).toEqual({});
    const { body } = await postPlan({ plan_id: "rx-back", symbol: "BTCUSDT" });
    expect(body.decision).toBe("ALLOW");
    expect(moved(before, await scrape())).toEqual({
      [failures("redis")]: N,
      [decisions("ALLOW", "active_slots_symbol_holds_slot")]: 1,
      [DURATIONS]: 1,
    });
  });

  it("shows the trading state, ACTIVE when none is stored", async () => {
    let s = await scrape();
    expect(s.value("governor_trading_state", { state: "ACTIVE" })).toBe(1);
    expect(s.value("governor_trading_state", { state: "HALTED" })).toBe(0);
    await redis.set(
      keys.tradingState,
      JSON.stringify({ state: "REDUCING", reason: "test", actor: "ops", at: 1 }),
    );
    s = await scrape();
    expect(s.value("governor_trading_state", { state: "REDUCING" })).toBe(1);
    expect(s.value("governor_trading_state", { state: "ACTIVE" })).toBe(0);
  });

  it("shows the last X-MBX-USED-WEIGHT-1M Binance answered, written with the decision", async () => {
    expect((await scrape()).families.get("governor_binance_used_weight_1m")!.metrics).toEqual([]);
    await postPlan({ plan_id: "w-1", symbol: "BTCUSDT" });
    const { used_weight_1m } = (await sim("GET", "/__sim/requests?since=999999")) as {
      used_weight_1m: number;
    };
    expect(used_weight_1m).toBeGreaterThan(0);
    expect((await scrape()).value("governor_binance_used_weight_1m")).toBe(used_weight_1m);
    expect(await redis.pttl(keys.binanceUsedWeight)).toBeGreaterThan(0);
    expect(await redis.pttl(keys.binanceUsedWeight)).toBeLessThanOrEqual(60_000);
  });

  it("with GOV_METRICS=off decides the same and counts nothing", async () => {
    const before = await scrape();
    const { body } = await postPlan(
      { plan_id: "off-1", symbol: "BTCUSDT" },
      { GOV_METRICS: "off" },
    );
    expect(body.reason).toBe("active_slots_slot_free");
    expect(moved(before, await scrape())).toEqual({});
    expect(await redis.keys(keys.history("*"))).toEqual([]);
  });
});

describe("rotations by how they end", () => {
  const FULL = [
    { symbol: "ETHUSDT", amt: 1, pnl: 5 },
    { symbol: "SOLUSDT", amt: 2, pnl: -16 },
    { symbol: "XRPUSDT", amt: 3, pnl: 3 },
    { symbol: "ADAUSDT", amt: 4, pnl: 8 },
  ];

  beforeEach(async () => {
    await resetWorld();
    await setUniverse(UNIVERSE);
    await setRegime("BTCUSDT", "BASE");
    await setPositions(FULL);
  });

  it("completed: started and completed once each", async () => {
    await sim("PUT", "/__sim/apply", { auto: true, delay_ms: 0, executed: true });
    const before = await scrape();
    const first = await postPlan({ plan_id: "rot-ok", symbol: "BTCUSDT", score: 2 });
    expect(first.body.reason).toBe("active_slots_waiting_rotation_close");
    await waitFor(async () => (await streamEntries(keys.applyResultStream)).length > 0);
    const done = await postPlan({ plan_id: "rot-ok", symbol: "BTCUSDT", score: 2 });
    expect(done.body.reason).toBe("active_slots_rotation_complete");
    expect(moved(before, await scrape())).toEqual({
      [rotations("started")]: 1,
      [rotations("completed")]: 1,
      [decisions("BLOCK", "active_slots_waiting_rotation_close")]: 1,
      [decisions("ALLOW", "active_slots_rotation_complete")]: 1,
      [DURATIONS]: 2,
    });
    await expectCountersMatchEvents();
  });

  it("not granted: a gate blocks at completion, or the plan's decision became final", async () => {
    await sim("PUT", "/__sim/apply", { auto: true, delay_ms: 0, executed: true });
    const before = await scrape();
    await postPlan({ plan_id: "rot-gate", symbol: "BTCUSDT", score: 2 });
    await waitFor(async () => (await streamEntries(keys.applyResultStream)).length > 0);
    // The universe drops the entry before the confirmed rotation completes.
    await setUniverse(UNIVERSE.filter((s) => s !== "BTCUSDT"));
    const blocked = await postPlan({ plan_id: "rot-gate", symbol: "BTCUSDT", score: 2 });
    expect(blocked.body.reason).toBe("active_slots_not_in_universe");
    expect(await events("ROTATION_CANCELLED")).toHaveLength(1);
    expect(moved(before, await scrape())).toEqual({
      [rotations("started")]: 1,
      [rotations("not_granted")]: 1,
      [decisions("BLOCK", "active_slots_waiting_rotation_close")]: 1,
      [decisions("BLOCK", "active_slots_not_in_universe")]: 1,
      [DURATIONS]: 2,
    });
    await expectCountersMatchEvents();
  });

  it("timed out: counted by the sweep that times it out", async () => {
    await sim("PUT", "/__sim/apply", { auto: false });
    const before = await scrape();
    await postPlan({ plan_id: "rot-late", symbol: "BTCUSDT", score: 2 });
    await sweepAt(Date.now() + 121_000);
    expect(await events("ROTATION_TIMEOUT")).toHaveLength(1);
    expect(moved(before, await scrape())).toEqual({
      [rotations("started")]: 1,
      [rotations("timed_out")]: 1,
      [decisions("BLOCK", "active_slots_waiting_rotation_close")]: 1,
      [decisions("BLOCK", "active_slots_rotation_timeout")]: 1,
      [DURATIONS]: 1,
    });
    await expectCountersMatchEvents();
  });

  it("a lock deleted with its copy ends not granted, once", async () => {
    await sim("PUT", "/__sim/apply", { auto: false });
    await postPlan({ plan_id: "rot-gone", symbol: "BTCUSDT", score: 2 });
    await redis.del(keys.rotationLock("rot-gone"));
    await redis.hdel(keys.lockData, "rot-gone");
    await sweepAt(Date.now());
    await sweepAt(Date.now() + 1000);
    const s = await scrape();
    expect(s.value("governor_rotations_total", { outcome: "started" })).toBe(1);
    expect(s.value("governor_rotations_total", { outcome: "not_granted" })).toBe(1);
    expect(s.value("governor_rotation_locks")).toBe(0);
  });
});

describe("GET /v1/history", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(UNIVERSE);
    await setRegime("BTCUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("has the decisions, slots and rotations of each minute, kept 25 hours", async () => {
    for (let i = 0; i < N; i++) await postPlan({ plan_id: `h-${i}`, symbol: "BTCUSDT" });
    await postPlan({ plan_id: "h-out", symbol: "DOGEUSDT" });
    await faultPositions({ status: 503, times: 1 });
    await postPlan({ plan_id: "h-down", symbol: "BTCUSDT" });

    const { status, body } = await getJson("/v1/history?window=1h");
    expect(status).toBe(200);
    expect(body.window).toBe("1h");
    expect(body.decisions.allow).toHaveLength(60);
    expect(body.totals.decisions).toEqual({ allow: N, block: 1, wait: 0, unavailable: 1 });
    expect(body.totals.rotations).toEqual({
      started: 0,
      completed: 0,
      not_granted: 0,
      timed_out: 0,
    });
    const holders = (body.slots.holders as (number | null)[]).filter((v) => v !== null);
    expect(holders.at(-1)).toBe(2);
    expect((body.slots.desired as (number | null)[]).filter((v) => v !== null).at(-1)).toBe(4);
    expect(body.end_ms - body.start_ms).toBe(3_600_000);
    expect(body.end_ms).toBeGreaterThan(Date.now());

    const written = await redis.keys(keys.history("*"));
    expect(written.length).toBeGreaterThan(0);
    for (const key of written) {
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(24 * 3600);
      expect(ttl).toBeLessThanOrEqual(25 * 3600);
    }
  });

  it("serves 1h, 6h and 24h (the default), refuses other windows, needs the read token", async () => {
    expect((await getJson("/v1/history?window=6h")).body.decisions.block).toHaveLength(360);
    const day = await getJson("/v1/history");
    expect(day.body.window).toBe("24h");
    expect(day.body.slots.holders).toHaveLength(1440);
    const bad = await getJson("/v1/history?window=2h");
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("invalid_window");
    expect((await getJson("/v1/history", "wrong")).status).toBe(401);
  });

  it("reads any window in one Redis request", async () => {
    await bridge("POST", "reset");
    await getJson("/v1/history?window=24h");
    expect((await bridge("GET", "stats")).requests).toBe(1);
    await bridge("POST", "reset");
    await scrapeResponse();
    expect((await bridge("GET", "stats")).requests).toBe(1);
    expect((await simRequests()).count).toBe(0);
  });
});
