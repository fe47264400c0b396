// What one collective costs a rank with no peers (np 1): the binding call alone, and the same
// op through Communicator (argument checks, telemetry, Promise). Median of 5 runs of 200k ops.
//   npm run build && node bench/op_overhead.mjs
import { native } from '../dist/lib/native.js';
import { init } from '../dist/lib/index.js';

const N = 200_000;
const buf = new Float32Array(2);
async function time(name, f) {
  for (let i = 0; i < 20_000; i++) await f();
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await f();
    runs.push(((performance.now() - t0) * 1e3) / N);
  }
  runs.sort((a, b) => a - b);
  console.log(`${name}: ${runs[2].toFixed(2)} µs/op (min ${runs[0].toFixed(2)})`);
}
const nc = new native.NativeComm({ rank: 0, size: 1, commId: 7, token: '' });
await time('binding collective(allReduce), np 1', () => nc.collective(1, buf, null, 0, -1, 0));
const comm = await init({ env: {} });
await time('comm.allReduce, np 1', () => comm.allReduce(buf));
await time('comm.barrier, np 1', () => comm.barrier());
await comm.close();
