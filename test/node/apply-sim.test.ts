import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { redisKeys } from "../../lib/keys.ts";
import { startRedisServer, type RedisServerHandle } from "../../dev/redis-server.ts";
import { startSimulatedExchange, type SimulatedExchange } from "../../dev/services.ts";
import { ExchangeState } from "../../dev/exchange-sim/state.ts";
import { startApplySim } from "../../dev/apply-sim/apply-sim.ts";
import { signQuery } from "../../dev/exchange-sim/signature.ts";
import { waitUntil } from "../support/wait.ts";

const PREFIX = "applytest";
const keys = redisKeys(PREFIX);
const API_KEY = "k";
const API_SECRET = "s";

describe("Apply Layer simulator", () => {
  let redisServer: RedisServerHandle;
  let redis: Redis;
  let sim: SimulatedExchange;

  beforeAll(async () => {
    redisServer = await startRedisServer();
    redis = new Redis(redisServer.url);
    // A plan already in the stream before the simulator starts must not be executed.
    await propose("rot_old_BTCUSDT", "BTCUSDT");
    sim = await startSimulatedExchange({
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      redisUrl: redisServer.url,
      keyPrefix: PREFIX,
    });
  });
  afterAll(async () => {
    await sim?.stop();
    redis?.disconnect();
    await redisServer?.stop();
  });
  beforeEach(async () => {
    await control("POST", "/__sim/reset");
    await control("PUT", "/__sim/positions", [
      { symbol: "BTCUSDT", positionAmt: "0.01", entryPrice: "60000", markPrice: "59000" },
      { symbol: "ETHUSDT", positionAmt: "-1", entryPrice: "3000", markPrice: "2900" },
    ]);
    await control("PUT", "/__sim/apply", { delay_ms: 50 });
  });

  async function control(method: string, path: string, body?: unknown) {
    const res = await fetch(sim.url + path, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return res.json();
  }

  function closePlanFields(planId: string, symbol: string, extra: Record<string, string> = {}) {
    const fields: Record<string, string> = {
      plan_id: planId,
      symbol,
      action: "FULL_CLOSE_PROPOSED",
      reduceOnly: "true",
      decision: "EXECUTE",
      rotation_trigger: "true",
      new_symbol: "SOLUSDT",
      new_plan_id: "newplan-1234",
      side: "SELL",
      qty: "0.01",
      ts: String(Date.now()),
      ...extra,
    };
    return Object.entries(fields).flat();
  }

  /** Append a rotation close plan to apply.plan, as the governor does. */
  function propose(planId: string, symbol: string, extra: Record<string, string> = {}) {
    return redis.xadd(keys.applyPlanStream, "*", ...closePlanFields(planId, symbol, extra));
  }

  async function openSymbols(): Promise<string[]> {
    const query = signQuery(API_SECRET, `timestamp=${sim.state.serverTime()}`);
    const res = await fetch(`${sim.url}/fapi/v3/positionRisk?${query}`, {
      headers: { "X-MBX-APIKEY": API_KEY },
    });
    expect(res.status).toBe(200);
    const rows = (await res.json()) as Array<{ symbol: string }>;
    return rows.map((r) => r.symbol);
  }

  async function results(): Promise<Array<Record<string, string>>> {
    const entries = (await redis.xrange(keys.applyResultStream, "-", "+")) as Array<
      [string, string[]]
    >;
    return entries.map(([, fields]) => {
      const out: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) out[fields[i] as string] = fields[i + 1] as string;
      return out;
    });
  }

  const waitFor = <T>(probe: () => Promise<T | undefined>, what = "the Apply Layer simulator") =>
    waitUntil(probe, what);
  /** The plan's apply.result entry, once the simulator has appended it. */
  const resultOf = (planId: string) =>
    waitFor(async () => (await results()).find((r) => r.plan_id === planId));

  it("closes the position and appends the apply.result confirmation", async () => {
    const before = await results();
    expect(before.some((r) => r.plan_id === "rot_old_BTCUSDT")).toBe(false);
    const t0 = Date.now();
    await propose("rot_abcd1234_ETHUSDT", "ETHUSDT");
    const result = await resultOf("rot_abcd1234_ETHUSDT");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
    expect(result).toEqual({
      plan_id: "rot_abcd1234_ETHUSDT",
      symbol: "ETHUSDT",
      executed: "true",
      reduceOnly: "true",
      action: "FULL_CLOSE_PROPOSED",
      ts: expect.stringMatching(/^\d{13}$/),
    });
    expect(await openSymbols()).toEqual(["BTCUSDT"]);
    const apply = (await control("GET", "/__sim/apply")) as { applied: unknown[] };
    expect(apply.applied).toEqual([
      expect.objectContaining({
        plan_id: "rot_abcd1234_ETHUSDT",
        symbol: "ETHUSDT",
        executed: true,
      }),
    ]);
    // The old plan, present before the simulator started, was never executed.
    expect((await results()).some((r) => r.plan_id === "rot_old_BTCUSDT")).toBe(false);
  });

  it("sends each leg of a hedge-mode close as its own order on its position side", async () => {
    await control("PUT", "/__sim/positions", [
      { symbol: "SOLUSDT", positionSide: "LONG", positionAmt: "0.1", entryPrice: "100" },
      { symbol: "SOLUSDT", positionSide: "SHORT", positionAmt: "-0.3", entryPrice: "100" },
    ]);
    const legs = [
      { position_side: "LONG", side: "SELL", qty: "0.1" },
      { position_side: "SHORT", side: "BUY", qty: "0.2" }, // a partial close of the short
    ];
    await propose("rot_legs0001_SOLUSDT", "SOLUSDT", {
      side: "SELL",
      position_side: "LONG",
      qty: "0.1",
      legs: JSON.stringify(legs),
      leg_count: "2",
    });
    await resultOf("rot_legs0001_SOLUSDT");
    const rows = sim.state.positions.map((r) => [r.positionSide, r.positionAmt]);
    expect(rows).toEqual([
      ["LONG", "0"],
      ["SHORT", "-0.1"], // exact decimal: -0.3 + 0.2, no float noise
    ]);
  });

  it("a one-leg plan closes only the side it names", async () => {
    await control("PUT", "/__sim/positions", [
      { symbol: "SOLUSDT", positionSide: "LONG", positionAmt: "0.5", entryPrice: "100" },
      { symbol: "SOLUSDT", positionSide: "SHORT", positionAmt: "-0.5", entryPrice: "100" },
    ]);
    await propose("rot_oneleg01_SOLUSDT", "SOLUSDT", {
      side: "BUY",
      position_side: "SHORT",
      qty: "0.5",
    });
    await resultOf("rot_oneleg01_SOLUSDT");
    expect(sim.state.positions.map((r) => [r.positionSide, r.positionAmt])).toEqual([
      ["LONG", "0.5"],
      ["SHORT", "0"],
    ]);
  });

  it("reports executed=false and leaves the position open when told to", async () => {
    await control("PUT", "/__sim/apply", { executed: false });
    await propose("rot_ffff0000_BTCUSDT", "BTCUSDT");
    const result = await resultOf("rot_ffff0000_BTCUSDT");
    expect(result.executed).toBe("false");
    expect(result.reduceOnly).toBe("true");
    expect(await openSymbols()).toEqual(["BTCUSDT", "ETHUSDT"]);
  });

  it("ignores plans when auto is off, and non-rotation plans always", async () => {
    await control("PUT", "/__sim/apply", { auto: false });
    const read = sim.applySim?.read ?? 0;
    await propose("rot_off00000_BTCUSDT", "BTCUSDT");
    await waitFor(async () => ((sim.applySim?.read ?? 0) > read ? true : undefined));
    await control("PUT", "/__sim/apply", { auto: true });
    await propose("manual_close_ETHUSDT", "ETHUSDT", { rotation_trigger: "false" });
    await propose("open_SOLUSDT", "ETHUSDT", { action: "OPEN_PROPOSED" });
    // A rotation plan after them proves the simulator has read past them.
    await propose("rot_marker00_BTCUSDT", "BTCUSDT");
    // Entries are read in order and closes of equal delay run in order: once the marker's
    // result is there, any result for the plans before it would be there too.
    await resultOf("rot_marker00_BTCUSDT");
    const ids = (await results()).map((r) => r.plan_id);
    expect(ids).not.toContain("rot_off00000_BTCUSDT");
    expect(ids).not.toContain("manual_close_ETHUSDT");
    expect(ids).not.toContain("open_SOLUSDT");
    expect(await openSymbols()).toEqual(["ETHUSDT"]);
  });

  it("reset cancels a close that is still waiting for its delay", async () => {
    // A delay no test outlasts: the reset certainly comes first.
    await control("PUT", "/__sim/apply", { delay_ms: 600_000 });
    await propose("rot_pending0_BTCUSDT", "BTCUSDT");
    await waitFor(async () => ((sim.applySim?.pending ?? 0) === 1 ? true : undefined));
    await control("POST", "/__sim/reset");
    expect(sim.applySim?.pending).toBe(0);
    expect((await results()).some((r) => r.plan_id === "rot_pending0_BTCUSDT")).toBe(false);
  });

  it("stops without waiting for its blocked stream read, closing its Redis connections", async () => {
    const clientsWith = async (...parts: string[]) =>
      String(await redis.client("LIST"))
        .split("\n")
        .filter((line) => parts.every((part) => line.includes(part))).length;
    // A reader parked in an XREAD BLOCK of 10 minutes: a stop() that waited for it
    // would outlast this test's timeout many times over.
    const other = await startApplySim({
      redisUrl: redisServer.url,
      keyPrefix: "another",
      state: new ExchangeState(Date.now),
      blockMs: 600_000,
    });
    expect(await clientsWith("name=apply-sim")).toBe(4); // reader + writer of both simulators
    await waitFor(async () =>
      (await clientsWith("name=apply-sim-reader", "cmd=xread")) === 2 ? true : undefined,
    );
    await other.stop();
    await waitFor(async () => ((await clientsWith("name=apply-sim")) === 2 ? true : undefined));
  });

  it("stops when its Redis went away first (Ctrl-C reaches the stack's redis-server too)", async () => {
    const gone = await startRedisServer();
    const probe = new Redis(gone.url);
    const orphan = await startApplySim({
      redisUrl: gone.url,
      keyPrefix: PREFIX,
      state: new ExchangeState(Date.now),
      blockMs: 600_000,
    });
    await waitFor(async () =>
      String(await probe.client("LIST")).includes("cmd=xread") ? true : undefined,
    );
    probe.disconnect();
    await gone.stop();
    // ioredis now reconnects, and never settles the XREAD it had sent: a stop()
    // that awaited it would hang (and with it the stack's shutdown).
    await orphan.stop();
    expect(orphan.read).toBe(0);
  });
});
