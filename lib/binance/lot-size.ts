/**
 * Order quantities on a symbol's LOT_SIZE step, in exact decimal arithmetic
 * (scaled BigInt): no float ever touches a quantity, so no
 * `0.30000000000000004` reaches an order.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information
 */

interface Scaled {
  units: bigint;
  /** digits after the decimal point */
  scale: number;
}

const DECIMAL_RE = /^(\d+)(?:\.(\d+))?$/;

/** A non-negative plain decimal ("0.300", "12"); null for anything else (signs, exponents). */
function parse(text: string): Scaled | null {
  const match = DECIMAL_RE.exec(text.trim());
  if (!match) return null;
  const fraction = match[2] ?? "";
  return { units: BigInt(match[1]! + fraction), scale: fraction.length };
}

function rescale(value: Scaled, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

/** Digits after the point a step needs: "0.00100000" → 3, "1" → 0, "10" → 0. */
export function stepDecimals(step: string): number {
  const fraction = step.trim().split(".")[1] ?? "";
  return fraction.replace(/0+$/, "").length;
}

function format(units: bigint, scale: number, decimals: number): string {
  // units has `scale` digits after the point; keep `decimals` of them (decimals <= scale).
  const trimmed = units / 10n ** BigInt(scale - decimals);
  const digits = trimmed.toString().padStart(decimals + 1, "0");
  return decimals === 0 ? digits : `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

/** |amount| of a signed decimal text ("-0.100" → "0.100"). */
export function absDecimal(text: string): string {
  const trimmed = text.trim();
  return trimmed.startsWith("-") || trimmed.startsWith("+") ? trimmed.slice(1) : trimmed;
}

/**
 * `quantity` rounded down to a multiple of `step`, formatted with the step's
 * decimals. Null when either is not a plain positive decimal or the result is
 * zero (nothing executable: fail closed).
 */
export function floorToStep(quantity: string, step: string): string | null {
  const q = parse(quantity);
  const s = parse(step);
  if (!q || !s || s.units === 0n) return null;
  const scale = Math.max(q.scale, s.scale);
  const qUnits = rescale(q, scale);
  const sUnits = rescale(s, scale);
  const floored = (qUnits / sUnits) * sUnits;
  if (floored === 0n) return null;
  return format(floored, scale, Math.min(stepDecimals(step), scale));
}
