// The parameter server's shard store (native/ps/shard_store.h) through the test-only
// PsStore binding: inserts, lookups and incremental growth over 10^6 random keys against a
// JS Map (including 0, the empty-slot sentinel, and 2^64 - 1), duplicate keys in one push,
// backward-shift erase (also while a growth is migrating), raw rows, memory per key and
// argument errors.
import test from 'ava';

import { native } from '../../lib/native.js';
import { Rng } from '../helpers/mulberry_rng.js';

interface PsStoreOptions {
  dim: number;
  init?: { type?: 'zeros' | 'normal' | 'uniform'; mean?: number; std?: number; low?: number; high?: number; seed?: number | bigint };
  updater?: { type?: 'assign' | 'add' | 'sgd' | 'adagrad' | 'ftrl'; lr?: number; eps?: number; alpha?: number; beta?: number; l1?: number; l2?: number };
  expectedKeys?: number;
}

interface PsStore {
  pull(keys: BigUint64Array): Float32Array;
  push(keys: BigUint64Array, values: Float32Array): void;
  get(key: bigint): Float32Array | null;
  putRaw(key: bigint, row: Float32Array): void;
  erase(keys: BigUint64Array): number;
  keys(): BigUint64Array;
  readonly size: number;
  readonly memoryBytes: number;
  readonly rowFloats: number;
  readonly pushFloats: number;
  readonly dim: number;
  readonly capacity: number;
  readonly migrating: boolean;
}

const { PsStore } = native as unknown as { PsStore: new (options: PsStoreOptions) => PsStore };

const MAX_U64 = (1n << 64n) - 1n;

// Seeded, so failures reproduce.
function makeRng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** n random 64-bit keys (two 32-bit draws each), with the edge keys planted at the front. */
function randomKeys(n: number, seed: number, edges: bigint[] = []): BigUint64Array {
  const keys = new BigUint64Array(n);
  const words = new Uint32Array(keys.buffer);
  const rng = makeRng(seed);
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(rng() * 4294967296);
  edges.forEach((k, i) => {
    if (i < n) keys[i] = k;
  });
  return keys;
}

/** A value that identifies (key, column) so a row found under the wrong key shows. */
function valueOf(key: bigint, j: number): number {
  return Math.fround(Number(key % 1000003n) + j / 8);
}

function rowsFor(keys: BigUint64Array, dim: number): Float32Array {
  const out = new Float32Array(keys.length * dim);
  for (let i = 0; i < keys.length; i++) for (let j = 0; j < dim; j++) out[i * dim + j] = valueOf(keys[i]!, j);
  return out;
}

test('1e6 random keys (with 0, 1, 2^63, 2^64-1): insert, lookup and growth match a Map', (t) => {
  const dim = 2;
  const store = new PsStore({ dim, updater: { type: 'assign' } });
  const edges = [0n, 1n, 1n << 63n, MAX_U64, MAX_U64 - 1n];
  const keys = randomKeys(1_000_000, 42, edges);
  const ref = new Map<bigint, number>();
  const rng = makeRng(7);
  let sawMigrating = false;
  let checks = 0;
  // Odd batch sizes so growth starts in the middle of calls, not at batch boundaries.
  for (let off = 0, b = 1; off < keys.length; off += b, b = Math.min(b * 2 + 1, 65_537)) {
    const batch = keys.subarray(off, Math.min(off + b, keys.length));
    store.push(batch, rowsFor(batch, dim));
    for (const k of batch) ref.set(k, 1);
    sawMigrating ||= store.migrating;
    // Spot-check earlier keys (some now in the new table, some still in the old one) and absent keys.
    for (let c = 0; c < 64; c++) {
      const k = keys[Math.floor(rng() * (off + batch.length))]!;
      const row = store.get(k);
      if (row === null || row[0] !== valueOf(k, 0) || row[1] !== valueOf(k, 1)) {
        t.fail(`key ${k} after ${off + batch.length} inserts: got ${row === null ? 'null' : Array.from(row).join(',')}`);
        return;
      }
      checks++;
    }
    for (const k of randomKeys(8, off + 1)) {
      if (!ref.has(k) && store.get(k) !== null) t.fail(`absent key ${k} found`);
    }
  }
  t.true(sawMigrating, 'some check ran while a growth was migrating');
  t.true(checks > 1000);
  t.is(store.size, ref.size);
  for (const k of edges) t.deepEqual(Array.from(store.get(k)!), [valueOf(k, 0), valueOf(k, 1)], `edge key ${k}`);

  // pull() returns the stored rows in key order (and creates nothing: all present).
  const pulled = store.pull(keys);
  t.is(store.size, ref.size);
  const want = rowsFor(keys, dim);
  let mismatches = 0;
  for (let i = 0; i < want.length; i++) if (pulled[i] !== want[i]) mismatches++;
  t.is(mismatches, 0);

  // forEach (keys()) visits every key exactly once.
  const listed = store.keys();
  t.is(listed.length, ref.size);
  const seen = new Set<bigint>();
  for (const k of listed) {
    if (!ref.has(k) || seen.has(k)) t.fail(`keys(): unexpected or repeated ${k}`);
    seen.add(k);
  }
  t.is(seen.size, ref.size);
});

test('sequential keys spread (no clustering): 2e5 keys 0..n-1 insert and read back', (t) => {
  const n = 200_000;
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i);
  const store = new PsStore({ dim: 1, updater: { type: 'assign' } });
  store.push(keys, rowsFor(keys, 1));
  t.is(store.size, n);
  t.deepEqual(store.pull(keys), rowsFor(keys, 1));
});

test('pull creates missing rows with their initial value; get never creates', (t) => {
  const store = new PsStore({ dim: 3, updater: { type: 'add' } });
  t.is(store.get(5n), null);
  t.is(store.size, 0);
  t.deepEqual(Array.from(store.pull(new BigUint64Array([5n, 0n, 5n]))), [0, 0, 0, 0, 0, 0, 0, 0, 0]);
  t.is(store.size, 2);
  t.deepEqual(store.pull(new BigUint64Array(0)), new Float32Array(0));
  store.push(new BigUint64Array(0), new Float32Array(0));
  t.is(store.size, 2);
});

test('duplicate keys within one push apply in order', (t) => {
  const add = new PsStore({ dim: 2, updater: { type: 'add' } });
  add.push(new BigUint64Array([5n, 0n, 5n, 5n, 0n]), new Float32Array([1, 10, 2, 20, 3, 30, 4, 40, 5, 50]));
  t.deepEqual(Array.from(add.pull(new BigUint64Array([5n, 0n]))), [1 + 3 + 4, 10 + 30 + 40, 2 + 5, 20 + 50]);

  const assign = new PsStore({ dim: 1, updater: { type: 'assign' } });
  assign.push(new BigUint64Array([9n, 9n, MAX_U64, 9n, MAX_U64]), new Float32Array([1, 2, 3, 4, 5]));
  t.deepEqual(Array.from(assign.pull(new BigUint64Array([9n, MAX_U64]))), [4, 5]);

  // Order matters for adagrad: the second push sees the first one's accumulator.
  const ada = new PsStore({ dim: 1, updater: { type: 'adagrad', lr: 0.5, eps: 1e-8 } });
  ada.push(new BigUint64Array([3n, 3n]), new Float32Array([1, 2]));
  const f = Math.fround;
  const w1 = f(0 - f(f(0.5 * 1) / f(f(Math.sqrt(1)) + f(1e-8))));
  const w2 = f(w1 - f(f(0.5 * 2) / f(f(Math.sqrt(5)) + f(1e-8))));
  t.deepEqual(Array.from(ada.get(3n)!), [w2, 5]);
});

/** Applies a push to `ref` (key -> [w[dim], acc[dim]]) in float32, one rounding per operation, as the store must. */
function adagradReference(ref: Map<bigint, Float32Array>, keys: BigUint64Array, grads: Float32Array, dim: number, lr: number, eps: number): void {
  const f = Math.fround;
  for (let i = 0; i < keys.length; i++) {
    let row = ref.get(keys[i]!);
    if (!row) ref.set(keys[i]!, (row = new Float32Array(2 * dim)));
    for (let j = 0; j < dim; j++) {
      const g = grads[i * dim + j]!;
      row[dim + j] = f(row[dim + j]! + f(g * g));
      row[j] = f(row[j]! - f(f(lr * g) / f(f(Math.sqrt(row[dim + j]!)) + eps)));
    }
  }
}

// Rows wider than a slot live in their own arena and are found ahead of the visit
// (forEachSeparateRowOf): this checks that path where it is easy to get wrong: growth in the
// middle of a call (the slots found ahead are redone), keys repeated within a call (the
// first occurrence inserts, the later ones must find that row), 0 and 2^64-1. AdaGrad at dim
// 16, compared bit for bit with a float32 reference.
test('rows in their own arena (dim 16 adagrad): repeats and growth within a call, exact against a float32 reference', (t) => {
  const dim = 16;
  const f = Math.fround;
  const lr = f(0.05);
  const eps = f(1e-8);
  const store = new PsStore({ dim, updater: { type: 'adagrad', lr: 0.05, eps: 1e-8 } });
  t.is(store.rowFloats, 2 * dim);
  const pool = randomKeys(60_000, 5, [0n, MAX_U64]);
  const ref = new Map<bigint, Float32Array>();  // w[dim], acc[dim]
  const rng = makeRng(11);
  let sawGrowthMidCall = false;
  let repeats = 0;
  let pushed = 0;
  // Odd, growing batch sizes; keys drawn from a growing prefix of the pool, so every call
  // mixes new keys, old keys and repeats.
  for (let b = 1; pushed < 250_000; b = Math.min(b * 2 + 1, 20_001)) {
    const reach = Math.min(pool.length, 2_000 + pushed / 3);
    const keys = new BigUint64Array(b);
    const seen = new Set<bigint>();
    for (let i = 0; i < b; i++) {
      keys[i] = pool[Math.floor(rng() * reach)]!;
      if (seen.has(keys[i]!)) repeats++;
      seen.add(keys[i]!);
    }
    const grads = new Float32Array(b * dim);
    for (let i = 0; i < grads.length; i++) grads[i] = f(rng() - 0.5);
    const capacity = store.capacity;
    store.push(keys, grads);
    if (store.capacity !== capacity && b > 1) sawGrowthMidCall = true;
    adagradReference(ref, keys, grads, dim, lr, eps);
    pushed += b;
  }
  t.true(sawGrowthMidCall, 'the table grew during a call of more than one key');
  t.true(repeats > 1000, `${repeats} repeated keys within calls`);
  t.is(store.size, ref.size);
  let bad = 0;
  for (const [k, row] of ref) {
    const got = store.get(k);
    if (got === null || got.some((v, j) => !Object.is(v, row[j]))) bad++;
  }
  t.is(bad, 0, 'rows that differ from the reference');
  // pull returns the weights in key order, repeats included.
  const keys = new BigUint64Array([...ref.keys(), 0n, MAX_U64, 0n]);
  const pulled = store.pull(keys);
  for (let i = 0; i < keys.length; i++) {
    const row = ref.get(keys[i]!)!;
    for (let j = 0; j < dim; j++) if (!Object.is(pulled[i * dim + j], row[j])) bad++;
  }
  t.is(bad, 0, 'pulled weights that differ from the reference');
});

test('erase: backward-shift keeps every other key reachable, also while migrating; re-insert starts fresh', (t) => {
  const dim = 1;
  const store = new PsStore({ dim, updater: { type: 'add' } });
  const keys = randomKeys(300_000, 99, [0n, MAX_U64]);
  const ref = new Map<bigint, number>();
  const rng = makeRng(3);
  let erasedWhileMigrating = 0;
  const batch = 5_000;
  for (let off = 0; off < keys.length; off += batch) {
    const ks = keys.subarray(off, off + batch);
    store.push(ks, rowsFor(ks, dim));
    for (const k of ks) ref.set(k, valueOf(k, 0));
    // Erase ~30% of what is present so far, in random order, and a few absent keys.
    const present = Array.from(ref.keys());
    const victims: bigint[] = [];
    for (let c = 0; c < batch * 0.3; c++) victims.push(present[Math.floor(rng() * present.length)]!);
    const unique = new Set(victims);
    const migrating = store.migrating;
    const erased = store.erase(new BigUint64Array([...victims, ...randomKeys(4, off + 17)]));
    t.is(erased, unique.size);
    if (migrating) erasedWhileMigrating += erased;
    for (const k of unique) ref.delete(k);
    t.is(store.size, ref.size);
  }
  t.true(erasedWhileMigrating > 0, 'some erases hit a migrating store');
  // Every remaining key still holds its value; every erased key is gone.
  let bad = 0;
  for (const [k, v] of ref) if (store.get(k)?.[0] !== v) bad++;
  t.is(bad, 0);
  for (const k of keys) if (!ref.has(k) && store.get(k) !== null) bad++;
  t.is(bad, 0);
  t.is(store.keys().length, ref.size);

  // Erase of 0 and 2^64-1 (side slot and table), then re-lookup and re-insert from scratch.
  store.push(new BigUint64Array([0n, MAX_U64]), new Float32Array([1, 1]));
  t.is(store.erase(new BigUint64Array([0n, MAX_U64, 0n])), 2);
  t.is(store.get(0n), null);
  t.is(store.get(MAX_U64), null);
  store.push(new BigUint64Array([0n, MAX_U64]), new Float32Array([2.5, 3.5]));
  t.deepEqual(Array.from(store.pull(new BigUint64Array([0n, MAX_U64]))), [2.5, 3.5]);
});

test('putRaw/get round-trip raw rows (values then state) for every updater', (t) => {
  const cases = [
    { type: 'assign', rowFloats: 4, pushFloats: 4 },
    { type: 'add', rowFloats: 4, pushFloats: 4 },
    { type: 'sgd', rowFloats: 4, pushFloats: 4 },
    { type: 'adagrad', rowFloats: 8, pushFloats: 4 },
    { type: 'ftrl', rowFloats: 8, pushFloats: 8 },
  ] as const;
  for (const c of cases) {
    const store = new PsStore({ dim: 4, updater: { type: c.type } });
    t.is(store.rowFloats, c.rowFloats, c.type);
    t.is(store.pushFloats, c.pushFloats, c.type);
    const row = Float32Array.from({ length: c.rowFloats }, (_, j) => j + 0.25);
    for (const k of [0n, 77n, MAX_U64]) store.putRaw(k, row);
    store.putRaw(77n, row.map((x) => -x));
    t.deepEqual(store.get(0n), row, c.type);
    t.deepEqual(store.get(77n), row.map((x) => -x), c.type);
    t.is(store.size, 3);
  }
});

test('memory per key (dim 1, adagrad, 1e6 keys): reported, and bounded by the 0.85 load limit with expectedKeys', (t) => {
  const n = 1_000_000;
  const keys = randomKeys(n, 5);
  const grads = new Float32Array(n).fill(0.5);
  const grown = new PsStore({ dim: 1, updater: { type: 'adagrad' } });
  const sized = new PsStore({ dim: 1, updater: { type: 'adagrad' }, expectedKeys: n });
  const initialCapacity = sized.capacity;
  for (let off = 0; off < n; off += 1 << 16) {
    grown.push(keys.subarray(off, off + (1 << 16)), grads.subarray(off, off + (1 << 16)));
    sized.push(keys.subarray(off, off + (1 << 16)), grads.subarray(off, off + (1 << 16)));
  }
  // Right after a growth both tables are alive; later calls drain the old one.
  const transientPerKey = grown.memoryBytes / grown.size;
  const wasMigrating = grown.migrating;
  grown.pull(keys);
  t.false(grown.migrating, 'a pull of n keys moves 8n old slots');
  const grownPerKey = grown.memoryBytes / grown.size;
  const sizedPerKey = sized.memoryBytes / sized.size;
  t.log(`grown from empty: ${transientPerKey.toFixed(2)} B/key while migrating=${wasMigrating}, ${grownPerKey.toFixed(2)} B/key after (capacity ${grown.capacity})`);
  t.log(`expectedKeys = 1e6: ${sizedPerKey.toFixed(2)} B/key (capacity ${sized.capacity})`);
  t.is(sized.capacity, initialCapacity, 'expectedKeys avoided any growth');
  t.is(sized.size, n);
  // Slot = 8 key + 4 w + 4 acc bytes; load <= 0.85 gives >= 16 / 0.85 = 18.8 B/key, 1.25x
  // growth at most 23.5 (42.4 while both tables are alive).
  t.true(sizedPerKey >= 16 / 0.85 && sizedPerKey < 18.9, `${sizedPerKey}`);
  t.true(grownPerKey >= 16 / 0.85 && grownPerKey <= ((16 * 1.25) / 0.85) * 1.001, `${grownPerKey}`);
  t.true(transientPerKey <= ((16 * 2.25) / 0.85) * 1.001, `${transientPerKey}`);
});

test('argument errors name the parameter and both lengths', (t) => {
  const store = new PsStore({ dim: 3, updater: { type: 'ftrl' } });
  const keys = new BigUint64Array([1n, 2n]);
  const e1 = t.throws(() => store.push(keys, new Float32Array(6)), { instanceOf: RangeError });
  t.regex(e1!.message, /values\.length === keys\.length \* 6 \(12\) but values\.length is 6 and keys\.length is 2/);
  t.throws(() => store.push(keys, new Float64Array(12) as unknown as Float32Array), { instanceOf: TypeError, message: /Float32Array for 'values' but received Float64Array/ });
  t.throws(() => store.pull(new BigInt64Array(2) as unknown as BigUint64Array), { instanceOf: TypeError, message: /BigUint64Array for 'keys' but received BigInt64Array/ });
  t.throws(() => store.pull([1n, 2n] as unknown as BigUint64Array), { instanceOf: TypeError, message: /received Array/ });
  t.throws(() => store.get(-1n), { instanceOf: RangeError });
  t.throws(() => store.get(1 as unknown as bigint), { instanceOf: TypeError });
  t.throws(() => store.putRaw(1n, new Float32Array(5)), { instanceOf: RangeError, message: /rowFloats \(6\) but row\.length is 5/ });
  const buf = new ArrayBuffer(16);
  const detached = new BigUint64Array(buf);
  structuredClone(buf, { transfer: [buf] });
  t.throws(() => store.pull(detached), { instanceOf: TypeError, message: /detached/ });
  t.throws(() => new PsStore(undefined as unknown as PsStoreOptions), { instanceOf: TypeError });
  t.throws(() => new PsStore({ dim: 1, expectedKeys: -1 }), { instanceOf: RangeError });
});

// push() runs AdaGrad compiled for the widest vectors the CPU has (SSE, AVX2 or AVX-512,
// shard_store.cc's pushAdagrad): every width, and the scalar tail after the last full
// vector, must give the float32 reference's bits. Widths around 4, 8 and 16 columns, rows
// interleaved with their keys (dim 1-5) and in their own arena (the rest), gradients from
// 1e-20 (squares underflow to subnormals) to 1e6.
test('adagrad push at dims 1-33 is bit-exact against a float32 reference', (t) => {
  const f = Math.fround;
  const lr = f(0.05);
  const eps = f(1e-8);
  const rng = makeRng(23);
  let bad = 0;
  let checked = 0;
  for (const dim of [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33]) {
    const store = new PsStore({ dim, updater: { type: 'adagrad', lr: 0.05, eps: 1e-8 } });
    const keys = randomKeys(300, 100 + dim);
    const ref = new Map<bigint, Float32Array>();
    for (let round = 0; round < 4; round++) {
      const grads = new Float32Array(keys.length * dim);
      for (let i = 0; i < grads.length; i++) grads[i] = f((rng() - 0.5) * 10 ** Math.floor(rng() * 27 - 20));
      store.push(keys, grads);
      adagradReference(ref, keys, grads, dim, lr, eps);
    }
    for (const [k, row] of ref) {
      const got = store.get(k)!;
      checked++;
      if (got.some((v, j) => !Object.is(v, row[j]))) bad++;
    }
  }
  t.is(checked, 15 * 300);
  t.is(bad, 0, 'rows that differ from the reference');
});
