/**
 * The dashboard in a real headless Chromium against the whole local stack
 * (`dev/stack.ts`: governor in workerd, Redis through the REST bridge, the
 * Binance and Apply Layer simulators), with a rotation in progress arranged
 * through the real APIs. Writes test-results/dashboard.png; with
 * UPDATE_DOCS_SCREENSHOT=1 also docs/dashboard.png.
 *
 * Needs Debian's `chromium` (apt-get install chromium) or CHROMIUM_PATH.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "@upstash/redis";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../dev/free-port.ts";
import { waitUntil } from "../support/wait.ts";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const STACK_READY_MS = 60_000;
const VIEWPORT = { width: 1280, height: 800 };

if (!HAVE_CHROMIUM) {
  console.warn(
    `test/browser skipped: no Chromium at ${CHROMIUM}. ` +
      "Install it with `apt-get install chromium` (Debian) or set CHROMIUM_PATH.",
  );
}

interface StackFile {
  governor: string;
  redis_rest: { url: string; token: string };
  exchange: { url: string; api_key: string; api_secret: string };
  webhook_secret: string;
  read_token: string;
  admin_token: string;
}

const dir = mkdtempSync(join(tmpdir(), "gov-browser-test-"));
let stackProcess: ChildProcess | undefined;
let stack: StackFile;
let browser: Browser | undefined;
let page: Page;
const pageErrors: string[] = [];
/** The board's text as the empty stack showed it, before the test arranged anything. */
let emptyPage = "";
/** When the positions and the rotation were arranged (ms / unix s). */
let arrangedAtMs = 0;
let rotationStartedS = 0;
/** /v1/status answers the page has received (its refreshes). */
let statusResponses = 0;

/** Start `dev/stack.ts` on free ports and wait for its ready line. */
async function startStack(): Promise<StackFile> {
  const stackFile = join(dir, "stack.json");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GOV_PORT: String(await freePort()),
    REDIS_REST_PORT: String(await freePort()),
    EXCHANGE_SIM_PORT: String(await freePort()),
    GOV_STACK_FILE: stackFile,
    // The test builds its own world: start without the demo world.
    GOV_STACK_EMPTY: "1",
  };
  for (const name of ["UPSTASH_REDIS_REST_URL", "BINANCE_BASE_URL"]) delete env[name];
  // No cron: the rotation in progress stays as the test arranged it.
  const child = spawn(process.execPath, ["dev/stack.ts", "--no-cron"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  stackProcess = child;
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`stack not ready after ${STACK_READY_MS} ms: ${stderr}`)),
      STACK_READY_MS,
    );
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!line.startsWith("governor ready in ")) return;
      clearTimeout(timer);
      resolveReady();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`stack exited early (code ${code}): ${stderr}`));
    });
  });
  return JSON.parse(readFileSync(stackFile, "utf8")) as StackFile;
}

async function stopStack(): Promise<void> {
  const child = stackProcess;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  await Promise.race([exited, new Promise((done) => setTimeout(done, 15_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

async function sim(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${stack.exchange.url}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok)
    throw new Error(`sim ${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** POST a plan signed as the Apply Layer signs it: hex HMAC-SHA256 over `${ts}.${body}`. */
async function postPlan(plan: Record<string, unknown>): Promise<Record<string, unknown>> {
  const body = JSON.stringify({ action: "OPEN", decision: "EXECUTE", ...plan });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac("sha256", stack.webhook_secret)
    .update(`${timestamp}.${body}`)
    .digest("hex");
  const response = await fetch(`${stack.governor}/v1/plans`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-governor-timestamp": timestamp,
      "x-governor-signature": signature,
    },
    body,
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

/** A Binance positionRisk row held for `hours`, with its unrealized PnL. */
function position(symbol: string, amt: number, entry: number, pnl: number, hours: number) {
  return {
    symbol,
    positionAmt: String(amt),
    entryPrice: String(entry),
    markPrice: String(entry + pnl / amt),
    unRealizedProfit: String(pnl),
    updateTime: Date.now() - hours * 3_600_000,
  };
}

/**
 * Three open positions and a reservation fill BASE's 4 slots, so a strong
 * BTCUSDT entry starts a rotation: SOLUSDT (the weakest) is being closed, and
 * with the Apply Layer simulator paused the lock waits for its confirmation.
 */
async function arrangeRotationInProgress(): Promise<void> {
  arrangedAtMs = Date.now();
  const redis = new Redis({
    url: stack.redis_rest.url,
    token: stack.redis_rest.token,
    enableTelemetry: false,
  });
  await redis.hset("quantum:policy:current", {
    universe_symbols: JSON.stringify(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"]),
  });
  await sim("PUT", "/__sim/apply", { auto: false });
  await sim("PUT", "/__sim/account", { totalWalletBalance: "250000" });
  await sim("PUT", "/__sim/positions", [
    position("ETHUSDT", 1.5, 3420.5, 61.2, 3.2),
    position("SOLUSDT", 40, 182.3, -291.7, 7.5),
    position("XRPUSDT", -2500, 0.612, 22.5, 1.4),
  ]);
  await sim("PUT", "/__sim/klines/BTCUSDT", { preset: "BASE", base_price: 67_250 });
  await sim("PUT", "/__sim/klines/DOGEUSDT", { preset: "BASE", base_price: 0.162 });

  // A little history for the timeline.
  expect(
    await postPlan({ plan_id: "plan-0c1e77d2", symbol: "NEARUSDT", score: 1.2 }),
  ).toMatchObject({ decision: "BLOCK", reason: "active_slots_not_in_universe" });
  expect(
    await postPlan({ plan_id: "plan-4b9d0e55", symbol: "DOGEUSDT", side: "LONG", score: 1.1 }),
  ).toMatchObject({ decision: "ALLOW", reason: "active_slots_slot_free" });
  rotationStartedS = Math.floor(Date.now() / 1000);
  expect(
    await postPlan({
      plan_id: "plan-7f3a9c21",
      symbol: "BTCUSDT",
      side: "LONG",
      qty: 0.015,
      notional: 1000,
      leverage: 5,
      score: 1.85,
    }),
  ).toMatchObject({
    decision: "BLOCK",
    reason: "active_slots_waiting_rotation_close",
    slots: { desired: 4, holders: 4 },
    rotation: { close_symbol: "SOLUSDT" },
  });
}

/** m:ss or h:mm:ss as seconds. */
function seconds(text: string): number {
  return text
    .trim()
    .split(":")
    .reduce((total, part) => total * 60 + Number(part), 0);
}

describe.skipIf(!HAVE_CHROMIUM)("the dashboard in headless Chromium", () => {
  beforeAll(async () => {
    stack = await startStack();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage({ viewport: VIEWPORT });
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(message.text());
    });
    page.on("response", (response) => {
      if (new URL(response.url()).pathname === "/v1/status") statusResponses += 1;
    });
    // First the empty stack (npm start -- --empty), as a newcomer may meet it.
    const url = `${stack.governor}/?token=${encodeURIComponent(stack.read_token)}`;
    expect((await page.goto(url))?.status()).toBe(200);
    emptyPage = (await page.locator("main").innerText()).replace(/\s+/g, " ");
    mkdirSync(join(ROOT, "test-results"), { recursive: true });
    await page.screenshot({ path: join(ROOT, "test-results", "dashboard-empty.png") });

    await arrangeRotationInProgress();
    const response = await page.goto(url);
    expect(response?.status()).toBe(200);
  });

  it("on an empty stack, says how to set a universe and how positions are fed", () => {
    expect(emptyPage).toContain("no policy: every entry blocks");
    expect(emptyPage).toContain(
      `Set the universe: HSET quantum:policy:current universe_symbols '["BTCUSDT","ETHUSDT"]'`,
    );
    expect(emptyPage).toContain("npm run universe -- BTCUSDT ETHUSDT");
    expect(emptyPage).toContain("No open positions.");
    expect(emptyPage).toContain("PUT /__sim/positions");
  });

  afterAll(async () => {
    await browser?.close();
    await stopStack();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows the regime and the slot gauge at holders / desired", async () => {
    await expect.poll(() => page.getByTestId("regime").textContent()).toBe("BASE");
    expect(await page.locator("#regime").textContent()).toContain("BTCUSDT");
    const gauge = (await page.getByTestId("slot-gauge").textContent()) ?? "";
    expect(gauge.replace(/\s+/g, "")).toMatch(/^4\/4/);
    const slots = await page.locator("#slots .slot b").allTextContents();
    expect(slots.sort()).toEqual(["DOGEUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]);
  });

  it("lists the positions weakest first with weakness and age", async () => {
    const rows = page.locator("#positions tbody tr");
    expect(await rows.count()).toBe(3);
    const symbols = await page.locator("#positions tbody tr td:nth-child(2)").allTextContents();
    expect(symbols).toEqual(["SOLUSDT", "ETHUSDT", "XRPUSDT"]);
    const sol = (await rows.nth(0).textContent()) ?? "";
    expect(sol).toContain("rotating out");
    // Held 7h 30m when arranged, plus the whole minutes since (none on a quick run).
    const [, h, m] = /(\d+)h (\d+)m/.exec(sol) ?? [];
    const heldMinutes = Number(h) * 60 + Number(m);
    expect(heldMinutes).toBeGreaterThanOrEqual(450);
    expect(heldMinutes).toBeLessThanOrEqual(450 + Math.floor((Date.now() - arrangedAtMs) / 60_000));
    expect(await page.locator("#positions td.weakness").first().textContent()).toMatch(
      /^0\.\d{4}$/,
    );
  });

  it("shows the reservation", async () => {
    expect(await page.locator("#reservations tbody").textContent()).toContain("plan-4b9d0e55");
  });

  it("shows the rotation lock with a countdown that decreases every second", async () => {
    expect(await page.locator("#rotation").textContent()).toContain("Rotation in progress");
    const lockRow = page.locator("#locks tbody tr");
    expect(await lockRow.count()).toBe(1);
    expect(await lockRow.textContent()).toContain("SOLUSDT");
    const countdown = page.locator("#rotation [data-testid=countdown]");
    const read = async () => seconds((await countdown.textContent()) ?? "");
    // It counts to the lock's timeout: created when the test started the rotation, TTL 120 s.
    const timeoutAt = Number(await countdown.getAttribute("data-timeout-at"));
    expect(timeoutAt - 120).toBeGreaterThanOrEqual(rotationStartedS);
    expect(timeoutAt - 120).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    const before = await read();
    expect(before).toBeLessThanOrEqual(120);
    // Never less than what is left (a late tick shows more, never less).
    expect(before).toBeGreaterThanOrEqual(timeoutAt - Math.ceil(Date.now() / 1000));
    // It ticks by itself between refreshes: wait for a decrease that no refresh explains.
    let ticked = false;
    for (let attempt = 1; !ticked; attempt++) {
      if (attempt > 10) throw new Error("the countdown only changed when the page refreshed");
      const refreshes = statusResponses;
      const shown = await read();
      const next = await waitUntil(async () => {
        const value = await read();
        return value !== shown ? value : undefined;
      }, "the countdown to change");
      ticked = next < shown && statusResponses === refreshes;
    }
    const after = await read();
    expect(after).toBeLessThan(before);
    expect(after).toBeGreaterThanOrEqual(timeoutAt - Math.ceil(Date.now() / 1000));
  });

  it("shows the governor events as a timeline, newest first", async () => {
    const kinds = await page.locator("#events li.event .tag").allTextContents();
    expect(kinds.slice(0, 2)).toEqual(["PLAN_BLOCKED", "ROTATION_LOCK_CREATED"]);
    expect(kinds).toContain("PLAN_ALLOWED");
    expect(await page.locator("#events").textContent()).toContain("active_slots_not_in_universe");
  });

  it("writes a screenshot of the rotation in progress", async () => {
    mkdirSync(join(ROOT, "test-results"), { recursive: true });
    const screenshot = join(ROOT, "test-results", "dashboard.png");
    await page.screenshot({ path: screenshot });
    await page.screenshot({
      path: join(ROOT, "test-results", "dashboard-full.png"),
      fullPage: true,
    });
    if (process.env.UPDATE_DOCS_SCREENSHOT === "1") {
      await page.screenshot({ path: join(ROOT, "docs", "dashboard.png") });
    }
    expect(readFileSync(screenshot).subarray(1, 4).toString()).toBe("PNG");
  });

  it("refreshes itself from /v1/status", async () => {
    await postPlan({ plan_id: "plan-refresh-1", symbol: "LINKUSDT", score: 1 });
    await expect
      .poll(() => page.locator("#events").textContent(), { timeout: 30_000, interval: 500 })
      .toContain("plan-refresh-1");
    expect(await page.locator("#banner").isHidden()).toBe(true);
  });

  it("halts and resumes from its controls with the admin token, which never reaches a URL", async () => {
    const requests: { url: string; method: string; authorization?: string }[] = [];
    page.on("request", (request) => {
      requests.push({
        url: request.url(),
        method: request.method(),
        authorization: request.headers().authorization,
      });
    });
    const act = async (token: string, reason: string, button: string) => {
      await page.locator("#admin-token").fill(token);
      await page.locator("#state-reason").fill(reason);
      await page.locator(`#state-form button.${button}`).click();
      await expect
        .poll(() => page.locator("#state-result").textContent())
        .not.toMatch(/^(Setting .*)?$/);
      return (await page.locator("#state-result").textContent()) ?? "";
    };
    await page.locator("#state-controls summary").click();

    const seen = pageErrors.length;
    expect(await act(stack.read_token, "not allowed", "halt")).toBe(
      "Not changed: the read token cannot change the trading state: use the admin token (403)",
    );
    // Chromium reports the refused request as a console error: expected here, and only that.
    const added = pageErrors.splice(seen);
    expect(added.every((e) => e.includes("status of 403"))).toBe(true);
    expect(await act(stack.admin_token, "browser test", "halt")).toBe(
      "Trading state is now HALTED.",
    );
    const banner = page.getByTestId("trading-state");
    await expect
      .poll(() => banner.textContent(), { timeout: 10_000 })
      .toMatch(/^HALTED by dashboard · since .* ago\): browser test\. every entry is refused/);
    expect(await page.locator("#admin-token").inputValue()).toBe(""); // forgotten after use
    await page.screenshot({ path: join(ROOT, "test-results", "dashboard-halted.png") });
    expect(await postPlan({ plan_id: "plan-halted-1", symbol: "DOGEUSDT" })).toMatchObject({
      decision: "BLOCK",
      reason: "active_slots_halted",
    });

    expect(await act(stack.admin_token, "browser test done", "resume")).toBe(
      "Trading state is now ACTIVE.",
    );
    await expect.poll(() => banner.count(), { timeout: 10_000 }).toBe(0);

    const puts = requests.filter((r) => r.method === "PUT");
    expect(puts.map((r) => new URL(r.url).pathname)).toEqual([
      "/v1/trading-state",
      "/v1/trading-state",
      "/v1/trading-state",
    ]);
    expect(puts[1]!.authorization).toBe(`Bearer ${stack.admin_token}`);
    for (const r of requests) expect(r.url).not.toContain(stack.admin_token);
    expect(page.url()).not.toContain(stack.admin_token);
  });

  it("ran its script without errors", () => {
    expect(pageErrors).toEqual([]);
  });
});
