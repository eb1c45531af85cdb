/**
 * The dashboard page (`GET /`): server-rendered HTML of the board, the status
 * it was rendered from, and a small inline script that refreshes it from
 * `GET /v1/status` and ticks the rotation countdowns each second.
 */
import type { Status } from "../status/schema.ts";
import type { History } from "../metrics/history.ts";
import { BOARD_RENDERER_SOURCE, esc, renderBoard } from "./render.ts";
import { DASHBOARD_CSS } from "./styles.ts";

/** ms between two refreshes of the board. */
export const REFRESH_MS = 5_000;
/** ms between two refreshes of the history charts (per-minute buckets). */
export const HISTORY_REFRESH_MS = 60_000;

/** JSON inside a `<script>` element: nothing in it may close the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll("<", "\\u003c")
    .replaceAll("\u2028", "\\u2028")
    .replaceAll("\u2029", "\\u2029");
}

/**
 * The page script. The token comes from the page's own `?token=` (never
 * written into the page by the server); without one the board is not refreshed.
 */
function pageScript(refreshMs: number, historyRefreshMs: number): string {
  const { code, names } = BOARD_RENDERER_SOURCE;
  return `(() => {
"use strict";
${code}
const board = document.getElementById("board");
const banner = document.getElementById("banner");
const token = new URLSearchParams(location.search).get("token");
let status = JSON.parse(document.getElementById("status-data").textContent);
let historyData = JSON.parse(document.getElementById("history-data").textContent);
let historyWindow = historyData ? historyData.window : "24h";
let receivedAt = Date.now();
let timer;
// The governor's clock, carried forward by the browser's: browser clock skew does not matter.
const governorNow = () => status.at + (Date.now() - receivedAt);

function tick() {
  const nowS = Math.floor(governorNow() / 1000);
  for (const el of document.querySelectorAll("[data-timeout-at]")) {
    const remaining = Number(el.dataset.timeoutAt) - nowS;
    if (el.tagName === "I") el.style.width = ${names.countdownWidth}(remaining, Number(el.dataset.ttl));
    else el.textContent = ${names.countdownText}(remaining);
    el.classList.toggle("late", remaining < 0);
  }
  for (const el of document.querySelectorAll("[data-since]")) {
    el.textContent = ${names.clock}(nowS - Number(el.dataset.since));
  }
}

function showProblem(message) {
  banner.textContent = message;
  banner.hidden = false;
}

async function refresh() {
  // A hidden tab does not spend the exchange's request weight (each refresh reads the account).
  if (document.hidden) {
    clearTimeout(timer);
    timer = setTimeout(refresh, ${refreshMs});
    return;
  }
  try {
    const response = await fetch("/v1/status", {
      headers: { authorization: "Bearer " + token },
      cache: "no-store",
    });
    if (!response.ok) {
      throw new Error(response.status === 401 ? "the read token was refused (401)" : "HTTP " + response.status);
    }
    status = await response.json();
    receivedAt = Date.now();
    board.innerHTML = ${names.renderBoard}(status, status.at, historyData);
    banner.hidden = true;
  } catch (error) {
    showProblem("Refresh failed: " + error.message + ". The figures below are not current.");
  }
  tick();
  clearTimeout(timer);
  timer = setTimeout(refresh, ${refreshMs});
}

// Trading state controls: the admin token is typed, sent once in a header, and
// forgotten (never in the URL, never stored); the form's inputs have no name,
// so even without this script they are never submitted.
const stateForm = document.getElementById("state-form");
const stateResult = document.getElementById("state-result");
stateForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const adminToken = document.getElementById("admin-token");
  const reason = document.getElementById("state-reason");
  const state = event.submitter ? event.submitter.value : "";
  stateResult.className = "result";
  stateResult.textContent = "Setting " + state + "…";
  try {
    const response = await fetch("/v1/trading-state", {
      method: "PUT",
      headers: { authorization: "Bearer " + adminToken.value, "content-type": "application/json" },
      body: JSON.stringify({ state, reason: reason.value, actor: "dashboard" }),
      cache: "no-store",
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body && body.error ? body.error.message + " (" + response.status + ")" : "HTTP " + response.status);
    stateResult.className = "result good";
    stateResult.textContent = body.changed ? "Trading state is now " + body.state + "." : "Already " + body.state + ": nothing changed.";
    reason.value = "";
    if (token) refreshNow();
  } catch (error) {
    stateResult.className = "result bad";
    stateResult.textContent = "Not changed: " + error.message;
  } finally {
    adminToken.value = "";
  }
});

function refreshNow() {
  clearTimeout(timer);
  refresh();
}

async function refreshHistory() {
  try {
    const response = await fetch("/v1/history?window=" + encodeURIComponent(historyWindow), {
      headers: { authorization: "Bearer " + token },
      cache: "no-store",
    });
    if (!response.ok) throw new Error("HTTP " + response.status);
    historyData = await response.json();
    board.innerHTML = ${names.renderBoard}(status, status.at, historyData);
    tick();
  } catch (error) {
    showProblem("History refresh failed: " + error.message + ". The charts are not current.");
  }
}

async function historyLoop() {
  if (!document.hidden) await refreshHistory();
  setTimeout(historyLoop, ${historyRefreshMs});
}

// The window switch: with the token in the URL the charts are re-read in place; without, the page reloads.
board.addEventListener("click", (event) => {
  const button = event.target.closest("[data-window]");
  if (!button) return;
  const params = new URLSearchParams(location.search);
  params.set("window", button.dataset.window);
  if (!token) {
    location.search = params.toString();
    return;
  }
  historyWindow = button.dataset.window;
  history.replaceState(null, "", "?" + params.toString());
  void refreshHistory();
});

setInterval(tick, 1000);
if (token) setTimeout(historyLoop, ${historyRefreshMs});
if (token) timer = setTimeout(refresh, ${refreshMs});
else showProblem("Not refreshing: open this page with ?token=<read token> to refresh it every ${refreshMs / 1000} s.");
})();`;
}

/** The document start every page shares (inline styles, no referrer). */
function pageHead(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${esc(title)}</title>
<style>${DASHBOARD_CSS}</style>
</head>`;
}

/**
 * The dashboard with its figures as of `status.at` and, when given, the history
 * charts of `history`'s window. `nonce` allows its one inline script.
 */
export function renderDashboardPage(
  status: Status,
  nonce: string,
  history: History | null = null,
): string {
  return `${pageHead("Governor · Active Slots")}
<body>
<header class="top">
  <h1>Governor · Active Slots Controller</h1>
  <nav><a href="/docs">API docs</a> <a href="/openapi.json">openapi.json</a></nav>
</header>
<div id="banner" class="banner" role="status" hidden></div>
${renderStateControls()}
<main id="board">${renderBoard(status, status.at, history)}</main>
<noscript><p class="banner">JavaScript is off: reload the page to refresh the figures.</p></noscript>
<script type="application/json" id="status-data">${scriptJson(status)}</script>
<script type="application/json" id="history-data">${scriptJson(history)}</script>
<script nonce="${esc(nonce)}">${pageScript(REFRESH_MS, HISTORY_REFRESH_MS)}</script>
</body>
</html>`;
}

/**
 * Halt / reduce / resume, asking for the admin token each time. The inputs
 * have no `name`: without the page script nothing of them is ever submitted.
 */
function renderStateControls(): string {
  return `<details class="controls" id="state-controls">
<summary>Trading state: halt, reduce only, resume (needs the admin token)</summary>
<form id="state-form" method="post" action="/v1/trading-state" autocomplete="off">
  <label for="admin-token"><span>Admin token (<code>GOV_ADMIN_TOKEN</code>)</span>
    <input id="admin-token" type="password" autocomplete="off" required></label>
  <label for="state-reason"><span>Reason (recorded with the change)</span>
    <input id="state-reason" type="text" maxlength="200" required></label>
  <button type="submit" class="halt" value="HALTED">Halt</button>
  <button type="submit" class="reduce" value="REDUCING">Reduce only</button>
  <button type="submit" class="resume" value="ACTIVE">Resume</button>
  <p id="state-result" class="result" role="status"></p>
</form>
</details>`;
}

/** The page a browser gets without a valid read token: a form that asks for it. */
export function renderTokenPage(message: string): string {
  return `${pageHead("Governor · read token required")}
<body>
<header class="top"><h1>Governor · Active Slots Controller</h1></header>
<main class="narrow">
  <section class="card">
    <h2>Read token required</h2>
    <p>${esc(message)}</p>
    <form method="get" action="/">
      <label for="token">Read token (<code>GOV_READ_TOKEN</code>)</label>
      <input id="token" name="token" type="password" autocomplete="off" required>
      <button type="submit">Open dashboard</button>
    </form>
  </section>
</main>
</body>
</html>`;
}

/**
 * Headers of both pages: no caching (they carry live figures and may carry the
 * token in their URL), no referrer, no framing, and only the page's own script.
 */
export function pageHeaders(nonce?: string): Record<string, string> {
  const script = nonce ? `'nonce-${nonce}'` : "'none'";
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "content-security-policy":
      `default-src 'none'; script-src ${script}; style-src 'unsafe-inline'; ` +
      "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  };
}
