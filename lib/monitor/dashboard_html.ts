// The dashboard: one self-contained page (no build step, no external assets) that follows
// the coordinator's /v1/feed WebSocket and draws processes, time split, training curve,
// servers, stalls and a timeline of recent collectives.
export const DASHBOARD_HTML = `<!doctype html>
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
small{color:#666}
</style></head><body>
<h1>Shoal job <small id="status">connecting…</small></h1>
<h2>Processes</h2><table id="procs"><thead><tr><th>role</th><th>rank</th><th>host</th><th>pid</th><th>state</th><th>heartbeat</th><th>iteration</th><th>time: <span class="c">&nbsp;compute&nbsp;</span> <span class="w">&nbsp;collectives&nbsp;</span> <span class="b">&nbsp;waiting now&nbsp;</span> <span class="p">&nbsp;PS&nbsp;</span></th><th>ops</th><th title="bytes of user buffers passed to finished collectives since the process started">collective MB (total)</th></tr></thead><tbody></tbody></table>
<div id="stalls"></div>
<h2>Events <small id="epoch"></small></h2><div id="events"><small>none yet</small></div>
<h2>Training curve <small id="metricName"></small></h2><svg id="curve" width="720" height="240"></svg>
<h2>Servers</h2><table id="servers"><thead><tr><th>server</th><th>state</th><th>keys</th><th>memory MB</th><th>pulls/s</th><th>pushes/s</th><th>keys/s</th><th>clock min..max</th></tr></thead><tbody></tbody></table>
<h2>Recent collectives <small><a id="trace" href="#">download Chrome trace</a></small></h2><svg id="timeline" width="720" height="140"></svg>
<script>
const token = new URLSearchParams(location.search).get('token') || '';
document.getElementById('trace').href = '/api/trace?token=' + encodeURIComponent(token);
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
  document.getElementById('stalls').innerHTML = s.stalls.map(m => '<div>' + esc(m) + '</div>').join('');
  document.getElementById('epoch').textContent = s.epoch ? '(epoch ' + s.epoch + ': the world was rebuilt ' + s.epoch + ' time' + (s.epoch > 1 ? 's' : '') + ')' : '';
  if (s.events.length) document.getElementById('events').innerHTML = s.events.slice().reverse().map(e => '<div><small>' + new Date(e.t).toLocaleTimeString() + '</small> ' + esc(e.text) + '</div>').join('');
  drawCurve(s.reports);
}
function drawCurve(reports) {
  const svg = document.getElementById('curve');
  const names = new Set(); reports.forEach(r => Object.keys(r.values).forEach(k => names.add(k)));
  const metric = ['loss', 'objective', 'auc', 'rmse'].find(n => names.has(n)) || [...names].find(n => n !== 'iteration');
  document.getElementById('metricName').textContent = metric ? '(' + metric + ')' : '(nothing reported yet: comm.report({iteration, loss}))';
  if (!metric) { svg.innerHTML = ''; return; }
  const pts = reports.filter(r => typeof r.values[metric] === 'number').map((r, i) => [r.values.iteration ?? i, r.values[metric]]);
  if (!pts.length) return;
  const xs = pts.map(p => p[0]), ys = pts.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || 1, y0 = Math.min(...ys), y1 = Math.max(...ys);
  const W = 720, H = 240, m = 40;
  const sx = x => m + (W - 2 * m) * (x - x0) / ((x1 - x0) || 1), sy = y => H - m + -(H - 2 * m) * (y - y0) / ((y1 - y0) || 1);
  svg.innerHTML = '<polyline fill="none" stroke="#4c8bf5" stroke-width="2" points="' + pts.map(p => sx(p[0]) + ',' + sy(p[1])).join(' ') + '"/>' +
    '<text x="4" y="' + (m - 8) + '" font-size="11">' + y1.toPrecision(6) + '</text><text x="4" y="' + (H - m + 14) + '" font-size="11">' + y0.toPrecision(6) + '</text>' +
    '<text x="' + (W - m) + '" y="' + (H - 8) + '" font-size="11">' + x1 + '</text>';
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
  ws.onmessage = (e) => { render(JSON.parse(e.data)); };
  ws.onclose = () => { document.getElementById('status').textContent = 'disconnected (job finished?)'; setTimeout(connect, 2000); };
}
connect(); setInterval(timeline, 2000);
</script></body></html>`;
