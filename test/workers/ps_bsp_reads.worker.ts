// Rank program of test/multiproc/ps_bsp_reads.test.ts: the request pattern of the FM/FTRL
// workers (pull, compute, push and await it, clock) on an `add` table, so each value counts
// pushes. Worker w adds 1 per step to its own 16 keys (spread over the servers); the pull of
// step c (after c clocks) must see every worker's count >= c (BSP: every push of clocks < c
// applied) and <= c + 1 (nobody is two clocks ahead). argv: steps, consistency ('bsp' | 'asp').
// Prints `RESULT {json}`.
import { init } from '../../lib/index.js';

const steps = Number(process.argv[2] ?? 1000);
const mode = process.argv[3] === 'asp' ? 'asp' : 'bsp';
const comm = await init();
const { rank, size } = comm;
const table = await comm.ps.table('bsp_reads', { dim: 1, updater: { type: 'add' }, consistency: { mode } });
const K = 16;
const keysOf = (w: number): bigint[] => Array.from({ length: K }, (_, j) => BigInt(w * 1000 + j) * 1000003n + 7n);
const all = new BigUint64Array(size * K);
for (let w = 0; w < size; w++) all.set(keysOf(w), w * K);
const mine = BigUint64Array.from(keysOf(rank));
const ones = new Float32Array(K).fill(1);
let stale = 0;
let twoAhead = 0;
// Other workers' keys that already held their push of the reader's own clock: allowed (SSP
// bounds reads from below only), and the reason a BSP run still depends on timing.
let sameClock = 0;
const examples: string[] = [];
let spin = 0;
for (let c = 0; c < steps; c++) {
  const rows = await table.pull(all);
  for (let w = 0; w < size; w++) {
    for (let j = 0; j < K; j++) {
      const v = rows[w * K + j]!;
      if (v < c) {
        stale++;
        if (examples.length < 5) examples.push(`step ${c}: worker ${w} key ${j} = ${v}`);
      }
      if (v > c + 1) twoAhead++;
      if (w !== rank && v === c + 1) sameClock++;
    }
  }
  // CPU work of random length between pull and push, as a gradient step: the ranks drift apart within a clock.
  const n = Math.floor(Math.random() * 20_000);
  for (let i = 0; i < n; i++) spin += Math.sqrt(i);
  await table.push(mine, ones);
  await comm.ps.clock();
}
await comm.barrier();
console.log(`RESULT ${JSON.stringify({ rank, steps, checked: steps * size * K, stale, twoAhead, sameClock, examples, spin: spin > 0 })}`);
await comm.close();
