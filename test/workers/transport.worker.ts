// Rank program for the transport tests: reports how this rank reaches every other rank of the
// world and of a split (and whether large allReduces read the peers' memory directly), and
// moves a large bcast and allReduce over those channels so a selected transport is also a
// working one.
//
// argv[2] (optional): the rank that opts out of direct reads (SHOAL_DIRECT_READS=0 for it
// alone; the others must then fall back to the ring with it).
import { init } from '../../lib/index.js';

const optOut = process.argv[2];
if (optOut !== undefined && process.env.SHOAL_RANK === optOut) process.env.SHOAL_DIRECT_READS = '0';
const comm = await init();
const sub = await comm.split(0, comm.rank);
const n = (3 << 20) + 5;  // 12 MiB + 20 bytes: many ring wraps, an uneven tail
const buf = new Float32Array(n);
if (comm.rank === 0) for (let i = 0; i < n; i++) buf[i] = i % 1000;
await comm.bcast(buf, 0);
for (let i = 0; i < n; i++) if (buf[i] !== i % 1000) throw new Error(`bcast: element ${i} is ${buf[i]}`);
// 24 MiB + 40 bytes of float64: above the direct-read threshold at 3 ranks, uneven slices.
const sum = new Float64Array(n).fill(comm.rank + 1);
await sub!.allReduce(sum);
const want = (comm.size * (comm.size + 1)) / 2;
for (let i = 0; i < n; i++) if (sum[i] !== want) throw new Error(`allReduce: element ${i} is ${sum[i]}, want ${want}`);
// The same buffer again: the second op reads the peers' result slots of the first one's size.
const again = new Float32Array(n).map((_, i) => (i % 7) * (comm.rank + 1));
await comm.allReduce(again);
for (let i = 0; i < n; i++) if (again[i] !== (i % 7) * want) throw new Error(`allReduce (world): element ${i} is ${again[i]}`);
console.log(`TRANSPORTS ${JSON.stringify({ world: comm.transports, split: sub!.transports, directReads: [comm.directReads, sub!.directReads] })}`);
await sub!.close();
await comm.close();
