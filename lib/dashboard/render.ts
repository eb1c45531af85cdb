/**
 * The dashboard's board: `GET /v1/status` as HTML, a pure function of the
 * status and an instant.
 *
 * One renderer for both sides: the worker calls `renderBoard` to serve the
 * page with its figures, and the page's refresh script is these same functions'
 * source text (`BOARD_RENDERER_SOURCE`), so a refresh renders exactly what a
 * reload would. That is why every function here is a top-level declaration
 * that uses only its arguments, the others listed in `RENDERERS`, and the
 * JavaScript built-ins: no imports, no module constants, no named inner
 * functions (a bundler may wrap those in helpers the browser does not have).
 */
import type { LockView, PositionView, Status } from "../status/schema.ts";
import type { History } from "../metrics/history.ts";
import { HISTORY_RENDERERS, renderHistory } from "./history.ts";

/** HTML-escape any value for text and attribute positions. */
export function esc(value: unknown): string {
  return String(value ?? "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** A number with fixed decimals, or an em dash when unknown. */
export function fixed(value: number | null | undefined, digits: number): string {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "—";
}

/** A price with decimals for its magnitude: 67250.00, 182.300, 0.6120. */
export function price(value: number | null | undefined): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  const magnitude = Math.abs(value);
  return value.toFixed(magnitude >= 1000 ? 2 : magnitude >= 1 ? 3 : 4);
}

/** A ratio as a signed percentage: 0.0123 -> "+1.23 %". */
export function signedPct(value: number | null | undefined): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  return `${value > 0 ? "+" : value < 0 ? "−" : ""}${Math.abs(value * 100).toFixed(2)} %`;
}

/** A ratio as a percentage: 0.0123 -> "1.23 %". */
export function pct(value: number | null | undefined): string {
  return typeof value === "number" && Number.isFinite(value)
    ? `${(value * 100).toFixed(2)} %`
    : "—";
}

/** hh:mm:ss UTC of a unix ms instant. */
export function utcClock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

/** Seconds as m:ss (under an hour) or h:mm:ss. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${mm.padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** Hours held as "45m", "3h 05m" or "2d 4h". */
export function heldFor(hours: number): string {
  const minutes = Math.floor(hours * 60);
  if (minutes < 60) return `${minutes}m`;
  if (minutes < 48 * 60)
    return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
  return `${Math.floor(minutes / 1440)}d ${Math.floor((minutes % 1440) / 60)}h`;
}

/** What a rotation lock's countdown shows `remainingS` seconds before its timeout. */
export function countdownText(remainingS: number): string {
  return remainingS < 0 ? `timed out ${clock(-remainingS)} ago` : clock(remainingS);
}

/** Width (%) of a countdown bar: the part of the lock's TTL still left. */
export function countdownWidth(remainingS: number, ttlS: number): string {
  return `${ttlS > 0 ? Math.max(0, Math.min(100, (remainingS / ttlS) * 100)).toFixed(1) : 0}%`;
}

/** Seconds until a lock times out, seen at `nowMs` (negative once it has). */
export function lockRemaining(lock: LockView, nowMs: number): number {
  return lock.created_at + lock.ttl_s - Math.floor(nowMs / 1000);
}

/** Whether a lock's TTL still decides its end: not once its close is confirmed or its plan decided. */
export function lockCountsDown(lock: LockView): boolean {
  return lock.state !== "close_confirmed" && lock.state !== "cancelling";
}

/**
 * A lock's countdown. Text and bar carry the instant they count to (unix s), so
 * the page script ticks them each second between refreshes. A lock whose TTL no
 * longer matters shows what ends it instead, and does not tick.
 */
export function renderCountdown(lock: LockView, nowMs: number, big: boolean): string {
  if (!lockCountsDown(lock)) {
    return (
      `<span class="countdown done${big ? " big" : ""}" data-testid="countdown">` +
      `${lock.state === "cancelling" ? "cancelling" : "confirmed"}</span>`
    );
  }
  const remaining = lockRemaining(lock, nowMs);
  const timeoutAt = lock.created_at + lock.ttl_s;
  const late = remaining < 0 ? " late" : "";
  return (
    `<span class="countdown${big ? " big" : ""}${late}" data-timeout-at="${timeoutAt}" ` +
    `data-ttl="${lock.ttl_s}" data-testid="countdown">${esc(countdownText(remaining))}</span>` +
    `<span class="bar${late}"><i data-timeout-at="${timeoutAt}" data-ttl="${lock.ttl_s}" ` +
    `style="width:${countdownWidth(remaining, lock.ttl_s)}"></i></span>`
  );
}

/**
 * The trading state: a tag, and for REDUCING / HALTED a banner saying who set
 * it, why and since when (the dashboard's controls change it).
 */
export function renderTradingState(status: Status, nowMs: number): string {
  const t = status.trading_state ?? { state: "ACTIVE" };
  if (t.state === "ACTIVE") return "";
  const since =
    typeof t.at === "number"
      ? ` · since <b class="n">${utcClock(t.at)} UTC</b> (<span data-since="${Math.floor(t.at / 1000)}">` +
        `${clock(Math.floor(nowMs / 1000) - Math.floor(t.at / 1000))}</span> ago)`
      : "";
  const effect =
    t.state === "HALTED"
      ? "every entry is refused and no rotation starts; closes pass"
      : "no entry that adds risk and no new rotation; closes pass";
  return (
    `<div class="trading-banner trading-${esc(t.state)}" role="alert" data-testid="trading-state">` +
    `<b>${esc(t.state)}</b>${t.actor ? ` by <b>${esc(t.actor)}</b>` : ""}${since}: ` +
    `${esc(t.reason ?? "no reason recorded")}. <span class="effect">${effect}.</span></div>`
  );
}

/** Mode, switch, universe and how fresh the figures are. */
export function renderStatusLine(status: Status, nowMs: number): string {
  const atS = Math.floor(status.at / 1000);
  const universe =
    status.universe === null
      ? `<span class="tag bad">no policy: every entry blocks</span>`
      : `universe <b>${status.universe.length}</b> symbols`;
  // What to do about a missing universe: the Redis command, and the local stack's CLI.
  const setUniverse =
    status.universe === null
      ? `<p class="howto top" data-testid="no-universe-help">Set the universe: ` +
        `<code>${esc(`HSET quantum:policy:current universe_symbols '["BTCUSDT","ETHUSDT"]'`)}</code> ` +
        `(<code>quantum</code> = GOV_KEY_PREFIX; on the local stack: <code>npm run universe -- BTCUSDT ETHUSDT</code>, ` +
        `or <code>npm start</code> without <code>--empty</code> for the demo world).</p>`
      : "";
  const trading = status.trading_state?.state ?? "ACTIVE";
  return (
    renderTradingState(status, nowMs) +
    `<div class="statusline"><span class="tag mode-${esc(status.mode)}">${esc(status.mode.toUpperCase())}</span>` +
    `<span class="tag trading-${esc(trading)}" title="trading state">${esc(trading)}</span>` +
    `${status.enabled ? "" : `<span class="tag bad">controller disabled: entries skip it</span>`}` +
    `<span>${universe}</span><span>as of <b class="n">${utcClock(status.at)} UTC</b> ` +
    `(<span data-since="${atS}">${clock(Math.floor(nowMs / 1000) - atS)}</span> ago)</span></div>` +
    setUniverse
  );
}

export function renderRegimeCard(status: Status): string {
  const r = status.regime;
  const by = status.slots.by_regime;
  const body = r
    ? `<div class="regime-name regime-${esc(r.name)}" data-testid="regime">${esc(r.name)}</div>` +
      `<dl class="figures"><dt>symbol</dt><dd>${esc(r.symbol)}</dd>` +
      `<dt>trend</dt><dd>${pct(r.trend)}</dd><dt>ATR</dt><dd>${pct(r.atr_pct)}</dd>` +
      `<dt>desired slots</dt><dd><b>${esc(r.desired_slots)}</b></dd></dl>`
    : `<div class="regime-name regime-unknown" data-testid="regime">UNKNOWN</div>` +
      `<p class="muted">No regime cached yet: it is computed when a plan is evaluated ` +
      `(<code>npm run plan -- --symbol BTCUSDT</code> on the local stack).</p>`;
  return (
    `<section class="card" id="regime"><h2>Regime</h2>${body}` +
    `<p class="muted small">BASE ${esc(by.BASE)} · TREND_STRONG ${esc(by.TREND_STRONG)} · ` +
    `CHOP ${esc(by.CHOP)} slots</p></section>`
  );
}

export function renderGauge(status: Status): string {
  const { desired, holders, state } = status.slots;
  const cells = Math.max(desired ?? 0, status.slots.holder_detail.length);
  let segments = "";
  for (let i = 0; i < cells; i++) {
    const holder = status.slots.holder_detail[i];
    const over = desired !== null && i >= desired;
    segments += holder
      ? `<div class="slot ${esc(holder.kind)}${over ? " over" : ""}" title="${esc(holder.kind)}">` +
        `<b>${esc(holder.symbol)}</b><small>${esc(holder.kind === "rotation" ? "rotating out" : holder.kind)}</small></div>`
      : `<div class="slot empty"><b>free</b><small>&nbsp;</small></div>`;
  }
  const label = {
    free: `${esc(status.slots.free)} free: entries are allowed`,
    full: "full: an entry needs a rotation",
    over_capacity: "over capacity: entries wait until positions close",
    unknown: status.positions_error
      ? `positions unavailable (${esc(status.positions_error)}): entries are blocked`
      : "unknown until a plan is evaluated",
  }[state];
  return (
    `<section class="card" id="slots"><h2>Slots</h2>` +
    `<div class="gauge-figure" data-testid="slot-gauge"><span class="num">${holders ?? "?"}</span>` +
    `<span class="of">/</span><span class="num">${desired ?? "?"}</span>` +
    `<span class="unit">holders / desired</span></div>` +
    `<div class="gauge state-${esc(state)}">${segments || '<div class="slot empty"><b>no slots</b></div>'}</div>` +
    `<p class="gauge-state state-${esc(state)}">${label}</p></section>`
  );
}

export function renderRotationCard(status: Status, nowMs: number): string {
  const lock = status.locks[0];
  if (!lock) {
    return (
      `<section class="card" id="rotation"><h2>Rotation</h2>` +
      `<p class="idle">No rotation in progress.</p>` +
      `<p class="muted small">A candidate needs a score ≥ ${fixed(1 + status.settings.rotation_threshold, 2)} × ` +
      `the victim's entry score; the close must be confirmed within ${esc(status.settings.lock_ttl_s)} s.</p></section>`
    );
  }
  const more =
    status.locks.length > 1 ? ` <span class="muted">(+${status.locks.length - 1} more)</span>` : "";
  const stateText = {
    waiting_close: "waiting for the close to be confirmed",
    close_confirmed:
      "close confirmed: the next sweep or resubmission completes the rotation (the entry if every gate passes)",
    close_unverified:
      "close confirmed by the Apply Layer; the exchange could not be read to check the position is gone",
    victim_still_open:
      "close confirmed, but the exchange still shows the position open: waiting for it to close",
    timing_out:
      "no close confirmed within the TTL: the next sweep times it out, blocks the entry and releases the slot",
    cancelling: "the plan's decision became final: the next sweep cancels the rotation",
  }[lock.state];
  return (
    `<section class="card rotating" id="rotation"><h2>Rotation in progress${more}</h2>` +
    `<div class="swap"><span class="sym in">${esc(lock.new_symbol)}</span>` +
    `<span class="arrow">replaces</span><span class="sym out">${esc(lock.close_symbol)}</span></div>` +
    `<div class="timeout"><span class="muted">${lockCountsDown(lock) ? "times out in" : "close"}</span> ${renderCountdown(lock, nowMs, true)}</div>` +
    `<p class="small">${esc(stateText)} · close plan <code>${esc(lock.close_plan_id)}</code></p></section>`
  );
}

export function renderLocks(status: Status, nowMs: number): string {
  const rows = status.locks
    .map(
      (lock) =>
        `<tr class="lock ${esc(lock.state)}" data-plan="${esc(lock.plan_id)}">` +
        `<td><code>${esc(lock.new_plan_id)}</code></td><td><b>${esc(lock.new_symbol)}</b></td>` +
        `<td><b>${esc(lock.close_symbol)}</b></td><td><code>${esc(lock.close_plan_id)}</code></td>` +
        `<td class="n">${fixed(lock.new_score, 2)}</td>` +
        `<td class="n" data-since="${lock.created_at}">${clock(Math.floor(nowMs / 1000) - lock.created_at)}</td>` +
        `<td class="n timeout-cell">${renderCountdown(lock, nowMs, false)}</td>` +
        `<td><span class="tag ${esc(lock.state)}">${esc(lock.state.replaceAll("_", " "))}</span></td></tr>`,
    )
    .join("");
  const orphans = status.orphaned_locks.length
    ? `<p class="muted small">${status.orphaned_locks.length} indexed lock(s) without a live lock: the next sweep ends them and releases their slots.</p>`
    : "";
  const unread = status.confirmations_read_to_end
    ? ""
    : `<p class="muted small">apply.result has more unread results than the view reads: a lock shown waiting or timing out may already be confirmed (the next sweep reads them all).</p>`;
  const truncated =
    status.locks_total > status.locks.length + status.orphaned_locks.length
      ? `<p class="muted small">Showing ${status.locks.length} of ${esc(status.locks_total)} locks.</p>`
      : "";
  return (
    `<section id="locks"><h2>Rotation locks <span class="count">${status.locks.length}</span></h2>` +
    (rows
      ? `<table><thead><tr><th>Entry plan</th><th>Entry</th><th>Closing</th><th>Close plan</th>` +
        `<th class="n">Score</th><th class="n">Age</th><th class="n">Times out in</th><th>State</th></tr></thead>` +
        `<tbody>${rows}</tbody></table>`
      : `<p class="empty-note">No rotation locks.</p>`) +
    orphans +
    unread +
    truncated +
    `</section>`
  );
}

export function renderPositions(status: Status): string {
  if (status.positions === null) {
    return (
      `<section id="positions"><h2>Positions</h2><p class="error-note">Positions unavailable ` +
      `(${esc(status.positions_error)}): no entry can be allowed until Binance answers.</p></section>`
    );
  }
  const rows = status.positions
    .map((p: PositionView) => {
      const note = p.rotating_out_for
        ? `<span class="tag rotating">rotating out</span>`
        : p.victim_rank === 1
          ? `<span class="tag victim">next victim</span>`
          : "";
      const pnlClass = p.pnl_pct > 0 ? "up" : p.pnl_pct < 0 ? "down" : "";
      return (
        `<tr data-symbol="${esc(p.symbol)}"><td class="n">${p.victim_rank ?? "–"}</td>` +
        `<td><b>${esc(p.symbol)}</b></td><td>${esc(p.side)}</td>` +
        `<td class="n">${esc(p.position_amt)}</td><td class="n">${price(p.entry_price)}</td>` +
        `<td class="n">${price(p.mark_price)}</td><td class="n ${pnlClass}">${fixed(p.unrealized_pnl, 2)}</td>` +
        `<td class="n ${pnlClass}">${signedPct(p.pnl_pct)}</td><td class="n">${heldFor(p.age_hours)}</td>` +
        `<td class="n">${fixed(p.entry_score, 2)}</td><td class="n weakness">${fixed(p.weakness, 4)}</td>` +
        `<td>${note}</td></tr>`
      );
    })
    .join("");
  return (
    `<section id="positions"><h2>Positions <span class="count">${status.positions.length}</span>` +
    `<span class="hint">weakest first · weakness = −pnl % + age penalty</span></h2>` +
    (rows
      ? `<table><thead><tr><th class="n">#</th><th>Symbol</th><th>Side</th><th class="n">Amount</th>` +
        `<th class="n">Entry</th><th class="n">Mark</th><th class="n">uPnL</th><th class="n">PnL</th>` +
        `<th class="n">Age</th><th class="n">Entry score</th><th class="n">Weakness</th><th></th></tr></thead>` +
        `<tbody>${rows}</tbody></table>`
      : `<p class="empty-note">No open positions.</p>` +
        `<p class="howto" data-testid="no-positions-help">The governor reads them from Binance ` +
        `(<code>GET /fapi/v3/account</code>). On the local stack the exchange simulator holds them: ` +
        `<code>npm start</code> seeds the demo world's positions (not with <code>--empty</code>); ` +
        `<code>PUT /__sim/positions</code> on the simulator sets others.</p>`) +
    `</section>`
  );
}

export function renderReservations(status: Status, nowMs: number): string {
  const rows = status.reservations
    .map(
      (r) =>
        `<tr><td><b>${esc(r.symbol)}</b></td><td><code>${esc(r.plan_id)}</code></td>` +
        `<td class="n">${clock((r.expires_at_ms - nowMs) / 1000)}</td></tr>`,
    )
    .join("");
  return (
    `<section id="reservations"><h2>Reservations <span class="count">${status.reservations.length}</span>` +
    `<span class="hint">permit issued, position not yet visible</span></h2>` +
    (rows
      ? `<table><thead><tr><th>Symbol</th><th>Plan</th><th class="n">Expires in</th></tr></thead><tbody>${rows}</tbody></table>`
      : `<p class="empty-note">No reservations.</p>`) +
    `</section>`
  );
}

export function renderRegimes(status: Status): string {
  const rows = status.regimes
    .map(
      (r) =>
        `<tr><td><b>${esc(r.symbol)}</b></td><td><span class="regime-tag regime-${esc(r.name)}">${esc(r.name)}</span></td>` +
        `<td class="n">${pct(r.trend)}</td><td class="n">${pct(r.atr_pct)}</td><td class="n">${esc(r.desired_slots)}</td></tr>`,
    )
    .join("");
  return (
    `<section id="regimes"><h2>Regimes by symbol</h2>` +
    (rows
      ? `<table><thead><tr><th>Symbol</th><th>Regime</th><th class="n">Trend</th><th class="n">ATR</th>` +
        `<th class="n">Desired</th></tr></thead><tbody>${rows}</tbody></table>`
      : `<p class="empty-note">No cached regimes: each symbol's is computed when a plan on it is evaluated.</p>`) +
    `</section>`
  );
}

export function renderGates(status: Status): string {
  const gates = status.last_gates;
  if (!gates) return "";
  const margin = gates.margin as { usage?: number; cap?: number } | null | undefined;
  const pairs = Array.isArray(gates.correlations)
    ? (gates.correlations as { symbol?: string; status?: string; value?: number }[])
    : [];
  const corr = pairs
    .map(
      (p) =>
        `<li class="${p.status === "ok" ? "" : "down"}">${esc(p.symbol)} <span class="n">${fixed(p.value, 2)}</span>` +
        `${p.status === "ok" ? "" : ` <span class="tag">${esc(p.status)}</span>`}</li>`,
    )
    .join("");
  return (
    `<section id="gates"><h2>Latest gate figures <span class="hint">${esc(gates.symbol)} · ` +
    `<code>${esc(gates.plan_id)}</code></span></h2><dl class="figures">` +
    `<dt>margin usage</dt><dd>${margin ? `${pct(margin.usage)} of ${pct(margin.cap)}` : "—"}</dd>` +
    `<dt>correlation (max ${fixed(status.settings.max_correlation, 2)})</dt>` +
    `<dd>${corr ? `<ul class="inline">${corr}</ul>` : "no other open position"}</dd></dl></section>`
  );
}

export function renderEvents(status: Status, nowMs: number): string {
  const items = status.events
    .map((e) => {
      const kind = String(e.event);
      const detail =
        kind === "TRADING_STATE_CHANGED"
          ? `<b>${esc(e.from)} → ${esc(e.to)}</b> by <b>${esc(e.actor)}</b> <span class="reason">${esc(e.reason)}</span>`
          : kind.startsWith("ROTATION_")
            ? `<b>${esc(e.new_symbol)}</b> replaces <b>${esc(e.close_symbol)}</b>` +
              (e.lock_age ? ` · lock age ${esc(e.lock_age)} s` : "")
            : `<b>${esc(e.symbol)}</b> <span class="reason">${esc(e.reason)}</span>`;
      const plan = e.plan_id ?? e.new_plan_id;
      const tone =
        kind === "PLAN_ALLOWED" ||
        kind === "ROTATION_COMPLETE" ||
        (kind === "TRADING_STATE_CHANGED" && e.to === "ACTIVE")
          ? "good"
          : kind === "ROTATION_TIMEOUT" ||
              kind === "TRADING_STATE_CHANGED" ||
              (kind === "PLAN_BLOCKED" && e.reason !== "active_slots_waiting_rotation_close")
            ? "bad"
            : "info";
      return (
        `<li class="event ${tone}"><time>${utcClock(e.at_ms)}<small><span data-since="${Math.floor(e.at_ms / 1000)}">` +
        `${clock(Math.floor(nowMs / 1000) - Math.floor(e.at_ms / 1000))}</span> ago</small></time>` +
        `<div><span class="tag event-${tone}">${esc(kind)}</span>${e.shadow === "true" ? ' <span class="tag">shadow</span>' : ""}` +
        `<div class="detail">${detail}</div>${plan ? `<div class="plan"><code>${esc(plan)}</code></div>` : ""}</div></li>`
      );
    })
    .join("");
  return (
    `<section id="events"><h2>Recent events <span class="count">${status.events.length}</span></h2>` +
    (items
      ? `<ol class="timeline">${items}</ol>`
      : `<p class="empty-note">No governor events yet: every decision and rotation step appends one.</p>`) +
    `</section>`
  );
}

export function renderDeadLetters(status: Status, nowMs: number): string {
  const dead = status.dead_letters;
  const rows = dead.recent
    .map(
      (d) =>
        `<tr><td class="n">${clock(Math.floor(nowMs / 1000) - Math.floor(d.at_ms / 1000))} ago</td>` +
        `<td><code>${esc(d.plan_id || d.message_id)}</code></td><td><b>${esc(d.symbol)}</b></td>` +
        `<td><span class="reason">${esc(d.reason)}</span></td></tr>`,
    )
    .join("");
  return (
    `<section id="dead-letters"><h2>Dead letters <span class="count">${dead.count}</span>` +
    `<span class="hint">queued plans given up on</span></h2>` +
    (rows
      ? `<table><thead><tr><th class="n">When</th><th>Plan</th><th>Symbol</th><th>Why</th></tr></thead><tbody>${rows}</tbody></table>`
      : `<p class="empty-note">None: every queued plan was decided.</p>`) +
    `</section>`
  );
}

/**
 * The whole board (the page's `<main>`), as the status stood at `status.at`, seen at `nowMs`;
 * with `history`, its charts (./history.ts) under the cards.
 */
export function renderBoard(status: Status, nowMs: number, history?: History | null): string {
  return (
    renderStatusLine(status, nowMs) +
    `<div class="cards">${renderRegimeCard(status)}${renderGauge(status)}${renderRotationCard(status, nowMs)}</div>` +
    (history ? renderHistory(history) : "") +
    `<div class="columns"><div class="col-main">${renderLocks(status, nowMs)}${renderPositions(status)}` +
    `${renderReservations(status, nowMs)}${renderRegimes(status)}${renderGates(status)}</div>` +
    `<div class="col-side">${renderEvents(status, nowMs)}${renderDeadLetters(status, nowMs)}</div></div>`
  );
}

/** Everything `renderBoard` calls, in one list: the page script is their source. */
const RENDERERS = [
  esc,
  fixed,
  price,
  signedPct,
  pct,
  utcClock,
  clock,
  heldFor,
  countdownText,
  countdownWidth,
  lockCountsDown,
  lockRemaining,
  renderTradingState,
  renderStatusLine,
  renderCountdown,
  renderRegimeCard,
  renderGauge,
  renderRotationCard,
  renderLocks,
  renderPositions,
  renderReservations,
  renderRegimes,
  renderGates,
  renderEvents,
  renderDeadLetters,
  renderBoard,
  ...HISTORY_RENDERERS,
];

/** The name a function is declared with in the running bundle (which may have renamed it). */
function declaredName(fn: (...args: never[]) => unknown): string {
  const name = /^function\s+([\w$]+)/.exec(fn.toString())?.[1];
  if (!name) throw new Error("renderers must be function declarations");
  return name;
}

/**
 * The renderers as browser JavaScript. A bundler may rename a top-level
 * function (calls between them are renamed alike), so the page script calls
 * them by `names`, read from their source.
 */
export const BOARD_RENDERER_SOURCE = {
  code: RENDERERS.map((fn) => fn.toString()).join("\n"),
  names: {
    renderBoard: declaredName(renderBoard),
    countdownText: declaredName(countdownText),
    countdownWidth: declaredName(countdownWidth),
    clock: declaredName(clock),
  },
};
