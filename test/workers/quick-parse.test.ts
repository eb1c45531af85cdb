/**
 * The quick checks in front of zod (lib/quick-parse.ts) accept what the real
 * parts send: the plan the client signs, READ_STATE's and EVALUATE_SLOTS'
 * answers from real Redis (and the entry records in the first), and the
 * simulator's account. If a script or the
 * simulator changed shape, every evaluation would silently fall back to zod
 * (still correct, slower): this test says so. Their equivalence with the
 * schemas is test/unit/quick-parse.test.ts's.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { accountParser } from "../../lib/binance/schemas.ts";
import { readStateParser } from "../../lib/evaluate/read-state.ts";
import { scriptDecisionParser } from "../../lib/plans/decision.ts";
import { planParser } from "../../lib/plans/schema.ts";
import { entryRecordParser } from "../../lib/rotation/entries.ts";
import { postPlan, resetWorld, setPositions, setRegime, setUniverse } from "./helpers.ts";

describe("the quick checks on the hot path", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setPositions([
      { symbol: "ETHUSDT", amt: 1, pnl: 1 },
      { symbol: "SOLUSDT", amt: -2, pnl: -3 },
    ]);
  });
  afterEach(() => vi.restoreAllMocks());

  it("read a slot-free ALLOW and its re-entry without zod", async () => {
    const first = await postPlan({ plan_id: "quick-1", symbol: "BTCUSDT", score: 2 }, {});
    expect(first.body).toMatchObject({ decision: "ALLOW", reason: "active_slots_slot_free" });
    const parsers = [
      planParser,
      readStateParser,
      accountParser,
      scriptDecisionParser,
      entryRecordParser,
    ];
    const slow = parsers.map((parser) => vi.spyOn(parser.schema, "safeParse"));
    const entriesRead = vi.spyOn(entryRecordParser, "safeParse");
    const again = await postPlan({ plan_id: "quick-2", symbol: "BTCUSDT", score: 2 }, {});
    expect(again.body).toMatchObject({
      decision: "ALLOW",
      reason: "active_slots_symbol_holds_slot",
    });
    expect(slow.map((spy) => spy.mock.calls.length)).toEqual([0, 0, 0, 0, 0]);
    // The first ALLOW wrote BTCUSDT's entry record: the re-entry read it, quickly.
    expect(entriesRead).toHaveBeenCalled();
  });
});
