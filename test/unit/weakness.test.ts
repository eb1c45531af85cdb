import { describe, expect, it } from "vitest";
import {
  DEFAULT_AGE_PENALTY_CAP,
  DEFAULT_AGE_PENALTY_PER_HOUR,
  type EntryRecord,
  type WeaknessPosition,
  rankVictims,
  weakness,
} from "../../lib/rotation/weakness.ts";

const HOUR = 3_600_000;
const NOW = Date.UTC(2024, 0, 2, 12); // fixed instant
const SETTINGS = {
  agePenaltyPerHour: DEFAULT_AGE_PENALTY_PER_HOUR,
  agePenaltyCap: DEFAULT_AGE_PENALTY_CAP,
};

/** An open position worth `notional` with unrealised profit `pnl`, last updated `ageHours` ago. */
const position = (
  symbol: string,
  pnl: number,
  ageHours: number,
  overrides: Partial<WeaknessPosition> = {},
): WeaknessPosition => ({
  symbol,
  positionAmt: 2,
  entryPrice: 500, // notional 1000
  unRealizedProfit: pnl,
  updateTime: NOW - ageHours * HOUR,
  ...overrides,
});

const entryAt = (hoursAgo: number, score: number): EntryRecord => ({
  at: (NOW - hoursAgo * HOUR) / 1000,
  score,
});

const NO_ENTRIES = new Map<string, EntryRecord>();
const NO_CLAIMS = new Set<string>();

describe("weakness", () => {
  it("defaults to 0.002 per hour, capped at 0.05", () => {
    expect(DEFAULT_AGE_PENALTY_PER_HOUR).toBe(0.002);
    expect(DEFAULT_AGE_PENALTY_CAP).toBe(0.05);
  });

  it("is −pnl_pct + age_penalty", () => {
    // pnl_pct = −30 / (2 × 500) = −0.03; age 10 h → penalty 0.02; weakness 0.05.
    const w = weakness(position("BTCUSDT", -30, 10), undefined, NOW, SETTINGS);
    expect(w.pnl_pct).toBeCloseTo(-0.03, 15);
    expect(w.age_hours).toBe(10);
    expect(w.age_penalty).toBeCloseTo(0.02, 15);
    expect(w.weakness).toBeCloseTo(0.05, 15);
  });

  it("uses |positionAmt| so a losing short is as weak as a losing long", () => {
    const short = weakness(position("X", -30, 0, { positionAmt: -2 }), undefined, NOW, SETTINGS);
    expect(short.pnl_pct).toBeCloseTo(-0.03, 15);
  });

  it("caps the age penalty", () => {
    const w = weakness(position("X", 0, 100), undefined, NOW, SETTINGS);
    expect(w.age_penalty).toBe(0.05);
  });

  it("measures age from the governor's entry record when there is one", () => {
    const w = weakness(position("X", 0, 1), entryAt(5, 0.7), NOW, SETTINGS);
    expect(w.age_hours).toBe(5);
    expect(w.age_penalty).toBeCloseTo(0.01, 15);
  });

  it("treats a zero notional as pnl 0 rather than dividing by zero", () => {
    const w = weakness(position("X", 12, 0, { entryPrice: 0 }), undefined, NOW, SETTINGS);
    expect(w.pnl_pct).toBe(0);
    expect(w.weakness).toBe(0);
  });

  it("never counts a negative age when the clocks disagree", () => {
    const w = weakness(position("X", 0, -1), undefined, NOW, SETTINGS);
    expect(w.age_hours).toBe(0);
  });
});

/**
 * The victim as the slot script takes it: the first of `rankVictims` that no
 * rotation claims (lib/rotation/lua/evaluate-slots.ts also skips a symbol
 * whose permit is in flight, which needs Redis and is tested in workerd).
 */
function pickVictim(
  positions: Parameters<typeof rankVictims>[0],
  entries: ReadonlyMap<string, EntryRecord>,
  claimed: ReadonlySet<string>,
  nowMs: number,
  settings: Parameters<typeof rankVictims>[3],
) {
  const unclaimed = positions.filter((p) => !claimed.has(p.symbol));
  return rankVictims(unclaimed, entries, nowMs, settings)[0] ?? null;
}

describe("the victim: the weakest unclaimed position", () => {
  it("picks the open position with the highest weakness", () => {
    const victim = pickVictim(
      [position("WINUSDT", 50, 1), position("LOSEUSDT", -40, 1), position("FLATUSDT", 0, 1)],
      NO_ENTRIES,
      NO_CLAIMS,
      NOW,
      SETTINGS,
    );
    expect(victim?.symbol).toBe("LOSEUSDT");
    expect(victim?.weakness).toBeCloseTo(0.042, 15);
  });

  it("lets age outweigh a small profit", () => {
    // OLD: −0.005 + 0.05 (capped) = 0.045; NEW: −(−0.01) + 0.002 = 0.012.
    const victim = pickVictim(
      [position("NEWUSDT", -10, 1), position("OLDUSDT", 5, 48)],
      NO_ENTRIES,
      NO_CLAIMS,
      NOW,
      SETTINGS,
    );
    expect(victim?.symbol).toBe("OLDUSDT");
  });

  it("skips symbols already claimed by a rotation", () => {
    const victim = pickVictim(
      [position("LOSEUSDT", -40, 1), position("FLATUSDT", 0, 1)],
      NO_ENTRIES,
      new Set(["LOSEUSDT"]),
      NOW,
      SETTINGS,
    );
    expect(victim?.symbol).toBe("FLATUSDT");
  });

  it("skips rows that are not open (|positionAmt| <= 1e-8)", () => {
    const victim = pickVictim(
      [position("GONEUSDT", -900, 99, { positionAmt: 1e-9 }), position("FLATUSDT", 0, 1)],
      NO_ENTRIES,
      NO_CLAIMS,
      NOW,
      SETTINGS,
    );
    expect(victim?.symbol).toBe("FLATUSDT");
  });

  it("is null when every open position is claimed, or none is open", () => {
    expect(
      pickVictim([position("AUSDT", -1, 1)], NO_ENTRIES, new Set(["AUSDT"]), NOW, SETTINGS),
    ).toBeNull();
    expect(pickVictim([], NO_ENTRIES, NO_CLAIMS, NOW, SETTINGS)).toBeNull();
  });

  it("breaks a weakness tie by age, oldest first", () => {
    // Both past the cap: equal weakness 0.05, different ages.
    const victim = pickVictim(
      [position("AUSDT", 0, 30), position("BUSDT", 0, 40)],
      NO_ENTRIES,
      NO_CLAIMS,
      NOW,
      SETTINGS,
    );
    expect(victim?.symbol).toBe("BUSDT");
  });

  it("breaks a full tie by symbol, ascending, whatever the input order", () => {
    const rows = [position("CUSDT", 0, 3), position("AUSDT", 0, 3), position("BUSDT", 0, 3)];
    for (const order of [rows, [...rows].reverse()]) {
      expect(pickVictim(order, NO_ENTRIES, NO_CLAIMS, NOW, SETTINGS)?.symbol).toBe("AUSDT");
    }
  });

  it("reports the victim's recorded entry score, or null without a record", () => {
    const entries = new Map([["AUSDT", entryAt(2, 0.8)]]);
    const withRecord = pickVictim([position("AUSDT", -5, 1)], entries, NO_CLAIMS, NOW, SETTINGS);
    expect(withRecord).toMatchObject({ symbol: "AUSDT", entry_score: 0.8, age_hours: 2 });
    const without = pickVictim([position("BUSDT", -5, 1)], entries, NO_CLAIMS, NOW, SETTINGS);
    expect(without?.entry_score).toBeNull();
  });

  it("treats hedge-mode legs of one symbol as one slot, returning both rows", () => {
    // LONG −30 and SHORT +10 on 1000 notional each: pnl −20 / 2000 = −0.01.
    const long = position("ETHUSDT", -30, 2);
    const short = position("ETHUSDT", 10, 2, { positionAmt: -2 });
    const victim = pickVictim([long, short], NO_ENTRIES, NO_CLAIMS, NOW, SETTINGS);
    expect(victim?.positions).toEqual([long, short]);
    expect(victim?.pnl_pct).toBeCloseTo(-0.01, 15);
  });
});

describe("rankVictims", () => {
  it("orders every open symbol weakest first, with the same tie-breaks as pickVictim", () => {
    const ranked = rankVictims(
      [
        position("WINUSDT", 50, 1),
        position("BUSDT", 0, 30),
        position("AUSDT", 0, 40),
        position("CUSDT", 0, 40),
        position("GONEUSDT", -900, 99, { positionAmt: 0 }),
      ],
      NO_ENTRIES,
      NOW,
      SETTINGS,
    );
    // A, B, C all sit at the 0.05 cap; A and C are older than B; A < C by name.
    expect(ranked.map((v) => v.symbol)).toEqual(["AUSDT", "CUSDT", "BUSDT", "WINUSDT"]);
  });
});
