/**
 * The dashboard's empty states say what to do: no universe (how to set one),
 * no positions (where they come from, how the simulator is fed), no regime,
 * no events.
 */
import { describe, expect, it } from "vitest";
import { renderBoard } from "../../lib/dashboard/render.ts";
import { emptyStatus as emptyAt } from "./status-fixture.ts";

const NOW = Date.UTC(2025, 0, 6, 12, 0, 0);
const emptyStatus: typeof emptyAt = (overrides = {}) => emptyAt({ at: NOW, ...overrides });

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
