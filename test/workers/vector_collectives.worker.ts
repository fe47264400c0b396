// Rank program for reduceScatter, allGatherv and the sparse collectives. Every rank derives
// every rank's inputs from (rank, seed), checks its own results against a JS reference,
// checks bad arguments are rejected, and prints a digest of the sparse allReduce results so
// the test can check every rank holds identical bits. Any failed check exits non-zero.
import { createHash } from 'node:crypto';

import { Rng } from '../../lib/rng.js';
import { init, sparseOwner, type ReduceOp } from '../../lib/index.js';
import { sparseAllReduce } from '../../collectives/index.js';

const comm = await init();
const { rank, size } = comm;
let checks = 0;

function fail(what: string): never {
  throw new Error(`rank ${rank}: ${what}`);
}
function expectEqual(what: string, got: ArrayLike<number | bigint>, want: ArrayLike<number | bigint>): void {
  if (got.length !== want.length) fail(`${what}: length ${got.length}, want ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) fail(`${what}: [${i}] = ${got[i]}, want ${want[i]}`);
  }
  checks++;
}

// --- reduceScatter ---------------------------------------------------------------------
type Kind = 'float32' | 'float64' | 'int32' | 'int64';
const make = { float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array } as const;
// Small integers: sums are exact in every dtype, so the reference needs no tolerance.
const small = (r: number, j: number): number => ((j * 31 + r * 17) % 23) - 11;
function input(kind: Kind, r: number, n: number): Float32Array | Float64Array | Int32Array | BigInt64Array {
  const a = new make[kind](n);
  for (let j = 0; j < n; j++) (a as unknown as Array<number | bigint>)[j] = kind === 'int64' ? BigInt(small(r, j)) * 1000000007n : small(r, j);
  return a;
}
function fold(op: ReduceOp, a: number | bigint, b: number | bigint): number | bigint {
  if (op === 'sum') return typeof a === 'bigint' ? a + (b as bigint) : (a as number) + (b as number);
  return op === 'max' ? (a > b ? a : b) : a < b ? a : b;
}

const blockCounts: Array<{ name: string; counts?: number[] }> = [
  { name: 'equal blocks of 3' },
  { name: 'uneven with zeros', counts: Array.from({ length: size }, (_, i) => (i * 3 + 1) % 4) },
  { name: 'large uneven (many frames)', counts: Array.from({ length: size }, (_, i) => 70001 + 9000 * i) },
];
for (const kind of ['float32', 'float64', 'int32', 'int64'] as const) {
  for (const op of ['sum', 'max', 'min'] as const) {
    for (const { name, counts } of blockCounts) {
      const blocks = counts ?? new Array<number>(size).fill(3);
      const total = blocks.reduce((a, b) => a + b, 0);
      const offset = blocks.slice(0, rank).reduce((a, b) => a + b, 0);
      const send = input(kind, rank, total);
      const before = send.slice();
      const recv = new make[kind](blocks[rank]!);
      await comm.reduceScatter(send, recv, counts ? { op, counts } : { op });
      const want = new make[kind](blocks[rank]!);
      const all = Array.from({ length: size }, (_, r) => input(kind, r, total));
      for (let j = 0; j < want.length; j++) {
        let acc = all[0]![offset + j]!;
        for (let r = 1; r < size; r++) acc = fold(op, acc, all[r]![offset + j]!);
        (want as unknown as Array<number | bigint>)[j] = acc;
      }
      expectEqual(`reduceScatter ${kind} ${op} ${name}`, recv, want);
      expectEqual(`reduceScatter ${kind} ${op} ${name}: send unchanged`, send, before);
    }
  }
}

// --- allGatherv ------------------------------------------------------------------------
const gatherCounts = [
  Array.from({ length: size }, (_, i) => (i % 2 === 0 ? i + 2 : 0)),
  new Array<number>(size).fill(0),
  Array.from({ length: size }, (_, i) => (i === size - 1 ? 0 : 50000 + i * 777)),
];
for (const kind of ['float32', 'float64', 'int32', 'int64'] as const) {
  for (const counts of gatherCounts) {
    const total = counts.reduce((a, b) => a + b, 0);
    const recv = new make[kind](total);
    await comm.allGatherv(input(kind, rank, counts[rank]!), recv, counts);
    const want = new make[kind](total);
    let at = 0;
    for (let r = 0; r < size; r++) {
      want.set(input(kind, r, counts[r]!) as never, at);
      at += counts[r]!;
    }
    expectEqual(`allGatherv ${kind} counts [${counts.join(',')}]`, recv, want);
  }
}

// --- sparse ----------------------------------------------------------------------------
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}
const MAX = (1n << 64n) - 1n;
// Rank r's pairs: keys from a pool shared by all ranks (so they overlap), incl. 0 and 2^64-1,
// repeated within the rank; rank 1 contributes nothing. integer: values small integers.
function pairs(r: number, dim: number, integer: boolean): { keys: BigUint64Array; values: Float32Array } {
  if (r === 1) return { keys: new BigUint64Array(0), values: new Float32Array(0) };
  const next = rng(1000 + r * 7 + dim);
  const pool = [0n, MAX, 1n, MAX - 1n, ...Array.from({ length: 300 }, (_, i) => BigInt.asUintN(64, BigInt(i + 1) * 0x9e3779b97f4a7c15n))];
  const n = 200 + r * 37;
  const keys = new BigUint64Array(n);
  const values = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    keys[i] = i < 4 ? pool[i]! : i % 10 === 0 ? keys[i - 1]! : pool[Math.floor(next() * pool.length)]!;
    for (let k = 0; k < dim; k++) values[i * dim + k] = integer ? Math.floor(next() * 21) - 10 : Math.fround((next() - 0.5) * 1e3);
  }
  return { keys, values };
}
function sparseReference(dim: number, integer: boolean): { keys: bigint[]; rows: Map<bigint, number[]> } {
  const rows = new Map<bigint, number[]>();
  for (let r = 0; r < size; r++) {
    const { keys, values } = pairs(r, dim, integer);
    keys.forEach((k, i) => {
      const row = rows.get(k) ?? new Array<number>(dim).fill(0);
      for (let j = 0; j < dim; j++) row[j]! += values[i * dim + j]!;
      rows.set(k, row);
    });
  }
  return { keys: [...rows.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), rows };
}
function checkRows(what: string, got: { keys: BigUint64Array; values: Float32Array }, keys: bigint[], rows: Map<bigint, number[]>, dim: number, exact: boolean): void {
  expectEqual(`${what}: keys`, got.keys, keys);
  if (got.values.length !== keys.length * dim) fail(`${what}: ${got.values.length} values for ${keys.length} keys`);
  keys.forEach((k, i) => {
    for (let j = 0; j < dim; j++) {
      const g = got.values[i * dim + j]!;
      const w = rows.get(k)![j]!;
      const ok = exact ? g === w : Math.abs(g - w) <= 1e-3 * Math.max(1, Math.abs(w));
      if (!ok) fail(`${what}: key ${k} [${j}] = ${g}, want ${w}`);
    }
  });
  checks++;
}

const digest = createHash('sha256');
for (const dim of [1, 4]) {
  for (const integer of [true, false]) {
    const what = `sparseAllReduce dim ${dim} ${integer ? 'integer' : 'float'} values`;
    const { keys, rows } = sparseReference(dim, integer);
    const mine = pairs(rank, dim, integer);
    const keysBefore = mine.keys.slice();
    const got = await comm.sparseAllReduce(mine.keys, mine.values, { dim });
    checkRows(what, got, keys, rows, dim, integer);
    expectEqual(`${what}: input keys unchanged`, mine.keys, keysBefore);
    digest.update(Buffer.from(got.keys.buffer)).update(Buffer.from(got.values.buffer));
    const scattered = await comm.sparseReduceScatter(mine.keys, mine.values, { dim });
    const owned = keys.filter((k) => sparseOwner(k, size) === rank);
    checkRows(`sparseReduceScatter dim ${dim}`, scattered, owned, rows, dim, integer);
    // The collectives/ wrapper keeps its old signature.
    const wrapped = await sparseAllReduce(comm, mine.keys, mine.values, dim);
    expectEqual(`${what}: wrapper`, wrapped.values, got.values);
  }
}
// Every rank empty.
const none = await comm.sparseAllReduce(new BigUint64Array(0), new Float32Array(0), { dim: 3 });
if (none.keys.length !== 0 || none.values.length !== 0) fail('sparseAllReduce of nothing returned rows');
checks++;

// --- bad arguments: rejected on the calling rank before anything is sent ----------------
async function rejects(what: string, fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!pattern.test((err as Error).message)) fail(`${what}: message ${(err as Error).message} does not match ${pattern}`);
    checks++;
    return;
  }
  fail(`${what}: was not rejected`);
}
const f = new Float32Array(size * 2);
await rejects('counts length', () => comm.reduceScatter(f, new Float32Array(2), { counts: new Array<number>(size + 1).fill(0) }), /reduceScatter: expected one count per rank/);
await rejects('negative count', () => comm.allGatherv(f, f, [-1, ...new Array<number>(size - 1).fill(0)]), /counts\[0\]/);
await rejects('reduceScatter recv too small', () => comm.reduceScatter(f, new Float32Array(1)), /'recv' must hold counts\[rank\] = 2 elements, got 1/);
await rejects('reduceScatter send != sum(counts)', () => comm.reduceScatter(f, new Float32Array(2), { counts: new Array<number>(size).fill(1) }), /'send' must hold sum\(counts\)/);
if (size > 1) await rejects('reduceScatter not divisible', () => comm.reduceScatter(new Float32Array(size * 2 + 1), new Float32Array(2)), /divisible by size/);
await rejects('reduceScatter dtype', () => comm.reduceScatter(f, new Float64Array(2) as never), /same type/);
await rejects('allGatherv recv too small', () => comm.allGatherv(new Float32Array(1), new Float32Array(size - 1), new Array<number>(size).fill(1)), /'recv' must hold sum\(counts\) = \d+ elements/);
await rejects('allGatherv send != counts[rank]', () => comm.allGatherv(new Float32Array(2), new Float32Array(size), new Array<number>(size).fill(1)), /'send' must hold counts\[rank\]/);
await rejects('sparse values length', () => comm.sparseAllReduce(new BigUint64Array(3), new Float32Array(5), { dim: 2 }), /length keys.length \* dim = 6/);
await rejects('sparse dim', () => comm.sparseAllReduce(new BigUint64Array(3), new Float32Array(3), { dim: 0 }), /options.dim/);
await rejects('sparse keys type', () => comm.sparseAllReduce(new BigInt64Array(3) as never, new Float32Array(3)), /BigUint64Array/);
await rejects('wrapper values length', () => sparseAllReduce(comm, new BigUint64Array(2), new Float32Array(3), 1), /keys.length \* dim = 2/);
// After all the rejections the ranks are still in step.
const sum = new Float64Array(size);
await comm.reduceScatter(new Float64Array(size).fill(rank + 1), sum.subarray(0, 1));
if (sum[0] !== (size * (size + 1)) / 2) fail(`reduceScatter after rejections: ${sum[0]}`);

console.log(`CHECKS ${checks}`);
console.log(`DIGEST ${digest.digest('hex')}`);
await comm.close();
