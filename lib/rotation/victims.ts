/**
 * The victims handed to the slot script, with close legs on their step sizes.
 * Step sizes are read (and, when the cache is cold, fetched: exchangeInfo,
 * weight 1) only when this evaluation may start a rotation: the plan's symbol
 * holds no slot and the open positions alone fill every slot. Otherwise the
 * victims go without legs, and should the script still find the slots full
 * (reservations, claims) it refuses to start a rotation (fail closed).
 */
import type { BinanceClient } from "../binance/client.ts";
import { loadStepSizes, type StepSizeDeps } from "../binance/step-sizes.ts";
import { onStepSizes, type SlotVictim, type VictimLegs } from "./close-legs.ts";

export async function victimsForSlotStep(
  step: { desired: number; openSymbols: readonly string[]; victims: readonly VictimLegs[] },
  planSymbol: string,
  deps: StepSizeDeps & { binance: Pick<BinanceClient, "exchangeInfo"> },
): Promise<SlotVictim[]> {
  const rotationPossible =
    !step.openSymbols.includes(planSymbol) && step.openSymbols.length >= step.desired;
  if (!rotationPossible || step.victims.length === 0) return onStepSizes(step.victims, new Map());
  try {
    const { sizes } = await loadStepSizes(
      deps,
      step.victims.map((v) => v.symbol),
      () => deps.binance.exchangeInfo(),
    );
    return onStepSizes(step.victims, sizes);
  } catch {
    // exchangeInfo or the cache unusable: no legs, no rotation (the script blocks it).
    return onStepSizes(step.victims, new Map());
  }
}
