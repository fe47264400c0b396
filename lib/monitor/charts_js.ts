// The charts of the dashboard and of the reports (browser JS, run after uPlot's script): one
// uPlot chart per metric, from series in the SeriesStore shape (lib/monitor/series_store.ts)
// grouped by run. Each line is one rank of one run (joined on x, so ranks never zig-zag into
// each other) or, aggregated, one run (mean of the ranks; sum for rates). The legend shows the
// values under the cursor. window.shoalCharts describes what is drawn (metric -> series and
// points per line): the browser test reads it.
export const CHARTS_JS = `
window.shoalCharts = {};
const chartState = { mode: 'rank', log: false, runs: [], plots: {} };
const isRate = (metric) => /\\/s$/.test(metric);
const fmt = (v) => v == null ? '' : Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : +v.toPrecision(5) + '';
/** [x[], y[]] sorted by x, the last value kept for a repeated x (a rank that rolled back re-reports iterations). */
function sortedXY(xs, ys) {
  const m = new Map(); xs.forEach((x, i) => m.set(x, ys[i]));
  const keys = [...m.keys()].sort((a, b) => a - b);
  return [keys, keys.map(k => m.get(k))];
}
/** The lines of one metric: per rank, or one per run and role (seconds are binned to whole seconds to line ranks up). */
function linesOf(metric) {
  const lines = [], many = chartState.runs.length > 1;
  for (const run of chartState.runs) {
    const list = run.series.filter(s => s.metric === metric);
    if (chartState.mode === 'rank') {
      for (const s of list) {
        // Downsampled points (n > 1) keep their bucket's min and max: the tooltip shows them.
        const buckets = new Map(); s.x.forEach((x, i) => { if (s.n[i] > 1) buckets.set(x, [s.lo[i], s.hi[i], s.n[i]]); });
        lines.push({ label: (many ? run.name + ' ' : '') + (s.role === 'server' ? 'server ' : 'rank ') + s.rank, xy: sortedXY(s.x, s.y), xKind: s.xKind, buckets });
      }
      continue;
    }
    for (const role of ['worker', 'server']) {
      const mine = list.filter(s => s.role === role); if (!mine.length) continue;
      const acc = new Map();
      for (const s of mine) { const [xs, ys] = sortedXY(s.xKind === 'seconds' ? s.x.map(Math.round) : s.x, s.y); xs.forEach((x, i) => { const a = acc.get(x) || [0, 0]; a[0] += ys[i]; a[1]++; acc.set(x, a); }); }
      const xs = [...acc.keys()].sort((a, b) => a - b);
      const how = isRate(metric) ? 'sum' : 'mean';
      lines.push({ label: (many ? run.name + ' ' : '') + (role === 'server' ? 'servers' : 'ranks') + ' (' + how + ')', xy: [xs, xs.map(x => { const a = acc.get(x); return how === 'sum' ? a[0] : a[0] / a[1]; })], xKind: mine[0].xKind });
    }
  }
  return lines;
}
const PALETTE = ['#4c8bf5', '#e8453c', '#f5a623', '#137333', '#9b59b6', '#00a3a3', '#795548', '#e91e63', '#607d8b', '#8bc34a'];
/** One colour per line label on every chart (a run or rank keeps its colour from chart to chart). */
const colours = new Map();
function colourOf(label) { if (!colours.has(label)) colours.set(label, PALETTE[colours.size % PALETTE.length]); return colours.get(label); }
function drawCharts() {
  const box = document.getElementById('charts');
  const metrics = [...new Set(chartState.runs.flatMap(r => r.series.map(s => s.metric)))].sort((a, b) => rankOf(a) - rankOf(b) || (a < b ? -1 : 1));
  if (!metrics.length) { box.innerHTML = '<small>nothing reported yet: comm.report({ iteration, loss })</small>'; window.shoalCharts = {}; return; }
  const seen = new Set();
  for (const metric of metrics) {
    seen.add(metric);
    const lines = linesOf(metric);
    const data = uPlot.join(lines.map(l => l.xy));
    const key = lines.map(l => l.label).join('|') + '|' + chartState.mode + '|' + chartState.log;
    let p = chartState.plots[metric];
    if (!p || p.key !== key) {
      if (p) { p.u.destroy(); p.el.remove(); }
      const el = document.createElement('div'); el.className = 'chart'; el.dataset.metric = metric;
      el.innerHTML = '<h3>' + esc(metric) + '</h3>';
      box.appendChild(el);
      const xLabel = lines[0].xKind === 'iteration' ? 'iteration' : 'seconds since the job started';
      const opts = {
        width: Math.min(640, Math.max(360, box.clientWidth / 2 - 24)), height: 240,
        scales: { x: { time: false }, y: { distr: chartState.log ? 3 : 1 } },
        axes: [{ label: xLabel }, { label: metric, size: 70, values: (u, vals) => vals.map(fmt) }],
        series: [{ label: lines[0].xKind === 'iteration' ? 'iteration' : 's', value: (u, v) => fmt(v) }].concat(lines.map((l) => ({ label: l.label, stroke: colourOf(l.label), width: 1.5, spanGaps: true, points: { show: l.xy[0].length < 60 }, value: (u, v) => fmt(v) }))),
        legend: { live: true },
        plugins: [tooltip(lines)],
      };
      // Log scale needs positive values: keep the chart linear for a metric that reaches 0 or below.
      if (chartState.log && lines.some(l => l.xy[1].some(v => v <= 0))) opts.scales.y.distr = 1;
      p = { u: new uPlot(opts, data, el), el, key, lines };
      chartState.plots[metric] = p;
    } else { p.lines.splice(0, p.lines.length, ...lines); p.u.setData(data); }
    window.shoalCharts[metric] = { series: lines.length, points: lines.map(l => l.xy[0].length), labels: lines.map(l => l.label), x: [data[0][0], data[0][data[0].length - 1]] };
  }
  for (const metric of Object.keys(chartState.plots)) if (!seen.has(metric)) { chartState.plots[metric].u.destroy(); chartState.plots[metric].el.remove(); delete chartState.plots[metric]; delete window.shoalCharts[metric]; }
}
/** A box by the cursor with x and every line's value there (the legend shows them too, further away). */
function tooltip(lines) {
  let tip;
  return { hooks: {
    init: (u) => { tip = document.createElement('div'); tip.className = 'tip'; tip.style.display = 'none'; u.over.appendChild(tip); },
    setCursor: (u) => {
      const i = u.cursor.idx;
      const rows = [];
      if (i != null) for (let s = 1; s < u.series.length; s++) { const v = u.data[s][i]; if (v == null) continue;
        const b = lines[s - 1].buckets && lines[s - 1].buckets.get(u.data[0][i]);
        rows.push('<span style="color:' + colourOf(u.series[s].label) + '">&#9632;</span> ' + esc(u.series[s].label) + ' ' + fmt(v) + (b ? ' <small>(mean of ' + b[2] + ': ' + fmt(b[0]) + '..' + fmt(b[1]) + ')</small>' : '')); }
      if (!rows.length) { tip.style.display = 'none'; return; }
      tip.innerHTML = '<b>' + esc(u.series[0].label) + ' ' + fmt(u.data[0][i]) + '</b><br>' + rows.join('<br>');
      tip.style.display = 'block';
      const left = u.cursor.left + 12 + tip.offsetWidth > u.over.clientWidth ? u.cursor.left - tip.offsetWidth - 12 : u.cursor.left + 12;
      tip.style.left = Math.max(0, left) + 'px';
      tip.style.top = (u.cursor.top + 12) + 'px';
    },
  } };
}
/** Training metrics first (loss, objective, auc, ...), then the rates. */
function rankOf(metric) { const i = ['loss', 'objective', 'auc', 'rmse'].indexOf(metric); return i >= 0 ? i : isRate(metric) ? 100 : 50; }
function setRuns(runs) { chartState.runs = runs; drawCharts(); }
function chartControls() {
  return '<label><input type="checkbox" id="aggregate"> aggregate ranks</label> <label><input type="checkbox" id="logScale"> log scale</label>';
}
function bindChartControls() {
  document.getElementById('aggregate').onchange = (e) => { chartState.mode = e.target.checked ? 'aggregate' : 'rank'; drawCharts(); };
  document.getElementById('logScale').onchange = (e) => { chartState.log = e.target.checked; drawCharts(); };
}
`;
