import { beforeEach, describe, expect, it } from "vitest";
import { marketCacheEntry, type MarketCache } from "../../lib/market/cache.ts";
import {
  forgetHeldMarkets,
  offerMarkets,
  offeredDigests,
  takeMarkets,
} from "../../lib/market/held.ts";

const NOW = 1_760_000_000_000;
const PREFIX = "quantum:governor:klines:1h:";
const REGIME = {
  name: "BASE",
  trend: 0.1,
  atr_pct: 1,
  ema_fast: 1,
  ema_slow: 1,
  atr: 1,
  last_close: 100,
  candles: 2,
} as const;

const cacheText = (close: number, expires = NOW + 60_000) =>
  JSON.stringify(
    marketCacheEntry(
      REGIME,
      [
        { openTime: 0, close: 100 },
        { openTime: 3_600_000, close },
      ],
      expires,
    ),
  );

const sent = (markets: Record<string, string>, digests: Record<string, string>) => ({
  markets,
  digests,
  held: [] as string[],
});

describe("market caches held in isolate memory (the state read's markets_held)", () => {
  beforeEach(() => forgetHeldMarkets());

  it("offers nothing before a read sent a cache with its digest", () => {
    expect(offeredDigests(offerMarkets(PREFIX, "AUSDT", NOW))).toEqual({});
  });

  it("offers the digest of a cache sent, for the plan's symbol and the last read's symbols", () => {
    takeMarkets(
      PREFIX,
      sent({ AUSDT: cacheText(101), BUSDT: cacheText(102) }, { AUSDT: "da", BUSDT: "db" }),
      new Map(),
      NOW,
    );
    expect(offeredDigests(offerMarkets(PREFIX, "CUSDT", NOW))).toEqual({
      AUSDT: "da",
      BUSDT: "db",
    });
    expect(offeredDigests(offerMarkets("other:", "AUSDT", NOW))).toEqual({});
  });

  it("uses the copy it offered when the script answers it is current, parsed as sent", () => {
    const first = takeMarkets(
      PREFIX,
      sent({ AUSDT: cacheText(101) }, { AUSDT: "da" }),
      new Map(),
      NOW,
    );
    const offer = offerMarkets(PREFIX, "AUSDT", NOW);
    const second = takeMarkets(PREFIX, { markets: {}, digests: {}, held: ["AUSDT"] }, offer, NOW);
    expect(second.get("AUSDT")).toEqual(JSON.parse(cacheText(101)) as MarketCache);
    expect(second.get("AUSDT")).toBe(first.get("AUSDT"));
    expect(Object.isFrozen(second.get("AUSDT")!.closes)).toBe(true);
  });

  it("uses the offered copy even when another evaluation replaced it meanwhile", () => {
    takeMarkets(PREFIX, sent({ AUSDT: cacheText(101) }, { AUSDT: "d1" }), new Map(), NOW);
    const offer = offerMarkets(PREFIX, "AUSDT", NOW);
    takeMarkets(PREFIX, sent({ AUSDT: cacheText(999) }, { AUSDT: "d2" }), new Map(), NOW);
    const answer = takeMarkets(PREFIX, { markets: {}, digests: {}, held: ["AUSDT"] }, offer, NOW);
    expect(answer.get("AUSDT")!.closes[1]![1]).toBe(101);
  });

  it("has no cache for a symbol answered held that it did not offer (a klines fetch follows)", () => {
    const answer = takeMarkets(
      PREFIX,
      { markets: {}, digests: {}, held: ["AUSDT"] },
      new Map(),
      NOW,
    );
    expect(answer.has("AUSDT")).toBe(false);
  });

  it("neither offers nor uses a copy past its expiry", () => {
    takeMarkets(PREFIX, sent({ AUSDT: cacheText(101, NOW + 10) }, { AUSDT: "da" }), new Map(), NOW);
    const offer = offerMarkets(PREFIX, "AUSDT", NOW);
    const late = takeMarkets(
      PREFIX,
      { markets: {}, digests: {}, held: ["AUSDT"] },
      offer,
      NOW + 10,
    );
    expect(late.has("AUSDT")).toBe(false);
    expect(offeredDigests(offerMarkets(PREFIX, "AUSDT", NOW + 10))).toEqual({});
  });

  it("drops a copy whose new text is malformed or expired, as readMarketCache refuses it", () => {
    takeMarkets(PREFIX, sent({ AUSDT: cacheText(101) }, { AUSDT: "da" }), new Map(), NOW);
    const answer = takeMarkets(PREFIX, sent({ AUSDT: "{" }, { AUSDT: "dx" }), new Map(), NOW);
    expect(answer.has("AUSDT")).toBe(false);
    expect(offeredDigests(offerMarkets(PREFIX, "AUSDT", NOW))).toEqual({});
  });
});
