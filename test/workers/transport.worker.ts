// Rank program for the transport tests: reports how this rank reaches every other rank of the
// world and of a split, and moves a large bcast and allReduce over those channels so a
// selected transport is also a working one.
import { init } from '../../lib/index.js';

const comm = await init();
const sub = await comm.split(0, comm.rank);
const n = (3 << 20) + 5;  // 12 MiB + 20 bytes: many ring wraps, an uneven tail
const buf = new Float32Array(n);
if (comm.rank === 0) for (let i = 0; i < n; i++) buf[i] = i % 1000;
await comm.bcast(buf, 0);
for (let i = 0; i < n; i++) if (buf[i] !== i % 1000) throw new Error(`bcast: element ${i} is ${buf[i]}`);
const sum = new Float64Array(n).fill(comm.rank + 1);
await sub!.allReduce(sum);
const want = (comm.size * (comm.size + 1)) / 2;
for (let i = 0; i < n; i++) if (sum[i] !== want) throw new Error(`allReduce: element ${i} is ${sum[i]}, want ${want}`);
console.log(`TRANSPORTS ${JSON.stringify({ world: comm.transports, split: sub!.transports })}`);
await sub!.close();
await comm.close();
