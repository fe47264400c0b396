// Rank program for the composite collectives: sparse AllReduce and object collectives.
import { allGatherObject, bcastObject, init, sparseAllReduce } from '../../lib/index.js';

const comm = await init();
const { rank, size } = comm;
// Rank r contributes keys r, r+1 (and a duplicate of r) with rows [r, 1]; key 2^64-1 on rank 0.
const mine = [BigInt(rank), BigInt(rank + 1), BigInt(rank)];
if (rank === 0) mine.push(2n ** 64n - 1n);
const keys = BigUint64Array.from(mine);
const values = new Float32Array(keys.length * 2);
keys.forEach((_, i) => values.set([rank, 1], i * 2));
const sum = await sparseAllReduce(comm, keys, values, 2);
const config = await bcastObject(comm, rank === 0 ? { lr: 0.1, name: 'ünïcode' } : null);
const everyone = await allGatherObject(comm, { rank, tags: Array.from({ length: rank }, (_, i) => `t${i}`) });
console.log(`RESULT ${JSON.stringify({ rank, size, keys: Array.from(sum.keys, String), values: Array.from(sum.values), config, everyone })}`);
await comm.close();
