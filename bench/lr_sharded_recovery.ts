// What recovery and the model file cost in `shoal train lr --servers K` (issue 13, t13): the
// same run (lbfgs, np 2, 2 servers, a fixed number of iterations) plain, with --max-restarts 1
// (every rank keeps the driver's state: one broadcast per iteration), with --checkpoint every
// iteration and every 10th (a PS snapshot generation + checkpoint.bin), and the time to write the
// keyed model (--model-out). Each configuration runs REPEATS times in turn (so load changes hit
// every configuration alike); the table gives the median training ms per iteration (the job's
// train_seconds / iterations) and the load average (1 min) at each run's start.
//
//   node dist/bench/lr_sharded_recovery.js [--rows 100000] [--features 200000] [--nnz 20] [--iters 30] [--repeats 3]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { flag, runTimed } from './lr_common.js';

const CLI = fileURLToPath(new URL('../cli/cli.js', import.meta.url));
const rows = Number(flag('rows', '100000'));
const features = Number(flag('features', '200000'));
const nnz = Number(flag('nnz', '20'));
const iters = Number(flag('iters', '30'));
const repeats = Number(flag('repeats', '3'));
// Checkpoints are signed with the job secret.
process.env.SHOAL_TOKEN ??= 'bench-lr-sharded-recovery';

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-lr-sharded-rec-'));
const data = join(dir, 'wide40.svm');
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, ${availableParallelism()} cores, node ${process.version}`);
const gen = ['datagen', '--task', 'binary', '--rows', String(rows), '--features', String(features), '--nnz', String(nnz), '--seed', '1', '--id-space', '40', '-q', '--out', data];
console.log(`data: shoal ${gen.join(' ')}`);
const g = await runTimed(process.execPath, [CLI, ...gen]);
if (g.code !== 0) throw new Error(`datagen failed: ${g.stderr}`);

const base = ['train', 'lr', '--solver', 'lbfgs', '--train', data, '-np', '2', '--servers', '2', '--max-iter', String(iters), '--tol', '1e-15'];
const CONFIGS: Record<string, (run: string) => string[]> = {
  plain: () => [],
  '--max-restarts 1': () => ['--max-restarts', '1'],
  '--checkpoint (every iteration)': (run) => ['--checkpoint', join(dir, `ckpt-${run}`)],
  '--checkpoint --checkpoint-every 10': (run) => ['--checkpoint', join(dir, `ckpt-${run}`), '--checkpoint-every', '10'],
  '--model-out': (run) => ['--model-out', join(dir, `model-${run}.json`)],
};

interface Sample { msPerIter: number; load: number; objective: number; modelSeconds: number | null; modelWeights: number | null; ckptBytes: number | null }
const samples = new Map<string, Sample[]>(Object.keys(CONFIGS).map((k) => [k, []]));

function duBytes(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, e) => sum + duBytes(join(path, e)), 0);
}

for (let rep = 0; rep < repeats; rep++) {
  for (const [name, extra] of Object.entries(CONFIGS)) {
    const run = `${rep}-${Object.keys(CONFIGS).indexOf(name)}`;
    const metricsOut = join(dir, `metrics-${run}.json`);
    const load = loadavg()[0]!;
    const args = [...base, ...extra(run), '--metrics-out', metricsOut];
    const r = await runTimed(process.execPath, [CLI, ...args]);
    if (r.code !== 0) throw new Error(`shoal ${args.join(' ')} failed: ${r.stderr}`);
    const m = JSON.parse(readFileSync(metricsOut, 'utf8')) as { objective: number; iterations: number; train_seconds: number };
    const written = /model .*: (\d+) non-zero weights of \d+ keys, written in ([\d.]+)s/.exec(r.stdout);
    const ckpt = extra(run).includes('--checkpoint') ? duBytes(join(dir, `ckpt-${run}`)) : null;
    samples.get(name)!.push({ msPerIter: (1000 * m.train_seconds) / m.iterations, load, objective: m.objective, modelSeconds: written ? Number(written[2]) : null, modelWeights: written ? Number(written[1]) : null, ckptBytes: ckpt });
    console.log(`${name} (repeat ${rep + 1}): ${((1000 * m.train_seconds) / m.iterations).toFixed(1)} ms/iteration, ${m.iterations} iterations, objective ${m.objective}, load ${load.toFixed(1)}${written ? `, model ${written[1]} weights in ${written[2]}s` : ''}${ckpt !== null ? `, checkpoint dir ${(ckpt / 2 ** 20).toFixed(1)} MiB` : ''}`);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const plain = median(samples.get('plain')!.map((s) => s.msPerIter));
console.log(`\n| configuration (np 2, 2 servers, ${iters} iterations) | ms/iteration (median of ${repeats}) | x plain | load at the runs | other |`);
console.log('|---|---:|---:|---|---|');
for (const [name, ss] of samples) {
  const ms = median(ss.map((s) => s.msPerIter));
  const other = ss[0]!.modelSeconds !== null ? `model: ${ss[0]!.modelWeights} weights, written in ${median(ss.map((s) => s.modelSeconds!)).toFixed(2)} s (median)` : ss[0]!.ckptBytes !== null ? `checkpoint dir ${(ss[0]!.ckptBytes / 2 ** 20).toFixed(1)} MiB` : '';
  console.log(`| ${name} | ${ms.toFixed(1)} | ${(ms / plain).toFixed(2)} | ${ss.map((s) => s.load.toFixed(1)).join(', ')} | ${other} |`);
}
rmSync(dir, { recursive: true, force: true });
