// Rank program for split(): even and odd ranks form two communicators, ordered by a key
// that reverses them; each checks its new rank, size and an allReduce over its members only.
import { init } from '../../lib/index.js';

const comm = await init();
const color = comm.rank % 2;
const sub = await comm.split(color, -comm.rank);
if (!sub) throw new Error('split returned null for a non-negative color');
const members = Array.from({ length: comm.size }, (_, r) => r).filter((r) => r % 2 === color);
const expectedRank = [...members].reverse().indexOf(comm.rank);
const sum = new Int32Array([comm.rank]);
await sub.allReduce(sum);
const want = members.reduce((a, b) => a + b, 0);
// A rank that opts out (negative color) gets null; the others form one group.
const third = await comm.split(comm.rank === 0 ? -1 : 0);
const inThird = third ? third.size : 0;
// The parent keeps working after splitting.
const all = new Int32Array([1]);
await comm.allReduce(all);
console.log(`RESULT ${JSON.stringify({ rank: comm.rank, subRank: sub.rank, subSize: sub.size, expectedRank, expectedSize: members.length, sum: sum[0], want, inThird, worldSum: all[0] })}`);
await comm.close();
