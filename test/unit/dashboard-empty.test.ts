/**
 * The dashboard's empty states say what to do: no universe (how to set one),
 * no positions (where they come from, how the simulator is fed), no regime,
 * no events.
 */
import { describe, expect, it } from "vitest";
import { renderBoard } from "../../lib/dashboard/render.ts";
import type { Status } from "../../lib/status/schema.ts";

const NOW = Date.UTC(2025, 0, 6, 12, 0, 0);

/** The status of `npm start -- --empty`: nothing configured, nothing evaluated. */
function emptyStatus(overrides: Partial<Status> = {}): Status {
  const status: Status = {
    at: NOW,
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

/** The page's text, tags stripped and entities decoded. */
function text(html: string): string {
  return html
    .replace(/<[^>]+>/g, " ")
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&amp;", "&")
    .replace(/\s+/g, " ");
}

describe("the dashboard's empty states", () => {
  it("without a universe: how to set one, with Redis or the local CLI", () => {
    const page = text(renderBoard(emptyStatus(), NOW));
    expect(page).toContain("no policy: every entry blocks");
    expect(page).toContain(
      `Set the universe: HSET quantum:policy:current universe_symbols '["BTCUSDT","ETHUSDT"]'`,
    );
    expect(page).toContain("npm run universe -- BTCUSDT ETHUSDT");
  });

  it("with a universe, no such advice", () => {
    const html = renderBoard(emptyStatus({ universe: ["BTCUSDT"] }), NOW);
    expect(html).not.toContain("no-universe-help");
    expect(text(html)).toContain("universe 1 symbols");
  });

  it("without positions: where they come from and how the simulator is fed", () => {
    const page = text(renderBoard(emptyStatus(), NOW));
    expect(page).toContain("No open positions.");
    expect(page).toContain("The governor reads them from Binance ( GET /fapi/v3/account )");
    expect(page).toContain("PUT /__sim/positions");
    expect(page).toContain("npm start seeds the demo world's positions");
  });

  it("positions Binance could not read are an error, not an empty list with advice", () => {
    const html = renderBoard(
      emptyStatus({ positions: null, positions_error: "BinanceHttpError: 503" }),
      NOW,
    );
    expect(html).toContain("Positions unavailable");
    expect(html).not.toContain("no-positions-help");
  });

  it("without a regime or events: what fills them", () => {
    const page = text(renderBoard(emptyStatus(), NOW));
    expect(page).toContain("it is computed when a plan is evaluated");
    expect(page).toContain("npm run plan -- --symbol BTCUSDT");
    expect(page).toContain("No governor events yet: every decision and rotation step appends one.");
  });
});
