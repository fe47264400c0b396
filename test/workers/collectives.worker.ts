// Rank program for the collective sweep: every rank fills its inputs from a closed form of
// (rank, index), runs each collective, checks the result against a reference it computes
// itself (it can compute every rank's input), and prints a digest of the result bytes so
// the test can check that all ranks hold identical bits.
//
// argv[2]: JSON { counts: number[], dtypes?: string[], ops?: string[], big?: number }
import { createHash } from 'node:crypto';

import { init, type ReduceOp } from '../../lib/index.js';

type Kind = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8';
type Arr = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

const spec = JSON.parse(process.argv[2] ?? '{}') as { counts: number[]; dtypes?: Kind[]; ops?: ReduceOp[]; big?: number };
const comm = await init();
const { rank, size } = comm;

function make(kind: Kind, n: number): Arr {
  switch (kind) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'int32': return new Int32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint8': return new Uint8Array(n);
  }
}

// Inputs: sums of these are not exact in float32, so the float check is a tolerance against
// a float64 reference, and bit-identity across ranks is checked separately by digest.
function value(kind: Kind, op: ReduceOp, r: number, j: number): number | bigint {
  if (op === 'prod') {
    const v = (j + r) % 5 === 0 ? 2 : (j + 2 * r) % 7 === 0 ? -1 : 1;
    if (kind === 'int64') return BigInt(v);
    return kind === 'uint8' ? (v < 0 ? 3 : v) : v;
  }
  if (kind === 'int32') return ((j * 2654435761 + r * 40503) | 0) >> 3;  // large, wraps when summed
  if (kind === 'int64') return BigInt.asIntN(64, BigInt(j) * 0x9e3779b97f4a7c15n + BigInt(r) * 0x85ebca6bn);
  if (kind === 'uint8') return (j * 31 + r * 7) & 255;
  const x = Math.sin(j * 0.7 + r * 1.3) * 100;
  // A few special values, away from index 0 so small counts stay finite.
  if (j % 97 === 13) return r === size - 1 ? -0 : 0;
  return kind === 'float32' ? Math.fround(x) : x;
}

function fill(kind: Kind, op: ReduceOp, r: number, n: number): Arr {
  const a = make(kind, n);
  for (let j = 0; j < n; j++) (a as unknown as Array<number | bigint>)[j] = value(kind, op, r, j);
  return a;
}

function combine(kind: Kind, op: ReduceOp, x: number | bigint, y: number | bigint): number | bigint {
  if (kind === 'int64') {
    const a = x as bigint, b = y as bigint;
    if (op === 'sum') return BigInt.asIntN(64, a + b);
    if (op === 'prod') return BigInt.asIntN(64, a * b);
    return op === 'max' ? (a > b ? a : b) : a < b ? a : b;
  }
  const a = x as number, b = y as number;
  if (op === 'sum') return kind === 'int32' ? (a + b) | 0 : kind === 'uint8' ? (a + b) & 255 : a + b;
  if (op === 'prod') return kind === 'int32' ? Math.imul(a, b) : kind === 'uint8' ? (a * b) & 255 : a * b;
  return op === 'max' ? Math.max(a, b) : Math.min(a, b);
}

function reference(kind: Kind, op: ReduceOp, n: number, ranks: number): Array<number | bigint> {
  const out: Array<number | bigint> = [];
  for (let j = 0; j < n; j++) {
    let acc = value(kind, op, 0, j);
    for (let r = 1; r < ranks; r++) acc = combine(kind, op, acc, value(kind, op, r, j));
    out.push(acc);
  }
  return out;
}

function check(what: string, kind: Kind, got: Arr, want: Array<number | bigint>, ranks: number): void {
  const isFloat = kind === 'float32' || kind === 'float64';
  for (let j = 0; j < want.length; j++) {
    const g = (got as unknown as Array<number | bigint>)[j]!;
    const w = want[j]!;
    if (isFloat) {
      const gn = g as number, wn = w as number;
      const tol = (kind === 'float32' ? 1e-5 : 1e-12) * ranks * Math.max(1, Math.abs(wn));
      const ok = Number.isNaN(wn) ? Number.isNaN(gn) : wn === 0 ? gn === 0 : Math.abs(gn - wn) <= tol;
      if (!ok) throw new Error(`${what}: element ${j} is ${gn}, expected ${wn}`);
    } else if (g !== w) {
      throw new Error(`${what}: element ${j} is ${g}, expected ${w}`);
    }
  }
}

function digest(a: Arr): string {
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
}

const dtypes: Kind[] = spec.dtypes ?? ['float32', 'float64', 'int32', 'int64', 'uint8'];
const ops: ReduceOp[] = spec.ops ?? ['sum', 'prod', 'max', 'min'];
const digests: string[] = [];
for (const n of spec.counts) {
  for (const kind of dtypes) {
    for (const op of ops) {
      const what = `allReduce ${kind} ${op} n=${n}`;
      const buf = fill(kind, op, rank, n);
      await comm.allReduce(buf, { op });
      check(what, kind, buf, reference(kind, op, n, size), size);
      digests.push(digest(buf));

      const root = n % size;
      const red = fill(kind, op, rank, n);
      const before = digest(red);
      await comm.reduceTo(red, root, { op });
      if (rank === root) check(`reduceTo ${kind} ${op} n=${n} root=${root}`, kind, red, reference(kind, op, n, size), size);
      else if (digest(red) !== before) throw new Error(`reduceTo changed the buffer of non-root rank ${rank}`);
    }
    const root = (n + 1) % size;
    const b = fill(kind, 'sum', rank, n);
    await comm.bcast(b, root);
    check(`bcast ${kind} n=${n} root=${root}`, kind, b, Array.from({ length: n }, (_, j) => value(kind, 'sum', root, j)), 1);

    const send = fill(kind, 'sum', rank, n);
    const recv = make(kind, n * size);
    await comm.allGather(send, recv);
    const want: Array<number | bigint> = [];
    for (let r = 0; r < size; r++) for (let j = 0; j < n; j++) want.push(value(kind, 'sum', r, j));
    check(`allGather ${kind} n=${n}`, kind, recv, want, 1);
  }
  await comm.barrier();
}
if (spec.big) {
  // One large float32 allReduce (ring path, many segments), checked exactly: values are
  // small integers, so every partial sum is exact in float32.
  const n = spec.big;
  const buf = new Float32Array(n);
  for (let j = 0; j < n; j++) buf[j] = ((j + rank) % 13) - 6;
  await comm.allReduce(buf);
  for (let j = 0; j < n; j++) {
    let want = 0;
    for (let r = 0; r < size; r++) want += ((j + r) % 13) - 6;
    if (buf[j] !== want) throw new Error(`big allReduce: element ${j} is ${buf[j]}, expected ${want}`);
  }
  digests.push(digest(buf));
}
if (process.env.SHOAL_TEST_DEBUG) console.log(`DIGESTS ${digests.join(" ")}`);
console.log(`DIGEST ${createHash('sha256').update(digests.join(',')).digest('hex')}`);
await comm.close();
