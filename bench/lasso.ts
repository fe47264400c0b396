// Lasso schedulers benchmark: `shoal train lasso` with the dependency, random and cyclic
// schedulers on generated correlated sparse data (algorithms/lasso/correlated_data.ts), against
// sklearn's Lasso (fit_intercept=False, tol 1e-12) for the optimum and its fit time. Reports the
// coordinate updates each scheduler needs to get within 1e-3 / 1e-4 of sklearn's objective
// (deterministic per seed; mean over --seeds), the final relative gap, and time; then np 2 with
// 2 servers. Writes a convergence plot (SVG, objective gap vs updates) to --plot.
//
//   node dist/bench/lasso.js [--rows 4000] [--features 600] [--lambda 0.05] [--parallel 8]
//        [--seeds 1,2,3] [--plot docs/lasso_convergence.svg]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toLibsvmText } from '../test/helpers/synthetic.js';
import { correlatedRegression } from '../algorithms/lasso/correlated_data.js';
import type { HistoryPoint } from '../algorithms/lasso/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const rows = Number(arg('rows', '4000'));
const features = Number(arg('features', '600'));
const lambda = Number(arg('lambda', '0.05'));
const parallel = Number(arg('parallel', '8'));
const seeds = arg('seeds', '1,2,3').split(',').map(Number);
const plot = arg('plot', '');
const CLI = fileURLToPath(new URL('../cli/cli.js', import.meta.url));
const SKLEARN = fileURLToPath(new URL('../../test/fixtures/sklearn_lasso.py', import.meta.url));

interface Metrics {
  objective: number;
  updates: number;
  converged: boolean;
  diverged: boolean;
  train_seconds: number;
  history: HistoryPoint[];
}

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-lasso-'));
try {
  const file = join(dir, 'train.svm');
  writeFileSync(file, toLibsvmText(correlatedRegression({ rows, features, seed: 11 }), false));
  const slots = features + 1;
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? '?'} x${cpus().length}; ${rows} rows, ${features} features (groups of 5, corr ~0.9), lambda ${lambda}, ${parallel} coordinates per round`);

  const sk = spawnSync('/usr/bin/python3', [SKLEARN, file, String(slots), String(lambda)], { encoding: 'utf8' });
  if (sk.status !== 0) throw new Error(`sklearn reference failed (apt-get install python3-sklearn):\n${sk.stderr}`);
  const ref = JSON.parse(sk.stdout) as { objective: number; seconds: number; nnz: number };
  console.log(`sklearn Lasso: objective ${ref.objective.toPrecision(12)}, fit ${ref.seconds.toFixed(3)} s, ${ref.nnz} nonzeros`);

  const run = (scheduler: string, seed: number, extra: string[] = []): { m: Metrics; wall: number } => {
    const out = join(dir, `${scheduler}-${seed}-${extra.join('')}.json`);
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [CLI, 'train', 'lasso', '--train', file, '--lambda', String(lambda), '--parallel', String(parallel), '--scheduler', scheduler, '--seed', String(seed), '--max-passes', '300', '--tol', '1e-12', '-q', '--metrics-out', out, ...extra], { encoding: 'utf8' });
    const wall = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`lasso ${scheduler} failed:\n${r.stderr}`);
    return { m: JSON.parse(readFileSync(out, 'utf8')) as Metrics, wall };
  };
  const reach = (h: HistoryPoint[], eps: number): number => h.find((p) => p.objective <= ref.objective * (1 + eps))?.updates ?? Infinity;
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const fmt = (x: number): string => (Number.isFinite(x) ? String(Math.round(x)) : 'never');

  console.log(`\nnp 1 rows: mean over seeds ${seeds.join(',')}`);
  console.log('| scheduler | np | servers | updates to 1e-3 | to 1e-4 | total updates | final rel. gap | train s | wall s |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const curves: Record<string, HistoryPoint[]> = {};
  const to3: Record<string, number> = {};
  for (const scheduler of ['dependency', 'random', 'cyclic']) {
    const runs = seeds.map((s) => run(scheduler, s));
    curves[scheduler] = runs[0]!.m.history;
    to3[scheduler] = mean(runs.map((r) => reach(r.m.history, 1e-3)));
    const gap = mean(runs.map((r) => (r.m.objective - ref.objective) / ref.objective));
    const note = runs.some((r) => r.m.diverged) ? ' (diverged)' : '';
    console.log(`| ${scheduler}${note} | 1 | 0 | ${fmt(to3[scheduler]!)} | ${fmt(mean(runs.map((r) => reach(r.m.history, 1e-4))))} | ${fmt(mean(runs.map((r) => r.m.updates)))} | ${Number.isFinite(gap) ? gap.toExponential(1) : 'inf'} | ${mean(runs.map((r) => r.m.train_seconds)).toFixed(3)} | ${mean(runs.map((r) => r.wall)).toFixed(2)} |`);
  }
  for (const scheduler of ['dependency', 'random']) {
    const { m, wall } = run(scheduler, seeds[0]!, ['-np', '2', '--servers', '2']);
    console.log(`| ${scheduler} (seed ${seeds[0]}) | 2 | 2 | ${fmt(reach(m.history, 1e-3))} | ${fmt(reach(m.history, 1e-4))} | ${m.updates} | ${((m.objective - ref.objective) / ref.objective).toExponential(1)} | ${m.train_seconds.toFixed(3)} | ${wall.toFixed(2)} |`);
  }
  console.log(`| sklearn (coordinate descent, 1 process) | | | | | | 0 | ${ref.seconds.toFixed(3)} | |`);
  console.log(`\ndependency / random updates to 1e-3 (mean over seeds ${seeds.join(',')}): ${(to3['dependency']! / to3['random']!).toFixed(2)}`);
  if (plot) {
    writeFileSync(plot, svgPlot(curves, ref.objective, `Lasso, ${rows} x ${features} correlated, lambda ${lambda}, ${parallel} per round (seed ${seeds[0]})`));
    console.log(`plot: ${plot}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** log10 relative gap vs updates, one polyline per scheduler. */
function svgPlot(curves: Record<string, HistoryPoint[]>, optimum: number, title: string): string {
  const W = 640, H = 400, L = 60, R = 130, T = 30, B = 45;
  const colors: Record<string, string> = { dependency: '#1f77b4', random: '#d62728', cyclic: '#7f7f7f' };
  const maxU = Math.max(...Object.values(curves).flatMap((h) => h.filter((p) => Number.isFinite(p.objective) && p.objective < 10 * optimum).map((p) => p.updates)));
  const lo = -10, hi = 1;
  const x = (u: number): number => L + ((W - L - R) * u) / maxU;
  const y = (gap: number): number => T + ((H - T - B) * (hi - Math.min(hi, Math.max(lo, Math.log10(Math.max(gap, 1e-300)))))) / (hi - lo);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<text x="${W / 2}" y="18" text-anchor="middle">${title}</text>`];
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`);
  for (let e = lo; e <= hi; e += 1) parts.push(`<text x="${L - 6}" y="${y(10 ** e) + 4}" text-anchor="end">1e${e}</text><line x1="${L}" x2="${W - R}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#eee"/>`);
  for (let k = 0; k <= 4; k++) parts.push(`<text x="${x((maxU * k) / 4)}" y="${H - B + 16}" text-anchor="middle">${Math.round((maxU * k) / 4)}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">coordinate updates</text><text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">(objective - sklearn) / sklearn</text>`);
  let row = 0;
  for (const [name, h] of Object.entries(curves)) {
    const pts = h.filter((p) => p.updates <= maxU && Number.isFinite(p.objective)).map((p) => `${x(p.updates).toFixed(1)},${y((p.objective - optimum) / optimum).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${colors[name] ?? 'black'}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
    parts.push(`<text x="${W - R + 10}" y="${T + 20 + 18 * row++}" fill="${colors[name] ?? 'black'}">${name}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
