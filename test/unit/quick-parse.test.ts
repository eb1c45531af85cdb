/**
 * The quick checks in front of zod (lib/quick-parse.ts): on generated inputs,
 * each parser answers exactly what its schema answers (the same output, or
 * the same issues), and the documents it is there for never reach the schema.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { accountParser, accountSchema } from "../../lib/binance/schemas.ts";
import { readStateParser } from "../../lib/evaluate/read-state.ts";
import { scriptDecisionParser, ScriptDecisionSchema } from "../../lib/plans/decision.ts";
import { REASONS } from "../../lib/plans/reasons.ts";
import { planParser } from "../../lib/plans/schema.ts";
import type { Parser } from "../../lib/quick-parse.ts";
import { entryRecordParser } from "../../lib/rotation/entries.ts";
import { ACCOUNT_V3_MULTI_ASSETS, ACCOUNT_V3_SINGLE_ASSET } from "../fixtures/binance-docs.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

type QuickParser<T> = Parser<T> & { schema: Parser<T> };

/** Generated inputs per property. */
const RUNS = 3000;

/**
 * The parser and its schema agree on `input`. Answers whether the quick check
 * answered it (the schema was not asked): only those inputs can show a quick
 * check that accepts more than its schema.
 */
function agrees<T>(parser: QuickParser<T>, input: unknown): boolean {
  const asked = vi.spyOn(parser.schema, "safeParse");
  const quick = parser.safeParse(input);
  const answeredQuickly = asked.mock.calls.length === 0;
  asked.mockRestore();
  const slow = parser.schema.safeParse(input);
  expect(quick.success).toBe(slow.success);
  if (slow.success) expect(quick.data).toEqual(slow.data);
  else expect(quick.error!.issues).toEqual(slow.error.issues);
  return answeredQuickly;
}

/**
 * The property: the parser agrees with its schema on RUNS inputs, and at least
 * a fifth of them were answered by the quick check (the generators here make a
 * third to two thirds such): a generator that mostly makes refused inputs
 * would test only the schema against itself.
 */
function holdsToItsSchema<T>(parser: QuickParser<T>, inputs: fc.Arbitrary<unknown>): void {
  let quick = 0;
  fc.assert(
    fc.property(inputs, (input) => {
      if (agrees(parser, input)) quick += 1;
    }),
    { numRuns: RUNS },
  );
  expect(quick).toBeGreaterThanOrEqual(RUNS / 5);
}

/** Mostly `valid`, sometimes `odd`. */
const mostly = (valid: fc.Arbitrary<unknown>, odd: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 20, arbitrary: valid }, { weight: 1, arbitrary: odd });

/** A record of `fields`, each mostly kept, sometimes dropped or replaced by an odd value. */
function shaped(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<object> {
  const odd = fc.constantFrom(null, true, "", [], {}, -1, 2 ** 60, Number.NaN, "x");
  const entries = Object.entries(fields).map(([name, value]) =>
    fc.oneof(
      { weight: 60, arbitrary: value.map((v) => [[name, v]] as [string, unknown][]) },
      { weight: 1, arbitrary: fc.constant([] as [string, unknown][]) },
      { weight: 1, arbitrary: odd.map((v) => [[name, v]] as [string, unknown][]) },
    ),
  );
  const extra = fc.option(
    fc.dictionary(fc.constantFrom("extra", "note", "__proto__", "toString"), fc.jsonValue(), {
      maxKeys: 2,
    }),
    { freq: 3 },
  );
  return fc
    .tuple(fc.tuple(...entries), extra)
    .map(([kept, more]) => Object.fromEntries([...kept.flat(), ...Object.entries(more ?? {})]));
}

describe("the account's quick check", () => {
  const decimal = mostly(
    fc.oneof(fc.stringMatching(/^-?\d{1,6}(\.\d{1,8})?$/), fc.double({ noNaN: true })),
    fc.constantFrom(" 1.5 ", "", "  ", "1e3", "0x10", "abc", "Infinity", "-0", "1_000", NaN),
  );
  const unixMs = mostly(
    fc.integer({ min: 0, max: 2 ** 45 }),
    fc.constantFrom(-1, 1.5, 2 ** 53, "1625474304765"),
  );
  const asset = shaped({
    asset: mostly(fc.constantFrom("USDT", "USDC", "BNB"), fc.constant("")),
    marginBalance: decimal,
    walletBalance: decimal,
    unrealizedProfit: decimal,
    initialMargin: decimal,
    openOrderInitialMargin: decimal,
    availableBalance: decimal,
    updateTime: unixMs,
  });
  const position = shaped({
    symbol: mostly(fc.constantFrom("BTCUSDT", "ETHUSDT"), fc.constant("")),
    positionSide: mostly(fc.constantFrom("BOTH", "LONG", "SHORT"), fc.constant("both")),
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
    holdsToItsSchema(accountParser, account);
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
  const finite = mostly(
    fc.oneof(fc.double({ min: 0, max: 125, noNaN: true }), fc.constantFrom(0, -0, 125)),
    fc.oneof(fc.double(), fc.constantFrom(125.0001, -1, 1e308)),
  );
  const plan = shaped({
    plan_id: mostly(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,130}$/), fc.constantFrom("", "a b", "é")),
    symbol: mostly(
      fc.stringMatching(/^[A-Z0-9]{2,22}$/),
      fc.constantFrom("A", "btcusdt", "BTC-USDT"),
    ),
    action: mostly(fc.constantFrom("OPEN", "FULL_CLOSE_PROPOSED"), fc.string({ maxLength: 70 })),
    decision: mostly(fc.constant("EXECUTE"), fc.string({ maxLength: 70 })),
    side: mostly(fc.constantFrom("LONG", "SHORT", "BUY", "SELL"), fc.constant("long")),
    qty: finite,
    notional: finite,
    leverage: finite,
    score: finite,
    kill_score: finite,
    ts: finite,
    reduceOnly: mostly(fc.boolean(), fc.constant("true")),
  });

  it("answers what PlanSchema answers, on 3,000 generated plans", () => {
    holdsToItsSchema(planParser, plan);
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
  const record = (value: fc.Arbitrary<unknown>, odd: fc.Arbitrary<unknown>) =>
    mostly(
      fc.oneof(
        fc.dictionary(fc.constantFrom("BTCUSDT", "ETHUSDT", "x"), value, { maxKeys: 3 }),
        fc.constant([]),
      ),
      fc.oneof(
        fc.constantFrom([1], "text", null),
        fc.dictionary(fc.constantFrom("BTCUSDT", "__proto__"), odd, { minKeys: 1, maxKeys: 2 }),
      ),
    );
  const answer = shaped({
    decision: fc.string(),
    universe: fc.string(),
    universe_digest: mostly(fc.string(), fc.integer()),
    universe_held: mostly(fc.constant(true), fc.constantFrom(false, "true", 1)),
    backoff_until: mostly(fc.string(), fc.integer()),
    time_offset: fc.string(),
    entries: fc.jsonValue(),
    markets: record(fc.string(), fc.integer()),
    markets_held: record(fc.constant(true), fc.boolean()),
    market_digests: record(fc.string(), fc.constant(1)),
    step_sizes: record(fc.string(), fc.constant(null)),
    trading_block: mostly(
      fc.constantFrom(REASONS.reducing, REASONS.halted),
      fc.constant(REASONS.slotFree),
    ),
  });

  it("answers what ReadStateSchema answers, on 3,000 generated answers", () => {
    holdsToItsSchema(readStateParser, answer);
  });
});

describe("the entry record's quick check", () => {
  const number = mostly(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double());
  const entry = shaped({
    at: mostly(fc.integer({ min: 0 }), fc.constantFrom("1", null)),
    score: mostly(fc.oneof(number, fc.constant(null)), fc.constantFrom("2", true)),
  });

  it("answers what its schema answers, on 3,000 generated records", () => {
    holdsToItsSchema(entryRecordParser, entry);
  });
});

describe("the script answer's quick check", () => {
  const number = mostly(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double());
  const int = mostly(fc.integer(), fc.constantFrom(2 ** 53, 1.5));
  const body = shaped({
    plan_id: fc.string(),
    symbol: fc.string(),
    decision: mostly(fc.constantFrom("ALLOW", "BLOCK", "IGNORED"), fc.constant("allow")),
    reason: mostly(fc.constantFrom(...Object.values(REASONS)), fc.constant("active_slots_unknown")),
    replayed: fc.boolean(),
    shadow: fc.boolean(),
    regime: shaped({
      name: mostly(fc.constantFrom("BASE", "TREND_STRONG", "CHOP"), fc.constant("base")),
      trend: number,
      atr_pct: number,
      desired_slots: int,
    }),
    slots: shaped({ desired: int, holders: int }),
    rotation: shaped({ close_symbol: fc.string(), close_plan_id: fc.string(), lock_age: number }),
    details: mostly(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }), fc.jsonValue()),
  });
  const answer = shaped({ replayed: fc.boolean(), response: body, alerts: fc.nat() });

  it("answers what ScriptDecisionSchema answers, on 3,000 generated answers", () => {
    holdsToItsSchema(scriptDecisionParser, answer);
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
