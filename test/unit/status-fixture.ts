import type { Status } from "../../lib/status/schema.ts";

/** The status of `npm start -- --empty`: nothing configured, nothing evaluated. */
export function emptyStatus(overrides: Partial<Status> = {}): Status {
  const status: Status = {
    at: Date.UTC(2025, 0, 6, 12, 0, 0),
    mode: "enforce",
    enabled: true,
    trading_state: { state: "ACTIVE" },
    universe: null,
    regime: null,
    regimes: [],
    slots: {
      desired: null,
      holders: 0,
      free: null,
      state: "unknown",
      by_regime: { BASE: 4, TREND_STRONG: 6, CHOP: 3 },
      holder_symbols: [],
      holder_detail: [],
    },
    settings: {
      rotation_threshold: 0.15,
      lock_ttl_s: 120,
      max_correlation: 0.8,
      max_margin_usage_pct: 0.65,
    },
    positions: [],
    positions_error: null,
    reservations: [],
    locks: [],
    orphaned_locks: [],
    locks_total: 0,
    confirmations_read_to_end: true,
    last_gates: null,
    events: [],
    dead_letters: { count: 0, recent: [] },
    ...overrides,
  };
  return status;
}
