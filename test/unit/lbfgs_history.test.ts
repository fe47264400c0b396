// The L-BFGS two-loop recursion (algorithms/lbfgs_lr/two_loop.ts) against a textbook version
// with separate passes, bit for bit, through ring wrap-around, skipped pairs, clear(),
// snapshot()/restore(); snapshots that stay as they were when later pairs are pushed; and the
// native kernel's argument checks.
import test from 'ava';

import { dot, LbfgsHistory } from '../../algorithms/lbfgs_lr/two_loop.js';
import { Rng } from '../helpers/mulberry_rng.js';
import { native } from '../../lib/native.js';

/** Nocedal & Wright, Algorithm 7.4, one pass per operation; pairs oldest first. */
function reference(pairs: Array<{ s: Float64Array; y: Float64Array }>, g: Float64Array): Float64Array {
  const q = Float64Array.from(g);
  const n = pairs.length;
  const alpha = new Array<number>(n);
  const rho = pairs.map((p) => 1 / dot(p.s, p.y));
  for (let k = n - 1; k >= 0; k--) {
    alpha[k] = rho[k]! * dot(pairs[k]!.s, q);
    for (let j = 0; j < q.length; j++) q[j]! -= alpha[k]! * pairs[k]!.y[j]!;
  }
  if (n > 0) {
    const y = pairs[n - 1]!.y;
    const gamma = 1 / (rho[n - 1]! * dot(y, y));
    for (let j = 0; j < q.length; j++) q[j]! *= gamma;
  }
  for (let k = 0; k < n; k++) {
    const b = rho[k]! * dot(pairs[k]!.y, q);
    for (let j = 0; j < q.length; j++) q[j]! += (alpha[k]! - b) * pairs[k]!.s[j]!;
  }
  for (let j = 0; j < q.length; j++) q[j] = -q[j]!;
  return q;
}

test('direction is bit-identical to the separate-pass two-loop recursion', (t) => {
  const rng = new Rng(5);
  const dim = 23;
  const m = 4;
  const h = new LbfgsHistory(dim, m);
  const kept: Array<{ s: Float64Array; y: Float64Array }> = [];
  const vec = (): Float64Array => Float64Array.from({ length: dim }, () => rng.next() - 0.5);
  for (let step = 0; step < 15; step++) {
    const g = vec();
    t.deepEqual(h.direction(g, new Float64Array(dim)), reference(kept, g), `step ${step}`);
    const s = vec();
    // Every 5th pair has negative curvature (y = -s) and must be skipped.
    const y = step % 5 === 4 ? s.map((v) => -v) : s.map((v) => v + 0.3 * (rng.next() - 0.5));
    const pushed = h.push(s, y);
    t.is(pushed, step % 5 !== 4);
    if (pushed) {
      kept.push({ s: Float64Array.from(s), y: Float64Array.from(y) });
      if (kept.length > m) kept.shift();
    }
    s.fill(0); // the history keeps its own copies
    y.fill(0);
    t.is(h.count, kept.length);
    if (step === 9) {
      h.clear();
      kept.length = 0;
    }
  }
});

test('snapshot keeps the pairs of its time; restore reproduces the directions', (t) => {
  const rng = new Rng(9);
  const dim = 8;
  const h = new LbfgsHistory(dim, 3);
  const vec = (): Float64Array => Float64Array.from({ length: dim }, () => rng.next() - 0.5);
  for (let i = 0; i < 5; i++) {
    const s = vec();
    h.push(s, s.map((v) => 2 * v + 0.1 * rng.next()));
  }
  const snap = h.snapshot();
  const g = vec();
  const before = h.direction(g, new Float64Array(dim));
  const s = vec();
  h.push(s, s.map((v) => 3 * v)); // after the snapshot: must not show in it
  t.is(snap.rho.length, 3);
  t.is(snap.s.length, 3 * dim);
  const other = new LbfgsHistory(dim, 3);
  other.restore(snap);
  t.deepEqual(other.direction(g, new Float64Array(dim)), before);
  // A snapshot read late equals one read at once, and survives a JSON-free copy (spread).
  const copy = { ...h.snapshot() };
  const fresh = new LbfgsHistory(dim, 3);
  fresh.restore(copy);
  t.deepEqual(fresh.direction(g, new Float64Array(dim)), h.direction(g, new Float64Array(dim)));
  t.throws(() => new LbfgsHistory(dim + 1, 3).restore(snap), { instanceOf: RangeError });
});

test('native twoLoop rejects bad arguments with errors naming them', (t) => {
  const dim = 4;
  const v = (): Float64Array => Float64Array.from({ length: dim }, (_, j) => j + 1);
  const s = [v(), v()];
  const y = [v(), v()];
  const rho = Float64Array.from([0.5, 0.25]);
  const g = v();
  const out = new Float64Array(dim);
  native.linear.twoLoop(s, y, rho, g, out);
  native.linear.twoLoop(s, y, rho, out, out); // out may be g itself
  type Args = Parameters<typeof native.linear.twoLoop>;
  const cases: Array<[string, unknown[], typeof TypeError | typeof RangeError, RegExp]> = [
    ['s not an array', [v(), y, rho, g, out], TypeError, /'s' must be an array/],
    ['y[1] a Float32Array', [s, [v(), new Float32Array(dim)], rho, g, out], TypeError, /linear\.twoLoop: expected a Float64Array for 'y\[1\]' but received Float32Array/],
    ['s[0] short', [[new Float64Array(dim - 1), v()], y, rho, g, out], RangeError, /'s\[0\]' must hold 4 values/],
    ['rho short', [s, y, new Float64Array(1), g, out], RangeError, /same length/],
    ['rho a plain array', [s, y, [0.5, 0.25], g, out], TypeError, /'rho'/],
    ['out short', [s, y, rho, g, new Float64Array(dim - 1)], RangeError, /'out'/],
    ['out is a pair', [s, y, rho, g, s[1]], RangeError, /'out' overlaps a pair/],
  ];
  for (const [name, args, ctor, message] of cases) {
    const err = t.throws(() => native.linear.twoLoop(...(args as Args)), { instanceOf: ctor, message }, name);
    t.regex(err?.message ?? '', /^linear\.twoLoop: /, name);
  }
  t.throws(() => (native.linear.twoLoop as unknown as (...a: unknown[]) => void)(s, y), { instanceOf: TypeError, message: /expected 5 arguments/ });
});
