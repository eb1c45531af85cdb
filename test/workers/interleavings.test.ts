/**
 * Randomized interleavings (fast-check), run inside workerd against the real
 * Redis (through the REST bridge) and the Binance simulator: each sequence
 * starts from a random world and runs 3–8 random steps
 * (./interleavings-generators.ts), carried out by the model
 * (./interleavings-model.ts); after every step the model-free checker
 * (./invariants.ts) judges the state, and at the end every lock must be
 * complete or timed out.
 *
 * Runs: 1,000 random sequences by default (`npm test`), after the minimal
 * counterexamples found so far (deterministic regressions); the soak config
 * (test/soak/vitest.config.ts) provides `interleavingRuns` (10,000) and
 * collects a census of violation kinds instead of stopping at the first.
 * A summary line is printed at the end.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { sim } from "./helpers.ts";
import { scriptSha } from "../../lib/redis/scripts.ts";
import { closePlanId } from "../../lib/rotation/close-plan-id.ts";
import { SCRIPTS } from "../../lib/rotation/scripts.ts";
import {
  countersAgree,
  InvariantChecker,
  type Violation,
  type WorldSnapshot,
} from "./invariants.ts";
import {
  planNo,
  stepArb,
  symbolNo,
  worldArb,
  worldOf,
  type Step,
  type WorldSpec,
} from "./interleavings-generators.ts";
import { DESIRED, resetSimulator, runSequence, totals } from "./interleavings-model.ts";

declare module "vitest" {
  interface ProvidedContext {
    /** Number of interleaving sequences (the soak config raises it). */
    interleavingRuns?: number;
    /** fast-check seed to replay a reported failure. */
    interleavingSeed?: number;
    /**
     * Keep going after a failing sequence and report a census of violation kinds
     * at the end (the soak), instead of stopping and shrinking the first one.
     */
    interleavingCollect?: boolean;
  }
}

const RUNS = inject("interleavingRuns") ?? 1_000;
const SEED = inject("interleavingSeed");
const COLLECT = inject("interleavingCollect") ?? false;

/** Violation kinds seen (collect mode): kind -> [count, first report]. */
const census = new Map<string, [number, string]>();

function kindOf(v: Violation): string {
  const reasons = [...v.message.matchAll(/\((active_slots_[a-z_]+)\)/g)].map((m) => m[1]);
  return [v.invariant, ...new Set(reasons)].join(" ");
}

/**
 * BASE (4 slots), full: ETH, SOL (the weakest, pnl -10), XRP, ADA; rotcand-7
 * proposes BTC with score 2, enough to rotate SOL out. (Sequences copy their
 * world, so the counterexamples can share it.)
 */
const FULL_BASE_BTC_CANDIDATE = worldOf(
  "BASE",
  [
    ["ETHUSDT", 0],
    ["SOLUSDT", -10],
    ["XRPUSDT", 0],
    ["ADAUSDT", 0],
  ],
  { "rotcand-7": ["BTCUSDT", 2] },
);

/**
 * Minimal counterexamples found by the property below (hand-reduced from
 * fast-check's shrunk cases), kept as deterministic regression tests.
 */
const COUNTEREXAMPLES: { name: string; world: WorldSpec; steps: Step[] }[] = [
  {
    name: "re-proposals of the incoming symbol under fresh plan ids each started a rotation",
    // BASE (4), full. BTC's plan starts a rotation; the Apply Layer retries BTC under new
    // ids: each retry rotated out another position, and BTC got a permit per rotation.
    world: FULL_BASE_BTC_CANDIDATE,
    steps: [
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "reprop", plan: planNo("rotcand-7") },
      { kind: "reprop", plan: planNo("rotcand-7") },
    ],
  },
  {
    name: "a partial close reported as executed freed the slot while the victim was still open",
    world: FULL_BASE_BTC_CANDIDATE,
    steps: [
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "confirm", which: 0, executed: true, late: false, variant: "partial" },
      { kind: "sweep" },
      { kind: "eval", plans: [planNo("rotcand-7")] },
    ],
  },
  {
    name: "a rotation confirmed after its symbol left the universe was granted by the sweep",
    world: FULL_BASE_BTC_CANDIDATE,
    steps: [
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "policy", exclude: symbolNo("BTCUSDT") },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "sweep" },
    ],
  },
  {
    name: "a rotation confirmed while margin use was over the cap was granted by the sweep",
    world: FULL_BASE_BTC_CANDIDATE,
    steps: [
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "margin", tight: true },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "sweep" },
    ],
  },
  {
    name: "a plan_id reused for another symbol replayed the first plan's ALLOW",
    world: worldOf("BASE", [["ETHUSDT", 0]], { q1: ["BTCUSDT", null] }),
    steps: [
      { kind: "eval", plans: [planNo("q1")] },
      { kind: "reuse", plan: planNo("q1"), symbol: symbolNo("DOGEUSDT") },
    ],
  },
  {
    name: "a stale positions snapshot after a reservation was dropped on visibility lets a 5th holder in",
    // BASE (4). XRP allowed (reservation). SOL's evaluation snapshots BTC,ETH and pauses.
    // XRP opens; ADA's evaluation sees XRP open, drops XRP's reservation, is allowed (4
    // holders). SOL's script then counts its stale BTC,ETH + ADA's reservation = 3 < 4: ALLOW.
    world: worldOf(
      "BASE",
      [
        ["BTCUSDT", 0],
        ["ETHUSDT", 0],
      ],
      {
        plan0001: ["XRPUSDT", 2],
        "plan0000-a": ["SOLUSDT", 0],
        z: ["ADAUSDT", 0],
      },
    ),
    steps: [
      { kind: "eval", plans: [planNo("plan0001")] },
      { kind: "hold", plan: planNo("plan0000-a") },
      { kind: "open", which: 0, all: true, pnl: 0 },
      { kind: "eval", plans: [planNo("z")] },
      { kind: "release", which: 0 },
    ],
  },
  {
    name: "a position with an outstanding symbol_holds_slot permit is rotated out, then reopened by that permit",
    // BASE (4), full. An entry on ADA is allowed (ADA holds a slot: no reservation). A
    // rotation picks ADA (weakest) as its victim; ADA is closed and confirmed; the Apply
    // Layer then executes the ADA permit (still valid): ADA reopens without a slot, and the
    // rotation completes: 5 holders.
    world: worldOf(
      "BASE",
      [
        ["ADAUSDT", -10],
        ["BNBUSDT", 0],
        ["LTCUSDT", 0],
        ["ETHUSDT", 0],
      ],
      { plan0001: ["ADAUSDT", 0], "plan0000-a": ["BTCUSDT", 2] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("plan0001")] },
      { kind: "eval", plans: [planNo("plan0000-a")] },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "open", which: 0, all: true, pnl: 0 },
      { kind: "eval", plans: [planNo("plan0000-a")] },
    ],
  },
  {
    name: "an entry on the symbol being rotated out shares the claim's slot, so completion adds a holder",
    // CHOP (3), full. BTC's rotation claims ETH (weakest); ETH is closed and confirmed; BNB
    // stops out. Holders: SOL + ETH (claim) = 2. An entry on ETH is allowed (the claim
    // already counts ETH, so its reservation adds nothing), XRP takes the "free" slot, and
    // the sweep completes BTC's rotation: SOL, ETH, XRP, BTC = 4 > 3.
    world: worldOf(
      "CHOP",
      [
        ["BNBUSDT", 0],
        ["ETHUSDT", -10],
        ["SOLUSDT", 0],
      ],
      { "plan0000-b": ["BTCUSDT", 2], "plan0000-a": ["ETHUSDT", null], q1: ["XRPUSDT", null] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("plan0000-b")] },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "close", which: 0 },
      { kind: "eval", plans: [planNo("plan0000-a")] },
      { kind: "eval", plans: [planNo("q1")] },
      { kind: "sweep" },
    ],
  },
  {
    name: "a rotation in flight completes after the regime tightened (holders > desired)",
    // TREND_STRONG (6), 5 held; SOL takes the 6th slot; BTC's rotation claims BNB
    // (weakest); the regime tightens to BASE (4); BNB's close is confirmed and the sweep
    // completes the rotation: a new entry while 6 > 4 ("entries wait until positions close").
    world: worldOf(
      "TREND_STRONG",
      [
        ["DOGEUSDT", 0],
        ["BNBUSDT", -10],
        ["LTCUSDT", 0],
        ["ETHUSDT", 0],
        ["ADAUSDT", 0],
      ],
      { "plan0000-a": ["SOLUSDT", null], "rotcand-7": ["BTCUSDT", 2] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("plan0000-a")] },
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "regime", preset: "BASE" },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "sweep" },
    ],
  },
  {
    name: "a stale snapshot still showing a stopped-out position grants symbol_holds_slot while over capacity",
    // TREND_STRONG -> BASE with 7 held (reducing). SOL's entry snapshots SOL open and
    // pauses; SOL stops out; the paused script answers ALLOW symbol_holds_slot from the
    // stale view: a permit to open SOL (no longer holding a slot) while 7 > 4.
    world: worldOf(
      "TREND_STRONG",
      [
        ["ETHUSDT", 0],
        ["LTCUSDT", 0],
        ["SOLUSDT", 0],
        ["BNBUSDT", 0],
        ["ADAUSDT", 0],
        ["DOGEUSDT", 0],
        ["XRPUSDT", 0],
      ],
      { plan0001: ["SOLUSDT", 0] },
    ),
    steps: [
      { kind: "regime", preset: "BASE" },
      { kind: "hold", plan: planNo("plan0001") },
      { kind: "close", which: 2 },
      { kind: "release", which: 0 },
    ],
  },
  {
    name: "a halt while an evaluation is paused before its slot step (its gates already passed)",
    world: worldOf("BASE", [["ETHUSDT", 0]], { plan0001: ["XRPUSDT", 2], q1: ["ETHUSDT", null] }),
    steps: [
      { kind: "hold", plan: planNo("plan0001") },
      { kind: "hold", plan: planNo("q1") },
      { kind: "state", to: "HALTED" },
      { kind: "release", which: 0 },
      { kind: "release", which: 0 },
    ],
  },
  {
    name: "a rotation confirmed while REDUCING completes without its entry, and a resume lets the plan in",
    world: FULL_BASE_BTC_CANDIDATE,
    steps: [
      { kind: "eval", plans: [planNo("rotcand-7")] },
      { kind: "state", to: "REDUCING" },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "sweep" },
      { kind: "state", to: "ACTIVE" },
      { kind: "eval", plans: [planNo("rotcand-7")] },
    ],
  },
  {
    name: "a close confirmed past the deadline while the plan's re-evaluation is paused with the victim still open in its account view",
    // TREND_STRONG (6), full. BTC's rotation closes BNB. Past the lock's TTL, BTC's
    // re-evaluation reads the account (BNB open) and pauses; BNB is then closed and
    // confirmed; the released script, on its account view, sees the victim open past the
    // deadline and times the rotation out. That is the view it decided on: I6 judges it so.
    world: worldOf(
      "TREND_STRONG",
      [
        ["ETHUSDT", 0],
        ["XRPUSDT", 0],
        ["DOGEUSDT", 0],
        ["BNBUSDT", 0],
        ["LTCUSDT", 0],
        ["SOLUSDT", 0],
      ],
      { "plan0000-b": ["BTCUSDT", 2] },
    ),
    steps: [
      { kind: "eval", plans: [planNo("plan0000-b")] },
      { kind: "jump", seconds: 121 },
      { kind: "hold", plan: planNo("plan0000-b") },
      { kind: "confirm", which: 0, executed: true, late: false },
      { kind: "release", which: 0 },
    ],
  },
];

// ---------------------------------------------------------------------------

describe("randomized interleavings of evaluations, sweeps, confirmations, regime changes and clock jumps", () => {
  let slotsSha = "";

  beforeAll(async () => {
    slotsSha = await scriptSha(SCRIPTS.evaluateSlots);
    await resetSimulator();
  });

  afterAll(async () => {
    console.log(
      `interleavings summary: ${JSON.stringify({
        sequences: totals.sequences,
        steps: totals.steps,
        evaluations: totals.evaluations,
        sweeps: totals.sweeps,
        confirmations: totals.confirmations,
        conflicts: totals.conflicts,
        locks: totals.locks,
        completed: totals.completed,
        timed_out: totals.timedOut,
        reducing_steps: totals.reducingSteps,
        max_holders: totals.maxHolders,
        violations: totals.violations,
        failing_sequences: totals.failingSequences,
        seconds: Math.round(totals.ms / 100) / 10,
        decisions: totals.decisions,
      })}`,
    );
    await sim("PUT", "/__sim/clock", { skew_ms: 0 });
  });

  describe("counterexamples found by the property (regressions)", () => {
    for (const example of COUNTEREXAMPLES) {
      it(example.name, async () => {
        const started = Date.now();
        const { violations, report } = await runSequence(example.world, example.steps, slotsSha);
        totals.ms += Date.now() - started;
        expect(violations, report).toEqual([]);
      });
    }
  });

  it(
    `holds every invariant after every step (${RUNS} random sequences)`,
    async () => {
      const started = Date.now();
      try {
        await fc.assert(
          fc.asyncProperty(
            worldArb(DESIRED),
            fc.array(stepArb, { minLength: 3, maxLength: 8 }),
            async (world, steps) => {
              const { violations, report } = await runSequence(world, steps, slotsSha);
              if (violations.length === 0) return;
              if (!COLLECT) throw new Error(report);
              for (const kind of new Set(violations.map(kindOf))) {
                const seen = census.get(kind);
                census.set(kind, [(seen?.[0] ?? 0) + 1, seen?.[1] ?? report]);
              }
            },
          ),
          { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
        );
      } finally {
        totals.ms += Date.now() - started;
      }
      if (census.size > 0) {
        const lines = [...census].map(
          ([kind, [n, first]]) => `${n} sequence(s): ${kind}\nfirst:\n${first}`,
        );
        console.log(`interleavings census:\n${lines.join("\n\n")}`);
      }
      expect([...census.keys()], "violation kinds (see the census above)").toEqual([]);
    },
    RUNS * 1_000 + 120_000,
  );
});

describe("the invariant checker itself", () => {
  const entry = (id: string, fields: Record<string, string>) => ({ id, fields });
  const lock = (id: string, plan: string, close: string) =>
    entry(id, {
      event: "ROTATION_LOCK_CREATED",
      new_plan_id: plan,
      new_symbol: "BTCUSDT",
      close_symbol: close,
      close_plan_id: closePlanId(plan, close),
    });
  const closePlan = (id: string, plan: string, close: string) =>
    entry(id, {
      plan_id: closePlanId(plan, close),
      symbol: close,
      rotation_trigger: "true",
      new_plan_id: plan,
    });
  /** An effective confirmation: executed and reduce-only, naming the close symbol. */
  const confirmationOf = (id: string, plan: string, close: string) =>
    entry(id, {
      plan_id: closePlanId(plan, close),
      symbol: close,
      executed: "true",
      reduceOnly: "true",
    });
  const timeoutOf = (id: string, plan: string, close: string) =>
    entry(id, {
      event: "ROTATION_TIMEOUT",
      new_plan_id: plan,
      close_plan_id: closePlanId(plan, close),
    });
  const base: WorldSnapshot = {
    clockMs: 1_000_000,
    events: [],
    applyPlans: [],
    applyResults: [],
    reservations: {},
    claims: {},
    openSymbols: [],
  };
  const names = (checker: InvariantChecker) => checker.violations.map((v) => v.invariant);

  it("I12: reports counters that disagree with the events", () => {
    const events = [
      lock("1-0", "p1", "SOLUSDT"),
      entry("2-0", { event: "PLAN_BLOCKED", plan_id: "p1", reason: "x" }),
      entry("3-0", { event: "ROTATION_COMPLETE", granted: "true" }),
    ];
    const agreeing = {
      "decisions|BLOCK|x": "1",
      "rotations|started": "1",
      "rotations|completed": "1",
    };
    expect(countersAgree(agreeing, events)).toBeNull();
    expect(countersAgree({ ...agreeing, "rotations|completed": "0" }, events)).toBe(
      "rotations completed: counted 0, events 1",
    );
    expect(countersAgree({ ...agreeing, "decisions|ALLOW|y": "1" }, events)).toBe(
      "ALLOW decisions: counted 1, events 0",
    );
  });
  it("flags holders above desired after a new entry, not in the reducing state", () => {
    const checker = new InvariantChecker();
    checker.observe(
      { ...base, openSymbols: ["A", "B", "C", "D", "E"] },
      { label: "s", desired: 4 },
    );
    expect(names(checker)).toEqual([]); // reducing: no entry let in
    checker.observe(
      {
        ...base,
        openSymbols: ["A", "B", "C", "D", "E"],
        reservations: { F: JSON.stringify({ expires_at_ms: 2_000_000 }) },
        events: [entry("5-0", { event: "PLAN_ALLOWED", plan_id: "p", symbol: "F" })],
      },
      { label: "s", desired: 4 },
    );
    expect(names(checker)).toEqual(["I1 holders <= desired"]);
  });

  it("flags two unresolved rotations of one symbol and a close plan without a lock", () => {
    const checker = new InvariantChecker();
    checker.observe(
      {
        ...base,
        events: [lock("1-0", "p1", "SOL"), lock("2-0", "p2", "SOL")],
        applyPlans: [
          closePlan("1-0", "p1", "SOL"),
          closePlan("2-0", "p2", "SOL"),
          closePlan("3-0", "p3", "ETH"),
        ],
      },
      { label: "s", desired: 4 },
    );
    expect(names(checker)).toEqual([
      "I2 one close plan per position per rotation",
      "I2 one close plan per position per rotation",
      "I7 one live rotation per incoming symbol",
    ]);
  });

  it("flags an ALLOW outside the universe or over the margin cap, and a completion while the victim is open", () => {
    const checker = new InvariantChecker();
    checker.observe(
      {
        ...base,
        openSymbols: ["SOL"],
        events: [
          entry("1-0", { event: "PLAN_ALLOWED", plan_id: "p1", symbol: "XRP", reason: "r" }),
          entry("2-0", { event: "PLAN_ALLOWED", plan_id: "p2", symbol: "ADA", reason: "r" }),
          entry("3-0", { event: "ROTATION_COMPLETE", new_plan_id: "p3", close_symbol: "SOL" }),
        ],
      },
      { label: "s", desired: 4, excluded: "XRP", marginTight: true, stale: new Map([["p2", []]]) },
    );
    expect(names(checker).sort()).toEqual([
      "I4 every lock ends exactly once",
      "I8 no ALLOW while a gate blocks",
      "I8 no ALLOW while a gate blocks",
      "I9 no slot freed while the victim is open",
    ]);
  });

  it("flags an entry ALLOW while the trading state is REDUCING or HALTED, even a stale one", () => {
    for (const tradingState of ["REDUCING", "HALTED"] as const) {
      const checker = new InvariantChecker();
      checker.observe(
        {
          ...base,
          events: [
            entry("1-0", { event: "PLAN_ALLOWED", plan_id: "p1", symbol: "XRP", reason: "r" }),
            entry("2-0", {
              event: "PLAN_ALLOWED",
              plan_id: "c1",
              symbol: "SOL",
              reason: "active_slots_close_allowed",
            }),
          ],
        },
        { label: "s", desired: 4, tradingState, stale: new Map([["p1", []]]) },
      );
      expect(names(checker)).toEqual(["I11 no entry ALLOW while REDUCING or HALTED"]);
    }
  });

  it("flags an ALLOW of a rotating plan before (or without) a confirmation after its lock", () => {
    const checker = new InvariantChecker();
    const confirmation = confirmationOf("1-0", "p1", "SOL");
    // A confirmation appended before the lock does not count.
    checker.observe({ ...base, applyResults: [confirmation] }, { label: "s", desired: 4 });
    checker.observe(
      { ...base, applyResults: [confirmation], events: [lock("2-0", "p1", "SOL")] },
      { label: "s", desired: 4 },
    );
    checker.observe(
      {
        ...base,
        applyResults: [confirmation, entry("3-0", { ...confirmation.fields, executed: "false" })],
        events: [
          lock("2-0", "p1", "SOL"),
          entry("4-0", { event: "PLAN_ALLOWED", plan_id: "p1", symbol: "BTCUSDT" }),
        ],
      },
      { label: "s", desired: 4 },
    );
    expect(names(checker)).toContain("I3 no ALLOW before the close is confirmed");
  });

  it("flags a lock resolved twice, a resolution without a lock, and a lock left open at the end", () => {
    const checker = new InvariantChecker();
    const end = (id: string, event: string, plan: string) =>
      entry(id, { event, new_plan_id: plan, close_plan_id: closePlanId(plan, "SOL") });
    checker.observe(
      {
        ...base,
        events: [
          lock("1-0", "p1", "SOL"),
          end("2-0", "ROTATION_COMPLETE", "p1"),
          end("3-0", "ROTATION_TIMEOUT", "p1"),
          end("4-0", "ROTATION_TIMEOUT", "p9"),
          lock("5-0", "p2", "ETH"),
        ],
        applyPlans: [closePlan("1-0", "p1", "SOL"), closePlan("5-0", "p2", "ETH")],
        claims: { p2: "ETH" },
      },
      { label: "end", desired: 4, final: true },
    );
    expect(names(checker)).toEqual(Array(4).fill("I4 every lock ends exactly once"));
  });

  it("flags a decision event after a final one, and a confirmed lock that timed out", () => {
    const checker = new InvariantChecker();
    const confirmation = confirmationOf("2-0", "p1", "SOL");
    checker.observe(
      { ...base, events: [lock("1-0", "p1", "SOL")], applyPlans: [closePlan("1-0", "p1", "SOL")] },
      { label: "s", desired: 4 },
    );
    checker.observe(
      {
        ...base,
        events: [lock("1-0", "p1", "SOL")],
        applyPlans: [closePlan("1-0", "p1", "SOL")],
        applyResults: [confirmation],
      },
      { label: "s", desired: 4 },
    );
    checker.observe(
      {
        ...base,
        events: [
          lock("1-0", "p1", "SOL"),
          timeoutOf("3-0", "p1", "SOL"),
          entry("3-1", {
            event: "PLAN_BLOCKED",
            plan_id: "p1",
            reason: "active_slots_rotation_timeout",
          }),
          entry("4-0", { event: "PLAN_ALLOWED", plan_id: "p1", reason: "active_slots_slot_free" }),
        ],
        applyPlans: [closePlan("1-0", "p1", "SOL")],
        applyResults: [confirmation],
      },
      { label: "s", desired: 4 },
    );
    expect(names(checker)).toEqual(
      expect.arrayContaining([
        "I5 idempotent final decisions",
        "I6 a confirmed rotation is not timed out",
      ]),
    );
  });

  it("judges a timeout on the exchange view it was decided on (a released evaluation's account read)", () => {
    const timedOut = (view: string[], released = "p1") => {
      const checker = new InvariantChecker();
      checker.observe(
        {
          ...base,
          events: [lock("1-0", "p1", "SOL")],
          applyPlans: [closePlan("1-0", "p1", "SOL")],
        },
        { label: "s", desired: 4 },
      );
      checker.observe(
        {
          ...base,
          events: [lock("1-0", "p1", "SOL"), timeoutOf("3-0", "p1", "SOL")],
          applyPlans: [closePlan("1-0", "p1", "SOL")],
          applyResults: [confirmationOf("2-0", "p1", "SOL")],
          openSymbols: [],
        },
        { label: `release ${released}`, desired: 4, stale: new Map([[released, view]]) },
      );
      return names(checker);
    };
    // SOL is closed now; p1's released script saw it open: not a violation.
    expect(timedOut(["SOL"])).toEqual([]);
    // p1's script saw SOL closed: a violation.
    expect(timedOut([])).toEqual(["I6 a confirmed rotation is not timed out"]);
    // Another plan was released: p1's timeout is judged on this snapshot (SOL closed).
    expect(timedOut(["SOL"], "p2")).toEqual(["I6 a confirmed rotation is not timed out"]);
  });
});
