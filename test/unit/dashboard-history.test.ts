/**
 * The history charts (lib/dashboard/history.ts): binning, scales, what each
 * chart draws, and where the board puts them.
 */
import { describe, expect, it } from "vitest";
import {
  binLevels,
  binSums,
  historyBinMinutes,
  niceMax,
  renderHistory,
} from "../../lib/dashboard/history.ts";
import { renderBoard } from "../../lib/dashboard/render.ts";
import { buildHistory } from "../../lib/metrics/history.ts";
import { FIELD } from "../../lib/metrics/series.ts";
import { emptyStatus } from "./status-fixture.ts";

const NOW = Date.UTC(2026, 0, 2, 10, 30, 15);

const STATUS = emptyStatus({ at: NOW, universe: ["BTCUSDT"] });

/** An hour with decisions in two minutes, slots known in one, a rotation started and completed. */
function anHour() {
  const minutes: Record<string, string>[] = Array.from({ length: 60 }, () => ({}));
  minutes[10] = {
    [FIELD.historyDecision("allow")]: "4",
    [FIELD.historyDecision("block")]: "2",
    [FIELD.slotHolders]: "3",
    [FIELD.slotsDesired]: "4",
    [FIELD.rotation("started")]: "1",
  };
  minutes[12] = {
    [FIELD.historyDecision("unavailable")]: "1",
    [FIELD.rotation("completed")]: "1",
  };
  return buildHistory("1h", NOW, minutes);
}

describe("binning", () => {
  it("keeps minutes up to 2 hours, then at most 240 bars", () => {
    expect(historyBinMinutes(60)).toBe(1);
    expect(historyBinMinutes(360)).toBe(2);
    expect(historyBinMinutes(1440)).toBe(6);
    expect(binSums([1, 2, 3, 4, 5], 2)).toEqual([3, 7, 5]);
  });

  it("holds a level until another is reported; nothing before the first", () => {
    expect(binLevels([null, null, 3, null, null, 5, null], 1)).toEqual([null, null, 3, 3, 3, 5, 5]);
    expect(binLevels([null, 3, null, 5, null, null], 2)).toEqual([3, 5, 5]);
  });

  it("scales to 1, 2 or 5 × 10^k", () => {
    expect([0, 0.4, 1, 1.2, 3, 7, 11, 40, 51].map(niceMax)).toEqual([
      1, 1, 1, 2, 5, 10, 20, 50, 100,
    ]);
  });
});

describe("renderHistory", () => {
  it("draws one bar segment per outcome and minute, the slot levels and the rotations", () => {
    const html = renderHistory(anHour());
    expect(html.match(/<rect[^>]*class="allow"/g)).toHaveLength(1);
    expect(html.match(/<rect[^>]*class="block"/g)).toHaveLength(1);
    expect(html.match(/<rect[^>]*class="unavailable"/g)).toHaveLength(1);
    expect(html.match(/<rect[^>]*class="started"/g)).toHaveLength(1);
    expect(html.match(/<rect[^>]*class="completed"/g)).toHaveLength(1);
    expect(html.match(/<path[^>]*class="holders"/g)).toHaveLength(1);
    expect(html).toContain('holders now <b class="n">3</b>');
    expect(html).toContain('ALLOW <b class="n">4</b>');
    expect(html).toContain('data-window="1h" class="on" aria-pressed="true"');
    expect(html).not.toContain("No decisions");
  });

  it("says what fills an empty window", () => {
    const html = renderHistory(buildHistory("24h", NOW, []));
    expect(html).toContain("No decisions in the last 24h");
    expect(html).not.toContain("<rect");
    expect(html).not.toContain("<path");
  });
});

describe("renderBoard", () => {
  // That the renderers shipped as source run in a browser is checked in Chromium
  // (test/browser/history.test.ts): here modules are not bundled as the worker is.
  it("puts the charts under the cards when it has a history", () => {
    const html = renderBoard(STATUS, NOW, anHour());
    expect(html.indexOf('<section id="history">')).toBeGreaterThan(html.indexOf('class="cards"'));
    expect(html.indexOf('<section id="history">')).toBeLessThan(html.indexOf('class="columns"'));
    expect(renderBoard(STATUS, NOW)).not.toContain('id="history"');
  });
});
