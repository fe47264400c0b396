// Sparse allReduce benchmark: the native sparseAllReduce side by side with a dense allReduce of
// the whole key space and the old allGather-based sparse allReduce, in one run per np.
//
//   npm run bench:sparse -- [--np 2,4] [--keys 1000000] [--dim 1] [--densities 0.01,0.1,0.5] [--iters 7]
//                           [--gather-max-pairs 200000]
//
// Each np is one job through the launcher running bench/sparse_worker.js (the methods and the
// timing are described there). Prints a markdown table of median milliseconds per call (the
// slowest rank's time, barrier-fenced) and the ratios dense/sparse and gather/sparse (>1: the
// native sparse op is faster). Exits non-zero if a job fails or the results disagree.
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startJob } from '../lib/launcher.js';

const here = dirname(fileURLToPath(import.meta.url));
const worker = resolve(here, 'sparse_worker.js');

const opts = new Map<string, string>([['--np', '2,4'], ['--keys', '1000000'], ['--dim', '1'], ['--densities', '0.01,0.1,0.5'], ['--iters', '7'], ['--gather-max-pairs', '200000']]);
for (let i = 2; i < process.argv.length; i += 2) {
  const flag = process.argv[i]!;
  if (!opts.has(flag) || process.argv[i + 1] === undefined) {
    console.error(`usage: node dist/bench/sparse.js [--np 2,4] [--keys N] [--dim D] [--densities 0.01,0.1,0.5] [--iters K] [--gather-max-pairs N]`);
    process.exit(2);
  }
  opts.set(flag, process.argv[i + 1]!);
}

interface Row { np: number; density: number; keysPerRank: number; unique: number; method: string; med_ms: number }
const rows: Row[] = [];
let failed = false;
for (const np of opts.get('--np')!.split(',').map(Number)) {
  const workerArgs = ['--keys', '--dim', '--densities', '--iters', '--gather-max-pairs'].flatMap((f) => [f, opts.get(f)!]);
  let done = false;
  const job = startJob({
    np,
    command: [process.execPath, worker, ...workerArgs],
    quiet: true,
    onLine: (rank, stream, line) => {
      if (rank === 0 && stream === 'stdout' && line.startsWith('RES ')) {
        const msg = JSON.parse(line.slice(4)) as Row & { kind: string; check_errors?: number };
        if (msg.kind === 'row') {
          rows.push(msg);
          process.stderr.write(`  np=${np} density=${msg.density} ${msg.method.padEnd(6)} ${msg.med_ms.toFixed(1)} ms\n`);
        } else if (msg.kind === 'done') {
          done = true;
          if (msg.check_errors) {
            failed = true;
            process.stderr.write(`np=${np}: sparse and allGather results disagree at ${msg.check_errors} densities\n`);
          }
        }
      } else {
        process.stderr.write(`[${rank}] ${line}\n`);
      }
    },
  });
  const timer = setTimeout(() => job.interrupt('SIGTERM'), 30 * 60_000);
  const res = await job.result;
  clearTimeout(timer);
  if (!res.ok || !done) {
    failed = true;
    process.stderr.write(`np=${np}: ${res.summary}\n`);
  }
}

const ms = (np: number, density: number, method: string): number | undefined =>
  rows.find((r) => r.np === np && r.density === density && r.method === method)?.med_ms;
console.log(`keys ${opts.get('--keys')}, dim ${opts.get('--dim')}, ${opts.get('--iters')} iterations per point, ${cpus().length} CPUs`);
console.log('| np | density | keys/rank | distinct keys | sparse ms | dense ms | allGather ms | dense/sparse | allGather/sparse |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows.filter((x) => x.method === 'sparse')) {
  const d = ms(r.np, r.density, 'dense');
  const g = ms(r.np, r.density, 'gather');
  const f = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(1));
  const ratio = (v: number | undefined): string => (v === undefined ? '-' : (v / r.med_ms).toFixed(2));
  console.log(`| ${r.np} | ${r.density * 100}% | ${r.keysPerRank} | ${r.unique} | ${f(r.med_ms)} | ${f(d)} | ${f(g)} | ${ratio(d)} | ${ratio(g)} |`);
}
process.exit(failed ? 1 : 0);
