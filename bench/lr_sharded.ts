// The sharded logistic regression (`shoal train lr --servers K`, issue 13) on hashed ids:
// `shoal datagen --task binary --id-space 40` writes ROWS rows over FEATURES planted features
// spread in a 2^40 id space; the same seed without --id-space gives the same rows with ids
// 1..FEATURES ("compacted"), which liblinear trains on (it allocates one weight per id up to
// the largest). Every run is a whole command timed from spawn to exit; memory is the peak RSS
// (VmHWM) of every process of the job (launcher, coordinator, workers, servers), sampled from
// /proc every 100 ms while it runs, summed over the processes for the job total.
//
//   node dist/bench/lr_sharded.js [--rows 400000] [--features 2000000] [--nnz 20] [--nps 1,2,4] [--servers 1,2,4]
//                                 [--solvers tron,lbfgs] [--repeat 1]
//
// Tables: (1) liblinear -s 0 -e 1e-4 vs each shoal solver at np 2 + 2 servers (tron with
// --eps 1e-4, liblinear's rule): objective, wall (median of --repeat runs), whole-job peak RSS,
// and for tron rank 0's own account of where the time went; (2) peak RSS per worker at np 1,
// 2, 4 (2 servers); (3) peak RSS per server with 1, 2, 4 servers (np 2): the model's memory;
// (2) and (3) with the first solver. Results also go to bench/results/lr_sharded.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { flag, liblinearObjective, runTimed } from './lr_common.js';

const CLI = fileURLToPath(new URL('../cli/cli.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));

const rows = Number(flag('rows', '400000'));
const features = Number(flag('features', '2000000'));
const nnz = Number(flag('nnz', '20'));
const nps = flag('nps', '1,2,4').split(',').map(Number);
const serverCounts = flag('servers', '1,2,4').split(',').map(Number);
const solvers = flag('solvers', 'tron,lbfgs').split(',');
const repeat = Number(flag('repeat', '1'));

type Role = 'launcher' | 'coordinator' | 'worker' | 'server' | 'other';
interface Proc { pid: number; role: Role; peakKb: number }

function roleOf(cmdline: string): Role {
  if (cmdline.includes('server_main')) return 'server';
  if (cmdline.includes('lr_main')) return 'worker';
  if (cmdline.includes('coordinator')) return 'coordinator';
  if (cmdline.includes('cli.js')) return 'launcher';
  return 'other';
}

/** Every descendant of `root` (and root) with its peak RSS, updated until stop() is called. */
function watchTree(root: number): { stop(): Proc[] } {
  const seen = new Map<number, Proc>();
  const sample = (): void => {
    const parent = new Map<number, number>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      } catch {
        // gone meanwhile
      }
    }
    const inTree = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) if (p === root) return true;
      return false;
    };
    for (const pid of parent.keys()) {
      if (!inTree(pid)) continue;
      try {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (!hwm) continue;
        const prev = seen.get(pid);
        const role = prev?.role ?? roleOf(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
        seen.set(pid, { pid, role, peakKb: Math.max(prev?.peakKb ?? 0, Number(hwm[1])) });
      } catch {
        // gone meanwhile
      }
    }
  };
  const timer = setInterval(sample, 100);
  sample();
  return {
    stop: () => {
      clearInterval(timer);
      return [...seen.values()];
    },
  };
}

const mb = (kb: number): number => kb / 1024;
const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-lr-sharded-'));
const wide = join(dir, 'wide40.svm');
const compact = join(dir, 'compact.svm');
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, ${availableParallelism()} cores, node ${process.version}`);
const gen = ['datagen', '--task', 'binary', '--rows', String(rows), '--features', String(features), '--nnz', String(nnz), '--seed', '1', '-q'];
console.log(`data: shoal ${gen.join(' ')} --id-space 40 --out ${wide} (and without --id-space: ${compact})`);
for (const [out, extra] of [[wide, ['--id-space', '40']], [compact, []]] as const) {
  const r = await runTimed(process.execPath, [CLI, ...gen, ...extra, '--out', out]);
  if (r.code !== 0) throw new Error(`datagen failed: ${r.stderr}`);
}

interface ShardedRun { solver: string; np: number; servers: number; wall: number; objective: number; iterations: number; keys: number; procs: Proc[]; breakdown: string }

async function sharded(np: number, servers: number, solver = solvers[0]!): Promise<ShardedRun> {
  const metricsOut = join(dir, `m-${solver}-${np}-${servers}.json`);
  let watch: { stop(): Proc[] } | null = null;
  const eps = solver === 'tron' ? ['--eps', '1e-4'] : [];
  // Not -q: rank 0's last line carries tron's time breakdown; --log-every keeps the rest short.
  const args = [CLI, 'train', 'lr', '--solver', solver, ...eps, '--train', wide, '-np', String(np), '--servers', String(servers), '--log-every', '100000', '--metrics-out', metricsOut];
  const r = await runTimed(process.execPath, args, (pid) => (watch = watchTree(pid)));
  const procs = (watch as { stop(): Proc[] } | null)?.stop() ?? [];
  if (r.code !== 0) throw new Error(`shoal train lr --solver ${solver} -np ${np} --servers ${servers} failed: ${r.stderr}`);
  const m = JSON.parse(readFileSync(metricsOut, 'utf8')) as { objective: number; iterations: number; num_features: number };
  const breakdown = /vector programs \((rank 0: [^)]*)\)/.exec(r.stdout)?.[1] ?? '';
  const run = { solver, np, servers, wall: r.seconds, objective: m.objective, iterations: m.iterations, keys: m.num_features, procs, breakdown };
  const total = procs.reduce((s, p) => s + p.peakKb, 0);
  console.log(
    `shoal ${solver} np ${np} servers ${servers}: objective ${m.objective.toFixed(6)}, ${m.iterations} iterations, ${m.num_features} keys, wall ${r.seconds.toFixed(1)}s, ` +
      `peak RSS sum ${mb(total).toFixed(0)} MB, load ${loadavg()[0]!.toFixed(1)}${breakdown ? `; ${breakdown}` : ''}`,
  );
  return run;
}

/** The run with the median wall time of `repeat` runs. */
async function medianRun(np: number, servers: number, solver: string): Promise<ShardedRun & { walls: number[] }> {
  const runs: ShardedRun[] = [];
  for (let i = 0; i < repeat; i++) runs.push(await sharded(np, servers, solver));
  runs.sort((a, b) => a.wall - b.wall);
  return { ...runs[(runs.length - 1) >> 1]!, walls: runs.map((r) => r.wall) };
}

const results: Record<string, unknown> = { rows, features, nnz, node: process.version, cores: availableParallelism(), loadavg: loadavg() };

// (1) liblinear vs np 2 + 2 servers.
let lib: { wall: number; walls: number[]; objective: number; peakMb: number } | null = null;
if (spawnSync('sh', ['-c', 'command -v liblinear-train']).status === 0) {
  const model = join(dir, 'compact.liblinear');
  const walls: number[] = [];
  let peakKb = 0;
  for (let i = 0; i < repeat; i++) {
    let watch: { stop(): Proc[] } | null = null;
    const r = await runTimed('liblinear-train', ['-s', '0', '-c', '1', '-e', '1e-4', compact, model], (pid) => (watch = watchTree(pid)));
    const procs = (watch as { stop(): Proc[] } | null)?.stop() ?? [];
    if (r.code !== 0) throw new Error(`liblinear-train failed: ${r.stderr}`);
    walls.push(r.seconds);
    peakKb = Math.max(peakKb, ...procs.map((p) => p.peakKb));
    console.log(`liblinear-train -s 0 -c 1 -e 1e-4: wall ${r.seconds.toFixed(1)}s, load ${loadavg()[0]!.toFixed(1)}`);
  }
  walls.sort((a, b) => a - b);
  lib = { wall: walls[(walls.length - 1) >> 1]!, walls, objective: await liblinearObjective(compact, model, 'l2'), peakMb: mb(peakKb) };
  console.log(`liblinear-train -s 0 -c 1 -e 1e-4: objective ${lib.objective.toFixed(6)}, median wall ${lib.wall.toFixed(1)}s, peak RSS ${lib.peakMb.toFixed(0)} MB`);
} else {
  console.log('liblinear-train not installed (apt-get install -y liblinear-tools): Shoal only');
}
const heads = [];
for (const solver of solvers) heads.push(await medianRun(2, 2, solver));
const head = heads[0]!;
console.log(`\n| run | objective | rel. to liblinear | wall s (median of ${repeat}) | x liblinear | peak RSS, all processes (MB) | iterations |`);
console.log('|---|---:|---:|---:|---:|---:|---:|');
if (lib) console.log(`| liblinear -s 0 -e 1e-4 (compacted ids) | ${lib.objective.toFixed(4)} | - | ${lib.wall.toFixed(1)} (${lib.walls.map((w) => w.toFixed(1)).join(', ')}) | 1 | ${lib.peakMb.toFixed(0)} | - |`);
for (const h of heads) {
  const total = mb(h.procs.reduce((s, p) => s + p.peakKb, 0));
  console.log(
    `| shoal ${h.solver} np 2, 2 servers (2^40 ids) | ${h.objective.toFixed(4)} | ${lib ? ((h.objective - lib.objective) / lib.objective).toExponential(1) : '-'} | ${h.wall.toFixed(1)} (${h.walls.map((w) => w.toFixed(1)).join(', ')}) | ${lib ? (h.wall / lib.wall).toFixed(2) : '-'} | ${total.toFixed(0)} | ${h.iterations} |`,
  );
}
for (const h of heads) if (h.breakdown) console.log(`${h.solver}: ${h.breakdown}`);
results['headline'] = { liblinear: lib, shoal: heads };

const byRole = (run: ShardedRun, role: Role): number[] => run.procs.filter((p) => p.role === role).map((p) => mb(p.peakKb));
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');

// (2) workers' memory as workers are added.
const workerRuns: ShardedRun[] = [];
for (const np of nps) workerRuns.push(np === 2 ? head : await sharded(np, 2));
console.log(`\n(${head.solver})`);
console.log('\n| np (2 servers) | peak RSS per worker (MB) | per server (MB) | wall s | objective |');
console.log('|---:|---|---|---:|---:|');
for (const r of workerRuns) console.log(`| ${r.np} | ${fmt(byRole(r, 'worker'))} | ${fmt(byRole(r, 'server'))} | ${r.wall.toFixed(1)} | ${r.objective.toFixed(4)} |`);

// (3) the model's memory as servers are added.
const serverRuns: ShardedRun[] = [];
for (const k of serverCounts) serverRuns.push(k === 2 ? head : await sharded(2, k));
console.log(`\n(${head.solver})`);
console.log(`\n| servers (np 2) | peak RSS per server (MB) | sum over servers (MB) | wall s | objective |`);
console.log('|---:|---|---:|---:|---:|');
for (const r of serverRuns) {
  const s = byRole(r, 'server');
  console.log(`| ${r.servers} | ${fmt(s)} | ${s.reduce((a, b) => a + b, 0).toFixed(0)} | ${r.wall.toFixed(1)} | ${r.objective.toFixed(4)} |`);
}
results['workers'] = workerRuns.map((r) => ({ np: r.np, workerMb: byRole(r, 'worker'), serverMb: byRole(r, 'server'), wall: r.wall, objective: r.objective }));
results['servers'] = serverRuns.map((r) => ({ servers: r.servers, serverMb: byRole(r, 'server'), wall: r.wall, objective: r.objective }));
if (!existsSync(RESULTS)) mkdirSync(RESULTS, { recursive: true });
writeFileSync(join(RESULTS, 'lr_sharded.json'), JSON.stringify(results, null, 2) + '\n');
rmSync(dir, { recursive: true, force: true });
