// CPU time of the exact AUC (algorithms/common/auc.ts through metrics.ts' exports): aucLocal and
// binaryMetrics (AUC + log-loss + accuracy, the per-evaluation cost of `shoal train lr` on rank
// 0 at np 1) on random probabilities with ties, median of --repeat runs of each, CPU seconds
// of this process (process.cpuUsage: on a shared machine wall time counts other jobs' time).
//
//   node dist/bench/auc.js [--rows 300000,1000000] [--repeat 5] [--levels 0]
//
// --levels L > 0 rounds the scores to multiples of 1/L (many ties); 0 keeps them continuous.
// The same script on two commits gives before/after (npm run bench:auc).
import { loadavg } from 'node:os';

import { localCollective } from '../algorithms/common/collective.js';
import { aucLocal, binaryMetrics } from '../algorithms/common/metrics.js';
import { Rng } from '../lib/rng.js';

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

const rowCounts = flag('rows', '300000,1000000').split(',').map(Number);
const repeat = Math.max(1, Number(flag('repeat', '5')));
const levels = Number(flag('levels', '0'));

async function cpuSeconds(run: () => unknown): Promise<number> {
  const start = process.cpuUsage();
  await run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; median of ${repeat}; levels ${levels}`);
for (const n of rowCounts) {
  const rng = new Rng(n);
  const probs = Float64Array.from({ length: n }, () => (levels > 0 ? Math.round(rng.next() * levels) / levels : rng.next()));
  const labels = Float32Array.from(probs, (p) => (rng.next() < p ? 1 : 0));
  const local: number[] = [];
  const metrics: number[] = [];
  let value = 0;
  for (let r = 0; r < repeat; r++) {
    local.push(await cpuSeconds(() => (value = aucLocal(probs, labels))));
    metrics.push(await cpuSeconds(() => binaryMetrics(localCollective(), probs, labels)));
  }
  console.log(`rows ${n}: aucLocal ${(median(local) * 1e3).toFixed(1)} ms CPU, binaryMetrics ${(median(metrics) * 1e3).toFixed(1)} ms CPU (auc ${value.toFixed(6)})`);
}
