// CPU ns per key of the shard store's steady-state pull and push (existing rows, no growth),
// measured with process.cpuUsage over repeated calls: on a shared host CPU time per key
// varies far less than wall time. Rows as in the cluster benchmark's servers: 2*10^6 keys
// at dim 1 (bench:ps's two workers' keys on one server with replication 2), 2*10^5 at dim 16
// (--dim16-keys 2e6 for bench:ps's case at dim 16, a table well beyond the caches).
// --addon PATH measures another build's addon (a baseline's build/Release/shoal_native.node)
// with this same driver. Each op runs with the keys in random order and in the order of the
// table's slots, which the PS client sends keys a table already holds in (KeyGrouper's store
// order, here from the HashRing binding with one server).
//   node dist/bench/ps_store_cpu.js [--reps 9] [--dim16-keys 2e6] [--addon PATH]   (prints the median of reps rounds)
import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

import { native as ownNative } from '../lib/native.js';

interface PsStore {
  pull(keys: BigUint64Array): Float32Array;
  push(keys: BigUint64Array, values: Float32Array): void;
}
const a = process.argv.indexOf('--addon');
const native: unknown = a >= 0 ? createRequire(import.meta.url)(resolve(process.argv[a + 1]!)) : ownNative;
const PsStore = (native as { PsStore: new (cfg: object) => PsStore }).PsStore;
const HashRing = (ownNative as unknown as {
  HashRing: new () => { addServer(id: number): void; group(keys: BigUint64Array, storeOrder: boolean): { shares: BigUint64Array[] } };
}).HashRing;
const ring = new HashRing();
ring.addServer(0);
const i = process.argv.indexOf('--reps');
const reps = i >= 0 ? Number(process.argv[i + 1]) : 9;
const j = process.argv.indexOf('--dim16-keys');
const dim16Keys = j >= 0 ? Math.round(Number(process.argv[j + 1])) : 200_000;

function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

for (const [dim, n] of [
  [1, 2_000_000],
  [16, dim16Keys],
] as const) {
  const store = new PsStore({ dim, updater: { type: 'adagrad', lr: 0.05 }, init: { type: 'zeros' } });
  const keys = new BigUint64Array(n);
  randomFillSync(keys);
  const batch = 87_000;  // about one ~1 MiB client message at dim 1
  const grads = new Float32Array(batch * dim).fill(0.001);
  const inSlotOrder = ring.group(keys, true).shares[0]!;
  const call = (op: 'pull' | 'push', order: BigUint64Array) => {
    for (let off = 0; off < n; off += batch) {
      const k = order.subarray(off, Math.min(n, off + batch));
      if (op === 'push') store.push(k, grads.subarray(0, k.length * dim));
      else store.pull(k);
    }
  };
  call('push', keys);
  for (const op of ['pull', 'push'] as const) {
    for (const [name, order] of [['random', keys], ['slot', inSlotOrder]] as const) {
      const per: number[] = [];
      for (let r = 0; r < reps; r++) {
        const c0 = cpuNs();
        call(op, order);
        per.push((cpuNs() - c0) / n);
      }
      per.sort((a, b) => a - b);
      console.log(`store ${op} dim ${dim}, keys in ${name} order: ${per[per.length >> 1]!.toFixed(1)} CPU ns/key (median of ${reps}; range ${per[0]!.toFixed(1)}-${per[per.length - 1]!.toFixed(1)})`);
    }
  }
}
