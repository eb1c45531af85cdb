import { createBinanceClient } from "./binance/client.ts";
import type { GovernorContext } from "./context.ts";
import { parseEntries } from "./evaluate/evaluate.ts";
import { parseUniverse } from "./evaluate/gates.ts";
import { readMarketCache } from "./market/cache.ts";
import { toHash, toStreamEntries } from "./redis/replies.ts";
import { desiredSlots } from "./regime/classify.ts";
import { isOpenPosition, rankVictims } from "./rotation/weakness.ts";

const MAX_LOCKS_SHOWN = 200;
const EVENTS_SHOWN = 30;

function parse(raw: unknown): Record<string, unknown> | null {
  try {
    return typeof raw === "string" ? (JSON.parse(raw) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Operators' view (SPEC §7): regimes, desired slots, holders, positions, reservations, locks, events. */
export async function readStatus(gov: GovernorContext) {
  const { keys, config, redis } = gov;
  const now = gov.now();
  const first = redis.pipeline();
  first.hget(keys.policy, "universe_symbols");
  first.hgetall(keys.reservations);
  first.hgetall(keys.claims);
  first.zrange(keys.lockIndex, 0, MAX_LOCKS_SHOWN - 1);
  first.xrevrange(keys.eventsStream, "+", "-", EVENTS_SHOWN);
  first.hgetall(keys.entries);
  first.get(keys.lastGates);
  const [universeRaw, reservationsRaw, claimsRaw, lockIds, eventsRaw, entriesRaw, lastGatesRaw] =
    (await first.exec()) as [string | null, unknown, unknown, string[], unknown, unknown, unknown];
  const universe = [...(parseUniverse(universeRaw) ?? [])];
  const second = redis.pipeline();
  for (const id of lockIds) second.get(keys.rotationLock(id));
  for (const symbol of universe) second.get(keys.klines(symbol, config.regime.interval));
  const reads = lockIds.length + universe.length > 0 ? await second.exec() : [];

  const locks = lockIds.map((id, i) => {
    const lock = parse(reads[i]);
    const createdAt = Number(lock?.created_at ?? 0);
    const age = Math.floor(now / 1000) - createdAt;
    return {
      plan_id: id,
      ...lock,
      age_s: lock ? age : null,
      timeout_in_s: lock ? Number(lock.ttl_s ?? config.ttl.lock) - age : null,
    };
  });
  const regimes = universe.flatMap((symbol, i) => {
    const cache = readMarketCache(reads[lockIds.length + i] as string | null, now);
    if (!cache) return [];
    const { name, trend, atr_pct } = cache.regime;
    return [{ symbol, name, trend, atr_pct, desired_slots: desiredSlots(name, config.slots) }];
  });

  const entries = parseEntries(entriesRaw);
  let positions: unknown[] | { error: string };
  let openSymbols: string[] = [];
  try {
    const rows = (await createBinanceClient({ ...config.binance }).positionRisk()).filter(
      isOpenPosition,
    );
    openSymbols = [...new Set(rows.map((r) => r.symbol))];
    positions = rankVictims(rows, entries, now, {
      agePenaltyPerHour: config.agePenalty.perHour,
      agePenaltyCap: config.agePenalty.cap,
    }).map((v) => ({
      symbol: v.symbol,
      weakness: v.weakness,
      pnl_pct: v.pnl_pct,
      age_hours: v.age_hours,
      entry_score: v.entry_score,
      position_amt: v.positions.reduce((s, p) => s + p.positionAmt, 0),
    }));
  } catch (error) {
    positions = { error: error instanceof Error ? error.name : "error" };
  }
  const reservations = Object.entries(toHash(reservationsRaw)).map(([symbol, raw]) => ({
    symbol,
    ...parse(raw),
  }));
  const claimed = Object.values(toHash(claimsRaw));
  const holders = new Set([...openSymbols, ...reservations.map((r) => r.symbol), ...claimed]);
  const events = toStreamEntries(eventsRaw).map((e) => ({ id: e.id, ...e.fields }));
  return {
    at: now,
    mode: config.mode,
    enabled: config.enabled,
    regimes,
    slots: {
      by_regime: config.slots,
      holders: holders.size,
      holder_symbols: [...holders].sort(),
    },
    positions,
    reservations,
    locks,
    /** Correlation and margin figures of the latest evaluation that reached those gates. */
    last_gates: parse(lastGatesRaw),
    events,
  };
}
