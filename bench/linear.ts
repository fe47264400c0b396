// L-BFGS logistic regression (L2, C = 1) on a synthetic sparse set at np = 1, 2, 4, beside
// liblinear (`liblinear-train -s 0 -c 1 -e 1e-8`, Debian's liblinear-tools) on the same file
// when it is installed: time to reach the optimum within 1e-6 relative, side by side.
//
//   node dist/bench/linear.js [--rows 200000] [--features 100000] [--nnz 20] [--nps 1,2,4] [--max-iter 400]
//
// The data comes from `shoal datagen --task binary` (same seed, same bytes). The optimum F* is
// the lowest objective any run reached (our L-BFGS runs with tol 0, liblinear's model
// evaluated with our objective code); each Shoal run's progress lines (iteration, objective,
// seconds) give the first iteration within 1e-6 of F*. "wall" includes process start,
// rendezvous and reading the file; "train" is the optimizer's own clock. Results also go to
// bench/results/linear.json with node version and core count.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { localCollective } from '../algorithms/common/collective.js';
import { linearLayout } from '../algorithms/common/logistic.js';
import { objective } from '../algorithms/common/metrics.js';
import { readLibsvm } from '../lib/data/libsvm.js';

const CLI = fileURLToPath(new URL('../lib/cli.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
const rows = Number(flag('rows', '200000'));
const features = Number(flag('features', '100000'));
const nnz = Number(flag('nnz', '20'));
const nps = flag('nps', '1,2,4').split(',').map(Number);
const maxIter = Number(flag('max-iter', '400'));
const TARGET = 1e-6;

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (performance.now() - t0) / 1000 }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-linear-'));
const file = join(dir, 'binary.svm');
console.log(`data: shoal datagen --task binary --rows ${rows} --features ${features} --nnz ${nnz} (${file})`);
const gen = await run(process.execPath, [CLI, 'datagen', '--task', 'binary', '--rows', String(rows), '--features', String(features), '--nnz', String(nnz), '--out', file, '-q']);
if (gen.code !== 0) throw new Error(`datagen failed: ${gen.stderr}`);

interface Trace { iteration: number; objective: number; seconds: number }
interface ShoalRun { np: number; wall: number; trace: Trace[]; final: number }
const shoalRuns: ShoalRun[] = [];
for (const np of nps) {
  const r = await run(process.execPath, [CLI, 'train', 'lr', '--solver', 'lbfgs', '--train', file, '-np', String(np), '--tol', '0', '--max-iter', String(maxIter)]);
  if (r.code !== 0) throw new Error(`shoal train -np ${np} failed: ${r.stderr}`);
  const trace: Trace[] = [];
  for (const m of r.stdout.matchAll(/lbfgs iter +(\d+) +objective +([\d.e+-]+) .* ([\d.]+)s$/gm)) {
    trace.push({ iteration: Number(m[1]), objective: Number(m[2]), seconds: Number(m[3]) });
  }
  shoalRuns.push({ np, wall: r.seconds, trace, final: trace.at(-1)?.objective ?? Number.NaN });
  console.log(`shoal np=${np}: ${trace.length - 1} iterations, final objective ${trace.at(-1)?.objective}, wall ${r.seconds.toFixed(2)}s`);
}

let liblinear: { wall: number; objective: number } | null = null;
if (spawnSync('sh', ['-c', 'command -v liblinear-train']).status === 0) {
  const model = join(dir, 'liblinear.model');
  const r = await run('liblinear-train', ['-s', '0', '-c', '1', '-e', '1e-8', file, model]);
  if (r.code === 0) {
    // Model file: header lines, then "w", then one weight per feature id 1..n; weights are for
    // the first label listed, so flip the sign when that label is not the positive one.
    const lines = readFileSync(model, 'utf8').split('\n');
    const labelLine = lines.find((l) => l.startsWith('label ')) ?? 'label 1 -1';
    const first = Number(labelLine.split(/\s+/)[1]);
    const at = lines.indexOf('w');
    const ws = lines.slice(at + 1).filter((l) => l.trim() !== '').map((l) => Number(l.trim()));
    const data = await readLibsvm(file);
    const numFeatures = Math.max(data.maxFeatureId + 1, ws.length + 1);
    const w = new Float64Array(numFeatures);
    ws.forEach((v, j) => (w[j + 1] = first > 0 ? v : -v));
    const f = await objective(localCollective(), data, w, linearLayout(numFeatures, false), 1, { l2: 1, l1: 0 });
    liblinear = { wall: r.seconds, objective: f };
    console.log(`liblinear-train -s 0 -c 1 -e 1e-8: objective ${f}, wall ${r.seconds.toFixed(2)}s`);
  }
} else {
  console.log('liblinear-train not installed (apt-get install -y liblinear-tools): Shoal only');
}

const best = Math.min(...shoalRuns.map((r) => r.final), liblinear?.objective ?? Number.POSITIVE_INFINITY);
console.log(`\noptimum F* = ${best.toFixed(6)}; target: objective <= F* (1 + ${TARGET})\n`);
console.log('| run | iterations to 1e-6 | train s to 1e-6 | wall s (whole run) | final rel. gap |');
console.log('|---|---:|---:|---:|---:|');
const table: Array<Record<string, unknown>> = [];
for (const r of shoalRuns) {
  const hit = r.trace.find((p) => (p.objective - best) / best <= TARGET);
  const row = { run: `shoal lbfgs np=${r.np}`, iterations: hit?.iteration ?? null, trainSeconds: hit?.seconds ?? null, wallSeconds: r.wall, gap: (r.final - best) / best };
  table.push(row);
  console.log(`| ${row.run} | ${row.iterations ?? 'not reached'} | ${row.trainSeconds?.toFixed(2) ?? '-'} | ${r.wall.toFixed(2)} | ${row.gap.toExponential(2)} |`);
}
if (liblinear) {
  const gap = (liblinear.objective - best) / best;
  table.push({ run: 'liblinear -s 0 -e 1e-8', iterations: null, trainSeconds: null, wallSeconds: liblinear.wall, gap });
  console.log(`| liblinear -s 0 -c 1 -e 1e-8 (1 thread) | (TRON) | - | ${liblinear.wall.toFixed(2)} | ${gap.toExponential(2)} |`);
}
if (!existsSync(RESULTS)) mkdirSync(RESULTS, { recursive: true });
writeFileSync(
  join(RESULTS, 'linear.json'),
  JSON.stringify({ node: process.version, cores: availableParallelism(), rows, features, nnz, optimum: best, table }, null, 2) + '\n',
);
