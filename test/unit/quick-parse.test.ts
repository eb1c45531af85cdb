/**
 * The quick checks in front of zod (lib/quick-parse.ts): on generated inputs,
 * each parser answers exactly what its schema answers (the same output, or
 * the same issues), and the documents it is there for never reach the schema.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { accountParser, accountSchema } from "../../lib/binance/schemas.ts";
import { ReadStateSchema, readStateParser } from "../../lib/evaluate/read-state.ts";
import { scriptDecisionParser, ScriptDecisionSchema } from "../../lib/plans/decision.ts";
import { REASONS } from "../../lib/plans/reasons.ts";
import { planParser, PlanSchema } from "../../lib/plans/schema.ts";
import type { Parser } from "../../lib/quick-parse.ts";
import { ACCOUNT_V3_MULTI_ASSETS, ACCOUNT_V3_SINGLE_ASSET } from "../fixtures/binance-docs.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

/** The parser and its schema agree on `input`. */
function agrees<T>(parser: Parser<T>, schema: Parser<T>, input: unknown): void {
  const quick = parser.safeParse(input);
  const slow = schema.safeParse(input);
  expect(quick.success).toBe(slow.success);
  if (slow.success) expect(quick.data).toEqual(slow.data);
  else expect(quick.error!.issues).toEqual(slow.error.issues);
}

/** A record of `fields`, each kept, dropped or replaced by an odd value. */
function shaped(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<object> {
  const odd = fc.constantFrom(null, true, "", [], {}, -1, 2 ** 60, Number.NaN, "x");
  const entries = Object.entries(fields).map(([name, value]) =>
    fc.oneof(
      { weight: 8, arbitrary: value.map((v) => [[name, v]] as [string, unknown][]) },
      { weight: 1, arbitrary: fc.constant([] as [string, unknown][]) },
      { weight: 1, arbitrary: odd.map((v) => [[name, v]] as [string, unknown][]) },
    ),
  );
  const extra = fc.dictionary(
    fc.constantFrom("extra", "note", "__proto__", "toString"),
    fc.jsonValue(),
    {
      maxKeys: 2,
    },
  );
  return fc
    .tuple(fc.tuple(...entries), extra)
    .map(([kept, more]) => Object.fromEntries([...kept.flat(), ...Object.entries(more)]));
}

describe("the account's quick check", () => {
  const decimal = fc.oneof(
    fc.stringMatching(/^-?\d{1,6}(\.\d{1,8})?$/),
    fc.double({ noNaN: false }),
    fc.constantFrom(" 1.5 ", "", "  ", "1e3", "0x10", "abc", "Infinity", "-0", "1_000"),
  );
  const unixMs = fc.oneof(
    fc.integer({ min: 0, max: 2 ** 45 }),
    fc.constantFrom(-1, 1.5, 2 ** 53, "1625474304765"),
  );
  const asset = shaped({
    asset: fc.constantFrom("USDT", "USDC", "BNB", ""),
    marginBalance: decimal,
    walletBalance: decimal,
    unrealizedProfit: decimal,
    initialMargin: decimal,
    openOrderInitialMargin: decimal,
    availableBalance: decimal,
    updateTime: unixMs,
  });
  const position = shaped({
    symbol: fc.constantFrom("BTCUSDT", "ETHUSDT", ""),
    positionSide: fc.constantFrom("BOTH", "LONG", "SHORT", "both"),
    positionAmt: decimal,
    unrealizedProfit: decimal,
    notional: decimal,
    initialMargin: decimal,
    updateTime: unixMs,
    isolatedMargin: decimal,
    isolatedWallet: decimal,
    maintMargin: decimal,
  });
  const account = shaped({
    totalInitialMargin: decimal,
    totalMarginBalance: decimal,
    totalMaintMargin: decimal,
    totalWalletBalance: decimal,
    totalUnrealizedProfit: decimal,
    availableBalance: decimal,
    assets: fc.array(asset, { maxLength: 3 }),
    positions: fc.array(position, { maxLength: 3 }),
  });

  it("answers what accountSchema answers, on 3,000 generated accounts", () => {
    fc.assert(
      fc.property(account, (input) => agrees(accountParser, accountSchema, input)),
      { numRuns: 3000 },
    );
  });

  it("reads Binance's own examples without zod", () => {
    const examples = [ACCOUNT_V3_SINGLE_ASSET, ACCOUNT_V3_MULTI_ASSETS];
    const expected = examples.map((example) => accountSchema.safeParse(example));
    const slow = vi.spyOn(accountParser.schema, "safeParse");
    expect(examples.map((example) => accountParser.safeParse(example))).toEqual(expected);
    expect(expected.every((answer) => answer.success)).toBe(true);
    expect(slow).toHaveBeenCalledTimes(0);
  });
});

describe("the plan's quick check", () => {
  const finite = fc.oneof(fc.double(), fc.constantFrom(0, -0, 125, 125.0001, -1, 1e308));
  const plan = shaped({
    plan_id: fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9_.:-]{1,130}$/),
      fc.constantFrom("", "a b", "é"),
    ),
    symbol: fc.oneof(fc.stringMatching(/^[A-Z0-9]{1,22}$/), fc.constantFrom("btcusdt", "BTC-USDT")),
    action: fc.oneof(fc.string({ maxLength: 70 }), fc.constantFrom("OPEN", "FULL_CLOSE_PROPOSED")),
    decision: fc.oneof(fc.string({ maxLength: 70 }), fc.constant("EXECUTE")),
    side: fc.constantFrom("LONG", "SHORT", "BUY", "SELL", "long"),
    qty: finite,
    notional: finite,
    leverage: finite,
    score: finite,
    kill_score: finite,
    ts: finite,
    reduceOnly: fc.oneof(fc.boolean(), fc.constant("true")),
  });

  it("answers what PlanSchema answers, on 3,000 generated plans", () => {
    fc.assert(
      fc.property(plan, (input) => agrees(planParser, PlanSchema, input)),
      { numRuns: 3000 },
    );
  });

  it("reads an ordinary plan without zod, unknown fields kept", () => {
    const slow = vi.spyOn(planParser.schema, "safeParse");
    const input = {
      plan_id: "p-1",
      symbol: "BTCUSDT",
      action: "OPEN",
      decision: "EXECUTE",
      side: "LONG",
      notional: 100,
      leverage: 5,
      score: 1.5,
      reduceOnly: false,
      strategy: { name: "x" },
    };
    expect(planParser.safeParse(input)).toEqual({ success: true, data: input });
    expect(slow).toHaveBeenCalledTimes(0);
  });
});

describe("the state read's quick check", () => {
  const record = (value: fc.Arbitrary<unknown>) =>
    fc.oneof(
      fc.dictionary(fc.constantFrom("BTCUSDT", "ETHUSDT", "__proto__", "x"), value, { maxKeys: 3 }),
      fc.constant([]),
      fc.constantFrom([1], "text", null),
    );
  const answer = shaped({
    decision: fc.string(),
    universe: fc.string(),
    backoff_until: fc.oneof(fc.string(), fc.integer()),
    time_offset: fc.string(),
    entries: fc.jsonValue(),
    markets: record(fc.oneof(fc.string(), fc.integer())),
    markets_held: record(fc.oneof(fc.constant(true), fc.boolean())),
    market_digests: record(fc.string()),
    step_sizes: record(fc.oneof(fc.string(), fc.constant(null))),
    trading_block: fc.constantFrom(REASONS.reducing, REASONS.halted, REASONS.slotFree),
  });

  it("answers what ReadStateSchema answers, on 3,000 generated answers", () => {
    fc.assert(
      fc.property(answer, (input) => agrees(readStateParser, ReadStateSchema, input)),
      { numRuns: 3000 },
    );
  });
});

describe("the script answer's quick check", () => {
  const finite = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(2 ** 53, 1.5));
  const body = shaped({
    plan_id: fc.string(),
    symbol: fc.string(),
    decision: fc.constantFrom("ALLOW", "BLOCK", "IGNORED", "allow"),
    reason: fc.constantFrom(...Object.values(REASONS), "active_slots_unknown"),
    replayed: fc.boolean(),
    shadow: fc.boolean(),
    regime: shaped({
      name: fc.constantFrom("BASE", "TREND_STRONG", "CHOP", "base"),
      trend: finite,
      atr_pct: finite,
      desired_slots: finite,
    }),
    slots: shaped({ desired: finite, holders: finite }),
    rotation: shaped({ close_symbol: fc.string(), close_plan_id: fc.string(), lock_age: finite }),
    details: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }), fc.jsonValue()),
  });
  const answer = shaped({ replayed: fc.boolean(), response: body, alerts: fc.nat() });

  it("answers what ScriptDecisionSchema answers, on 3,000 generated answers", () => {
    fc.assert(
      fc.property(answer, (input) => agrees(scriptDecisionParser, ScriptDecisionSchema, input)),
      { numRuns: 3000 },
    );
  });

  it("reads an ordinary answer without zod", () => {
    const input = {
      replayed: false,
      response: {
        plan_id: "p-1",
        symbol: "BTCUSDT",
        decision: "ALLOW",
        reason: REASONS.symbolHoldsSlot,
        regime: { name: "TREND_STRONG", trend: 0.08, atr_pct: 0.01, desired_slots: 6 },
        slots: { desired: 6, holders: 5 },
      },
      alerts: 0,
    };
    const expected = ScriptDecisionSchema.safeParse(input);
    const slow = vi.spyOn(scriptDecisionParser.schema, "safeParse");
    expect(scriptDecisionParser.safeParse(input)).toEqual(expected);
    expect(expected.success).toBe(true);
    expect(slow).toHaveBeenCalledTimes(0);
  });
});
