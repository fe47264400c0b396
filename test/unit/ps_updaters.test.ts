// The parameter server's updaters (native/ps/updaters/) and row initialisation
// (native/ps/row_init.h) through the test-only PsStore binding, against JS references that
// round every step to float32: assign, add, sgd, adagrad, and FTRL's z/n merge with w
// computed at pull time (including |z| <= l1 -> 0). Also: init determinism across stores,
// normal/uniform statistics, and table-config validation errors.
import test from 'ava';

import { native } from '../../lib/native.js';
import { Rng } from '../helpers/mulberry_rng.js';

type UpdaterType = 'assign' | 'add' | 'sgd' | 'adagrad' | 'ftrl';

interface UpdaterOptions {
  type?: UpdaterType;
  lr?: number;
  eps?: number;
  alpha?: number;
  beta?: number;
  l1?: number;
  l2?: number;
}

interface PsStoreOptions {
  dim: number;
  init?: { type?: 'zeros' | 'normal' | 'uniform'; mean?: number; std?: number; low?: number; high?: number; seed?: number | bigint };
  updater?: UpdaterOptions;
}

interface PsStore {
  pull(keys: BigUint64Array): Float32Array;
  push(keys: BigUint64Array, values: Float32Array): void;
  get(key: bigint): Float32Array | null;
  readonly size: number;
  readonly rowFloats: number;
}

const { PsStore } = native as unknown as { PsStore: new (options: PsStoreOptions) => PsStore };

const f = Math.fround;

function makeRng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** Float32 closeness: relative 1e-6 or absolute 1e-7 (FMA contraction on some targets). */
function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b)) + 1e-7;
}

/** Reference row update for one key's push, float32 at every step, as updaters/*.cc. */
function refApply(u: Required<UpdaterOptions>, dim: number, row: number[], g: number[]): void {
  for (let j = 0; j < dim; j++) {
    switch (u.type) {
      case 'assign': row[j] = f(g[j]!); break;
      case 'add': row[j] = f(row[j]! + g[j]!); break;
      case 'sgd': row[j] = f(row[j]! - f(f(u.lr) * g[j]!)); break;
      case 'adagrad': {
        row[dim + j] = f(row[dim + j]! + f(g[j]! * g[j]!));
        row[j] = f(row[j]! - f(f(f(u.lr) * g[j]!) / f(f(Math.sqrt(row[dim + j]!)) + f(u.eps))));
        break;
      }
      case 'ftrl': {
        row[j] = f(row[j]! + g[j]!);
        row[dim + j] = f(row[dim + j]! + g[dim + j]!);
        break;
      }
    }
  }
}

/** FTRL w from z, n: 0 if |z| <= l1, else -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2). */
function refFtrlW(u: Required<UpdaterOptions>, z: number, n: number): number {
  if (Math.abs(z) <= f(u.l1)) return 0;
  const shrunk = f(z - Math.sign(z) * f(u.l1));
  const denom = f(f(f(f(u.beta) + f(Math.sqrt(Math.max(n, 0)))) / f(u.alpha)) + f(u.l2));
  return f(-shrunk / denom);
}

const DEFAULTS: Required<UpdaterOptions> = { type: 'add', lr: 0.01, eps: 1e-8, alpha: 0.05, beta: 1, l1: 0, l2: 0 };

const CASES: Array<Required<UpdaterOptions>> = [
  { ...DEFAULTS, type: 'assign' },
  { ...DEFAULTS, type: 'add' },
  { ...DEFAULTS, type: 'sgd', lr: 0.1 },
  { ...DEFAULTS, type: 'adagrad', lr: 0.05, eps: 1e-6 },
  { ...DEFAULTS, type: 'ftrl', alpha: 0.1, beta: 1, l1: 0.5, l2: 0.01 },
];

for (const u of CASES) {
  test(`${u.type}: 40 rounds of random pushes (with repeated keys) match the float32 reference`, (t) => {
    const dim = 3;
    const store = new PsStore({ dim, updater: u });
    const per = u.type === 'ftrl' ? 2 * dim : dim;
    const rowFloats = u.type === 'adagrad' || u.type === 'ftrl' ? 2 * dim : dim;
    t.is(store.rowFloats, rowFloats);
    const universe = Array.from({ length: 200 }, (_, i) => BigInt(i) * 0x9e3779b97f4a7c15n % (1n << 64n));
    const ref = new Map<bigint, number[]>();
    const rng = makeRng(11);
    for (let round = 0; round < 40; round++) {
      const n = 1 + Math.floor(rng() * 300);
      const keys = new BigUint64Array(n);
      const values = new Float32Array(n * per);
      for (let i = 0; i < n; i++) {
        keys[i] = universe[Math.floor(rng() * universe.length)]!;
        for (let j = 0; j < per; j++) {
          // ftrl: dz any sign, dn >= 0 (it is g^2 on the worker).
          values[i * per + j] = u.type === 'ftrl' && j >= dim ? rng() : (rng() - 0.5) * 4;
        }
      }
      store.push(keys, values);
      for (let i = 0; i < n; i++) {
        const k = keys[i]!;
        if (!ref.has(k)) ref.set(k, new Array<number>(rowFloats).fill(0));
        refApply(u, dim, ref.get(k)!, Array.from(values.subarray(i * per, (i + 1) * per)));
      }
    }
    const keys = BigUint64Array.from(ref.keys());
    const pulled = store.pull(keys);
    let bad = 0;
    let zeros = 0;
    keys.forEach((k, i) => {
      const row = ref.get(k)!;
      const raw = store.get(k)!;
      for (let j = 0; j < rowFloats; j++) if (!close(raw[j]!, row[j]!)) bad++;
      for (let j = 0; j < dim; j++) {
        const w = u.type === 'ftrl' ? refFtrlW(u, row[j]!, row[dim + j]!) : row[j]!;
        if (!close(pulled[i * dim + j]!, w)) {
          if (bad++ < 5) t.log(`${k}[${j}]: got ${pulled[i * dim + j]} want ${w}`);
        }
        if (w === 0) zeros++;
      }
    });
    t.is(bad, 0);
    if (u.type === 'ftrl') t.true(zeros > 0, 'some |z| <= l1 coordinates were exercised');
  });
}

test('ftrl: w is computed from z and n at pull time, 0 when |z| <= l1', (t) => {
  const u = { ...DEFAULTS, type: 'ftrl' as const, alpha: 0.5, beta: 1, l1: 1, l2: 0.25 };
  const store = new PsStore({ dim: 4, updater: u, init: { type: 'normal', std: 1, seed: 3 } });
  const key = new BigUint64Array([42n]);
  // A fresh FTRL row is z = n = 0 whatever the init says, so w = 0.
  t.deepEqual(Array.from(store.pull(key)), [0, 0, 0, 0]);
  // z = [0.5, -1, 3, -2.5], n = [4, 4, 9, 0]: |z| <= l1 for the first two.
  store.push(key, new Float32Array([0.5, -1, 3, -2.5, 4, 4, 9, 0]));
  t.deepEqual(Array.from(store.get(42n)!), [0.5, -1, 3, -2.5, 4, 4, 9, 0]);
  const w = Array.from(store.pull(key));
  t.is(w[0], 0);
  t.is(w[1], 0);
  t.true(close(w[2]!, -(3 - 1) / ((1 + 3) / 0.5 + 0.25)));
  t.true(close(w[3]!, -(-2.5 + 1) / ((1 + 0) / 0.5 + 0.25)));
  // More pushes merge (z += dz, n += dn) and w follows without a stored copy.
  store.push(key, new Float32Array([-0.5, 0, -3, 0, 0, 0, 7, 0]));
  t.deepEqual(Array.from(store.get(42n)!), [0, -1, 0, -2.5, 4, 4, 16, 0]);
  t.deepEqual(Array.from(store.pull(key)).slice(0, 3), [0, 0, 0]);
});

test('init: deterministic in (seed, key, column), independent of store and insertion order', (t) => {
  const n = 5000;
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i) * 7919n + (BigInt(i) << 40n);
  const reversed = keys.slice().reverse();
  for (const init of [
    { type: 'normal' as const, mean: 0.5, std: 2, seed: 1234 },
    { type: 'uniform' as const, low: -3, high: 5, seed: 99n },
  ]) {
    const a = new PsStore({ dim: 4, init, updater: { type: 'adagrad' } });
    const b = new PsStore({ dim: 4, init, updater: { type: 'sgd' } });
    const wa = a.pull(keys);
    b.pull(reversed.subarray(0, 100)); // different creation order and interleaving
    const wb = b.pull(keys);
    t.deepEqual(wa, wb, init.type);
    const other = new PsStore({ dim: 4, init: { ...init, seed: 7 } }).pull(keys);
    let same = 0;
    for (let i = 0; i < wa.length; i++) if (wa[i] === other[i]) same++;
    t.true(same < wa.length / 100, `${init.type}: a different seed gives different values`);
    // Columns of one row differ too.
    t.not(wa[0], wa[1]);
    // Adagrad state starts at 0 after the initial values.
    t.deepEqual(Array.from(a.get(keys[0]!)!.subarray(4)), [0, 0, 0, 0]);
  }
  t.deepEqual(Array.from(new PsStore({ dim: 2 }).pull(keys.subarray(0, 3))), [0, 0, 0, 0, 0, 0]);
});

test('init: normal mean/std (both columns of a Box-Muller pair, uncorrelated) and uniform range over 1e5 keys', (t) => {
  const n = 100_000;
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i); // sequential keys must not correlate
  // dim 3: columns 0 and 1 are the cos and sin halves of one pair, column 2 a lone cos.
  const dim = 3;
  const normal = new PsStore({ dim, init: { type: 'normal', mean: 1.5, std: 0.2, seed: 5 } }).pull(keys);
  for (let j = 0; j < dim; j++) {
    let sum = 0;
    let sq = 0;
    let within1 = 0;
    for (let i = 0; i < n; i++) {
      const x = normal[i * dim + j]!;
      sum += x;
      sq += x * x;
      if (Math.abs(x - 1.5) <= 0.2) within1++;
    }
    const mean = sum / n;
    const std = Math.sqrt(sq / n - mean * mean);
    t.log(`normal(1.5, 0.2) column ${j}: mean ${mean.toFixed(5)} std ${std.toFixed(5)} within 1 sd ${(within1 / n).toFixed(4)}`);
    t.true(Math.abs(mean - 1.5) < 0.005);
    t.true(Math.abs(std - 0.2) < 0.005);
    t.true(Math.abs(within1 / n - 0.6827) < 0.01);
  }
  let cov = 0;
  for (let i = 0; i < n; i++) cov += (normal[i * dim]! - 1.5) * (normal[i * dim + 1]! - 1.5);
  const corr = cov / n / (0.2 * 0.2);
  t.log(`correlation of columns 0 and 1: ${corr.toFixed(4)}`);
  t.true(Math.abs(corr) < 0.02);

  const uniform = new PsStore({ dim: 1, init: { type: 'uniform', low: -2, high: 6, seed: 5 } }).pull(keys);
  let usum = 0;
  let lo = Infinity;
  let hi = -Infinity;
  const buckets = new Array<number>(8).fill(0);
  for (const x of uniform) {
    usum += x;
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
    buckets[Math.min(7, Math.floor(x + 2))]!++;
  }
  t.true(lo >= -2 && hi <= 6);
  t.true(Math.abs(usum / n - 2) < 0.05);
  for (const c of buckets) t.true(Math.abs(c / n - 1 / 8) < 0.01);
});

test('config validation: errors name the field', (t) => {
  const bad: Array<[PsStoreOptions, RegExp, string?]> = [
    [{ dim: 0 }, /'dim' must be an integer/],
    [{ dim: 1.5 }, /'dim' must be an integer/],
    [{ dim: 2 ** 21 }, /'dim' must be an integer/],
    [{ dim: 1, updater: { type: 'sgd', lr: 0 } }, /'updater\.lr' must be a finite number > 0/, 'ERR_INVALID_ARGUMENT'],
    [{ dim: 1, updater: { type: 'adagrad', lr: Number.NaN } }, /'updater\.lr'/, 'ERR_INVALID_ARGUMENT'],
    [{ dim: 1, updater: { type: 'adagrad', eps: -1 } }, /'updater\.eps' must be a finite number > 0/, 'ERR_INVALID_ARGUMENT'],
    [{ dim: 1, updater: { type: 'ftrl', alpha: 0 } }, /'updater\.alpha'/, 'ERR_INVALID_ARGUMENT'],
    [{ dim: 1, updater: { type: 'ftrl', l1: -0.1 } }, /'updater\.l1' must be a finite number >= 0/, 'ERR_INVALID_ARGUMENT'],
    [{ dim: 1, updater: { type: 'ftrl', l2: Infinity } }, /'updater\.l2'/, 'ERR_INVALID_ARGUMENT'],
    [{ dim: 1, updater: { type: 'ftrl', beta: 0, l2: 0 } }, /'updater\.beta'/, 'ERR_INVALID_ARGUMENT'],
    [{ dim: 1, init: { type: 'normal', std: -1 } }, /'init\.std' must be a finite number >= 0/, 'ERR_INVALID_ARGUMENT'],
    [{ dim: 1, init: { type: 'uniform', low: 1, high: 0 } }, /'init\.low' must be <= init\.high/, 'ERR_INVALID_ARGUMENT'],
    [{ dim: 1, init: { type: 'gaussian' as 'normal' } }, /'init\.type' must be 'zeros' \| 'normal' \| 'uniform' but received 'gaussian'/],
    [{ dim: 1, updater: { type: 'adam' as 'sgd' } }, /'updater\.type' must be .* but received 'adam'/],
    [{ dim: 1, updater: { lr: '0.1' as unknown as number } }, /'updater\.lr' must be a number/],
    [{ dim: 1, init: { seed: -1 } }, /'init\.seed'/],
    [{ dim: 1, init: 3 as unknown as PsStoreOptions['init'] }, /'init' must be an object/],
  ];
  for (const [options, message, code] of bad) {
    const err = t.throws(() => new PsStore(options), { message }, JSON.stringify(options));
    if (code !== undefined) t.is((err as Error & { code?: string }).code, code);
  }
  // Fields an updater does not read are not validated: sgd ignores ftrl's alpha.
  t.notThrows(() => new PsStore({ dim: 1, updater: { type: 'sgd', alpha: -1 } }));
  t.notThrows(() => new PsStore({ dim: 1, init: { type: 'zeros', std: -1 }, updater: { type: 'ftrl', beta: 0, l2: 0.1 } }));
});
