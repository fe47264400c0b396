// What recovery and the model file cost in `shoal train lr --servers K` (issue 13, t13): the
// same run (lbfgs, tron or bcd, np 2, 2 servers, a fixed number of iterations) plain, with
// --max-restarts 1 (every rank keeps the driver's state: one broadcast per iteration), with
// --checkpoint every iteration and every 10th (a PS snapshot generation + checkpoint.bin), and
// the time to write the keyed model (--model-out). Each configuration runs REPEATS times in turn
// (so load changes hit every configuration alike); the table gives the median training ms per
// iteration (the job's train_seconds / iterations; tron: per Newton step, CG steps included)
// and the load average (1 min) at each run's start; with /usr/bin/time, also the whole job's CPU
// time per iteration (less swamped by the other jobs on a shared machine than wall time; it
// includes reading the data, the same in every configuration).
//
//   node dist/bench/lr_sharded_recovery.js [--solver lbfgs|tron|bcd] [--rows 100000] [--features 200000] [--nnz 20]
//     [--iters 30 (tron, bcd: 10)] [--repeats 3] [--every 10 (tron, bcd: 3)] [--configs plain,restarts,ckpt,ckpt10,model (bcd: no model)]
//     [--compare-cli OTHER/dist/cli/cli.js]
// --compare-cli adds a configuration: plain, run by another build's CLI (e.g. the previous
// commit's: `git archive REV | tar -x -C DIR`, link node_modules and build/, `npx tsc`).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { flag, runTimed } from './lr_common.js';

const CLI = fileURLToPath(new URL('../cli/cli.js', import.meta.url));
// Another build's CLI, run plain beside this one's (e.g. the previous commit's build).
const otherCli = flag('compare-cli', '');
const solver = flag('solver', 'lbfgs');
if (solver !== 'lbfgs' && solver !== 'tron' && solver !== 'bcd') throw new Error(`--solver ${solver}: lbfgs, tron or bcd`);
const rows = Number(flag('rows', '100000'));
const features = Number(flag('features', '200000'));
const nnz = Number(flag('nnz', '20'));
const iters = Number(flag('iters', solver === 'lbfgs' ? '30' : '10'));
const repeats = Number(flag('repeats', '3'));
// The sparse checkpoint configuration's interval (tron: 3, as it takes about 10 Newton steps here).
const every = Number(flag('every', solver === 'lbfgs' ? '10' : '3'));
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
// Checkpoints are signed with the job secret.
process.env.SHOAL_TOKEN ??= 'bench-lr-sharded-recovery';

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-lr-sharded-rec-'));
const data = join(dir, 'wide40.svm');
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, ${availableParallelism()} cores, node ${process.version}`);
const gen = ['datagen', '--task', 'binary', '--rows', String(rows), '--features', String(features), '--nnz', String(nnz), '--seed', '1', '--id-space', '40', '-q', '--out', data];
console.log(`data: shoal ${gen.join(' ')}`);
const g = await runTimed(process.execPath, [CLI, ...gen]);
if (g.code !== 0) throw new Error(`datagen failed: ${g.stderr}`);

// Tight stop rules, so every run takes the --max-iter iterations.
const stop = solver === 'tron' ? ['--eps', '1e-12'] : ['--tol', '1e-15'];
const base = ['train', 'lr', '--solver', solver, '--train', data, '-np', '2', '--servers', '2', '--max-iter', String(iters), ...stop];
const ALL_CONFIGS: Record<string, [string, (run: string) => string[]]> = {
  plain: ['plain', () => []],
  restarts: ['--max-restarts 1', () => ['--max-restarts', '1']],
  ckpt: ['--checkpoint (every iteration)', (run) => ['--checkpoint', join(dir, `ckpt-${run}`)]],
  ckpt10: [`--checkpoint --checkpoint-every ${every}`, (run) => ['--checkpoint', join(dir, `ckpt-${run}`), '--checkpoint-every', String(every)]],
  model: ['--model-out', (run) => ['--model-out', join(dir, `model-${run}.json`)]],
};
// BCD writes no model file yet.
const chosen = flag('configs', Object.keys(ALL_CONFIGS).filter((c) => solver !== 'bcd' || c !== 'model').join(',')).split(',');
for (const c of chosen) if (!(c in ALL_CONFIGS)) throw new Error(`--configs: unknown configuration '${c}' (${Object.keys(ALL_CONFIGS).join(', ')})`);
const CONFIGS = Object.fromEntries(chosen.map((c) => ALL_CONFIGS[c]!));
const OTHER = 'plain, the --compare-cli build';
if (otherCli) CONFIGS[OTHER] = () => [];

interface Sample { msPerIter: number; cpuPerIter: number | null; load: number; objective: number; modelSeconds: number | null; modelWeights: number | null; ckptBytes: number | null }
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
    // The whole job's CPU (launcher, ranks, servers: every waited-for descendant) through time(1), when there.
    const cpuFile = join(dir, `cpu-${run}.txt`);
    const cli = name === OTHER ? otherCli : CLI;
    const r = TIME ? await runTimed(TIME, ['-f', '%U %S', '-o', cpuFile, process.execPath, cli, ...args]) : await runTimed(process.execPath, [cli, ...args]);
    if (r.code !== 0) throw new Error(`shoal ${args.join(' ')} failed: ${r.stderr}`);
    const m = JSON.parse(readFileSync(metricsOut, 'utf8')) as { objective: number; iterations: number; train_seconds: number };
    const written = /model .*: (\d+) non-zero weights of \d+ keys, written in ([\d.]+)s/.exec(r.stdout);
    const ckpt = extra(run).includes('--checkpoint') ? duBytes(join(dir, `ckpt-${run}`)) : null;
    const cpu = TIME ? readFileSync(cpuFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number).reduce((a, b) => a + b, 0) : null;
    const cpuPerIter = cpu === null ? null : (1000 * cpu) / m.iterations;
    samples.get(name)!.push({ msPerIter: (1000 * m.train_seconds) / m.iterations, cpuPerIter, load, objective: m.objective, modelSeconds: written ? Number(written[2]) : null, modelWeights: written ? Number(written[1]) : null, ckptBytes: ckpt });
    console.log(`${name} (repeat ${rep + 1}): ${((1000 * m.train_seconds) / m.iterations).toFixed(1)} ms/iteration${cpuPerIter !== null ? ` (job CPU ${cpuPerIter.toFixed(0)} ms/iteration)` : ''}, ${m.iterations} iterations, objective ${m.objective}, load ${load.toFixed(1)}${written ? `, model ${written[1]} weights in ${written[2]}s` : ''}${ckpt !== null ? `, checkpoint dir ${(ckpt / 2 ** 20).toFixed(1)} MiB` : ''}`);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const medianOf = (name: string, pick: (s: Sample) => number | null): number => (samples.has(name) && pick(samples.get(name)![0]!) !== null ? median(samples.get(name)!.map((s) => pick(s)!)) : NaN);
const plain = medianOf('plain', (s) => s.msPerIter);
const plainCpu = medianOf('plain', (s) => s.cpuPerIter);
console.log(`\n| configuration (${solver}, np 2, 2 servers, ${iters} iterations) | ms/iteration (median of ${repeats}) | x plain | job CPU ms/iteration (median) | x plain | load at the runs | other |`);
console.log('|---|---:|---:|---:|---:|---|---|');
for (const [name, ss] of samples) {
  const ms = median(ss.map((s) => s.msPerIter));
  const cpu = medianOf(name, (s) => s.cpuPerIter);
  const other = ss[0]!.modelSeconds !== null ? `model: ${ss[0]!.modelWeights} weights, written in ${median(ss.map((s) => s.modelSeconds!)).toFixed(2)} s (median)` : ss[0]!.ckptBytes !== null ? `checkpoint dir ${(ss[0]!.ckptBytes / 2 ** 20).toFixed(1)} MiB` : '';
  console.log(`| ${name} | ${ms.toFixed(1)} | ${(ms / plain).toFixed(2)} | ${cpu.toFixed(0)} | ${(cpu / plainCpu).toFixed(2)} | ${ss.map((s) => s.load.toFixed(1)).join(', ')} | ${other} |`);
}
rmSync(dir, { recursive: true, force: true });
