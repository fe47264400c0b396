// Logistic regression, whole jobs side by side with liblinear (issue 14): Shoal's L2 solvers
// (tron, lbfgs) against `liblinear-train -s 0 -c 1 -e 1e-4`, and its L1 solvers (newton-l1,
// owlqn; L1 weight 1) against `liblinear-train -s 6 -c 1 -e 1e-5`, on a synthetic sparse set
// (`shoal datagen --task binary`, same seed, same bytes) and on a9a when
// /work/shared/data/a9a/a9a is there; Shoal at np 1, 2, 4 (a scaling table), default settings.
//
//   node dist/bench/linear.js [--rows 300000] [--features 100000] [--nnz 20] [--nps 1,2,4] [--no-a9a] [--no-l1]
//                             [--no-l2] [--no-qn] [--repeat 3] [--l1-blocked] [--baseline OTHER/dist/cli/cli.js]
//
// --repeat R runs the whole plan of a set R times in turn (liblinear and every Shoal run side by
// side in each round; every other round in reverse order), and reports per run the median wall time and the median over rounds of
// its ratio to liblinear's time in the same round: on a machine shared with other jobs the
// load changes between rounds, the ratio within a round much less. --no-qn skips lbfgs/owlqn.
// --l1-blocked adds newton-l1 np 2 with `--l1-inner blocked` (the exact blocked inner solve the
// default `local` one replaced) to each round. --baseline adds np 2 (tron, newton-l1) of another
// build, e.g. the previous commit's (`git archive C | tar -x -C DIR`, build there), to each
// round. newton-l1's np 2 runs also print rank 0's time per phase (metrics.json "phases": wall
// and CPU seconds, allReduces, bytes, waiting).
//
// Every run is a whole command timed from spawn to exit (process start, rendezvous, reading
// the file, training, metrics; liblinear: read, train, write the model). Objectives are
// liblinear's (0.5||w||^2 or ||w||_1, + C * sum log-loss): Shoal's from --metrics-out,
// liblinear's computed from its model file with Shoal's objective code, so both are measured
// the same way. "gap" is relative to the lowest objective any run reached for that penalty;
// "x liblinear" is the wall time over liblinear's in the same run. "CPU/np": the job's CPU
// seconds (user + system of every process it waited for, by GNU time) over np, the work each
// core does: on a machine whose cores are busy with other jobs, wall time says more about them.
// A scaling table follows: per Shoal run, the speedup of np N over np 1 in the same round and
// the efficiency per core (speedup / min(np, cores)). Results go to
// bench/results/linear.json with node version, core count and the load average.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { flag, liblinearObjective, runTimed, type Penalty } from './lr_common.js';

const CLI = fileURLToPath(new URL('../cli/cli.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const A9A = '/work/shared/data/a9a/a9a';

const rows = Number(flag('rows', '300000'));
const features = Number(flag('features', '100000'));
const nnz = Number(flag('nnz', '20'));
const nps = flag('nps', '1,2,4').split(',').map(Number);
const withA9a = !process.argv.includes('--no-a9a') && existsSync(A9A);
const withL1 = !process.argv.includes('--no-l1');
const withQn = !process.argv.includes('--no-qn');
const withL2 = !process.argv.includes('--no-l2');
const repeat = Math.max(1, Number(flag('repeat', '1')));
const withBlocked = process.argv.includes('--l1-blocked');
/** Another build's dist/cli/cli.js (e.g. the previous commit's), run at np 2 beside this one in every round. */
const baseline = flag('baseline', '');


interface Row { set: string; penalty: Penalty; run: string; np: number | null; wall: number; cpu: number; objective: number; iterations: number | null; round: number }

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-linear-'));
const synthetic = join(dir, 'binary.svm');
const haveTime = existsSync('/usr/bin/time');

/** runTimed, plus the CPU seconds (user + system) of the command and the children it waited for (GNU time; NaN without it). */
async function run(cmd: string, args: string[]): Promise<Awaited<ReturnType<typeof runTimed>> & { cpu: number }> {
  if (!haveTime) return { ...(await runTimed(cmd, args)), cpu: Number.NaN };
  const out = join(dir, 'cpu.txt');
  const r = await runTimed('/usr/bin/time', ['-f', '%U %S', '-o', out, cmd, ...args]);
  const [user, sys] = readFileSync(out, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
  return { ...r, cpu: user! + sys! };
}
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, ${availableParallelism()} cores, node ${process.version}`);
console.log(`data: shoal datagen --task binary --rows ${rows} --features ${features} --nnz ${nnz} (${synthetic})`);
const gen = await run(process.execPath, [CLI, 'datagen', '--task', 'binary', '--rows', String(rows), '--features', String(features), '--nnz', String(nnz), '--out', synthetic, '-q']);
if (gen.code !== 0) throw new Error(`datagen failed: ${gen.stderr}`);
const haveLiblinear = spawnSync('sh', ['-c', 'command -v liblinear-train']).status === 0;
if (!haveLiblinear) console.log('liblinear-train not installed (apt-get install -y liblinear-tools): Shoal only');

type Phases = Record<string, { seconds: number; cpuSeconds: number; allReduces: number; bytes: number; waitSeconds: number }>;

async function shoalRun(set: string, file: string, penalty: Penalty, solver: string, np: number, extra: string[] = [], cli = CLI): Promise<Row> {
  const metricsOut = join(dir, `${set}-${solver}-${np}.json`);
  const r = await run(process.execPath, [cli, 'train', 'lr', '--solver', solver, ...extra, '--train', file, '-np', String(np), '-q', '--metrics-out', metricsOut]);
  if (r.code !== 0) throw new Error(`shoal train --solver ${solver} ${extra.join(' ')} -np ${np} failed: ${r.stderr}`);
  const m = JSON.parse(readFileSync(metricsOut, 'utf8')) as { objective: number; iterations: number; train_seconds: number; phases?: Phases };
  if (m.phases && np === 2) {
    console.log(`  ${solver} ${extra.join(' ')} np ${np}, rank 0, train ${m.train_seconds.toFixed(2)}s, load ${loadavg()[0]!.toFixed(1)}: phase wall s / cpu s / allReduces / MB / wait s`);
    for (const [name, p] of Object.entries(m.phases)) {
      console.log(`    ${name}: ${p.seconds.toFixed(2)} / ${p.cpuSeconds.toFixed(2)} / ${p.allReduces} / ${(p.bytes / 1e6).toFixed(2)} / ${p.waitSeconds.toFixed(2)}`);
    }
  }
  return { set, penalty, run: `shoal${cli === CLI ? '' : ' (baseline)'} ${solver}${extra.length ? ' ' + extra.join(' ') : ''}`, np, wall: r.seconds, cpu: r.cpu, objective: m.objective, iterations: m.iterations, round: 0 };
}

async function liblinearRun(set: string, file: string, penalty: Penalty, args: string[]): Promise<Row> {
  const model = join(dir, `${set}-${penalty}.liblinear`);
  const r = await run('liblinear-train', [...args, file, model]);
  if (r.code !== 0) throw new Error(`liblinear-train ${args.join(' ')} failed: ${r.stderr}`);
  // -s 6 prints "#iter = N"; -s 0 (TRON) one "iter N act ..." line per Newton iteration.
  const iters = /#iter = (\d+)/.exec(r.stdout) ?? [...r.stdout.matchAll(/^iter +(\d+) act/gm)].at(-1) ?? null;
  return { set, penalty, run: `liblinear ${args.join(' ')}`, np: null, wall: r.seconds, cpu: r.cpu, objective: await liblinearObjective(file, model, penalty), iterations: iters ? Number(iters[1]) : null, round: 0 };
}

const table: Row[] = [];
const sets: Array<[string, string]> = [[`synthetic ${rows}x${features}`, synthetic]];
if (withA9a) sets.push(['a9a', A9A]);
for (const [set, file] of sets) {
  const plan: Array<() => Promise<Row>> = [];
  if (withL2) {
    if (haveLiblinear) plan.push(() => liblinearRun(set, file, 'l2', ['-s', '0', '-c', '1', '-e', '1e-4']));
    for (const np of nps) plan.push(() => shoalRun(set, file, 'l2', 'tron', np));
    if (baseline) plan.push(() => shoalRun(set, file, 'l2', 'tron', 2, [], baseline));
    if (withQn) plan.push(() => shoalRun(set, file, 'l2', 'lbfgs', 2));
  }
  if (withL1) {
    if (haveLiblinear) plan.push(() => liblinearRun(set, file, 'l1', ['-s', '6', '-c', '1', '-e', '1e-5']));
    for (const np of nps) plan.push(() => shoalRun(set, file, 'l1', 'newton-l1', np));
    if (baseline) plan.push(() => shoalRun(set, file, 'l1', 'newton-l1', 2, [], baseline));
    if (withBlocked) plan.push(() => shoalRun(set, file, 'l1', 'newton-l1', 2, ['--l1-inner', 'blocked']));
    if (withQn) plan.push(() => shoalRun(set, file, 'l1', 'owlqn', 2));
  }
  for (let round = 0; round < repeat; round++) {
    console.log(`${set} round ${round + 1}: load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    // Odd rounds run the plan backwards (A B C, C B A, ...): a load that drifts during a round
    // then favours no run in the medians.
    for (const step of round % 2 === 0 ? plan : [...plan].reverse()) {
      const row = { ...(await step()), round };
      table.push(row);
      console.log(`${set} round ${round + 1}: ${row.run}${row.np ? ` np ${row.np}` : ''}: objective ${row.objective.toFixed(6)}, ${row.iterations ?? '-'} iterations, wall ${row.wall.toFixed(2)}s`);
    }
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
console.log(`\nMedians over ${repeat} round(s); "x liblinear" is the median of the per-round ratios. CPU/np: the job's CPU seconds`);
console.log('(every process: launcher, coordinator, ranks) over np; what each core would do on an idle machine.');
console.log('\n| set | penalty | run | np | iterations | objective | gap | wall s (median) | wall s (all rounds) | x liblinear | CPU/np s (median) | CPU/np x liblinear |');
console.log('|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|');
const keys = [...new Set(table.map((r) => `${r.set}|${r.penalty}|${r.run}|${r.np}`))];
for (const key of keys) {
  const runs = table.filter((r) => `${r.set}|${r.penalty}|${r.run}|${r.np}` === key);
  const row = runs[0]!;
  const peers = table.filter((r) => r.set === row.set && r.penalty === row.penalty);
  const best = Math.min(...peers.map((r) => r.objective));
  const worst = Math.max(...runs.map((r) => r.objective));
  const gap = (worst - best) / best;
  const ratios = runs.flatMap((r) => {
    const lib = peers.find((p) => p.np === null && p.round === r.round);
    return lib ? [r.wall / lib.wall] : [];
  });
  const ratio = ratios.length ? median(ratios).toFixed(2) : '-';
  const perCore = (r: Row): number => r.cpu / (r.np ?? 1);
  const cpuRatios = runs.flatMap((r) => {
    const lib = peers.find((p) => p.np === null && p.round === r.round);
    return lib ? [perCore(r) / lib.cpu] : [];
  });
  const cpuRatio = cpuRatios.length ? median(cpuRatios).toFixed(2) : '-';
  console.log(
    `| ${row.set} | ${row.penalty} | ${row.run} | ${row.np ?? '-'} | ${row.iterations ?? '-'} | ${worst.toFixed(4)} | ${gap.toExponential(1)} | ${median(runs.map((r) => r.wall)).toFixed(2)} | ${runs.map((r) => r.wall.toFixed(1)).join(' / ')} | ${ratio} | ${median(runs.map(perCore)).toFixed(2)} | ${cpuRatio} |`,
  );
}
// Scaling: per Shoal run at several np, the speedup over its np 1 run in the same round (median
// over rounds) and the efficiency per core actually there: speedup / min(np, cores). With np
// above the core count the ranks share cores, so efficiency then says what the extra ranks cost.
const cores = availableParallelism();
const scaled = keys.filter((k) => !k.endsWith('|null') && keys.some((o) => o === k.replace(/\|[^|]*$/, '|1')));
if (scaled.length) console.log(`\nScaling (${cores} cores): speedup = np 1 wall / np N wall in the same round (median), efficiency = speedup / min(np, cores)`);
if (scaled.length) console.log('\n| set | penalty | run | np | wall s (median) | speedup vs np 1 | efficiency per core | CPU/np s |\n|---|---|---|---:|---:|---:|---:|---:|');
for (const key of scaled) {
  const runs = table.filter((r) => `${r.set}|${r.penalty}|${r.run}|${r.np}` === key);
  const row = runs[0]!;
  const np = row.np!;
  const base = table.filter((r) => r.set === row.set && r.penalty === row.penalty && r.run === row.run && r.np === 1);
  const speedups = runs.flatMap((r) => base.filter((b) => b.round === r.round).map((b) => b.wall / r.wall));
  const speedup = median(speedups);
  console.log(
    `| ${row.set} | ${row.penalty} | ${row.run} | ${np} | ${median(runs.map((r) => r.wall)).toFixed(2)} | ${speedup.toFixed(2)} | ${(speedup / Math.min(np, cores)).toFixed(2)} | ${median(runs.map((r) => r.cpu / np)).toFixed(2)} |`,
  );
}
console.log(`\nload average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
if (!existsSync(RESULTS)) mkdirSync(RESULTS, { recursive: true });
writeFileSync(join(RESULTS, 'linear.json'), JSON.stringify({ node: process.version, cores: availableParallelism(), load: loadavg(), rows, features, nnz, repeat, table }, null, 2) + '\n');
