/**
 * The dashboard's stylesheet, inlined into the page (no build step, no CDN).
 * Figures are monospace with tabular digits so columns and countdowns do not jitter.
 */
export const DASHBOARD_CSS = `
:root {
  --bg: #eef1f5; --card: #fff; --ink: #15202b; --muted: #5b6876; --line: #d9dfe6; --row: #edf0f4;
  --good: #18794e; --good-bg: #e3f4ea; --bad: #c0261f; --bad-bg: #fde8e6; --warn: #a15c00;
  --warn-bg: #fff1dc; --info: #1d5fbf; --info-bg: #e6effc; --rot: #7a3fc4; --rot-bg: #f1e8fc;
  --mono: "DejaVu Sans Mono", ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  --sans: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.4 var(--sans); }
header.top { display: flex; align-items: center; justify-content: space-between; padding: 10px 20px;
  background: #0f1b2a; color: #fff; }
header.top h1 { margin: 0; font-size: 17px; font-weight: 600; letter-spacing: .01em; }
header.top a { color: #b9cdf0; margin-left: 14px; text-decoration: none; font-size: 13px; }
main { padding: 12px 20px 24px; }
main.narrow { max-width: 520px; margin: 40px auto; }
.banner { margin: 0; padding: 8px 20px; background: var(--warn-bg); color: var(--warn); font-weight: 600;
  border-bottom: 1px solid #f0d3a8; }
h2 { margin: 0 0 8px; font-size: 12px; font-weight: 700; letter-spacing: .07em; text-transform: uppercase;
  color: var(--muted); display: flex; align-items: baseline; gap: 8px; }
h2 .count { font: 700 12px var(--mono); color: var(--ink); background: var(--row); border-radius: 9px; padding: 0 7px; }
h2 .hint { font-weight: 400; text-transform: none; letter-spacing: 0; margin-left: auto; }
.statusline { display: flex; align-items: center; gap: 14px; margin-bottom: 10px; color: var(--muted); font-size: 13px; }
.statusline b { color: var(--ink); }
.cards { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.45fr) minmax(0, 1.45fr); gap: 12px; margin-bottom: 12px; }
.card, .columns section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.columns { display: grid; grid-template-columns: minmax(0, 2.2fr) minmax(0, 1fr); gap: 12px; align-items: start; }
.columns section { margin-bottom: 12px; overflow-x: auto; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
p { margin: 6px 0 0; }
code { font: 12px var(--mono); }
.n { font-family: var(--mono); font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; font-size: 12px; font-weight: 600; color: var(--muted); padding: 3px 5px;
  border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 5px 5px; border-bottom: 1px solid var(--row); white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
th.n, td.n { text-align: right; }
td.up { color: var(--good); } td.down, li.down { color: var(--bad); }
td.weakness { font-weight: 700; }
.empty-note { color: var(--muted); font-style: italic; margin: 2px 0; }
.error-note { color: var(--bad); font-weight: 600; }
.howto.top { margin: -4px 0 12px; }
.howto { font-size: 12px; color: var(--ink); background: var(--info-bg); border-radius: 6px; padding: 6px 10px; margin: 6px 0 0; }
dl.figures { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 6px 0 0; }
dl.figures dt { color: var(--muted); }
dl.figures dd { margin: 0; font-family: var(--mono); font-variant-numeric: tabular-nums; }
ul.inline { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 14px; }
.tag { display: inline-block; font: 600 11px/1.6 var(--mono); padding: 0 6px; border-radius: 4px;
  background: var(--row); color: var(--ink); white-space: nowrap; }
.tag.bad, .tag.timing_out, .tag.cancelling, .tag.event-bad { background: var(--bad-bg); color: var(--bad); }
.tag.event-good, .tag.close_confirmed { background: var(--good-bg); color: var(--good); }
.tag.close_unverified, .tag.victim_still_open { background: var(--warn-bg); color: var(--warn); }
.tag.event-info { background: var(--info-bg); color: var(--info); }
.tag.waiting_close, .tag.rotating { background: var(--rot-bg); color: var(--rot); }
.tag.victim { background: var(--warn-bg); color: var(--warn); }
.tag.mode-enforce { background: var(--good-bg); color: var(--good); }
.tag.mode-shadow { background: var(--warn-bg); color: var(--warn); }
.regime-name { font: 700 30px/1.1 var(--mono); }
.regime-tag { font: 700 12px var(--mono); }
.regime-BASE { color: var(--info); } .regime-TREND_STRONG { color: var(--good); }
.regime-CHOP { color: var(--warn); } .regime-unknown { color: var(--muted); }
.gauge-figure { display: flex; align-items: baseline; gap: 6px; margin-bottom: 8px; }
.gauge-figure .num { font: 700 34px/1 var(--mono); }
.gauge-figure .of { font: 400 28px/1 var(--mono); color: var(--muted); }
.gauge-figure .unit { color: var(--muted); margin-left: 6px; }
.gauge { display: flex; gap: 6px; }
.slot { flex: 1 1 0; min-width: 0; border: 2px solid; border-radius: 6px; padding: 5px 7px; }
.slot b { display: block; font: 700 13px var(--mono); overflow: hidden; text-overflow: ellipsis; }
.slot small { display: block; font-size: 11px; color: var(--muted); }
.slot.position { border-color: var(--good); background: var(--good-bg); }
.slot.reservation { border-color: var(--info); background: var(--info-bg); }
.slot.rotation { border-color: var(--rot);
  background: repeating-linear-gradient(135deg, var(--rot-bg) 0 7px, #fff 7px 14px); }
.slot.empty { border-style: dashed; border-color: #aab4bf; color: var(--muted); }
.slot.over { border-color: var(--bad); background: var(--bad-bg); }
.gauge-state { font-weight: 600; }
.gauge-state.state-full { color: var(--rot); } .gauge-state.state-free { color: var(--good); }
.gauge-state.state-over_capacity, .gauge-state.state-unknown { color: var(--bad); }
.card.rotating { border: 2px solid var(--rot); }
.card.rotating h2 { color: var(--rot); }
.swap { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; }
.swap .sym { font: 700 22px var(--mono); }
.swap .sym.in { color: var(--good); } .swap .sym.out { color: var(--bad); }
.swap .arrow { color: var(--muted); }
.timeout { display: flex; align-items: baseline; gap: 10px; margin-top: 4px; flex-wrap: wrap; }
.countdown { font-family: var(--mono); font-variant-numeric: tabular-nums; font-weight: 700; color: var(--rot); }
.countdown.big { font-size: 34px; line-height: 1.1; }
.countdown.late { color: var(--bad); }
.countdown.done { color: var(--good); }
.bar { display: block; height: 6px; border-radius: 3px; background: var(--row); overflow: hidden; }
.bar i { display: block; height: 100%; background: var(--rot); }
.bar.late i { background: var(--bad); }
.timeout .bar { flex: 1 0 100%; }
.timeout-cell .bar { width: 90px; margin-left: auto; margin-top: 2px; }
.idle { font-size: 16px; font-weight: 600; color: var(--muted); }
ol.timeline { list-style: none; margin: 0; padding: 0; }
li.event { display: grid; grid-template-columns: 74px minmax(0, 1fr); gap: 8px; padding: 6px 0 6px 8px;
  border-left: 3px solid var(--info); border-bottom: 1px solid var(--row); }
li.event.good { border-left-color: var(--good); } li.event.bad { border-left-color: var(--bad); }
li.event time { font: 600 12px var(--mono); }
li.event time small { display: block; font-weight: 400; color: var(--muted); }
li.event .detail { margin-top: 2px; font-size: 13px; }
li.event .detail b { font-family: var(--mono); }
li.event .reason { font: 12px var(--mono); color: var(--muted); }
li.event .plan { color: var(--muted); overflow: hidden; text-overflow: ellipsis; }
.tag.trading-ACTIVE { background: var(--good-bg); color: var(--good); }
.tag.trading-REDUCING { background: var(--warn-bg); color: var(--warn); }
.tag.trading-HALTED { background: var(--bad); color: #fff; }
.trading-banner { margin: 0 0 10px; padding: 10px 14px; border-radius: 6px; font-size: 14px; }
.trading-banner b { font-family: var(--mono); }
.trading-banner .effect { font-weight: 600; }
.trading-HALTED.trading-banner { background: var(--bad); color: #fff; }
.trading-REDUCING.trading-banner { background: var(--warn-bg); color: var(--warn); border: 1px solid #f0d3a8; }
details.controls { margin: 10px 20px 0; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; padding: 8px 16px; }
details.controls summary { cursor: pointer; font-weight: 600; color: var(--muted); }
details.controls form { grid-template-columns: minmax(0, 1fr) minmax(0, 2fr) auto auto auto; align-items: end; }
details.controls label { display: grid; gap: 2px; font-size: 12px; color: var(--muted); }
details.controls .result { grid-column: 1 / -1; margin: 0; font-weight: 600; }
details.controls .result.bad { color: var(--bad); } details.controls .result.good { color: var(--good); }
button.halt { background: var(--bad); } button.reduce { background: var(--warn); } button.resume { background: var(--good); }
form { display: grid; gap: 8px; margin-top: 10px; }
input { font: 14px var(--mono); padding: 6px 8px; border: 1px solid var(--line); border-radius: 4px; }
button { font: 600 14px var(--sans); padding: 7px 12px; border: 0; border-radius: 4px; background: var(--info); color: #fff; }
#history { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px 8px;
  margin-bottom: 12px; }
.switch { display: inline-flex; gap: 2px; margin-left: 6px; }
.switch button { font: 600 11px var(--mono); padding: 1px 7px; border-radius: 4px; background: var(--row);
  color: var(--ink); border: 1px solid var(--line); cursor: pointer; }
.switch button.on { background: var(--info); color: #fff; border-color: var(--info); }
.charts { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 18px; }
figure.chart { margin: 0; min-width: 0; }
figure.chart figcaption { font-size: 13px; font-weight: 600; margin-bottom: 2px; }
figure.chart figcaption small { font-weight: 400; color: var(--muted); }
figure.chart svg { display: block; width: 100%; height: auto; overflow: visible; }
svg .grid { stroke: var(--row); stroke-width: 1; } svg .grid.zero { stroke: #aab4bf; }
svg .tick { stroke: #aab4bf; }
svg text { font: 11px var(--mono); fill: var(--muted); }
svg .ylab { text-anchor: end; }
svg .allow, .sw.allow { fill: var(--good); background: var(--good); }
svg .block, .sw.block { fill: var(--bad); background: var(--bad); }
svg .wait, .sw.wait { fill: var(--rot); background: var(--rot); }
svg .unavailable, .sw.unavailable { fill: var(--warn); background: var(--warn); }
svg .started, .sw.started { fill: var(--info); background: var(--info); }
svg .completed, .sw.completed { fill: var(--good); background: var(--good); }
svg .not-granted, .sw.not-granted { fill: var(--warn); background: var(--warn); }
svg .timed-out, .sw.timed-out { fill: var(--bad); background: var(--bad); }
svg path.holders { fill: none; stroke: var(--ink); stroke-width: 2; }
svg path.desired { fill: none; stroke: var(--info); stroke-width: 2; stroke-dasharray: 5 3; }
svg circle.holders { fill: var(--ink); } svg circle.desired { fill: var(--info); }
.sw.holders { background: var(--ink); height: 3px; } .sw.desired { background: var(--info); height: 3px; }
ul.legend { list-style: none; margin: 2px 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 2px 12px;
  font-size: 12px; color: var(--muted); }
ul.legend b { color: var(--ink); }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: middle; }
@media (max-width: 1000px) { .cards, .columns, .charts { grid-template-columns: minmax(0, 1fr); } }
`;
