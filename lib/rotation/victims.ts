/**
 * The victims handed to the slot script, with close legs on their step sizes.
 * Step sizes are read (and, when the cache is cold, fetched: exchangeInfo,
 * weight 1) only when this evaluation may start a rotation: the plan's symbol
 * is not open and the slots may be full. Holders are open positions,
 * reservations and claims (the script counts them); every reservation's symbol
 * has an entry record and every claimed symbol is open, so
 * |open ∪ entry-record symbols| bounds the holders from above. Below `desired`
 * no rotation can start and the victims go without legs (were the script to
 * find the slots full all the same, it refuses to start a rotation: fail closed).
 */
import type { BinanceClient } from "../binance/client.ts";
import { loadStepSizes, type StepSizeDeps } from "../binance/step-sizes.ts";
import { onStepSizes, type SlotVictim, type VictimLegs } from "./close-legs.ts";

export async function victimsForSlotStep(
  step: { desired: number; openSymbols: readonly string[]; victims: readonly VictimLegs[] },
  planSymbol: string,
  entrySymbols: Iterable<string>,
  deps: StepSizeDeps & {
    binance: Pick<BinanceClient, "exchangeInfo">;
    /** Step sizes the state read already brought (no second Redis request for them). */
    cached?: ReadonlyMap<string, string>;
  },
): Promise<SlotVictim[]> {
  const mayHold = new Set([...step.openSymbols, ...entrySymbols]);
  mayHold.delete(planSymbol);
  const rotationPossible = !step.openSymbols.includes(planSymbol) && mayHold.size >= step.desired;
  if (!rotationPossible || step.victims.length === 0) return onStepSizes(step.victims, new Map());
  try {
    const { sizes } = await loadStepSizes(
      deps,
      step.victims.map((v) => v.symbol),
      () => deps.binance.exchangeInfo(),
      deps.cached,
    );
    return onStepSizes(step.victims, sizes);
  } catch {
    // exchangeInfo or the cache unusable: no legs, no rotation (the script blocks it).
    return onStepSizes(step.victims, new Map());
  }
}
