// BCD with the model on the parameter servers (`shoal train lr --solver bcd --servers K`,
// algorithms/sharded_bcd) against the dense BCD (`--solver bcd`, w on every rank) on the same
// rows: passes, training seconds, and how many passes / seconds each needs to come within 1e-3
// and 1e-6 (relative) of the optimum, which TRON (--eps 1e-10) gives. Every run is a whole
// `shoal train lr` command; its per-pass objective comes from its progress lines. Each
// configuration runs --repeats times (median of the training seconds); the load average is
// printed beside the table (the machine is shared).
//
//   node dist/bench/lr_sharded_bcd.js [--data a9a|gen] [--repeats 3] [--max-iter 300] [--np 2] [--servers 2]
//        [--rows 20000 --features 20000 --nnz 12 --seed 3] [--no-block-hessian] [--lbfgs]
//
// --data a9a: /work/shared/data/a9a/a9a (skipped if absent). --data gen: `shoal datagen
// --task binary --rows R --features F --nnz Z --seed S` (ids 1..features for the dense runs,
// --id-space 40 for the sharded ones: the same rows). --no-block-hessian leaves out the dense
// block-Hessian BCD (slow with many features), --lbfgs adds the sharded L-BFGS for reference.
// Results: bench/results/lr_sharded_bcd_<data>[_<rows>x<features>].json.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { flag, runTimed } from './lr_common.js';

const CLI = fileURLToPath(new URL('../cli/cli.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const A9A = '/work/shared/data/a9a/a9a';

const data = flag('data', 'a9a');
const repeats = Number(flag('repeats', '3'));
const maxIter = flag('max-iter', '300');
const np = flag('np', '2');
const servers = flag('servers', '2');
const genArgs = ['--rows', flag('rows', '20000'), '--features', flag('features', '20000'), '--nnz', flag('nnz', '12'), '--seed', flag('seed', '3')];
const blockHessian = !process.argv.includes('--no-block-hessian');
const withLbfgs = process.argv.includes('--lbfgs');

interface Trace {
  objective: number;
  passes: number;
  trainSeconds: number;
  stop: string;
  /** Per pass: [pass, objective, seconds]. */
  points: Array<[number, number, number]>;
}

async function shoal(args: string[]): Promise<Trace> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-bcd-'));
  try {
    const out = join(dir, 'm.json');
    const r = await runTimed(process.execPath, [CLI, ...args, '--log-every', '1', '--metrics-out', out]);
    if (r.code !== 0) throw new Error(`shoal ${args.join(' ')} failed: ${r.stderr}`);
    const m = JSON.parse(readFileSync(out, 'utf8')) as { objective: number; iterations: number; train_seconds: number; stop_reason: string };
    const points: Array<[number, number, number]> = [];
    for (const line of r.stdout.split('\n')) {
      const x = /iter\s+(\d+)\s+objective\s+([-\d.e+]+).*?\s([\d.]+)s\s+elapsed/.exec(line);
      if (x) points.push([Number(x[1]), Number(x[2]), Number(x[3])]);
    }
    return { objective: m.objective, passes: m.iterations, trainSeconds: m.train_seconds, stop: m.stop_reason, points };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** First pass (and its seconds) whose objective is within `gap` (relative) of `best`. */
function reach(t: Trace, best: number, gap: number): string {
  const p = t.points.find(([, f]) => (f - best) / Math.abs(best) <= gap);
  return p ? `${p[0]} / ${p[2].toFixed(2)}s` : `not in ${t.passes}`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

let denseFile = A9A;
let shardedFile = A9A;
let tmp: string | null = null;
if (data === 'a9a') {
  if (!existsSync(A9A)) {
    console.log(`${A9A} is absent: nothing to measure`);
    process.exit(0);
  }
} else {
  tmp = mkdtempSync(join(tmpdir(), 'bench-bcd-data-'));
  denseFile = join(tmp, 'dense.svm');
  shardedFile = join(tmp, 'wide.svm');
  const gen = ['datagen', '--task', 'binary', ...genArgs, '-q'];
  for (const [out, extra] of [[denseFile, []], [shardedFile, ['--id-space', '40']]] as const) {
    const r = await runTimed(process.execPath, [CLI, ...gen, ...extra, '--out', out]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  console.log(`data: shoal ${gen.join(' ')} (dense runs), same with --id-space 40 (sharded runs)`);
}

const load0 = loadavg();
const common = ['train', 'lr', '--max-iter', maxIter, '--tol', '1e-9'];
const ref = await shoal(['train', 'lr', '--solver', 'tron', '--eps', '1e-10', '--train', denseFile]);
const runs: Array<{ name: string; args: string[] }> = [
  ...(blockHessian ? [{ name: `dense bcd, block Hessian, np ${np}`, args: [...common, '--solver', 'bcd', '-np', np, '--train', denseFile] }] : []),
  { name: `dense bcd, diagonal, 16 blocks, np ${np}`, args: [...common, '--solver', 'bcd', '--bcd-hessian', 'diagonal', '-np', np, '--train', denseFile] },
  { name: `sharded bcd, 16 blocks, 1 per round, np ${np}, ${servers} servers`, args: [...common, '--solver', 'bcd', '--servers', servers, '-np', np, '--train', shardedFile] },
  { name: `sharded bcd, 16 blocks, 4 per round, np ${np}, ${servers} servers`, args: [...common, '--solver', 'bcd', '--servers', servers, '-np', np, '--bcd-parallel', '4', '--train', shardedFile] },
  ...(withLbfgs ? [{ name: `sharded lbfgs, np ${np}, ${servers} servers (iterations, not passes)`, args: [...common, '--solver', 'lbfgs', '--servers', servers, '-np', np, '--train', shardedFile] }] : []),
];
const table: Array<Record<string, unknown>> = [];
console.log(`optimum (tron --eps 1e-10): ${ref.objective.toFixed(6)}`);
console.log(`\n| run | objective | rel. gap | passes | train s (median of ${repeats}) | to 1e-3: pass / s | to 1e-6: pass / s | stop |`);
console.log('|---|---:|---:|---:|---:|---:|---:|---|');
for (const run of runs) {
  const traces: Trace[] = [];
  for (let i = 0; i < repeats; i++) traces.push(await shoal(run.args));
  const t = traces.find((x) => x.trainSeconds === median(traces.map((y) => y.trainSeconds)))!;
  const gap = (t.objective - ref.objective) / Math.abs(ref.objective);
  const row = { run: run.name, command: `shoal ${run.args.join(' ')}`, objective: t.objective, gap, passes: t.passes, trainSeconds: traces.map((x) => x.trainSeconds), to1e3: reach(t, ref.objective, 1e-3), to1e6: reach(t, ref.objective, 1e-6), stop: t.stop };
  table.push(row);
  console.log(`| ${run.name} | ${t.objective.toFixed(4)} | ${gap.toExponential(1)} | ${t.passes} | ${t.trainSeconds.toFixed(2)} | ${row.to1e3} | ${row.to1e6} | ${t.stop} |`);
}
const load1 = loadavg();
console.log(`\nload average before ${load0.map((l) => l.toFixed(1)).join(' ')}, after ${load1.map((l) => l.toFixed(1)).join(' ')}; ${availableParallelism()} cores`);
for (const r of table) console.log(`  ${r['run']}: ${r['command']}`);
mkdirSync(RESULTS, { recursive: true });
const tag = data === 'a9a' ? 'a9a' : `gen_${flag('rows', '20000')}x${flag('features', '20000')}`;
writeFileSync(join(RESULTS, `lr_sharded_bcd_${tag}.json`), JSON.stringify({ data, optimum: ref.objective, loadBefore: load0, loadAfter: load1, runs: table }, null, 2) + '\n');
if (tmp) rmSync(tmp, { recursive: true, force: true });
