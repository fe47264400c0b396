// One worker of the parameter-server benchmark (bench/ps.ts starts it under the launcher).
// argv[2]: JSON { keys, dims: number[], iters, loadKeys }. Rank 0 prints `RES {json}` lines.
import { readFileSync } from 'node:fs';

import { init } from '../lib/index.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as { keys: number; dims: number[]; iters: number; loadKeys: number; ops?: string[] };
const comm = await init();
const { rank, size } = comm;
const ps = comm.ps;

/** Unique random keys, disjoint across workers, unsorted (splitmix64 of a counter). */
function randomKeys(n: number, salt: number): BigUint64Array {
  const out = new BigUint64Array(n);
  let x = BigInt.asUintN(64, BigInt(salt) << 40n);
  for (let i = 0; i < n; i++) {
    x = BigInt.asUintN(64, x + 0x9e3779b97f4a7c15n);
    let z = x;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    out[i] = z ^ (z >> 31n);
  }
  return out;
}

/** CPU seconds a local process has used (Linux /proc: utime + stime, in USER_HZ = 100 ticks). */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// CPU time of every worker and server process, summed: on a loaded host wall-clock
// throughput mostly measures the other tenants, CPU per key measures the code.
const serverPids = ((await ps.stats()) as Array<{ pid: number }>).map((s) => s.pid);
function serversCpuSeconds(): number {
  try {
    return serverPids.reduce((a, pid) => a + procCpuSeconds(pid), 0);
  } catch {
    return Number.NaN;  // servers on other hosts (or no /proc): not measured
  }
}

async function slowest(seconds: number): Promise<number> {
  const t = new Float64Array([seconds]);
  await comm.allReduce(t, { op: 'max' });
  return t[0]!;
}

for (const dim of spec.dims) {
  const table = await ps.table(`bench_d${dim}`, { dim, updater: { type: 'adagrad', lr: 0.01 } });
  const keys = randomKeys(spec.keys, 1000 + rank);
  const grads = new Float32Array(keys.length * dim).fill(0.001);
  const out = new Float32Array(keys.length * dim);
  await table.push(keys, grads); // create the rows: later rounds measure steady state
  await table.pull(keys, out);
  // 'minibatch' (only with --ops minibatch): a trainer's step, pull then push of the same
  // keys, with a different key set each step (4 sets, rows created beforehand): the pull
  // never finds its keys in the client's key cache, the push does. Keys/s and CPU per key
  // count each key once per step (pull + push).
  const sets: BigUint64Array[] = [];
  if (spec.ops?.includes('minibatch')) {
    for (let s = 0; s < 4; s++) {
      sets.push(s === 0 ? keys : randomKeys(spec.keys, 5000 + 16 * rank + s));
      await table.push(sets[s]!, grads);
    }
  }
  let step = 0;
  const minibatch = async (): Promise<void> => {
    const ks = sets[step++ % sets.length]!;
    await table.pull(ks, out);
    await table.push(ks, grads);
  };
  for (const [op, fn] of [
    ['pull', () => table.pull(keys, out)],
    ['push', () => table.push(keys, grads)],
    ['minibatch', minibatch],
  ] as const) {
    if (op === 'minibatch' ? !spec.ops?.includes(op) : spec.ops && !spec.ops.includes(op)) continue;
    await comm.barrier();
    const servers0 = rank === 0 ? serversCpuSeconds() : 0;
    const own0 = ownCpuSeconds();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < spec.iters; i++) await fn();
    const own = new Float64Array([ownCpuSeconds() - own0]);
    const secs = await slowest(Number(process.hrtime.bigint() - t0) / 1e9);
    await comm.allReduce(own, { op: 'sum' });
    const keysPerSec = (size * spec.keys * spec.iters) / secs;
    const bytesPerKey = 8 + dim * 4; // key + values on the wire
    if (rank === 0) {
      const cpuSeconds = own[0]! + serversCpuSeconds() - servers0;
      const cpuNsPerKey = (cpuSeconds * 1e9) / (size * spec.keys * spec.iters);
      console.log(`RES ${JSON.stringify({ op, dim, workers: size, keysPerRequest: spec.keys, iters: spec.iters, seconds: secs, keysPerSec, MBps: (keysPerSec * bytesPerKey) / 1e6, cpuSeconds, cpuNsPerKey })}`);
    }
  }
}

if (spec.loadKeys > 0) {
  // Memory per key: load loadKeys distinct keys at dim 1 (AdaGrad), in batches of 2^20.
  const table = await ps.table('bench_memory', { dim: 1, updater: { type: 'adagrad', lr: 0.01 } });
  const perWorker = Math.ceil(spec.loadKeys / size);
  const batch = 1 << 20;
  for (let done = 0; done < perWorker; done += batch) {
    const n = Math.min(batch, perWorker - done);
    const keys = randomKeys(n, 5_000_000 + rank * 10_000 + done / batch);
    await table.push(keys, new Float32Array(n).fill(0.001));
  }
  await comm.barrier();
  if (rank === 0) {
    const stats = (await ps.stats()) as Array<{ rank: number; tables: Array<{ name: string; keys: number; memoryBytes: number }> }>;
    const rows = stats.map((s) => s.tables.find((t) => t.name === 'bench_memory')!);
    const keys = rows.reduce((a, r) => a + r.keys, 0);
    const bytes = rows.reduce((a, r) => a + r.memoryBytes, 0);
    console.log(`RES ${JSON.stringify({ op: 'memory', dim: 1, storedRows: keys, bytes, bytesPerStoredRow: bytes / keys, perServer: rows })}`);
  }
}
await comm.close();
