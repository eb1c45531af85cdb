/**
 * The world the bench arranges: universe, open positions, regimes (simulator
 * klines presets), and the slot bookkeeping between measured evaluations.
 */
import { redisKeys } from "../lib/keys.ts";
import type { StackClients } from "./clients.ts";

export const sym = (prefix: string, n: number) => `${prefix}${String(n).padStart(3, "0")}USDT`;
export const range = (prefix: string, n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => sym(prefix, from + i));

export interface PositionSpec {
  symbol: string;
  /** unrealized PnL in % of the entry notional (negative = losing = weak) */
  pnlPct: number;
  ageHours: number;
}

export class World {
  readonly c: StackClients;
  readonly keys: ReturnType<typeof redisKeys>;
  /** Open positions (victims of rotations): BASE regime. */
  readonly victims = range("V", 4);
  /** Symbols holding a reserved slot (ALLOW re-entries in the mixed phase): TREND_STRONG. */
  readonly held = range("H", 2);
  /** Fresh symbols for slot-free ALLOWs: TREND_STRONG. */
  readonly free: string[];
  /** Candidates below the rotation threshold (no score): TREND_STRONG. */
  readonly weak = range("T", 8);
  /** Listed symbols outside the universe: BASE. */
  readonly outside = range("U", 8);
  /** A symbol neither in the universe nor listed on the exchange. */
  readonly unlisted = sym("X", 1);
  /** Fresh rotation candidates: TREND_STRONG. */
  readonly candidates: string[];
  /** Padding: the universe holds this many symbols in total. */
  readonly universeSize = 200;
  positions = new Map<string, PositionSpec>();
  private rotationIndex = 0;
  private planSeq = 0;
  readonly run = Date.now().toString(36).slice(-4).toUpperCase();

  constructor(c: StackClients, keyPrefix: string, freeCount: number, candidateCount: number) {
    this.c = c;
    this.keys = redisKeys(keyPrefix);
    this.free = range("A", freeCount);
    this.candidates = range("R", candidateCount);
  }

  /** A plan id unique in its first 8 characters (close plan ids use them). */
  planId(tag: string): string {
    this.planSeq += 1;
    return `${tag[0]}${String(this.planSeq).padStart(7, "0")}-${tag}-${this.run}`;
  }

  nextCandidate(): string {
    const symbol = this.candidates[this.rotationIndex];
    if (!symbol) throw new Error("out of rotation candidates");
    this.rotationIndex += 1;
    return symbol;
  }

  /** Each candidate beats every earlier entry by more than the rotation threshold. */
  candidateScore(): number {
    return 10 * 1.3 ** this.rotationIndex;
  }

  async setup(): Promise<void> {
    const c = this.c;
    await c.redis(["FLUSHALL"]);
    await c.sim("POST", "/__sim/reset");
    await c.sim("PUT", "/__sim/apply", { auto: true, delay_ms: 0, executed: true });
    const trend = [...this.held, ...this.free, ...this.weak, ...this.candidates];
    const base = [...this.victims, ...this.outside];
    await Promise.all([
      ...trend.map((s) => c.sim("PUT", `/__sim/klines/${s}`, { preset: "TREND_STRONG" })),
      ...base.map((s) => c.sim("PUT", `/__sim/klines/${s}`, { preset: "BASE" })),
    ]);
    const inUniverse = [...this.victims, ...trend];
    const padding = range("P", Math.max(0, this.universeSize - inUniverse.length));
    await c.redis([
      "HSET",
      this.keys.policy,
      "universe_symbols",
      JSON.stringify([...inUniverse, ...padding]),
    ]);
    this.victims.forEach((symbol, i) =>
      this.positions.set(symbol, { symbol, pnlPct: -2 * (i + 1), ageHours: 2 }),
    );
    await this.putPositions();
  }

  async putPositions(): Promise<void> {
    const now = Date.now();
    await this.c.sim(
      "PUT",
      "/__sim/positions",
      [...this.positions.values()].map((p) => ({
        symbol: p.symbol,
        positionAmt: "1",
        entryPrice: "100",
        markPrice: String(100 + p.pnlPct),
        unRealizedProfit: String(p.pnlPct),
        updateTime: now - p.ageHours * 3_600_000,
      })),
    );
  }

  /** Free the slot a slot-free ALLOW reserved (the bench's own request, subtracted). */
  async release(symbol: string): Promise<void> {
    await this.c.pipeline([
      ["HDEL", this.keys.reservations, symbol],
      ["HDEL", this.keys.entries, symbol],
    ]);
  }

  /**
   * Before each rotation: lift the churn budget (GOV_ROTATION_MAX_PER_HOUR) and
   * age the permits of earlier re-entries as if their 60 s had passed (a symbol
   * whose permit is still usable is never rotated out, and the mixed phase
   * re-enters every held symbol within seconds).
   */
  async liftRotationBudget(): Promise<void> {
    await this.c.redis(["DEL", this.keys.rotationLog]);
    const flat = (await this.c.redis(["HGETALL", this.keys.reservations])) as string[] | null;
    const aged: string[] = [];
    for (let i = 0; i + 1 < (flat ?? []).length; i += 2) {
      const reservation = JSON.parse(flat![i + 1]!) as Record<string, unknown>;
      aged.push(flat![i]!, JSON.stringify({ ...reservation, permit_until_ms: 0 }));
    }
    if (aged.length > 0) await this.c.redis(["HSET", this.keys.reservations, ...aged]);
  }
}
