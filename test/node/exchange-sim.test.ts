import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  extractSignedPayload,
  hmacSha256Hex,
  signQuery,
  verifySignature,
} from "../../dev/exchange-sim/signature.ts";
import { startExchangeSim, type ExchangeSimHandle } from "../../dev/exchange-sim/server.ts";
import { waitUntil } from "../support/wait.ts";

const API_KEY = "test-api-key";
const API_SECRET = "test-api-secret";

describe("signature module", () => {
  it("reproduces Binance's documented HMAC-SHA256 example (USD-M general info, example 1)", () => {
    const secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
    const payload =
      "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
    const expected = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9";
    expect(hmacSha256Hex(secret, payload)).toBe(expected);
    expect(verifySignature(secret, payload, expected)).toBe(true);
    expect(verifySignature(secret, payload, expected.toUpperCase())).toBe(true);
    expect(verifySignature(secret, payload + "1", expected)).toBe(false);
    expect(verifySignature(secret, payload, "00")).toBe(false);
    expect(signQuery(secret, payload)).toBe(`${payload}&signature=${expected}`);
  });

  it("signs totalParams = query string + body, without the signature parameter", () => {
    const query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC";
    const body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=abc";
    expect(extractSignedPayload(query, body)).toEqual({
      payload:
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
      signature: "abc",
    });
    expect(extractSignedPayload("a=1&signature=ff&b=2")).toEqual({
      payload: "a=1&b=2",
      signature: "ff",
    });
    expect(extractSignedPayload("a=%20x&timestamp=1")).toEqual({
      payload: "a=%20x&timestamp=1",
      signature: undefined,
    });
  });
});

describe("exchange simulator over HTTP", () => {
  let sim: ExchangeSimHandle;

  beforeAll(async () => {
    sim = await startExchangeSim({ apiKey: API_KEY, apiSecret: API_SECRET });
  });
  afterAll(async () => {
    await sim?.stop();
  });
  beforeEach(async () => {
    await control("POST", "/__sim/reset");
  });

  async function control(method: string, path: string, body?: unknown) {
    const res = await fetch(sim.url + path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
  }

  async function get(pathAndQuery: string, headers: Record<string, string> = {}) {
    const res = await fetch(sim.url + pathAndQuery, { headers });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { res, status: res.status, text, json: json as any };
  }

  /** A signed GET as a Binance client sends it. */
  function signedGet(
    path: string,
    params: Record<string, string | number> = {},
    opts: { key?: string | null; secret?: string; timestamp?: number; tamper?: boolean } = {},
  ) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) qs.set(k, String(v));
    if (!("recvWindow" in params)) qs.set("recvWindow", "5000");
    qs.set("timestamp", String(opts.timestamp ?? sim.state.serverTime()));
    let query = signQuery(opts.secret ?? API_SECRET, qs.toString());
    if (opts.tamper) query = query.replace("recvWindow=5000", "recvWindow=4999");
    const headers: Record<string, string> = {};
    if (opts.key !== null) headers["X-MBX-APIKEY"] = opts.key ?? API_KEY;
    return get(`${path}?${query}`, headers);
  }

  const POSITIONS = [
    {
      symbol: "BTCUSDT",
      positionAmt: "0.010",
      entryPrice: "60000",
      markPrice: "61000",
      unRealizedProfit: "10.00000000",
      updateTime: 1_700_000_000_000,
    },
    { symbol: "ETHUSDT", positionAmt: "-2", entryPrice: "3000", markPrice: "3100" },
    { symbol: "XRPUSDT", positionAmt: "0", entryPrice: "0", markPrice: "0.6" },
  ];

  it("serves /fapi/v1/time with the weight header and JSON content type", async () => {
    const before = Date.now();
    const r = await get("/fapi/v1/time");
    expect(r.status).toBe(200);
    expect(r.res.headers.get("content-type")).toBe("application/json");
    expect(r.res.headers.get("x-mbx-used-weight-1m")).toBe("1");
    expect(Object.keys(r.json)).toEqual(["serverTime"]);
    expect(r.json.serverTime).toBeGreaterThanOrEqual(before);
    expect(r.json.serverTime).toBeLessThanOrEqual(Date.now());
  });

  it("answers a correctly signed positionRisk request (v3 returns open positions only)", async () => {
    expect((await control("PUT", "/__sim/positions", POSITIONS)).status).toBe(200);
    const r = await signedGet("/fapi/v3/positionRisk");
    expect(r.status).toBe(200);
    expect(r.json.map((p: { symbol: string }) => p.symbol)).toEqual(["BTCUSDT", "ETHUSDT"]);
    const btc = r.json[0];
    expect(Object.keys(btc)).toEqual([
      "symbol",
      "positionSide",
      "positionAmt",
      "entryPrice",
      "breakEvenPrice",
      "markPrice",
      "unRealizedProfit",
      "liquidationPrice",
      "isolatedMargin",
      "notional",
      "marginAsset",
      "isolatedWallet",
      "initialMargin",
      "maintMargin",
      "positionInitialMargin",
      "openOrderInitialMargin",
      "adl",
      "bidNotional",
      "askNotional",
      "updateTime",
    ]);
    expect(btc).toMatchObject({
      symbol: "BTCUSDT",
      positionSide: "BOTH",
      positionAmt: "0.010",
      entryPrice: "60000",
      markPrice: "61000",
      unRealizedProfit: "10.00000000",
      notional: "610.00000000",
      marginAsset: "USDT",
      initialMargin: "61.00000000",
      updateTime: 1_700_000_000_000,
    });
    const eth = r.json[1];
    expect(eth.unRealizedProfit).toBe("-200.00000000"); // -2 * (3100 - 3000)
    expect(eth.notional).toBe("-6200.00000000");
    expect(typeof eth.updateTime).toBe("number");

    const one = await signedGet("/fapi/v3/positionRisk", { symbol: "ETHUSDT" });
    expect(one.json.map((p: { symbol: string }) => p.symbol)).toEqual(["ETHUSDT"]);
    const closed = await signedGet("/fapi/v3/positionRisk", { symbol: "XRPUSDT" });
    expect(closed.json).toEqual([]);
    const unknown = await signedGet("/fapi/v3/positionRisk", { symbol: "NOPEUSDT" });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toEqual({ code: -1121, msg: "Invalid symbol." });
  });

  it("v2 positionRisk returns every row, zero positions included, with v2 fields", async () => {
    await control("PUT", "/__sim/positions", POSITIONS);
    await control("PUT", "/__sim/klines/SOLUSDT", { preset: "BASE", base_price: 150 });
    const r = await signedGet("/fapi/v2/positionRisk");
    expect(r.status).toBe(200);
    expect(r.json.map((p: { symbol: string }) => p.symbol)).toEqual([
      "BTCUSDT",
      "ETHUSDT",
      "XRPUSDT",
      "SOLUSDT",
    ]);
    expect(r.json[0]).toMatchObject({
      symbol: "BTCUSDT",
      positionAmt: "0.010",
      leverage: "10",
      marginType: "cross",
      isAutoAddMargin: "false",
      positionSide: "BOTH",
      maxNotionalValue: "20000000",
    });
    expect(r.json[3]).toMatchObject({
      symbol: "SOLUSDT",
      positionAmt: "0.000",
      markPrice: "150.0000",
    });
    expect(r.json[0]).not.toHaveProperty("adl");
  });

  it("rejects a wrong or missing API key (401 -2015 / -2014)", async () => {
    const wrong = await signedGet("/fapi/v3/positionRisk", {}, { key: "someone-else" });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual({
      code: -2015,
      msg: "Invalid API-key, IP, or permissions for action.",
    });
    const missing = await signedGet("/fapi/v3/positionRisk", {}, { key: null });
    expect(missing.status).toBe(401);
    expect(missing.json).toEqual({ code: -2014, msg: "API-key format invalid." });
  });

  it("rejects a bad or missing signature (400 -1022)", async () => {
    const bad = { code: -1022, msg: "Signature for this request is not valid." };
    const wrongSecret = await signedGet("/fapi/v3/account", {}, { secret: "not-the-secret" });
    expect(wrongSecret.status).toBe(400);
    expect(wrongSecret.json).toEqual(bad);
    const tampered = await signedGet("/fapi/v3/account", {}, { tamper: true });
    expect(tampered.status).toBe(400);
    expect(tampered.json).toEqual(bad);
    const ts = sim.state.serverTime();
    const unsigned = await get(`/fapi/v3/account?recvWindow=5000&timestamp=${ts}`, {
      "X-MBX-APIKEY": API_KEY,
    });
    expect(unsigned.status).toBe(400);
    expect(unsigned.json).toEqual(bad);
  });

  it("enforces timestamp and recvWindow (-1021, -1102, -1131)", async () => {
    const now = sim.state.serverTime();
    const old = await signedGet("/fapi/v3/positionRisk", {}, { timestamp: now - 6000 });
    expect(old.status).toBe(400);
    expect(old.json).toEqual({
      code: -1021,
      msg: "Timestamp for this request is outside of the recvWindow.",
    });
    const future = await signedGet("/fapi/v3/positionRisk", {}, { timestamp: now + 1500 });
    expect(future.status).toBe(400);
    expect(future.json.code).toBe(-1021);
    const slightlyAhead = await signedGet("/fapi/v3/positionRisk", {}, { timestamp: now + 500 });
    expect(slightlyAhead.status).toBe(200);
    const widerWindow = await signedGet(
      "/fapi/v3/positionRisk",
      { recvWindow: 10000 },
      { timestamp: now - 6000 },
    );
    expect(widerWindow.status).toBe(200);
    const tooWide = await signedGet("/fapi/v3/positionRisk", { recvWindow: 70000 });
    expect(tooWide.status).toBe(400);
    expect(tooWide.json.code).toBe(-1131);
    const noTimestamp = await get(
      `/fapi/v3/positionRisk?${signQuery(API_SECRET, "recvWindow=5000")}`,
      { "X-MBX-APIKEY": API_KEY },
    );
    expect(noTimestamp.status).toBe(400);
    expect(noTimestamp.json).toEqual({
      code: -1102,
      msg: "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    });
  });

  it("applies the clock skew so a client can resync with /fapi/v1/time", async () => {
    expect((await control("PUT", "/__sim/clock", { skew_ms: 30_000 })).status).toBe(200);
    const local = Date.now();
    const stale = await signedGet("/fapi/v3/account", {}, { timestamp: local });
    expect(stale.json.code).toBe(-1021);
    const sent = Date.now();
    const time = await get("/fapi/v1/time");
    const received = Date.now();
    // The server's clock, 30 s ahead, read at some instant of the round trip.
    expect(time.json.serverTime - 30_000).toBeGreaterThanOrEqual(sent);
    expect(time.json.serverTime - 30_000).toBeLessThanOrEqual(received);
    const offset = time.json.serverTime - received;
    const resynced = await signedGet("/fapi/v3/account", {}, { timestamp: Date.now() + offset });
    expect(resynced.status).toBe(200);
    expect((await control("GET", "/__sim/clock")).body.skew_ms).toBe(30_000);
    const behind = await control("PUT", "/__sim/clock", { skew_ms: -30_000 });
    expect(behind.status).toBe(200);
    const ahead = await signedGet("/fapi/v3/account", {}, { timestamp: Date.now() });
    expect(ahead.json.code).toBe(-1021);
  });

  it("counts request weight in X-MBX-USED-WEIGHT-1M (klines weight by limit)", async () => {
    await control("PUT", "/__sim/klines/BTCUSDT", { preset: "BASE" });
    const weights: number[] = [];
    for (const path of [
      "/fapi/v1/time", // 1
      "/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=99", // 1
      "/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=100", // 2
      "/fapi/v1/klines?symbol=BTCUSDT&interval=1h", // default 500 => 5
      "/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=1000", // 5
      "/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=1500", // 10
    ]) {
      const r = await get(path);
      expect(r.status).toBe(200);
      weights.push(Number(r.res.headers.get("x-mbx-used-weight-1m")));
    }
    const signed = await signedGet("/fapi/v3/positionRisk"); // 5
    weights.push(Number(signed.res.headers.get("x-mbx-used-weight-1m")));
    const failed = await signedGet("/fapi/v3/account", {}, { key: "wrong" }); // 5, even when rejected
    weights.push(Number(failed.res.headers.get("x-mbx-used-weight-1m")));
    // The minute may roll over mid-test; compare increments within the same minute.
    const increments = [1, 1, 2, 5, 5, 10, 5, 5];
    let expected = 0;
    weights.forEach((w, i) => {
      expected = w < expected ? (increments[i] ?? 0) : expected + (increments[i] ?? 0);
      expect(w).toBe(expected);
    });
    const log = await control("GET", "/__sim/requests");
    expect(log.body.total_weight).toBe(34);
  });

  it("enforces an optional weight limit with 429 -1003 and Retry-After", async () => {
    await control("PUT", "/__sim/limits", { weight_limit: 2 });
    expect((await get("/fapi/v1/time")).status).toBe(200);
    expect((await get("/fapi/v1/time")).status).toBe(200);
    const limited = await get("/fapi/v1/time");
    if (limited.status === 200) return; // minute rolled over between requests
    expect(limited.status).toBe(429);
    expect(limited.json.code).toBe(-1003);
    expect(Number(limited.res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  describe("faults", () => {
    it("answers with the fault's status and a Binance-style body, `times` times", async () => {
      await control("PUT", "/__sim/faults", { path: "/fapi/v1/time", status: 503, times: 2 });
      const a = await get("/fapi/v1/time");
      const b = await get("/fapi/v1/time");
      const c = await get("/fapi/v1/time");
      expect([a.status, b.status, c.status]).toEqual([503, 503, 200]);
      expect(a.json.code).toBe(-1008);
      expect(a.res.headers.get("content-type")).toBe("application/json");
      expect(a.res.headers.get("x-mbx-used-weight-1m")).not.toBeNull();
      expect((await control("GET", "/__sim/faults")).body).toEqual([]);
    });

    it("delays responses (and then answers normally when no status is given)", async () => {
      await control("PUT", "/__sim/faults", { path: "/fapi/v1/time", delay_ms: 300, times: 1 });
      const t0 = Date.now();
      const r = await get("/fapi/v1/time");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
      expect(r.status).toBe(200);
      expect(r.json.serverTime).toBeTypeOf("number");
      // Used up: nothing left to delay the next request.
      expect((await control("GET", "/__sim/faults")).body).toEqual([]);
      expect((await get("/fapi/v1/time")).status).toBe(200);
    });

    it("holds a delayed request until released, then answers it as the fault says", async () => {
      await control("PUT", "/__sim/faults", {
        path: "/fapi/v1/time",
        delay_ms: 600_000,
        status: 503,
        times: 1,
      });
      const pending = get("/fapi/v1/time");
      // The fault is used up when the request arrives; it is then held.
      await waitUntil(
        async () => (await control("GET", "/__sim/state")).body.held_requests === 1,
        "the request held",
      );
      expect((await control("POST", "/__sim/faults/release")).body).toEqual({
        ok: true,
        released: 1,
      });
      const r = await pending;
      expect(r.status).toBe(503);
      expect(r.json.code).toBe(-1008);
      expect((await control("GET", "/__sim/state")).body.held_requests).toBe(0);
      expect((await control("POST", "/__sim/faults/release")).body.released).toBe(0);
    });

    it("returns a raw (invalid JSON) body", async () => {
      await control("PUT", "/__sim/faults", {
        path: "/fapi/v3/positionRisk",
        body: "<html>not json",
      });
      const r = await signedGet("/fapi/v3/positionRisk");
      expect(r.status).toBe(200);
      expect(r.text).toBe("<html>not json");
      expect(r.json).toBeUndefined();
      await control("PUT", "/__sim/faults", { path: "/fapi/v3/account", status: 502, body: "{" });
      const a = await signedGet("/fapi/v3/account");
      expect(a.status).toBe(502);
      expect(a.text).toBe("{");
    });

    it("429 and 418 carry Retry-After", async () => {
      await control("PUT", "/__sim/faults", [
        { path: "/fapi/v1/klines", status: 429, retry_after: 7 },
        { path: "/fapi/v3/account", status: 418 },
      ]);
      await control("PUT", "/__sim/klines/BTCUSDT", { preset: "CHOP" });
      const limited = await get("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=100");
      expect(limited.status).toBe(429);
      expect(limited.res.headers.get("retry-after")).toBe("7");
      expect(limited.json.code).toBe(-1003);
      const banned = await signedGet("/fapi/v3/account");
      expect(banned.status).toBe(418);
      expect(banned.res.headers.get("retry-after")).toBe("120");
      expect(banned.json.code).toBe(-1003);
      expect((await control("DELETE", "/__sim/faults")).status).toBe(200);
      expect((await get("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=100")).status).toBe(200);
    });

    it("supports a wildcard path and validates input", async () => {
      await control("PUT", "/__sim/faults", { path: "*", status: 500, times: 1 });
      expect((await get("/fapi/v1/time")).status).toBe(500);
      expect((await get("/fapi/v1/time")).status).toBe(200);
      const bad = await control("PUT", "/__sim/faults", { path: "/x", status: "oops" });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe("bad_request");
    });
  });

  describe("klines", () => {
    it("validates parameters like Binance", async () => {
      await control("PUT", "/__sim/klines/BTCUSDT", { preset: "BASE" });
      const unknown = await get("/fapi/v1/klines?symbol=NOPEUSDT&interval=1h");
      expect(unknown.status).toBe(400);
      expect(unknown.json).toEqual({ code: -1121, msg: "Invalid symbol." });
      const noSymbol = await get("/fapi/v1/klines?interval=1h");
      expect(noSymbol.json.code).toBe(-1102);
      const badInterval = await get("/fapi/v1/klines?symbol=BTCUSDT&interval=7h");
      expect(badInterval.json).toEqual({ code: -1120, msg: "Invalid interval." });
      const badLimit = await get("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=abc");
      expect(badLimit.json.code).toBe(-1130);
    });

    it("ends a preset with the still-open candle aligned to the hour", async () => {
      await control("PUT", "/__sim/klines/BTCUSDT", { preset: "TREND_STRONG", base_price: 60000 });
      const requested = sim.state.serverTime();
      const r = await get("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=100");
      expect(r.json).toHaveLength(100);
      const serverTime = sim.state.serverTime();
      const last = r.json[99];
      expect(last[0] % 3_600_000).toBe(0);
      expect(last[0]).toBeLessThanOrEqual(serverTime);
      expect(last[6]).toBe(last[0] + 3_600_000 - 1);
      expect(last[6]).toBeGreaterThanOrEqual(requested); // still open when it was served
      expect(last[4]).toBe("60000.00");
      for (let i = 1; i < r.json.length; i++) {
        expect(r.json[i][0] - r.json[i - 1][0]).toBe(3_600_000);
        expect(r.json[i][1]).toBe(r.json[i - 1][4]); // open = previous close
      }
      for (const row of r.json) {
        expect(row).toHaveLength(12);
        expect(typeof row[0]).toBe("number");
        for (const i of [1, 2, 3, 4, 5, 7, 9, 10, 11]) expect(typeof row[i]).toBe("string");
        expect(typeof row[8]).toBe("number");
        expect(Number(row[2])).toBeGreaterThanOrEqual(Math.max(Number(row[1]), Number(row[4])));
        expect(Number(row[3])).toBeLessThanOrEqual(Math.min(Number(row[1]), Number(row[4])));
      }
    });

    it("serves explicit rows with startTime/endTime/limit selection", async () => {
      const h = 3_600_000;
      const rows = Array.from({ length: 10 }, (_, i) => [
        i * h,
        10 + i,
        11 + i,
        9 + i,
        10.5 + i,
        5,
      ]);
      const put = await control("PUT", "/__sim/klines/ABCUSDT", { rows });
      expect(put.status).toBe(200);
      const all = await get("/fapi/v1/klines?symbol=ABCUSDT&interval=1h");
      expect(all.json).toHaveLength(10);
      expect(all.json[0]).toEqual([
        0,
        "10",
        "11",
        "9",
        "10.5",
        "5",
        h - 1,
        "50.625",
        0,
        "2.500",
        "25.313",
        "0",
      ]);
      const lastThree = await get("/fapi/v1/klines?symbol=ABCUSDT&interval=1h&limit=3");
      expect(lastThree.json.map((r: number[]) => r[0])).toEqual([7 * h, 8 * h, 9 * h]);
      const fromStart = await get(
        `/fapi/v1/klines?symbol=ABCUSDT&interval=1h&startTime=${2 * h}&limit=2`,
      );
      expect(fromStart.json.map((r: number[]) => r[0])).toEqual([2 * h, 3 * h]);
      const untilEnd = await get(
        `/fapi/v1/klines?symbol=ABCUSDT&interval=1h&endTime=${4 * h}&limit=2`,
      );
      expect(untilEnd.json.map((r: number[]) => r[0])).toEqual([3 * h, 4 * h]);
      const otherInterval = await get("/fapi/v1/klines?symbol=ABCUSDT&interval=4h");
      expect(otherInterval.json).toEqual([]);
      const bad = await control("PUT", "/__sim/klines/ABCUSDT", { rows: [[1, 2, 3]] });
      expect(bad.status).toBe(400);
      const badPreset = await control("PUT", "/__sim/klines/ABCUSDT", { preset: "MOON" });
      expect(badPreset.status).toBe(400);
    });

    it("gives a symbol with a position but no klines a BASE market around its mark", async () => {
      await control("PUT", "/__sim/positions", [
        { symbol: "DOGEUSDT", positionAmt: "100", entryPrice: "0.1", markPrice: "0.12" },
      ]);
      const r = await get("/fapi/v1/klines?symbol=DOGEUSDT&interval=1h&limit=100");
      expect(r.status).toBe(200);
      expect(r.json).toHaveLength(100);
      expect(Number(r.json[99][4])).toBeCloseTo(0.12, 6);
    });
  });

  it("derives the v3 account from positions and applies overrides", async () => {
    await control("PUT", "/__sim/positions", POSITIONS);
    const r = await signedGet("/fapi/v3/account");
    expect(r.status).toBe(200);
    const a = r.json;
    // BTC: notional 610, IM 61, upnl 10; ETH: notional -6200, IM 620, upnl -200
    expect(a).toMatchObject({
      totalInitialMargin: "681.00000000",
      totalPositionInitialMargin: "681.00000000",
      totalOpenOrderInitialMargin: "0.00000000",
      totalWalletBalance: "10000.00000000",
      totalUnrealizedProfit: "-190.00000000",
      totalMarginBalance: "9810.00000000",
      totalCrossWalletBalance: "10000.00000000",
      totalCrossUnPnl: "-190.00000000",
      availableBalance: "9129.00000000",
      maxWithdrawAmount: "9129.00000000",
    });
    expect(a.totalMaintMargin).toBe("27.24000000");
    expect(a.assets).toHaveLength(1);
    expect(a.assets[0]).toMatchObject({ asset: "USDT", walletBalance: "10000.00000000" });
    expect(a.positions.map((p: { symbol: string }) => p.symbol)).toEqual(["BTCUSDT", "ETHUSDT"]);
    expect(Object.keys(a.positions[0])).toEqual([
      "symbol",
      "positionSide",
      "positionAmt",
      "unrealizedProfit",
      "isolatedMargin",
      "notional",
      "isolatedWallet",
      "initialMargin",
      "maintMargin",
      "updateTime",
    ]);

    const put = await control("PUT", "/__sim/account", {
      totalInitialMargin: 6000,
      totalMarginBalance: "10000",
    });
    expect(put.status).toBe(200);
    const o = (await signedGet("/fapi/v3/account")).json;
    expect(o.totalInitialMargin).toBe("6000.00000000");
    expect(o.totalMarginBalance).toBe("10000.00000000");
    expect(o.availableBalance).toBe("4000.00000000");
    await control("PUT", "/__sim/account", { totalInitialMargin: null });
    expect((await signedGet("/fapi/v3/account")).json.totalInitialMargin).toBe("681.00000000");
    const bad = await control("PUT", "/__sim/account", { totalFoo: 1 });
    expect(bad.status).toBe(400);
  });

  it("keeps a request log with since/count/total_weight", async () => {
    await get("/fapi/v1/time");
    await signedGet("/fapi/v3/positionRisk");
    await get("/fapi/v1/nope");
    const log = await control("GET", "/__sim/requests");
    expect(log.body.count).toBe(3);
    expect(log.body.total_weight).toBe(6);
    expect(
      log.body.requests.map((r: { path: string; status: number; weight: number }) => [
        r.path,
        r.status,
        r.weight,
      ]),
    ).toEqual([
      ["/fapi/v1/time", 200, 1],
      ["/fapi/v3/positionRisk", 200, 5],
      ["/fapi/v1/nope", 404, 0],
    ]);
    expect(log.body.requests[1]).toMatchObject({ method: "GET", index: 1 });
    expect(log.body.requests[1].query.recvWindow).toBe("5000");
    expect(log.body.requests[1].at).toBeTypeOf("number");
    const since = await control("GET", "/__sim/requests?since=2");
    expect(since.body.requests.map((r: { index: number }) => r.index)).toEqual([2]);
    const byPath = await control("GET", "/__sim/requests?path=/fapi/v1/time");
    expect(byPath.body.requests).toHaveLength(1);
  });

  it("answers unknown routes with 404 and bad control input with 400", async () => {
    const r = await get("/fapi/v1/nope");
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ code: -5000, msg: "Path /fapi/v1/nope, Method GET is invalid" });
    expect(r.res.headers.get("x-mbx-used-weight-1m")).not.toBeNull();
    expect((await control("GET", "/__sim/nope")).status).toBe(404);
    expect((await control("PUT", "/__sim/positions", "{not json")).status).toBe(400);
    expect(
      (await control("PUT", "/__sim/positions", [{ symbol: "btc", positionAmt: 1 }])).status,
    ).toBe(400);
    expect((await control("PUT", "/__sim/positions", { symbol: "BTCUSDT" })).status).toBe(400);
    const dup = await control("PUT", "/__sim/positions", [
      { symbol: "BTCUSDT", positionAmt: 1 },
      { symbol: "BTCUSDT", positionAmt: 2 },
    ]);
    expect(dup.status).toBe(400);
    expect((await control("PUT", "/__sim/clock", { skew_ms: "x" })).status).toBe(400);
    expect((await control("PUT", "/__sim/apply", { auto: "yes" })).status).toBe(400);
  });

  it("reset puts everything back to defaults", async () => {
    await control("PUT", "/__sim/positions", POSITIONS);
    await control("PUT", "/__sim/klines/BTCUSDT", { preset: "CHOP" });
    await control("PUT", "/__sim/account", { totalInitialMargin: 1 });
    await control("PUT", "/__sim/faults", { path: "/fapi/v1/time", status: 500 });
    await control("PUT", "/__sim/apply", { auto: false, delay_ms: 5, executed: false });
    await control("PUT", "/__sim/clock", { skew_ms: 12345 });
    await get("/fapi/v1/time");
    expect((await control("POST", "/__sim/reset")).status).toBe(200);
    const state = (await control("GET", "/__sim/state")).body;
    expect(state).toMatchObject({
      skew_ms: 0,
      positions: [],
      klines: {},
      account_overrides: {},
      faults: [],
      apply: { auto: true, delay_ms: 200, executed: true },
      used_weight_1m: 0,
      total_weight: 0,
      request_count: 0,
    });
    const time = await get("/fapi/v1/time");
    expect(time.status).toBe(200);
    expect(time.res.headers.get("x-mbx-used-weight-1m")).toBe("1");
    expect((await signedGet("/fapi/v3/positionRisk")).json).toEqual([]);
    expect((await get("/fapi/v1/klines?symbol=BTCUSDT&interval=1h")).json.code).toBe(-1121);
  });

  it("stop() does not wait for a request parked in a fault delay", async () => {
    const other = await startExchangeSim({ apiKey: API_KEY, apiSecret: API_SECRET });
    await fetch(`${other.url}/__sim/faults`, {
      method: "PUT",
      body: JSON.stringify({ path: "/fapi/v1/time", delay_ms: 60_000 }),
    });
    const pending = fetch(`${other.url}/fapi/v1/time`).then(
      () => "answered",
      () => "failed",
    );
    await waitUntil(
      async () =>
        ((await (await fetch(`${other.url}/__sim/state`)).json()) as { held_requests: number })
          .held_requests === 1,
      "the request parked in the delay",
    );
    // A stop() that waited for the 60 s delay would outlast this test's timeout.
    await other.stop();
    expect(await pending).toBe("failed");
  });
});
