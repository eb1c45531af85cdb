/**
 * Projected initial-margin usage (SPEC §5 step 7):
 *   (totalInitialMargin + plan notional / leverage) / totalMarginBalance
 * A plan notional without leverage is counted at leverage 1 (fail closed);
 * no notional adds nothing. A non-positive margin balance cannot be judged.
 */
export function projectedMarginUsage(input: {
  totalInitialMargin: number;
  totalMarginBalance: number;
  notional?: number;
  leverage?: number;
}): { usage: number; added: number } | null {
  if (!(input.totalMarginBalance > 0)) return null;
  const added = input.notional !== undefined ? input.notional / (input.leverage ?? 1) : 0;
  return { usage: (input.totalInitialMargin + added) / input.totalMarginBalance, added };
}
