// FM solvers on MovieLens 100k u1 (the shared data set; skipped when absent): AdaGrad (PS),
// ALS and MCMC (collectives), regression (RMSE, k = 8, each solver's defaults) and the binary
// split (rating >= 4, AUC). MCMC also runs at np 1, 2 and 4 to show the same RMSE for each.
// Each case is a fresh `shoal train fm` job. Prints a table: `s/iter` is rank 0's training time
// per iteration (epoch for AdaGrad) without test evaluation; `cpu s/iter` its CPU time (the
// machine is shared, wall time includes waiting for a core); `allReduces/iter` the
// synchronisation points of an ALS / MCMC iteration; `load` the 1-minute load average at the
// case's start; `wall s` the whole job.
//
// `--binary-sets` instead compares MCMC with AdaGrad (each with its defaults, np 2) on every
// binary set found under --shared: MovieLens u1 (rating >= 4), a9a, agaricus, one job per seed
// of --seeds, and prints each AUC and the median per set and solver.
//
//   node dist/bench/fm_solvers.js [--data DIR] [--only mcmc,als,adagrad] [--np-list 1,2,4] [--seed S]
//   node dist/bench/fm_solvers.js --binary-sets [--shared DIR] [--seeds 1,2,3] [--only mcmc,adagrad]
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { main as fmMain } from '../cli/trainers/fm_cli.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? String(process.argv[i + 1]) : fallback;
}

interface Row {
  solver: string;
  task: string;
  np: number;
  metric: string;
  value: number;
  iterations: number;
  secondsPerIteration: number;
  cpuPerIteration: number | null;
  allReducePerIteration: number | null;
  /** How many allReduces an iteration makes (ALS / MCMC). */
  allReduceCount: number | null;
  /** The 1-minute load average when the case started (the machine is shared). */
  load: number;
  trainSeconds: number;
  wallSeconds: number;
}

interface DataSet {
  name: string;
  train: string;
  test: string;
  /** Binary label threshold (MovieLens ratings); none: label > 0. */
  threshold?: string;
}

async function runCase(solver: string, task: 'regression' | 'binary', np: number, dir: string, set: DataSet, seed: string): Promise<Row> {
  const metricsOut = join(dir, `${solver}_${task}_${np}.json`);
  const args = ['--train', set.train, '--test', set.test, '--solver', solver, '-np', String(np), '--seed', seed, '--metrics-out', metricsOut, '--quiet'];
  if (task === 'binary') args.push('--task', 'binary', ...(set.threshold ? ['--label-threshold', set.threshold] : []));
  const load = loadavg()[0]!;
  const t0 = performance.now();
  const code = await fmMain(args);
  const wallSeconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`fm ${solver} ${task} np ${np}: exit code ${code}`);
  const m = JSON.parse(readFileSync(metricsOut, 'utf8')) as Record<string, number>;
  const iterations = m['iterations'] ?? m['epochs']!;
  const metric = task === 'binary' ? 'auc' : 'rmse';
  return {
    solver,
    task,
    np,
    metric,
    value: m[metric]!,
    iterations,
    secondsPerIteration: m['seconds_per_iteration'] ?? m['train_seconds']! / iterations,
    cpuPerIteration: m['cpu_seconds_per_iteration'] ?? null,
    allReducePerIteration: m['allreduce_seconds_per_iteration'] ?? null,
    allReduceCount: m['allreduces_per_iteration'] ?? null,
    load,
    trainSeconds: m['train_seconds']!,
    wallSeconds,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** MCMC vs AdaGrad AUC on every binary set present, one job per seed. */
async function binarySets(): Promise<void> {
  const shared = option('shared', '/work/shared/data');
  const seeds = option('seeds', '1,2,3').split(',');
  const only = option('only', 'mcmc,adagrad').split(',');
  const sets: DataSet[] = [
    { name: 'movielens-u1 (rating >= 4)', train: join(shared, 'movielens100k/u1.base.libfm'), test: join(shared, 'movielens100k/u1.test.libfm'), threshold: '4' },
    { name: 'a9a', train: join(shared, 'a9a/a9a'), test: join(shared, 'a9a/a9a.t') },
    { name: 'agaricus', train: join(shared, 'agaricus/agaricus.txt.train'), test: join(shared, 'agaricus/agaricus.txt.test') },
  ].filter((s) => existsSync(s.train) && existsSync(s.test));
  const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-fm-'));
  const lines: string[] = [];
  try {
    for (const set of sets) {
      for (const solver of only) {
        const aucs: number[] = [];
        for (const seed of seeds) {
          const r = await runCase(solver, 'binary', 2, dir, set, seed);
          aucs.push(r.value);
          console.log(`${set.name} ${solver} seed ${seed}: auc ${r.value.toFixed(4)} (${r.secondsPerIteration.toFixed(3)} s/iter)`);
        }
        lines.push(`| ${set.name} | ${solver} | ${aucs.map((a) => a.toFixed(4)).join(', ')} | ${median(aucs).toFixed(4)} |`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n| data | solver | AUC per seed (${seeds.join(', ')}) | median |`);
  console.log('|---|---|---|---|');
  for (const l of lines) console.log(l);
}

async function main(): Promise<void> {
  if (process.argv.includes('--binary-sets')) return binarySets();
  const data = option('data', '/work/shared/data/movielens100k');
  const u1: DataSet = { name: 'u1', train: join(data, 'u1.base.libfm'), test: join(data, 'u1.test.libfm'), threshold: '4' };
  if (!existsSync(join(data, 'u1.base.libfm'))) {
    console.log(`fm_solvers: ${data}/u1.base.libfm not found; nothing to run`);
    return;
  }
  const only = option('only', 'mcmc,als,adagrad').split(',');
  const npList = option('np-list', '1,2,4').split(',').map(Number);
  const seed = option('seed', '1');
  const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-fm-'));
  const rows: Row[] = [];
  try {
    const cases: [string, 'regression' | 'binary', number][] = [];
    if (only.includes('mcmc')) for (const np of npList) cases.push(['mcmc', 'regression', np]);
    if (only.includes('als')) cases.push(['als', 'regression', 2]);
    if (only.includes('adagrad')) cases.push(['adagrad', 'regression', 2]);
    for (const solver of ['mcmc', 'als', 'adagrad']) if (only.includes(solver)) cases.push([solver, 'binary', 2]);
    for (const [solver, task, np] of cases) {
      const r = await runCase(solver, task, np, dir, u1, seed);
      rows.push(r);
      console.log(`${solver} ${task} np ${np}: ${r.metric} ${r.value.toFixed(4)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\n| solver | task | np | metric | iterations | s/iter | cpu s/iter (rank 0) | allReduce s/iter (rank 0) | allReduces/iter | load | train s | wall s |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const cpu = r.cpuPerIteration === null ? '-' : r.cpuPerIteration.toFixed(3);
    const ar = r.allReducePerIteration === null ? '-' : r.allReducePerIteration.toFixed(3);
    console.log(`| ${r.solver} | ${r.task} | ${r.np} | ${r.metric} ${r.value.toFixed(4)} | ${r.iterations} | ${r.secondsPerIteration.toFixed(3)} | ${cpu} | ${ar} | ${r.allReduceCount ?? '-'} | ${r.load.toFixed(1)} | ${r.trainSeconds.toFixed(2)} | ${r.wallSeconds.toFixed(1)} |`);
  }
}

await main();
