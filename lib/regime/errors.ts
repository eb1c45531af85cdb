/**
 * Errors of the indicator math. An indicator that cannot be computed honestly
 * throws one of these instead of returning NaN; the caller turns it into a
 * fail-closed decision (`active_slots_regime_unavailable`).
 */

/** The series is shorter than the indicator needs (e.g. EMA50 over 40 closes). */
export class NotEnoughDataError extends Error {
  /** How many values the indicator needs. */
  readonly needed: number;
  /** How many it was given. */
  readonly got: number;

  constructor(indicator: string, needed: number, got: number, options?: ErrorOptions) {
    super(`${indicator} needs at least ${needed} values, got ${got}`, options);
    this.name = "NotEnoughDataError";
    this.needed = needed;
    this.got = got;
  }
}

/** The series holds a value the math cannot use (NaN, Infinity, a non-positive price). */
export class InvalidSeriesError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidSeriesError";
  }
}
