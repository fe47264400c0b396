// One rank of the sparse allReduce benchmark (started by bench/sparse.ts through the launcher).
//
//   sparse_worker.js --keys 1000000 --dim 1 --densities 0.01,0.1,0.5 --iters 7 --gather-max-pairs 200000
//
// For each density, every rank holds density * keys distinct keys drawn from [0, keys) with
// its own seed (so ranks overlap about as much as random gradients do) and float32 rows, and
// runs three ways of summing them, each `iters` timed iterations after one warm-up:
//   sparse   comm.sparseAllReduce (native: hash-range owners, all-to-allv, allGatherv)
//   dense    zero a keys*dim Float32Array, scatter the rows into it, comm.allReduce (sum)
//   gather   the old allGather-based version (bench/sparse_allgather_baseline.ts), only while
//            the job's pairs (density * keys * np) are at most --gather-max-pairs: its JS Map
//            merge blocks the event loop, and past ~4e5 pairs on the loaded 2-core VMs for longer
//            than the coordinator's 10 s heartbeat timeout, so the rank is declared lost
// Each iteration is barrier-fenced and its time is the slowest rank's (allReduce max). Before
// timing, the sparse and gather results are compared (same keys, values within 1e-4 relative)
// where gather runs.
// Rank 0 prints one `RES {json}` line per (density, method) and a final `RES {"kind":"done"}`.
import { performance } from 'node:perf_hooks';

import { Rng } from '../lib/rng.js';
import { init } from '../lib/index.js';
import { sparseAllReduceByAllGather } from './sparse_allgather_baseline.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!, process.argv[i + 1] ?? '');
const keySpace = Number(args.get('--keys') ?? 1e6);
const dim = Number(args.get('--dim') ?? 1);
const densities = (args.get('--densities') ?? '0.01,0.1,0.5').split(',').map(Number);
const iters = Number(args.get('--iters') ?? 7);
const gatherMaxPairs = Number(args.get('--gather-max-pairs') ?? 200000);

const comm = await init();
const { rank, size } = comm;

function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** n distinct keys of [0, keySpace) (partial Fisher-Yates over a shared index table). */
const table = new Uint32Array(keySpace);
function pick(n: number, next: () => number): BigUint64Array {
  for (let i = 0; i < keySpace; i++) table[i] = i;
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(next() * (keySpace - i));
    const t = table[i]!;
    table[i] = table[j]!;
    table[j] = t;
    keys[i] = BigInt(table[i]!);
  }
  return keys;
}

const dense = new Float32Array(keySpace * dim);
const timing = new Float64Array(1);
async function measure(run: () => Promise<unknown>): Promise<number[]> {
  await run();  // warm-up
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    await comm.barrier();
    const t0 = performance.now();
    await run();
    timing[0] = performance.now() - t0;
    await comm.allReduce(timing, { op: 'max' });
    times.push(timing[0]);
  }
  return times.sort((a, b) => a - b);
}

let checkErrors = 0;
for (const density of densities) {
  const next = rng(7919 * (rank + 1) + Math.round(density * 1e6));
  const n = Math.round(density * keySpace);
  const keys = pick(n, next);
  const values = new Float32Array(n * dim);
  for (let i = 0; i < values.length; i++) values[i] = next() - 0.5;
  const indices = new Uint32Array(n);
  for (let i = 0; i < n; i++) indices[i] = Number(keys[i]!);

  const gather = Math.round(density * keySpace) * size <= gatherMaxPairs;
  const a = await comm.sparseAllReduce(keys, values, { dim });
  if (gather) {
    const b = await sparseAllReduceByAllGather(comm, keys, values, dim);
    if (a.keys.length !== b.keys.length || a.keys.some((k, i) => k !== b.keys[i])) checkErrors++;
    else if (a.values.some((v, i) => Math.abs(v - b.values[i]!) > 1e-4 * Math.max(1, Math.abs(v)))) checkErrors++;
  }
  const unique = a.keys.length;

  const methods: Array<[string, () => Promise<unknown>]> = [
    ['sparse', () => comm.sparseAllReduce(keys, values, { dim })],
    ['dense', () => {
      dense.fill(0);
      for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) dense[indices[i]! * dim + k]! += values[i * dim + k]!;
      return comm.allReduce(dense, { op: 'sum' });
    }],
    ...(gather ? [['gather', () => sparseAllReduceByAllGather(comm, keys, values, dim)] as [string, () => Promise<unknown>]] : []),
  ];
  for (const [method, run] of methods) {
    const times = await measure(run);
    if (rank === 0) {
      const med = times[Math.floor(times.length / 2)]!;
      console.log(`RES ${JSON.stringify({ kind: 'row', np: size, keySpace, dim, density, keysPerRank: n, unique, method, iters, med_ms: med, min_ms: times[0], max_ms: times[times.length - 1] })}`);
    }
  }
}
if (rank === 0) console.log(`RES ${JSON.stringify({ kind: 'done', check_errors: checkErrors })}`);
await comm.close();
