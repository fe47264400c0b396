// FM solvers on MovieLens 100k u1 (the shared data set; skipped when absent): AdaGrad (PS),
// ALS and MCMC (collectives), regression (RMSE, k = 8, each solver's defaults) and the binary
// split (rating >= 4, AUC). MCMC also runs at np 1, 2 and 4 to show the same RMSE for each.
// Each case is a fresh `shoal train fm` job. Prints a table: `s/iter` is rank 0's training time
// per iteration (epoch for AdaGrad) without test evaluation; `cpu s/iter` its CPU time (the
// machine is shared, wall time includes waiting for a core); `wall s` the whole job.
//
//   node dist/bench/fm_solvers.js [--data DIR] [--only mcmc,als,adagrad] [--np-list 1,2,4] [--seed S]
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  trainSeconds: number;
  wallSeconds: number;
}

async function runCase(solver: string, task: 'regression' | 'binary', np: number, dir: string, data: string, seed: string): Promise<Row> {
  const metricsOut = join(dir, `${solver}_${task}_${np}.json`);
  const args = ['--train', join(data, 'u1.base.libfm'), '--test', join(data, 'u1.test.libfm'), '--solver', solver, '-np', String(np), '--seed', seed, '--metrics-out', metricsOut, '--quiet'];
  if (task === 'binary') args.push('--task', 'binary', '--label-threshold', '4');
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
    trainSeconds: m['train_seconds']!,
    wallSeconds,
  };
}

async function main(): Promise<void> {
  const data = option('data', '/work/shared/data/movielens100k');
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
      const r = await runCase(solver, task, np, dir, data, seed);
      rows.push(r);
      console.log(`${solver} ${task} np ${np}: ${r.metric} ${r.value.toFixed(4)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\n| solver | task | np | metric | iterations | s/iter | cpu s/iter (rank 0) | train s | wall s |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const cpu = r.cpuPerIteration === null ? '-' : r.cpuPerIteration.toFixed(3);
    console.log(`| ${r.solver} | ${r.task} | ${r.np} | ${r.metric} ${r.value.toFixed(4)} | ${r.iterations} | ${r.secondsPerIteration.toFixed(3)} | ${cpu} | ${r.trainSeconds.toFixed(2)} | ${r.wallSeconds.toFixed(1)} |`);
  }
}

await main();
