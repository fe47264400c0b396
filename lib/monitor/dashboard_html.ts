// The dashboard: one self-contained page (uPlot inlined, no external assets) that follows the
// coordinator's /v1/feed WebSocket and draws processes, time split, charts of every reported
// metric and rate (charts_js.ts, from /api/series), servers, stalls and a timeline of recent
// collectives. The same page with the data embedded (`pageData`) is the static report of
// `--report` and `shoal report` (run_report.ts): it draws once and connects to nothing.
import { CHARTS_JS } from './charts_js.js';
import { uplotAssets } from './uplot_assets.js';

/** What a static report embeds: one run (its final state, stall history) or several runs to overlay. */
export interface PageData {
  title: string;
  runs: Array<{ name: string; summary: Record<string, unknown>; state: object | null; stalls: string[]; series: object[] }>;
}

/** The live dashboard (pageData absent) or a static report of finished runs. */
export function dashboardHtml(pageData?: PageData): string {
  const { js, css } = uplotAssets();
  // JSON inside <script>: "<" escaped so no "</script>" in the data can end the element.
  const data = pageData ? JSON.stringify(pageData).replace(/</g, '\\u003c') : 'null';
  return PAGE.replace('/*UPLOT_CSS*/', () => css).replace('/*UPLOT_JS*/', () => js).replace('/*CHARTS_JS*/', () => CHARTS_JS).replace('/*PAGE_DATA*/', () => data);
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shoal job</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .3em} h2{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff} td,th{padding:3px 9px;border-bottom:1px solid #e4e4e4;text-align:left;font-variant-numeric:tabular-nums}
.dead{color:#b00020;font-weight:600}.waiting{color:#a15c00}.running{color:#137333}
.bar{display:flex;height:12px;width:260px;background:#eee}.bar span{display:block;height:100%}
.c{background:#4c8bf5}.w{background:#f5a623}.b{background:#e8453c}.p{background:#9b59b6}
#stalls div{color:#b00020} svg{background:#fff;border:1px solid #e4e4e4}
small{color:#666} #charts{display:flex;flex-wrap:wrap;gap:12px} .chart{background:#fff;border:1px solid #e4e4e4;padding:4px 8px}
.chart h3{font-size:.95em;margin:.2em 0} .tip{position:absolute;pointer-events:none;background:#fff;border:1px solid #ccc;padding:3px 6px;font-size:12px;z-index:10;white-space:nowrap} #progress{margin:.2em 0 .6em;font-variant-numeric:tabular-nums}
/*UPLOT_CSS*/
</style></head><body>
<h1>Shoal job <small id="status">connecting…</small></h1>
<div id="progress"></div>
<div id="runs"></div>
<h2>Processes</h2><table id="procs"><thead><tr><th>role</th><th>rank</th><th>host</th><th>pid</th><th>state</th><th>heartbeat</th><th>iteration</th><th>time: <span class="c">&nbsp;compute&nbsp;</span> <span class="w">&nbsp;collectives&nbsp;</span> <span class="b">&nbsp;waiting now&nbsp;</span> <span class="p">&nbsp;PS&nbsp;</span></th><th>ops</th><th title="bytes of user buffers passed to finished collectives since the process started">collective MB (total)</th></tr></thead><tbody></tbody></table>
<div id="stalls"></div>
<h2>Events <small id="epoch"></small></h2><div id="events"><small>none yet</small></div>
<h2>Charts <small id="chartControls"></small></h2><div id="charts"></div>
<div id="final"></div>
<div id="serversBox"><h2>Servers</h2><table id="servers"><thead><tr><th>server</th><th>state</th><th>keys</th><th>memory MB</th><th>pulls/s</th><th>pushes/s</th><th>keys/s</th><th>clock min..max</th></tr></thead><tbody></tbody></table></div>
<div id="recent"><h2>Recent collectives <small><a id="trace" href="#">download Chrome trace</a></small></h2><svg id="timeline" width="720" height="140"></svg></div>
<script>/*UPLOT_JS*/</script>
<script>
const PAGE_DATA = /*PAGE_DATA*/;
const token = new URLSearchParams(location.search).get('token') || '';
document.getElementById('trace').href = '/api/trace?token=' + encodeURIComponent(token);
/*CHARTS_JS*/
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
function render(s) {
  const rows = s.processes.filter(p => p.role === 'worker').map(p => {
    const t = p.seconds, all = Math.max(t.wall, 1e-9);
    const cls = p.state.startsWith('dead') ? 'dead' : p.state.startsWith('waiting') ? 'waiting' : 'running';
    const ops = Object.values(p.ops).reduce((a, b) => a + b, 0);
    return '<tr><td>worker</td><td>' + p.rank + '</td><td>' + esc(p.host) + '</td><td>' + p.pid + '</td><td class="' + cls + '">' + esc(p.state) +
      '</td><td>' + (p.lastHeartbeatAgoMs / 1000).toFixed(1) + ' s ago</td><td>' + (p.iteration ?? '') +
      '</td><td><div class="bar"><span class="c" style="width:' + (100 * t.compute / all) + '%"></span><span class="w" style="width:' + (100 * t.collectives / all) +
      '%"></span><span class="b" style="width:' + (100 * t.waiting / all) + '%"></span><span class="p" style="width:' + (100 * t.ps / all) + '%"></span></div></td><td>' + ops + '</td><td>' + (p.bytes / 1e6).toFixed(1) + '</td></tr>';
  });
  document.querySelector('#procs tbody').innerHTML = rows.join('');
  document.querySelector('#servers tbody').innerHTML = s.processes.filter(p => p.role === 'server').map(p => {
    const v = p.server || {};
    return '<tr><td>' + p.rank + '</td><td class="' + (p.state.startsWith('dead') ? 'dead' : 'running') + '">' + esc(p.state) + '</td><td>' + (v.keys ?? '') + '</td><td>' +
      ((v.memoryBytes || 0) / 1e6).toFixed(1) + '</td><td>' + p.rates.pullsPerSec.toFixed(0) + '</td><td>' + p.rates.pushesPerSec.toFixed(0) + '</td><td>' +
      p.rates.keysPerSec.toFixed(0) + '</td><td>' + (v.minClock ?? '') + '..' + (v.maxClock ?? '') + '</td></tr>';
  }).join('');
  // Jobs without parameter servers have no use for the table.
  document.getElementById('serversBox').style.display = s.processes.some(p => p.role === 'server') ? '' : 'none';
  document.getElementById('stalls').innerHTML = s.stalls.map(m => '<div>' + esc(m) + '</div>').join('');
  document.getElementById('epoch').textContent = s.epoch ? '(epoch ' + s.epoch + ': the world was rebuilt ' + s.epoch + ' time' + (s.epoch > 1 ? 's' : '') + ')' : '';
  if (s.events.length) document.getElementById('events').innerHTML = s.events.slice().reverse().map(e => '<div><small>' + new Date(e.t).toLocaleTimeString() + '</small> ' + esc(e.text) + '</div>').join('');
  drawProgress(s);
}
function drawProgress(s) {
  const p = s.progress || {};
  const parts = ['elapsed ' + secs(s.elapsedSeconds)];
  if (p.iteration != null) parts.push('iteration ' + p.iteration + (p.planned != null ? ' of ' + p.planned : ''));
  if (p.etaSeconds != null) parts.push('ETA ' + secs(p.etaSeconds));
  if (s.seriesDropped) parts.push(s.seriesDropped + ' reported values not charted (more than 4096 series, or names over 200 characters)');
  document.getElementById('progress').textContent = parts.join(' · ');
}
/** Seconds as 12.3s, 4m05s or 1h02m (as on the trainers' progress lines). */
function secs(s) {
  if (!(s >= 0)) return '?';
  if (s < 60) return s.toFixed(1) + 's';
  const m = Math.floor(s / 60);
  return m < 60 ? m + 'm' + String(Math.floor(s % 60)).padStart(2, '0') + 's' : Math.floor(m / 60) + 'h' + String(m % 60).padStart(2, '0') + 'm';
}
/** The latest value of every reported name, per rank. */
function finalTable(latest) {
  const ranks = Object.keys(latest || {}); if (!ranks.length) return '';
  const names = [...new Set(ranks.flatMap(r => Object.keys(latest[r])))].sort();
  return '<h2>Final metrics</h2><table><thead><tr><th>rank</th>' + names.map(n => '<th>' + esc(n) + '</th>').join('') + '</tr></thead><tbody>' +
    ranks.map(r => '<tr><td>' + r + '</td>' + names.map(n => '<td>' + (latest[r][n] == null ? '' : fmt(latest[r][n])) + '</td>').join('') + '</tr>').join('') + '</tbody></table>';
}
async function timeline() {
  const r = await fetch('/api/trace?token=' + encodeURIComponent(token)); if (!r.ok) return;
  const ev = (await r.json()).traceEvents.filter(e => e.ph === 'X');
  const svg = document.getElementById('timeline'); if (!ev.length) { svg.innerHTML = ''; return; }
  const t1 = Math.max(...ev.map(e => e.ts + e.dur)), t0 = t1 - 5e6, ranks = [...new Set(ev.map(e => e.tid))].sort((a, b) => a - b);
  const W = 720, rowH = Math.min(24, 130 / ranks.length);
  svg.innerHTML = ev.filter(e => e.ts + e.dur > t0).map(e => {
    const x = 60 + (W - 70) * (Math.max(e.ts, t0) - t0) / 5e6, w = Math.max(1, (W - 70) * Math.min(e.dur, e.ts + e.dur - t0) / 5e6);
    return '<rect x="' + x + '" y="' + (5 + ranks.indexOf(e.tid) * rowH) + '" width="' + w + '" height="' + (rowH - 3) + '" fill="#4c8bf5"><title>' + esc(e.name) + ' ' + (e.dur / 1000).toFixed(2) + ' ms</title></rect>';
  }).join('') + ranks.map((r, i) => '<text x="4" y="' + (5 + i * rowH + rowH * 0.7) + '" font-size="11">rank ' + r + '</text>').join('');
}
function connect() {
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/feed?token=' + encodeURIComponent(token));
  ws.onopen = () => { document.getElementById('status').textContent = 'live'; };
  ws.onmessage = (e) => { const s = JSON.parse(e.data); render(s); loadSeries(s.seriesVersion); };
  ws.onclose = () => { document.getElementById('status').textContent = 'disconnected (job finished?)'; setTimeout(connect, 2000); };
}
let seriesVersion = -1, seriesLoading = false, nextSeriesAt = 0;
/** Fetches the series when they changed; a big job's (about 1 MB) at most every 4x the time the last fetch and draw took. */
async function loadSeries(version) {
  if (version === seriesVersion || seriesLoading || Date.now() < nextSeriesAt) return;
  seriesLoading = true;
  const t0 = performance.now();
  try {
    const r = await fetch('/api/series?token=' + encodeURIComponent(token));
    if (r.ok) { const body = await r.json(); seriesVersion = version; setRuns([{ name: 'this job', series: body.series }]); }
  } finally { seriesLoading = false; nextSeriesAt = Date.now() + 4 * (performance.now() - t0); }
}
/** A finished run (or several): draw once from the embedded data. */
function showStatic(d) {
  document.title = d.title;
  document.querySelector('h1').firstChild.textContent = d.title + ' ';
  document.getElementById('recent').remove();
  const one = d.runs.length === 1 ? d.runs[0] : null;
  document.getElementById('status').textContent = one ? String(one.summary.result || '') : d.runs.length + ' runs';
  if (one && one.state) {
    // The job is over: an ETA from its last heartbeat would mislead.
    render(Object.assign({}, one.state, { stalls: one.stalls, progress: Object.assign({}, one.state.progress, { etaSeconds: null }) }));
    document.getElementById('final').innerHTML = finalTable(one.state.latest);
  } else {
    document.getElementById('serversBox').remove();
    document.getElementById('procs').previousElementSibling.remove(); document.getElementById('procs').remove();
    document.getElementById('events').previousElementSibling.remove(); document.getElementById('events').remove();
    document.getElementById('runs').innerHTML = '<table><thead><tr><th>run</th><th>result</th><th>elapsed</th><th>final values (rank 0)</th></tr></thead><tbody>' + d.runs.map(r =>
      '<tr><td>' + esc(r.name) + '</td><td>' + esc(r.summary.result || '') + '</td><td>' + secs(r.summary.elapsedSeconds) + '</td><td>' +
      esc(Object.entries((r.state && r.state.latest && (r.state.latest['0'] || Object.values(r.state.latest)[0])) || {}).map(([k, v]) => k + ' ' + fmt(v)).join(', ')) + '</td></tr>').join('') + '</tbody></table>';
  }
  setRuns(d.runs);
}
document.getElementById('chartControls').innerHTML = chartControls(); bindChartControls();
if (PAGE_DATA) showStatic(PAGE_DATA);
else { connect(); setInterval(timeline, 2000); }
</script></body></html>`;
