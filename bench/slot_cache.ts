// The SSP client cache's own CPU cost per key (lib/ps/ssp_cache.ts): keyed calls (keys as
// BigUint64Array, hashed to slots) against slot-addressed ones (pullSlots/pushSlots, the
// trainers' local slots), on the same workload over an in-memory table that does nothing: per step a pull, a
// push and a clock of `--keys` random keys out of `--slots`. Process CPU time per key (user +
// system), so the machine's load changes it little; the two kinds alternate, median of --repeat.
//
//   node dist/bench/slot_cache.js [--slots 100000] [--keys 2600] [--steps 400] [--dim 1] [--staleness 2] [--repeat 5]
import { loadavg } from 'node:os';
import { SspClientCache, type CacheableTable } from '../lib/ps/ssp_cache.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const n = flag('slots', 100_000);
const m = flag('keys', 2600);
const steps = flag('steps', 400);
const dim = flag('dim', 1);
const staleness = flag('staleness', 2);
const repeat = flag('repeat', 5);
const table: CacheableTable = {
  name: 'null',
  dim,
  pushFloats: dim,
  pull: async (keys) => new Float32Array(keys.length * dim),
  push: async () => undefined,
};
const slotKeys = BigUint64Array.from({ length: n }, (_, i) => BigInt(i) * 0x9e3779b97f4a7c15n & 0xffff_ffff_ffff_ffffn);
// The same draws for both kinds, made before timing.
let seed = 1;
const lists = Array.from({ length: steps }, () => Uint32Array.from({ length: m }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % n));
const keyLists = lists.map((l) => BigUint64Array.from(l, (s) => slotKeys[s]!));
const values = new Float32Array(m * dim);

async function run(kind: 'keyed' | 'slot'): Promise<number> {
  const cache = new SspClientCache(async () => undefined, { staleness });
  const hashed = cache.table(table);
  const slot = cache.slotTable(table, slotKeys);
  const t0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) {
    if (kind === 'slot') {
      await slot.pullSlots(lists[i]!);
      await slot.pushSlots(lists[i]!, values);
    } else {
      await hashed.pull(keyLists[i]!);
      await hashed.push(keyLists[i]!, values);
    }
    await cache.clock();
  }
  const u = process.cpuUsage(t0);
  return ((u.user + u.system) * 1000) / (steps * m);
}

const times: Record<string, number[]> = { keyed: [], slot: [] };
for (let r = 0; r < repeat; r++) for (const kind of ['keyed', 'slot'] as const) times[kind]!.push(await run(kind));
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
console.log(`SSP cache CPU per key (pull + push + flush), ${m} keys of ${n} per step, dim ${dim}, staleness ${staleness}, ${steps} steps, median of ${repeat}; load ${loadavg()[0]!.toFixed(2)}`);
for (const [k, v] of Object.entries(times)) console.log(`${k.padEnd(7)} ${median(v).toFixed(0).padStart(5)} ns/key   (runs: ${v.map((x) => x.toFixed(0)).join(', ')})`);
console.log(`keyed / slot: ${(median(times['keyed']!) / median(times['slot']!)).toFixed(2)}x`);
