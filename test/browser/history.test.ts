/**
 * The dashboard's history charts in a real headless Chromium at 1280×800,
 * against the whole local stack (`dev/stack.ts`). The past 24 hours are
 * written into the per-minute history hashes the way the deciding scripts
 * write them (`P:governor:history:{minute}`, docs/contract.md §10), then real
 * plans are decided through the API in the current minute; the charts must
 * show both, their legends must agree with `GET /v1/history`, and the window
 * switch must re-read it. Writes test-results/dashboard-history.png; with
 * UPDATE_DOCS_SCREENSHOT=1 also docs/dashboard-history.png.
 *
 * Needs Debian's `chromium` (apt-get install chromium) or CHROMIUM_PATH.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stackClients, type Loose, type StackClients } from "../../bench/clients.ts";
import { startPrivateStack, type PrivateStack } from "../../dev/stack-client.ts";
import { prng } from "../../dev/exchange-sim/klines.ts";
import { redisKeys } from "../../lib/keys.ts";
import { FIELD } from "../../lib/metrics/series.ts";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const VIEWPORT = { width: 1280, height: 800 };
const keys = redisKeys("quantum");

let stack: PrivateStack | undefined;
let c: StackClients;
let browser: Browser | undefined;
let page: Page;
const pageErrors: string[] = [];

/** Rotations of the past day: minutes ago it started, how it ended 3 minutes later. */
const ROTATIONS: [number, "completed" | "not_granted" | "timed_out"][] = [
  [1380, "completed"],
  [1210, "completed"],
  [1050, "not_granted"],
  [905, "completed"],
  [700, "completed"],
  [515, "timed_out"],
  [400, "completed"],
  [250, "completed"],
  [118, "completed"],
  [40, "completed"],
];

/**
 * A day of history, minute by minute: trading waves of ALLOWs, some BLOCKs,
 * a 12-minute exchange outage, the regime widening to 6 slots and tightening
 * to 3 (holders over desired until positions close), and a few rotations.
 */
function pastDay(nowMs: number): [string, Record<string, string>][] {
  const rand = prng(13);
  const current = Math.floor(nowMs / 60_000);
  const out: [string, Record<string, string>][] = [];
  let holders = 3;
  // The last 5 minutes are left to the real decisions the test makes.
  // Nor the oldest ones: a window read a minute later must hold the same past.
  for (let ago = 1430; ago >= 5; ago--) {
    const minute = current - ago;
    const hour = (1440 - ago) / 60;
    const wave = 1 + Math.sin((hour / 24) * 2 * Math.PI * 2) * 0.8;
    const fields: Record<string, string> = {};
    const add = (field: string, n: number) => {
      if (n > 0) fields[field] = String(n);
    };
    const outage = ago > 300 && ago <= 312;
    add(FIELD.historyDecision("allow"), outage ? 0 : Math.round(wave * 3 * rand()));
    add(FIELD.historyDecision("block"), Math.round(wave * 1.4 * rand() * rand() * 2));
    add(FIELD.historyDecision("wait"), rand() < 0.03 ? 1 : 0);
    add(FIELD.historyDecision("unavailable"), outage ? 2 + Math.round(rand() * 2) : 0);
    const desired = ago > 900 ? 4 : ago > 480 ? 6 : 3;
    if (rand() < 0.015) holders += rand() < 0.6 ? 1 : -1;
    holders = Math.max(1, Math.min(desired + (ago <= 480 && ago > 360 ? 1 : 0), holders));
    if (Object.keys(fields).length > 0) {
      fields[FIELD.slotsDesired] = String(desired);
      fields[FIELD.slotHolders] = String(holders);
    }
    const rotation = ROTATIONS.find(([startedAgo]) => startedAgo === ago || startedAgo - 3 === ago);
    if (rotation?.[0] === ago) add(FIELD.rotation("started"), 1);
    else if (rotation) add(FIELD.rotation(rotation[1]), 1);
    if (Object.keys(fields).length > 0) out.push([keys.history(minute), fields]);
  }
  return out;
}

async function historyApi(window: string): Promise<Loose> {
  const { status, body } = await c.read(`/v1/history?window=${window}`);
  expect(status).toBe(200);
  return body;
}

/** The numbers a chart's legend shows, by label. */
async function legend(chart: string): Promise<Record<string, string>> {
  const items = await page.locator(`#${chart} ul.legend li`).allTextContents();
  return Object.fromEntries(
    items.map((text) => {
      const m = /^(.*\S)\s+(\S+)$/.exec(text.trim())!;
      return [m[1], m[2]];
    }),
  );
}

describe.skipIf(!HAVE_CHROMIUM)("the history charts in headless Chromium", () => {
  beforeAll(async () => {
    stack = await startPrivateStack();
    c = stackClients(stack.info);
    const now = Date.now();
    const commands = pastDay(now).flatMap(([key, fields]) => [
      ["HSET", key, ...Object.entries(fields).flat()],
      ["EXPIRE", key, 25 * 3600],
    ]);
    await c.pipeline(commands);

    // Real decisions in the current minute: a slot-free ALLOW, a universe BLOCK.
    await c.redis([
      "HSET",
      keys.policy,
      "universe_symbols",
      JSON.stringify(["BTCUSDT", "ETHUSDT"]),
    ]);
    await c.sim("PUT", "/__sim/klines/BTCUSDT", { preset: "BASE" });
    const allow = await c.postPlan({ plan_id: "hist-allow-1", symbol: "BTCUSDT", score: 1 });
    expect(allow.body).toMatchObject({ decision: "ALLOW" });
    const block = await c.postPlan({ plan_id: "hist-block-1", symbol: "DOGEUSDT", score: 1 });
    expect(block.body).toMatchObject({ reason: "active_slots_not_in_universe" });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    page = await browser.newPage({ viewport: VIEWPORT });
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(message.text());
    });
    const url = `${stack.info.governor}/?token=${encodeURIComponent(stack.info.read_token)}`;
    expect((await page.goto(url))?.status()).toBe(200);
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("draws the last 24 hours: decisions by outcome, holders against desired, rotations", async () => {
    expect(await page.locator("#history h2").textContent()).toContain("Last 24h");
    expect(await page.locator("#history figure.chart svg").count()).toBe(3);
    expect(await page.locator("#chart-decisions rect.allow").count()).toBeGreaterThan(100);
    expect(await page.locator("#chart-decisions rect.unavailable").count()).toBeGreaterThan(0);
    expect(await page.locator("#chart-slots path.holders").count()).toBe(1);
    expect(await page.locator("#chart-slots path.desired").count()).toBe(1);
    expect(await page.locator("#chart-rotations rect.started").count()).toBeGreaterThan(5);
    expect(await page.locator("#chart-rotations rect.timed-out").count()).toBe(1);
  });

  it("agrees with GET /v1/history, including the decisions just made", async () => {
    const day = await historyApi("24h");
    const recent = (series: number[]) => series.slice(-5).reduce((a, b) => a + b, 0);
    expect(recent(day.decisions.allow)).toBe(1);
    expect(recent(day.decisions.block)).toBe(1);
    expect(await legend("chart-decisions")).toEqual({
      ALLOW: String(day.totals.decisions.allow),
      BLOCK: String(day.totals.decisions.block),
      waiting: String(day.totals.decisions.wait),
      unavailable: String(day.totals.decisions.unavailable),
    });
    expect(await legend("chart-rotations")).toEqual({
      started: String(day.totals.rotations.started),
      completed: String(day.totals.rotations.completed),
      "not granted": String(day.totals.rotations.not_granted),
      "timed out": String(day.totals.rotations.timed_out),
    });
    // The ALLOW just made reported BASE's 4 slots with 1 holder.
    expect(await legend("chart-slots")).toEqual({ "holders now": "1", "desired now": "4" });
  });

  it("is readable at 1280×800: the section fits the viewport, charts side by side, legible text", async () => {
    const section = (await page.locator("#history").boundingBox())!;
    expect(section.y + section.height).toBeLessThanOrEqual(VIEWPORT.height);
    expect(section.x + section.width).toBeLessThanOrEqual(VIEWPORT.width);
    const boxes = await Promise.all(
      ["chart-decisions", "chart-slots", "chart-rotations"].map(
        async (id) => (await page.locator(`#${id} svg`).boundingBox())!,
      ),
    );
    for (const box of boxes) {
      expect(box.width).toBeGreaterThan(340);
      expect(box.height).toBeGreaterThanOrEqual(140);
      expect(box.y).toBe(boxes[0]!.y); // one row
    }
    // Axis labels drawn at no less than 10 CSS px.
    const sizes = await page
      .locator("#history svg text")
      .evaluateAll((els) => els.map((el) => el.getBoundingClientRect().height));
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(10);

    mkdirSync(join(ROOT, "test-results"), { recursive: true });
    const shot = join(ROOT, "test-results", "dashboard-history.png");
    await page.screenshot({ path: shot });
    if (process.env.UPDATE_DOCS_SCREENSHOT === "1") {
      await page.screenshot({ path: join(ROOT, "docs", "dashboard-history.png") });
    }
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe("PNG");
  });

  it("switches window in place, re-reading GET /v1/history", async () => {
    await c.postPlan({ plan_id: "hist-allow-2", symbol: "BTCUSDT", score: 1 });
    await page.locator('#history button[data-window="1h"]').click();
    await expect
      .poll(() => page.locator("#history h2").textContent(), { timeout: 10_000 })
      .toContain("Last 1h");
    const hour = await historyApi("1h");
    expect(hour.decisions.allow).toHaveLength(60);
    expect((await legend("chart-decisions")).ALLOW).toBe(String(hour.totals.decisions.allow));
    expect(new URL(page.url()).searchParams.get("window")).toBe("1h");
    expect(new URL(page.url()).searchParams.get("token")).toBe(stack!.info.read_token);
    // The next board refresh (every 5 s) keeps the chosen window's charts.
    await page.waitForResponse((r) => r.url().includes("/v1/status"), { timeout: 15_000 });
    await expect
      .poll(() => page.locator("#events").textContent(), { timeout: 5_000 })
      .toContain("hist-allow-2");
    expect(await page.locator("#history h2").textContent()).toContain("Last 1h");
  });

  it("ran its script without errors", () => {
    expect(pageErrors).toEqual([]);
  });
});
