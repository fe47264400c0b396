// The cost of the dashboard's history for a long job: a simulated run of ITERATIONS iterations
// on RANKS ranks, each reporting 3 values per iteration and a metrics message per second, fed
// to a JobView as the coordinator would. Prints the coordinator's time per report, the points
// kept, the size of /api/series and of the --report files. One process, no network.
//   node dist/bench/report.js [--iterations 100000] [--ranks 8]   (npm run bench:report)
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

import { JobView } from '../lib/monitor/job_view.js';
import { writeRunReport } from '../lib/monitor/run_report.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const iterations = arg('--iterations', 100_000);
const ranks = arg('--ranks', 8);
/** Reports per metrics message (one message per second of a 100 iterations/s job). */
const perMessage = 100;

const view = new JobView();
const t0 = view.startedAt;
for (let r = 0; r < ranks; r++) view.joined('worker', r, 'bench', 1000 + r);
const start = performance.now();
for (let i = 1; i <= iterations; i += perMessage) {
  const k = Math.floor(i / perMessage);
  for (let r = 0; r < ranks; r++) {
    const reports = [];
    for (let j = i; j < i + perMessage && j <= iterations; j++) reports.push({ t: t0 + j * 10, values: { iteration: j, planned: iterations, loss: 1 / j + r * 1e-3, auc: 0.5 + j / (4 * iterations), gradNorm: 1 / Math.sqrt(j) } });
    view.update('worker', r, { startedAt: t0, now: t0 + k * 1000, bytes: k * 4e8, psKeys: 0, reports });
  }
}
const addMs = performance.now() - start;
const reportsTotal = iterations * ranks;
const series = view.series.all();
const points = series.reduce((a, s) => a + s.x.length, 0);
const apiBytes = Buffer.byteLength(JSON.stringify({ version: view.series.version, series }));
const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-report-'));
const w0 = performance.now();
writeRunReport(dir, { command: ['bench'], startedAtMs: t0, result: { ok: true, exits: [], summary: 'bench' }, dump: view.dump() });
const writeMs = performance.now() - w0;
const size = (f: string) => statSync(join(dir, f)).size;
console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}`);
console.log(`${iterations} iterations x ${ranks} ranks x 3 values (${reportsTotal} reports, ${reportsTotal * 3} values)`);
console.log(`coordinator: ${((addMs * 1000) / reportsTotal).toFixed(2)} µs per report (${addMs.toFixed(0)} ms in all)`);
console.log(`kept: ${series.length} series, ${points} points (${Math.max(...series.map((s) => s.x.length))} max per series, bucket width ${Math.max(...series.map((s) => s.width))})`);
console.log(`GET /api/series: ${(apiBytes / 1e6).toFixed(2)} MB`);
console.log(`--report: report.html ${(size('report.html') / 1e6).toFixed(2)} MB, series.jsonl ${(size('series.jsonl') / 1e6).toFixed(2)} MB, summary.json ${(size('summary.json') / 1e3).toFixed(1)} kB, written in ${writeMs.toFixed(0)} ms`);
rmSync(dir, { recursive: true, force: true });
