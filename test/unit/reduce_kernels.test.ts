// The elementwise reduction kernels (native/common/reduce_kernels.h), reached through
// native.reduce, against a JS reference for every dtype x op: special values (NaN, ±Inf, ±0,
// subnormals, integer extremes and overflow wrap), lengths that leave vector tails, unaligned
// views, aliasing (dst === a, dst === b) and argument errors.
import test from 'ava';
import type { ExecutionContext } from 'ava';

import { native, REDUCE_OP, type NativeBuffer } from '../../lib/native.js';
import { Rng } from '../helpers/mulberry_rng.js';

type OpName = keyof typeof REDUCE_OP;
type Elem = number | bigint;
type Ctor = { new (n: number): NativeBuffer; new (buf: ArrayBuffer, byteOffset: number, length: number): NativeBuffer; readonly BYTES_PER_ELEMENT: number; readonly name: string };

interface DTypeCase {
  name: string;
  ctor: Ctor;
  float: boolean;
  /** op(a, b) as the kernel must compute it. */
  ref: Record<OpName, (a: never, b: never) => Elem>;
  /** Values every pair of which is tested. */
  specials: Elem[];
  /** A "plain" random value (no NaN, no signed-zero ties). */
  random: (rng: () => number) => Elem;
}

const OPS = Object.keys(REDUCE_OP) as OpName[];

// Seeded, so failures reproduce.
function makeRng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** Float32 values from raw bit patterns (exact, including NaN payloads). */
function f32bits(...bits: number[]): number[] {
  return Array.from(new Float32Array(new Uint32Array(bits).buffer));
}
function f64bits(hi: number, lo: number): number {
  const u = new Uint32Array(2);
  u[0] = lo; // little-endian host (x86-64/arm64)
  u[1] = hi;
  return new Float64Array(u.buffer)[0]!;
}

const fround = Math.fround;
const maxN = (a: number, b: number): number => Math.max(a, b);
const minN = (a: number, b: number): number => Math.min(a, b);

const DTYPES: DTypeCase[] = [
  {
    name: 'float32',
    ctor: Float32Array as unknown as Ctor,
    float: true,
    // Reference in float64 then rounded once: exact for a single add or multiply.
    ref: {
      sum: (a: number, b: number) => fround(a + b),
      prod: (a: number, b: number) => fround(a * b),
      max: maxN,
      min: minN,
    } as DTypeCase['ref'],
    specials: [
      NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -2.5, 3,
      ...f32bits(
        0x00000001, // smallest subnormal
        0x80000001, // -smallest subnormal
        0x007fffff, // largest subnormal
        0x00800000, // smallest normal
        0x7f7fffff, // FLT_MAX
        0xff7fffff, // -FLT_MAX
        0xffc00000, // negative quiet NaN
        0x7fc00001, // NaN with a payload
      ),
      fround(1e-20), // prod underflows
      fround(1e20), // prod overflows
      fround(0.1),
    ],
    random: (rng) => fround((rng() - 0.5) * 2 ** Math.floor(rng() * 40 - 20)),
  },
  {
    name: 'float64',
    ctor: Float64Array as unknown as Ctor,
    float: true,
    ref: {
      sum: (a: number, b: number) => a + b,
      prod: (a: number, b: number) => a * b,
      max: maxN,
      min: minN,
    } as DTypeCase['ref'],
    specials: [
      NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -2.5, 3, 0.1,
      Number.MIN_VALUE, // smallest subnormal
      -Number.MIN_VALUE,
      2.225073858507201e-308, // largest subnormal
      2.2250738585072014e-308, // smallest normal
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      1e-200, // prod underflows
      1e200, // prod overflows
      f64bits(0xfff80000, 0), // negative quiet NaN
      f64bits(0x7ff80000, 1), // NaN with a payload
    ],
    random: (rng) => (rng() - 0.5) * 2 ** Math.floor(rng() * 200 - 100),
  },
  {
    name: 'int32',
    ctor: Int32Array as unknown as Ctor,
    float: false,
    ref: {
      sum: (a: number, b: number) => (a + b) | 0,
      prod: (a: number, b: number) => Math.imul(a, b),
      max: maxN,
      min: minN,
    } as DTypeCase['ref'],
    specials: [0, 1, -1, 2, -2, 0x7fffffff, -0x80000000, 0x40000000, -0x40000000, 65536, 46341, -46341, 0x7fff, -0x8000, 123456789],
    random: (rng) => (rng() * 4294967296) | 0,
  },
  {
    name: 'bigint64',
    ctor: BigInt64Array as unknown as Ctor,
    float: false,
    ref: {
      sum: (a: bigint, b: bigint) => BigInt.asIntN(64, a + b),
      prod: (a: bigint, b: bigint) => BigInt.asIntN(64, a * b),
      max: (a: bigint, b: bigint) => (a > b ? a : b),
      min: (a: bigint, b: bigint) => (a < b ? a : b),
    } as DTypeCase['ref'],
    specials: [
      0n, 1n, -1n, 2n, -2n,
      2n ** 63n - 1n, -(2n ** 63n), 2n ** 62n, -(2n ** 62n),
      2n ** 32n, 0xffffffffn, 3037000500n, -3037000500n, // squares overflow
      2n ** 31n, 1234567890123456789n,
    ],
    random: (rng) => BigInt.asIntN(64, (BigInt(Math.floor(rng() * 4294967296)) << 32n) | BigInt(Math.floor(rng() * 4294967296))),
  },
  {
    name: 'uint8',
    ctor: Uint8Array as unknown as Ctor,
    float: false,
    ref: {
      sum: (a: number, b: number) => (a + b) & 255,
      prod: (a: number, b: number) => Math.imul(a, b) & 255,
      max: maxN,
      min: minN,
    } as DTypeCase['ref'],
    specials: [0, 1, 2, 15, 16, 127, 128, 129, 200, 254, 255],
    random: (rng) => Math.floor(rng() * 256),
  },
];

// 1023/1024/1025/2049/4099 also straddle the float min/max kernel's 1024-element blocks.
const LENGTHS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 65, 1023, 1024, 1025, 2049, 4099];

function same(float: boolean, got: Elem, want: Elem): boolean {
  if (float && typeof got === 'number' && typeof want === 'number' && Number.isNaN(want)) return Number.isNaN(got);
  return float ? Object.is(got, want) : got === want;
}

function fmt(v: Elem): string {
  if (typeof v === 'bigint') return `${v}n`;
  return Object.is(v, -0) ? '-0' : String(v);
}

function fill(ctor: Ctor, values: Elem[]): NativeBuffer {
  const out = new ctor(values.length);
  for (let i = 0; i < values.length; i++) (out as unknown as Elem[])[i] = values[i]!;
  return out;
}

function toArray(buf: NativeBuffer): Elem[] {
  return Array.from(buf as ArrayLike<Elem>);
}

/** Compares dst against ref(a0, b0) elementwise (a0, b0: the inputs before the call). */
function check(t: ExecutionContext, dt: DTypeCase, op: OpName, a0: Elem[], b0: Elem[], dst: NativeBuffer, what: string): void {
  const ref = dt.ref[op] as (a: Elem, b: Elem) => Elem;
  const got = toArray(dst);
  t.is(got.length, a0.length, `${what}: length`);
  const bad: string[] = [];
  let nBad = 0;
  for (let i = 0; i < a0.length; i++) {
    const want = ref(a0[i]!, b0[i]!);
    if (!same(dt.float, got[i]!, want)) {
      nBad++;
      if (bad.length < 5) bad.push(`[${i}] ${op}(${fmt(a0[i]!)}, ${fmt(b0[i]!)}) = ${fmt(got[i]!)}, want ${fmt(want)}`);
    }
  }
  t.deepEqual(bad, [], `${what}: ${nBad} of ${a0.length} elements wrong`);
}

/** Every ordered pair of specials, as two arrays of length specials.length². */
function crossProduct(dt: DTypeCase): [Elem[], Elem[]] {
  const a: Elem[] = [];
  const b: Elem[] = [];
  for (const x of dt.specials) {
    for (const y of dt.specials) {
      a.push(x);
      b.push(y);
    }
  }
  return [a, b];
}

function randomValues(dt: DTypeCase, rng: () => number, n: number): Elem[] {
  // Round-trip through the typed array so the reference sees exactly what the kernel sees.
  return toArray(fill(dt.ctor, Array.from({ length: n }, () => dt.random(rng))));
}

type Layout = 'out-of-place' | 'dst===a' | 'dst===b';
const LAYOUTS: Layout[] = ['out-of-place', 'dst===a', 'dst===b'];

/** Runs native.reduce with the given layout and checks the result. */
function runCase(t: ExecutionContext, dt: DTypeCase, op: OpName, a0: Elem[], b0: Elem[], layout: Layout, what: string): void {
  const a = fill(dt.ctor, a0);
  const b = fill(dt.ctor, b0);
  let dst: NativeBuffer;
  if (layout === 'dst===a') {
    native.reduce(a, a, b, REDUCE_OP[op]);
    dst = a;
  } else if (layout === 'dst===b') {
    native.reduce(b, a, b, REDUCE_OP[op]);
    dst = b;
  } else {
    dst = new dt.ctor(a0.length);
    native.reduce(dst, a, b, REDUCE_OP[op]);
    // Inputs are left alone.
    t.deepEqual(toArray(a), a0, `${what}: a modified`);
    t.deepEqual(toArray(b), b0, `${what}: b modified`);
  }
  check(t, dt, op, a0, b0, dst, `${what} (${layout})`);
}

for (const dt of DTYPES) {
  for (const op of OPS) {
    test(`${dt.name} ${op}: every pair of special values`, (t) => {
      const [a0, b0] = crossProduct(dt);
      for (const layout of LAYOUTS) runCase(t, dt, op, a0, b0, layout, `${dt.specials.length}² specials`);
    });

    test(`${dt.name} ${op}: each special pair alone, at the head and in the vector tail`, (t) => {
      // One special pair in otherwise plain data: the kernel's fast path sees a single odd
      // element, once in the vectorized body and once in the scalar tail.
      const rng = makeRng(0x5eed ^ dt.name.length ^ REDUCE_OP[op]);
      for (const n of [1, 7, 33]) {
        for (const x of dt.specials) {
          for (const y of dt.specials) {
            for (const pos of n === 1 ? [0] : [0, n - 1]) {
              const a0 = randomValues(dt, rng, n);
              const b0 = randomValues(dt, rng, n);
              a0[pos] = x;
              b0[pos] = y;
              for (const layout of LAYOUTS) runCase(t, dt, op, a0, b0, layout, `n=${n} pos=${pos} (${fmt(x)}, ${fmt(y)})`);
            }
          }
        }
      }
    });

    test(`${dt.name} ${op}: random data, lengths ${LENGTHS.join(',')}`, (t) => {
      const rng = makeRng(0xc0ffee + REDUCE_OP[op] * 7 + dt.name.charCodeAt(0));
      for (const n of LENGTHS) {
        const a0 = randomValues(dt, rng, n);
        const b0 = randomValues(dt, rng, n);
        for (const layout of LAYOUTS) runCase(t, dt, op, a0, b0, layout, `random n=${n}`);
        // Same data with specials sprinkled in (every 5th element), so the fix-up pass runs.
        const a1 = a0.slice();
        const b1 = b0.slice();
        for (let i = 0; i < n; i += 5) {
          a1[i] = dt.specials[Math.floor(rng() * dt.specials.length)]!;
          b1[i] = dt.specials[Math.floor(rng() * dt.specials.length)]!;
        }
        for (const layout of LAYOUTS) runCase(t, dt, op, a1, b1, layout, `sprinkled n=${n}`);
      }
    });

    test(`${dt.name} ${op}: empty arrays`, (t) => {
      const e = new dt.ctor(0);
      t.notThrows(() => native.reduce(e, new dt.ctor(0), new dt.ctor(0), REDUCE_OP[op]));
      t.notThrows(() => native.reduce(e, e, e, REDUCE_OP[op]));
      t.is(e.length, 0);
    });

    test(`${dt.name} ${op}: unaligned views write only inside the view`, (t) => {
      const rng = makeRng(0xa11 + REDUCE_OP[op]);
      const size = dt.ctor.BYTES_PER_ELEMENT;
      for (const n of [1, 7, 1023]) {
        for (const offsetElems of [1, 3]) {
          const a0 = randomValues(dt, rng, n);
          const b0 = randomValues(dt, rng, n);
          a0[n - 1] = dt.specials[0]!;
          b0[n - 1] = dt.specials[3]!;
          const total = n + offsetElems + 3;
          const mk = (vals: Elem[]): NativeBuffer => {
            const view = new dt.ctor(new ArrayBuffer(total * size), offsetElems * size, n);
            for (let i = 0; i < n; i++) (view as unknown as Elem[])[i] = vals[i]!;
            return view;
          };
          const a = mk(a0);
          const b = mk(b0);
          const dstBuf = new ArrayBuffer(total * size);
          new Uint8Array(dstBuf).fill(0x5a);
          const dst = new dt.ctor(dstBuf, offsetElems * size, n);
          native.reduce(dst, a, b, REDUCE_OP[op]);
          check(t, dt, op, a0, b0, dst, `view n=${n} offset=${offsetElems}`);
          const bytes = new Uint8Array(dstBuf);
          const guard = [...bytes.subarray(0, offsetElems * size), ...bytes.subarray((offsetElems + n) * size)];
          t.true(guard.every((v) => v === 0x5a), `view n=${n} offset=${offsetElems}: wrote outside the view`);
        }
      }
    });
  }
}

// ---- argument errors -------------------------------------------------------------------

const f32 = (n: number): Float32Array => new Float32Array(n);

test('mismatched lengths throw RangeError', (t) => {
  for (const op of OPS) {
    t.throws(() => native.reduce(f32(4), f32(3), f32(4), REDUCE_OP[op]), { instanceOf: RangeError, message: /same length/ });
    t.throws(() => native.reduce(f32(4), f32(4), f32(5), REDUCE_OP[op]), { instanceOf: RangeError, message: /same length/ });
    t.throws(() => native.reduce(f32(3), f32(4), f32(4), REDUCE_OP[op]), { instanceOf: RangeError, message: /same length/ });
    t.throws(() => native.reduce(f32(0), f32(1), f32(1), REDUCE_OP[op]), { instanceOf: RangeError });
  }
});

test('mismatched types throw TypeError', (t) => {
  const bufs: NativeBuffer[] = [new Float32Array(4), new Float64Array(4), new Int32Array(4), new BigInt64Array(4), new Uint8Array(4)];
  for (const x of bufs) {
    for (const y of bufs) {
      if (x.constructor === y.constructor) continue;
      t.throws(() => native.reduce(x, x, y, REDUCE_OP.sum), { instanceOf: TypeError, message: /same type/ }, `${x.constructor.name}/${y.constructor.name}`);
      t.throws(() => native.reduce(x, y, x, REDUCE_OP.sum), { instanceOf: TypeError, message: /same type/ });
      t.throws(() => native.reduce(y, x, x, REDUCE_OP.sum), { instanceOf: TypeError, message: /same type/ });
    }
  }
  // Same element size, different type: Float32Array vs Int32Array must still be rejected (checked above),
  // and a mismatch is reported before a length mismatch would be.
  t.throws(() => native.reduce(f32(4), new Int32Array(3), f32(4), REDUCE_OP.sum), { instanceOf: TypeError });
});

test('unsupported array types throw TypeError naming the type', (t) => {
  const unsupported: Array<[string, unknown]> = [
    ['Uint16Array', new Uint16Array(4)],
    ['Int16Array', new Int16Array(4)],
    ['Int8Array', new Int8Array(4)],
    ['Uint32Array', new Uint32Array(4)],
    ['Uint8ClampedArray', new Uint8ClampedArray(4)],
    ['BigUint64Array', new BigUint64Array(4)],
  ];
  for (const [name, arr] of unsupported) {
    const x = arr as NativeBuffer;
    for (const args of [
      [x, x, x],
      [x, f32(4), f32(4)],
      [f32(4), x, f32(4)],
      [f32(4), f32(4), x],
    ] as const) {
      t.throws(() => native.reduce(args[0], args[1], args[2], REDUCE_OP.sum), { instanceOf: TypeError, message: new RegExp(name) }, name);
    }
  }
  const notTyped: unknown[] = [[1, 2, 3, 4], new ArrayBuffer(16), new DataView(new ArrayBuffer(16)), Buffer.alloc(0).buffer, null, undefined, 3, 'abc', {}];
  for (const v of notTyped) {
    t.throws(() => native.reduce(v as NativeBuffer, f32(4), f32(4), REDUCE_OP.sum), { instanceOf: TypeError }, String(v));
    t.throws(() => native.reduce(f32(4), v as NativeBuffer, f32(4), REDUCE_OP.sum), { instanceOf: TypeError });
    t.throws(() => native.reduce(f32(4), f32(4), v as NativeBuffer, REDUCE_OP.sum), { instanceOf: TypeError });
  }
});

test('unknown op throws TypeError', (t) => {
  for (const op of [4, 5, -1, 255, 256, 2 ** 31, 'sum', null, undefined, {}, 1n] as unknown[]) {
    t.throws(() => native.reduce(f32(4), f32(4), f32(4), op as number), { instanceOf: TypeError, message: /unknown op/ }, String(op));
  }
});

test('missing arguments throw TypeError', (t) => {
  const reduce = native.reduce as unknown as (...args: unknown[]) => void;
  t.throws(() => reduce(), { instanceOf: TypeError });
  t.throws(() => reduce(f32(1)), { instanceOf: TypeError });
  t.throws(() => reduce(f32(1), f32(1), f32(1)), { instanceOf: TypeError });
});

test('a throwing call leaves dst untouched', (t) => {
  const dst = new Float32Array([1, 2, 3, 4]);
  t.throws(() => native.reduce(dst, f32(4), f32(4), 9));
  t.throws(() => native.reduce(dst, f32(4), f32(3), REDUCE_OP.sum));
  t.throws(() => native.reduce(dst, new Uint16Array(4) as unknown as NativeBuffer, f32(4), REDUCE_OP.sum));
  t.deepEqual(Array.from(dst), [1, 2, 3, 4]);
});
