// The charts in a real browser: headless Chromium (DevTools protocol on 127.0.0.1) opens a live
// job's dashboard, the job's --report page and a `shoal report` overlay, and reads what uPlot
// drew from window.shoalCharts (lib/monitor/charts_js.ts): series and points per metric. Skips,
// naming the reason, where Chromium is missing or cannot start (CI installs it: .ci/run).
import test, { type ExecutionContext } from 'ava';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { JobView } from '../../lib/monitor/job_view.js';
import { DEFAULT_SERIES_CAPACITY } from '../../lib/monitor/series_store.js';
import { writeOverlayReport, writeRunReport } from '../../lib/monitor/run_report.js';
import { chromiumPath, chromiumUnavailable, pollPage, startChromium, type Browser, type Page } from '../helpers/headless_chrome.js';
import { runRanks } from '../helpers/run_job.js';

type Charts = Record<string, { series: number; points: number[]; labels: string[]; x: [number, number] }>;

const unavailable = chromiumUnavailable();
const required = process.env.SHOAL_REQUIRE_CHROMIUM === '1';
const run = (title: string, impl: (t: ExecutionContext) => Promise<void>): void => {
  if (unavailable !== null && !required) test.serial.skip(`${title} (skipped: ${unavailable})`, impl);
  else test.serial(title, impl);
};

const ITERATIONS = 40;
const CHARTS = 'JSON.stringify(window.shoalCharts || {})';
/** Moves the mouse to the middle of the loss chart; returns the tooltip's display and text. */
const HOVER_LOSS = `(() => {
  const over = document.querySelector('.chart[data-metric="loss"] .u-over');
  const r = over.getBoundingClientRect();
  const at = { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true };
  over.dispatchEvent(new MouseEvent('mouseenter', at));
  over.dispatchEvent(new MouseEvent('mousemove', at));
  return new Promise((done) => requestAnimationFrame(() => { const tip = over.querySelector('.tip'); done(tip.style.display + '|' + tip.textContent); }));
})()`;

async function charts(page: Page, done: (c: Charts) => boolean, timeoutMs: number): Promise<Charts> {
  const text = await pollPage<string>(page, CHARTS, (v) => done(JSON.parse(v) as Charts), timeoutMs);
  return JSON.parse(text) as Charts;
}

/** Ticks "aggregate ranks" and waits for the loss chart to show `series` lines. */
async function aggregate(page: Page, series: number): Promise<Charts> {
  await page.evaluate("document.getElementById('aggregate').click(), true");
  return charts(page, (c) => c['loss']?.series === series, 20_000);
}

run('a live dashboard, the --report page and a shoal report overlay chart every metric per rank and aggregated', async (t) => {
  t.timeout(175_000);
  const dir = mkdtempSync(join(tmpdir(), 'shoal-charts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const release = join(dir, 'release');
  const reportDir = join(dir, 'run-a');
  const browser: Browser = await startChromium(chromiumPath()!);
  t.teardown(() => browser.close());

  const live: { perRank?: Charts; aggregated?: Charts; progress?: string; error?: string } = {};
  let probe: Promise<void> = Promise.resolve();
  const job = runRanks(2, 'workers/charts.worker.js', [], {
    report: reportDir,
    wallTimeoutMs: 150_000,
    env: { CHARTS_RELEASE_FILE: release, CHARTS_ITERATIONS: String(ITERATIONS) },
    onDashboard: (url) => {
      probe = (async () => {
        try {
          const page = await browser.open(url);
          // Every iteration of both ranks is on the charts, and each rank's rate has been derived
          // (from two metrics messages: the ranks keep sending them while they wait for the release).
          live.perRank = await charts(page, (c) => c['loss']?.points.join() === `${ITERATIONS},${ITERATIONS}` && c['collective GB/s']?.series === 2, 120_000);
          live.progress = await page.evaluate<string>("document.getElementById('progress').textContent");
          live.aggregated = await aggregate(page, 1);
          page.close();
        } catch (err) {
          live.error = (err as Error).message;
        } finally {
          writeFileSync(release, '');
        }
      })();
    },
  });
  const { result, output } = await job;
  await probe;
  t.true(result.ok, `${result.summary}\n${output.flat().join('\n')}`);
  t.is(live.error, undefined);

  // Live: one line per rank, every point, axes by iteration; aggregated: one line per metric.
  t.deepEqual(live.perRank?.['loss'], { series: 2, points: [ITERATIONS, ITERATIONS], labels: ['rank 0', 'rank 1'], x: [1, ITERATIONS] });
  t.deepEqual(live.perRank?.['auc']?.points, [ITERATIONS, ITERATIONS]);
  t.is(live.perRank?.['collective GB/s']?.series, 2);
  t.regex(live.progress ?? '', new RegExp(`elapsed .* · iteration ${ITERATIONS} of ${ITERATIONS}`));
  t.deepEqual(live.aggregated?.['loss'], { series: 1, points: [ITERATIONS], labels: ['ranks (mean)'], x: [1, ITERATIONS] });
  t.deepEqual(live.aggregated?.['collective GB/s']?.labels, ['ranks (sum)']);

  // The report the job left: the same charts from the embedded data, and the processes table.
  for (const f of ['report.html', 'series.jsonl', 'summary.json']) t.true(existsSync(join(reportDir, f)), f);
  const summary = JSON.parse(readFileSync(join(reportDir, 'summary.json'), 'utf8')) as { ok: boolean; exits: unknown[] };
  t.true(summary.ok);
  t.is(summary.exits.length, 2);
  const lines = readFileSync(join(reportDir, 'series.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { metric: string; rank: number });
  t.is(lines.filter((l) => l.metric === 'loss').length, 2 * ITERATIONS);
  const report = await browser.open(`file://${join(reportDir, 'report.html')}`);
  const fromReport = await charts(report, (c) => c['loss'] !== undefined, 30_000);
  t.deepEqual(fromReport['loss'], { series: 2, points: [ITERATIONS, ITERATIONS], labels: ['rank 0', 'rank 1'], x: [1, ITERATIONS] });
  t.deepEqual(fromReport['auc']?.points, [ITERATIONS, ITERATIONS]);
  t.is(await report.evaluate<number>("document.querySelectorAll('#procs tbody tr').length"), 2);
  // The cursor in the middle of the loss chart: the tooltip names the iteration and both ranks' values.
  t.regex(await report.evaluate<string>(HOVER_LOSS), /^block\|iteration \d+.*rank 0 [\d.]+.*rank 1 [\d.]+$/);
  report.close();

  // Two runs overlaid: each run's ranks on the same chart, the legend naming the run.
  cpSync(reportDir, join(dir, 'run-b'), { recursive: true });
  const overlayFile = join(dir, 'overlay.html');
  writeOverlayReport([reportDir, join(dir, 'run-b')], overlayFile);
  const overlay = await browser.open(`file://${overlayFile}`);
  const both = await charts(overlay, (c) => c['loss'] !== undefined, 30_000);
  t.deepEqual(both['loss']?.labels, ['run-a rank 0', 'run-a rank 1', 'run-b rank 0', 'run-b rank 1']);
  t.deepEqual(both['loss']?.points, [ITERATIONS, ITERATIONS, ITERATIONS, ITERATIONS]);
  t.deepEqual((await aggregate(overlay, 2))['loss']?.labels, ['run-a ranks (mean)', 'run-b ranks (mean)']);
  overlay.close();
});

run('a long run\'s downsampled history draws from its first iteration to its last, within the capacity, and the tooltip shows a bucket\'s range', async (t) => {
  t.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'shoal-charts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const view = new JobView();
  const now = Date.now();
  view.joined('worker', 0, 'h', 1);
  const iterations = 5000;
  // A heartbeat carries at most 1000 reports: five of them.
  for (let k = 0; k < iterations / 1000; k++) {
    const reports = Array.from({ length: 1000 }, (_, j) => ({ t: now + k * 1000 + j, values: { iteration: k * 1000 + j + 1, loss: 1 / (k * 1000 + j + 1) } }));
    view.update('worker', 0, { startedAt: now, now: now + k * 1000, bytes: 0, psKeys: 0, reports });
  }
  writeRunReport(dir, { command: ['x'], startedAtMs: now, result: { ok: true, exits: [], summary: 'ok' }, dump: view.dump() });
  const browser = await startChromium(chromiumPath()!);
  t.teardown(() => browser.close());
  const page = await browser.open(`file://${join(dir, 'report.html')}`);
  const loss = (await charts(page, (c) => c['loss'] !== undefined, 30_000))['loss']!;
  t.is(loss.series, 1);
  t.true(loss.points[0]! <= DEFAULT_SERIES_CAPACITY && loss.points[0]! >= DEFAULT_SERIES_CAPACITY / 2, `points: ${loss.points[0]}`);
  // The first bucket's mean x is near iteration 1, the last near the end: the start is not lost.
  t.true(loss.x[0] < 10, `first x ${loss.x[0]}`);
  t.true(loss.x[1] > iterations - 10, `last x ${loss.x[1]}`);
  t.regex(await page.evaluate<string>(HOVER_LOSS), /rank 0 [\d.e-]+ \(mean of \d+: [\d.e-]+\.\.[\d.e-]+\)/);
  page.close();
});
