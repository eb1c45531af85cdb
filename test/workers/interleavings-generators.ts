/**
 * The random input of the interleavings test (./interleavings.test.ts): a
 * world to start from (regime, open positions, the governor's entry records,
 * a pool of plans) and the steps a sequence takes, 3–8 of them:
 *  - eval:    K concurrent evaluations (distinct or repeated plan ids);
 *  - hold:    an evaluation that takes its snapshot now (Redis reads, Binance
 *             account and klines, gates) and pauses right before its atomic
 *             slot script, which runs only at a later `release` step — a
 *             deterministic stand-in for a slow evaluation racing the others
 *             (its script context, `now_ms` included, is built at hold time);
 *  - sweep:   the cron sweep;
 *  - confirm: an Apply Layer result for an outstanding close plan
 *             (executed=true closes the position first; executed=false), or a
 *             late one for a rotation already resolved; or a misbehaving one:
 *             naming the wrong symbol, a partial close (the position stays
 *             open), or a redelivery of an earlier result;
 *  - reprop:  the Apply Layer proposes a plan's symbol again under a fresh
 *             plan_id (a retry after a "waiting" answer);
 *  - reuse:   a used plan_id comes back with another symbol (409, or a fresh
 *             evaluation when nothing final is stored for it);
 *  - policy:  an operator removes a symbol from the universe, or restores it;
 *  - margin:  the account's margin use jumps over the cap, or falls back;
 *  - state:   an operator sets the trading state (ACTIVE, REDUCING, HALTED);
 *  - open:    the Apply Layer opens the position of an ALLOWed plan while its
 *             permit is valid (ALLOWs whose permit lapsed never open);
 *  - close:   a position closes on its own (stop-loss, manual);
 *  - regime:  at the next candle close every symbol's market switches preset
 *             (closed candles never change, so a regime can only change when
 *             a candle closes: the clock moves there, and every regime cache
 *             fetched before it expires, including one a paused evaluation
 *             writes late);
 *  - jump:    the clock moves 0–200 s.
 * How a step is carried out is the model's (./interleavings-model.ts).
 *
 * Plan ids come in pairs sharing their first 8 characters, so rotation close
 * plan ids (`rot_{8 chars}_{symbol}`) collide across plans, as the spec allows.
 *
 * Also here: the helpers that write a world and its steps by hand (worldOf,
 * planNo, symbolNo) for the counterexamples kept as regressions.
 */
import fc from "fast-check";
import type { TradingStateName } from "../../lib/operators/trading-state.ts";

export const SYMBOLS = [
  "BTCUSDT",
  "ETHUSDT",
  "SOLUSDT",
  "XRPUSDT",
  "ADAUSDT",
  "BNBUSDT",
  "DOGEUSDT",
  "LTCUSDT",
] as const;
/** Pairs share their first 8 characters, so their close plan ids can collide. */
export const PLAN_IDS = [
  "plan0000-a",
  "plan0000-b",
  "plan0001",
  "rotcand-7",
  "rotcand-8",
  "q1",
  "q2",
  "z",
] as const;
export const PRESETS = ["BASE", "TREND_STRONG", "CHOP"] as const;
export type Preset = (typeof PRESETS)[number];
/** The most evaluations held paused at once. */
export const MAX_HELD = 3;

export interface WorldSpec {
  preset: Preset;
  positions: { symbol: string; pnl: number; ageHours: number; score: number | null }[];
  plans: { symbol: number; score: number | null }[];
}

export type Step =
  | { kind: "eval"; plans: number[] }
  | { kind: "hold"; plan: number }
  | { kind: "release"; which: number }
  | { kind: "sweep" }
  | {
      kind: "confirm";
      which: number;
      executed: boolean;
      late: boolean;
      /** A misbehaving Apply Layer (default: normal). */
      variant?: "normal" | "wrong_symbol" | "partial" | "redeliver";
    }
  | { kind: "reprop"; plan: number }
  | { kind: "reuse"; plan: number; symbol: number }
  | { kind: "policy"; exclude: number | null }
  | { kind: "margin"; tight: boolean }
  | { kind: "state"; to: TradingStateName }
  | { kind: "open"; which: number; all: boolean; pnl: number }
  | { kind: "close"; which: number }
  | { kind: "regime"; preset: Preset }
  | { kind: "jump"; seconds: number };

const planIndex = fc.integer({ min: 0, max: PLAN_IDS.length - 1 });
const score = fc.oneof(
  fc.constant(null),
  fc.integer({ min: 0, max: 12 }).map((x) => x / 10), // weak
  { weight: 2, arbitrary: fc.integer({ min: 20, max: 90 }).map((x) => x / 10) }, // strong
);

const positionArb = (symbol: string) =>
  fc.record({
    symbol: fc.constant(symbol),
    pnl: fc.integer({ min: -20, max: 20 }),
    ageHours: fc.integer({ min: 0, max: 30 }),
    score: fc.oneof(
      fc.constant(null),
      fc.integer({ min: 0, max: 50 }).map((x) => x / 10),
    ),
  });

/** Mostly worlds at or near full slots (`desired`: the slots of each regime), where rotations happen. */
export const worldArb = (desired: Record<Preset, number>): fc.Arbitrary<WorldSpec> =>
  fc
    .constantFrom(...PRESETS)
    .chain((preset) =>
      fc.constantFrom(-2, -1, 0, 0, 0, 1).chain((offset) => {
        const n = Math.max(0, Math.min(SYMBOLS.length - 1, desired[preset] + offset));
        return fc.tuple(
          fc.constant(preset),
          fc.shuffledSubarray([...SYMBOLS], { minLength: n, maxLength: n }),
        );
      }),
    )
    .chain(([preset, held]) => {
      // Plans mostly name symbols not held yet (candidates), some a held one.
      const free = SYMBOLS.map((_, i) => i).filter((i) => !held.includes(SYMBOLS[i]!));
      const planSymbol = fc.oneof(
        {
          weight: free.length > 0 ? 3 : 0,
          arbitrary: fc.constantFrom(...(free.length ? free : [0])),
        },
        fc.integer({ min: 0, max: SYMBOLS.length - 1 }),
      );
      return fc.record({
        preset: fc.constant(preset),
        positions: fc.tuple(...held.map(positionArb)),
        plans: fc.array(fc.record({ symbol: planSymbol, score }), {
          minLength: PLAN_IDS.length,
          maxLength: PLAN_IDS.length,
        }),
      });
    });

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("eval" as const),
      plans: fc.array(planIndex, { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("hold" as const), plan: planIndex }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("release" as const), which: fc.nat(MAX_HELD) }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "sweep" as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("confirm" as const),
      which: fc.nat(7),
      executed: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
      late: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, fc.constant(true)),
      variant: fc.oneof(
        { weight: 3, arbitrary: fc.constant("normal" as const) },
        fc.constantFrom("wrong_symbol" as const, "partial" as const, "redeliver" as const),
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("reprop" as const), plan: planIndex }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reuse" as const),
      plan: planIndex,
      symbol: fc.integer({ min: 0, max: SYMBOLS.length - 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("policy" as const),
      exclude: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: SYMBOLS.length - 1 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("margin" as const), tight: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("state" as const),
      to: fc.constantFrom("ACTIVE" as const, "REDUCING" as const, "HALTED" as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("open" as const),
      which: fc.nat(7),
      all: fc.boolean(),
      pnl: fc.integer({ min: -20, max: 20 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("close" as const), which: fc.nat(7) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("regime" as const),
      preset: fc.constantFrom(...PRESETS),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("jump" as const),
      seconds: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 0, max: 30 }) },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 200 }) },
      ),
    }),
  },
);

export function describeWorld(world: WorldSpec): string {
  const positions = world.positions
    .map((p) => `${p.symbol}(pnl ${p.pnl}, ${p.ageHours}h, score ${p.score})`)
    .join(" ");
  const plans = world.plans
    .map((p, i) => `${PLAN_IDS[i]}=${SYMBOLS[p.symbol]}/score ${p.score}`)
    .join(" ");
  return `regime ${world.preset}; positions: ${positions || "none"}; plans: ${plans}`;
}

export type PlanId = (typeof PLAN_IDS)[number];
export type Sym = (typeof SYMBOLS)[number];

/** A hand-written world: positions [symbol, pnl], plans by id (others: BTCUSDT, no score). */
export function worldOf(
  preset: Preset,
  positions: [Sym, number][],
  plans: Partial<Record<PlanId, [Sym, number | null]>>,
): WorldSpec {
  return {
    preset,
    positions: positions.map(([symbol, pnl]) => ({ symbol, pnl, ageHours: 0, score: null })),
    plans: PLAN_IDS.map((id) => {
      const [symbol, planScore] = plans[id] ?? ["BTCUSDT", null];
      return { symbol: SYMBOLS.indexOf(symbol), score: planScore };
    }),
  };
}

export const planNo = (id: PlanId) => PLAN_IDS.indexOf(id);
export const symbolNo = (symbol: Sym) => SYMBOLS.indexOf(symbol);
