// newton-l1's native kernels on one rank's share of the issue-14 set (rank 0 of 2: half of
// `shoal datagen --task binary --rows 300000 --features 100000 --nnz 20`), as the local solve
// at np 2 sees them: CPU seconds of one coordinateDescent call of 6 passes over every column
// from w = 0 (binding checks included) and of one columnStats, median of R calls each. CPU
// time, not wall: on the shared 2-core machine wall time is mostly waiting for a core. Run it
// beside another build to compare (`--other OTHER/dist`: the same calls through that build's
// addon, interleaved call by call so both see the same load).
//
//   node dist/bench/l1_kernels.js [--rows 300000] [--features 100000] [--nnz 20] [--repeat 9] [--passes 6] [--other DIR/dist]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { flag, runTimed } from './lr_common.js';

const DIST = fileURLToPath(new URL('..', import.meta.url));
const rows = flag('rows', '300000');
const repeat = Math.max(1, Number(flag('repeat', '9')));
const other = flag('other', '');
const passes = Math.max(1, Number(flag('passes', '6')));

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-l1-kernels-'));
const file = join(dir, 'binary.svm');
const gen = await runTimed(process.execPath, [join(DIST, 'cli/cli.js'), 'datagen', '--task', 'binary', '--rows', rows, '--features', flag('features', '100000'), '--nnz', flag('nnz', '20'), '--out', file, '-q']);
if (gen.code !== 0) throw new Error(`datagen failed: ${gen.stderr}`);

interface Build {
  name: string;
  call: () => { cd: number; stats: number };
}

/** One build's addon on rank 0's half of the file: a closure timing one call of each kernel. */
async function load(name: string, dist: string): Promise<Build> {
  const { native } = (await import(join(dist, 'lib/native.js'))) as typeof import('../lib/native.js');
  const { readLibsvm } = (await import(join(dist, 'lib/data/libsvm.js'))) as typeof import('../lib/data/libsvm.js');
  const { toColumns } = (await import(join(dist, 'algorithms/tron/columns.js'))) as typeof import('../algorithms/tron/columns.js');
  const data = await readLibsvm(file, { rank: 0, size: 2, binaryLabels: true });
  let numFeatures = 0;
  for (const f of data.featureIds) numFeatures = Math.max(numFeatures, f + 1);
  const dim = numFeatures + 1;
  const x = toColumns(data, { dim, numFeatures, bias: true });
  const n = data.numRows;
  const r = new Float64Array(n);
  const D = new Float64Array(n);
  native.linear.rowsLoss(new Float64Array(n), null, 0, data.labels, null, 1, r, D);
  const G = new Float64Array(dim);
  const H = new Float64Array(dim);
  const w = new Float64Array(dim);
  const active = Uint32Array.from({ length: dim }, (_, j) => j);
  const options = { l1: 1, penalized: numFeatures, nu: 1e-12, tol: 0, maxPasses: passes, seed: 1 };
  return {
    name,
    call: () => {
      let c0 = cpu();
      native.linear.columnStats(x.colPtr, x.rowIdx, x.values, r, D, 1e-12, G, H);
      const stats = cpu() - c0;
      c0 = cpu();
      native.linear.coordinateDescent(x.colPtr, x.rowIdx, x.values, D, G, H, w, active, new Float64Array(dim), new Float64Array(n), options);
      return { cd: cpu() - c0, stats };
    },
  };
}

function cpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const builds = [await load('this build', DIST)];
if (other) builds.push(await load(`other (${other})`, other));
const times = builds.map(() => ({ cd: [] as number[], stats: [] as number[] }));
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${repeat} calls per kernel and build, interleaved`);
for (let k = 0; k < repeat; k++) {
  builds.forEach((b, i) => {
    const t = b.call();
    times[i]!.cd.push(t.cd);
    times[i]!.stats.push(t.stats);
  });
}
console.log(`\n| build | coordinateDescent, ${passes} pass(es): CPU s (median) | columnStats: CPU s (median) |\n|---|---:|---:|`);
builds.forEach((b, i) => console.log(`| ${b.name} | ${median(times[i]!.cd).toFixed(3)} | ${median(times[i]!.stats).toFixed(4)} |`));
console.log(`\nload average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
rmSync(dir, { recursive: true, force: true });
