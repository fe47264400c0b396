// The `npm start` / `shoal demo` job: every rank all-reduces and broadcasts buffers of
// growing size, checks the results, and rank 0 prints latency and bandwidth per size.
import { init } from '../lib/index.js';

const comm = await init();
const { rank, size } = comm;
const sizes = [8, 4 << 10, 64 << 10, 1 << 20, 16 << 20];
const rows: string[] = [];

async function time(fn: () => Promise<unknown>, iters: number): Promise<number> {
  await comm.barrier();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) await fn();
  const mine = new Float64Array([Number(process.hrtime.bigint() - t0) / 1e3 / iters]);
  await comm.allReduce(mine, { op: 'max' }); // the slowest rank's time is the op's time
  return mine[0]!;
}

if (rank === 0) console.log(`Shoal demo: ${size} ranks on this machine, float32 sum, results checked on every rank`);
for (const bytes of sizes) {
  const n = bytes / 4;
  const buf = new Float32Array(n);
  const iters = bytes <= 64 << 10 ? 200 : bytes <= 1 << 20 ? 30 : 5;
  await comm.allReduce(buf.fill(1)); // warm up: connections, scratch buffers
  const arUs = await time(() => comm.allReduce(buf.fill(rank + 1)), iters);
  const expected = (size * (size + 1)) / 2;
  if (buf[0] !== expected || buf[n - 1] !== expected) throw new Error(`allReduce gave ${buf[0]}, expected ${expected}`);
  const bcUs = await time(() => comm.bcast(buf.fill(rank === 0 ? 42 : 0), 0), iters);
  if (buf[n - 1] !== 42) throw new Error(`bcast gave ${buf[n - 1]}, expected 42`);
  const busBw = ((2 * (size - 1)) / size) * bytes / (arUs * 1e3);
  rows.push(
    `${fmtBytes(bytes).padStart(8)}  ${arUs.toFixed(1).padStart(10)}  ${busBw.toFixed(2).padStart(10)}  ${bcUs.toFixed(1).padStart(10)}  ${(bytes / (bcUs * 1e3)).toFixed(2).padStart(10)}`,
  );
}
if (rank === 0) {
  console.log(`${'size'.padStart(8)}  ${'allReduce'.padStart(10)}  ${'bus GB/s'.padStart(10)}  ${'bcast'.padStart(10)}  ${'alg GB/s'.padStart(10)}`);
  console.log(`${''.padStart(8)}  ${'µs'.padStart(10)}  ${''.padStart(10)}  ${'µs'.padStart(10)}`);
  for (const r of rows) console.log(r);
  console.log('All results verified. Next: npx shoal run -np 4 node your_script.mjs (see README.md).');
}
await comm.close();

function fmtBytes(b: number): string {
  return b >= 1 << 20 ? `${b >> 20} MiB` : b >= 1 << 10 ? `${b >> 10} KiB` : `${b} B`;
}
