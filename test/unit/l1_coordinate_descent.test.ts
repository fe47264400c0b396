// The newton-l1 kernels (native/linear/l1_coordinate_descent.h): rowsLoss and columnStats
// against plain JS sums on random data; the inner solver (coordinateDescent, and blockStep
// driven a block at a time as the distributed solve does) reaches the minimum of the
// L1-regularised quadratic model, checked by the model's minimum-norm subgradient computed here
// in JS; bad arguments throw JS errors naming them.
import test from 'ava';

import { csrFromRows, type Row } from '../../algorithms/common/dataset.js';
import { linearLayout } from '../../algorithms/common/logistic.js';
import { Rng } from '../helpers/mulberry_rng.js';
import { toColumns, type Columns } from '../../algorithms/tron/columns.js';
import { native } from '../../lib/native.js';

const rng = new Rng(7);
const numFeatures = 30;
const rows: Row[] = Array.from({ length: 200 }, () => {
  const ids = new Set<number>();
  const k = 1 + rng.int(6);
  while (ids.size < k) ids.add(rng.int(numFeatures));
  return { label: rng.next() < 0.4 ? 1 : 0, weight: 0.5 + rng.next(), features: [...ids].map((j) => [j, rng.normal()] as const) };
});
const data = csrFromRows(rows);
const layout = linearLayout(numFeatures, true);
const dim = layout.dim;
const x = toColumns(data, layout);
const n = data.numRows;
const C = 0.7;
const L1 = 0.3;

/** x_ij for the layout (the bias is a column of ones). */
function entry(i: number, j: number): number {
  if (j === numFeatures) return 1;
  let v = 0;
  for (let k = data.rowPtr[i]!; k < data.rowPtr[i + 1]!; k++) if (data.featureIds[k] === j) v += data.values[k]!;
  return v;
}

function margins(w: Float64Array): Float64Array {
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) z[i]! += entry(i, j) * w[j]!;
  return z;
}

const w = Float64Array.from({ length: dim }, (_, j) => (j % 3 === 0 ? 0 : rng.normal() * 0.3));
const z = margins(w);
const r = new Float64Array(n);
const D = new Float64Array(n);
const loss = native.linear.rowsLoss(z, null, 0, data.labels, data.weights, C, r, D);

test('rowsLoss: loss, first and second derivatives per row match the JS formulas', (t) => {
  let ref = 0;
  for (let i = 0; i < n; i++) {
    const y = data.labels[i]! > 0 ? 1 : -1;
    const cv = C * data.weights![i]!;
    const s = 1 / (1 + Math.exp(-y * z[i]!));
    ref += cv * Math.log(1 + Math.exp(-y * z[i]!));
    t.true(Math.abs(r[i]! - cv * (s - 1) * y) < 1e-12, `r[${i}]`);
    t.true(Math.abs(D[i]! - cv * s * (1 - s)) < 1e-12, `D[${i}]`);
  }
  t.true(Math.abs(loss - ref) < 1e-9 * Math.abs(ref), `${loss} vs ${ref}`);
  // m = z + t*dz: the same as the loss at the moved margins.
  const dz = Float64Array.from({ length: n }, () => rng.normal());
  const moved = z.map((zi, i) => zi + 0.25 * dz[i]!);
  t.true(Math.abs(native.linear.rowsLoss(z, dz, 0.25, data.labels, data.weights, C, null, null) - native.linear.rowsLoss(moved, null, 0, data.labels, data.weights, C, null, null)) < 1e-9);
});

test('columnStats: G = X\'r and H = nu + diag(X\'DX) per column (bias column of ones)', (t) => {
  const G = new Float64Array(dim);
  const H = new Float64Array(dim);
  native.linear.columnStats(x.colPtr, x.rowIdx, x.values, r, D, 1e-3, G, H);
  for (let j = 0; j < dim; j++) {
    let g = 0;
    let h = 1e-3;
    for (let i = 0; i < n; i++) {
      const v = entry(i, j);
      g += v * r[i]!;
      h += v * v * D[i]!;
    }
    t.true(Math.abs(G[j]! - g) < 1e-9, `G[${j}] ${G[j]} vs ${g}`);
    t.true(Math.abs(H[j]! - h) < 1e-9, `H[${j}] ${H[j]} vs ${h}`);
  }
});

/** The model's minimum-norm subgradient 1-norm at d over `active` (JS, dense). */
function modelViolation(G: Float64Array, d: Float64Array, active: Uint32Array): number {
  const xd = margins(d);
  let s = 0;
  for (const j of active) {
    let g = G[j]! + 1e-12 * d[j]!;
    for (let i = 0; i < n; i++) g += entry(i, j) * D[i]! * xd[i]!;
    const wpd = w[j]! + d[j]!;
    if (j >= numFeatures) s += Math.abs(g);
    else if (wpd > 0) s += Math.abs(g + L1);
    else if (wpd < 0) s += Math.abs(g - L1);
    else s += Math.max(0, g - L1, -g - L1);
  }
  return s;
}

function stats(): { G: Float64Array; H: Float64Array } {
  const G = new Float64Array(dim);
  const H = new Float64Array(dim);
  native.linear.columnStats(x.colPtr, x.rowIdx, x.values, r, D, 1e-12, G, H);
  return { G, H };
}

const options = { l1: L1, penalized: numFeatures, nu: 1e-12, tol: 1e-10, maxPasses: 10_000, seed: 3 };

test('coordinateDescent and blockStep minimise the L1 quadratic model (violation ~ 0) and agree', (t) => {
  const { G, H } = stats();
  const active = Uint32Array.from({ length: dim }, (_, j) => j);
  const d = new Float64Array(dim);
  const xd = new Float64Array(n);
  const passes = native.linear.coordinateDescent(x.colPtr, x.rowIdx, x.values, D, G, H, w, active, d, xd, options);
  t.true(passes > 1 && passes < options.maxPasses, `passes ${passes}`);
  const before = modelViolation(G, new Float64Array(dim), active);
  const after = modelViolation(G, d, active);
  t.log(`violation ${before} -> ${after} in ${passes} passes`);
  t.true(after < 1e-6 * before, `violation ${after}`);
  const ref = margins(d);
  t.true(xd.every((v, i) => Math.abs(v - ref[i]!) < 1e-9), 'xd = X d');
  t.true(d.some((v, j) => j < numFeatures && w[j]! + v === 0), 'some weights land exactly on zero');
  // The same model solved in blocks of 4 columns (dots summed by "one rank" here).
  const d2 = new Float64Array(dim);
  const xd2 = new Float64Array(n);
  const dots = new Float64Array(4);
  for (let pass = 0; pass < 5000; pass++) {
    let norm1 = 0;
    for (let b = 0; b < dim; b += 4) {
      const cols = active.subarray(b, Math.min(b + 4, dim));
      native.linear.columnDots(x.colPtr, x.rowIdx, x.values, D, xd2, cols, dots);
      norm1 += native.linear.blockStep(x.colPtr, x.rowIdx, x.values, G, H, w, cols, dots, d2, xd2, options, Infinity).norm1;
    }
    if (norm1 <= 1e-10) break;
  }
  t.true(modelViolation(G, d2, active) < 1e-6 * before, 'blocked solve converged');
  t.true(d2.every((v, j) => Math.abs(v - d[j]!) < 1e-5), 'both reach the same minimiser');
});

test('blockStep shrinking: zero columns whose gradient sits inside (-l1, l1) by more than the bound leave cols (kept ones first, in order) and take no step', (t) => {
  const { G, H } = stats();
  const bound = 0.02;
  // At d = 0 the summed dots are 0 (X d = 0).
  const inside = (j: number): boolean => j < numFeatures && w[j] === 0 && G[j]! + L1 > bound && G[j]! - L1 < -bound;
  const all = Uint32Array.from({ length: dim }, (_, j) => j);
  const expectKept = [...all].filter((j) => !inside(j));
  t.true(expectKept.length < dim && expectKept.length > 0, `${dim - expectKept.length} columns to shrink`);
  const cols = all.slice();
  const d = new Float64Array(dim);
  const xd = new Float64Array(n);
  const res = native.linear.blockStep(x.colPtr, x.rowIdx, x.values, G, H, w, cols, new Float64Array(dim), d, xd, options, bound);
  t.is(res.kept, expectKept.length);
  t.deepEqual([...cols.subarray(0, res.kept)], expectKept);
  t.true([...all].every((j) => !inside(j) || d[j] === 0), 'shrunk columns take no step');
  const kept = Uint32Array.from(expectKept);
  t.true(Math.abs(res.norm1 - modelViolation(G, new Float64Array(dim), kept)) < 1e-9, `norm1 ${res.norm1}`);
  // Without a bound (Infinity) every column stays.
  const none = native.linear.blockStep(x.colPtr, x.rowIdx, x.values, G, H, w, all.slice(), new Float64Array(dim), new Float64Array(dim), new Float64Array(n), options, Infinity);
  t.is(none.kept, dim);
  t.true(none.gmax > 0 && none.gmax <= none.norm1);
});

test('addColumns: out += sum over cols of amounts[j] * column j (zero amounts and other columns ignored)', (t) => {
  const amounts = Float64Array.from({ length: dim }, (_, j) => (j % 4 === 0 ? 0 : rng.normal()));
  const cols = Uint32Array.from([0, 3, 5, 8, numFeatures]);
  const out = Float64Array.from({ length: n }, () => rng.normal());
  const before = out.slice();
  native.linear.addColumns(x.colPtr, x.rowIdx, x.values, cols, amounts, out);
  const e = new Float64Array(dim);
  for (const j of cols) e[j] = amounts[j]!;
  const ref = margins(e);
  t.true(out.every((v, i) => Math.abs(v - before[i]! - ref[i]!) < 1e-9));
  t.throws(() => native.linear.addColumns(x.colPtr, x.rowIdx, x.values, cols, new Float64Array(3), out), { instanceOf: RangeError, message: /'amounts' must hold one value per column \(31\)/ });
});

test('coordinateDescent leaves columns outside `active` at zero', (t) => {
  const { G, H } = stats();
  const active = Uint32Array.from([1, 2, 4, numFeatures]);
  const d = new Float64Array(dim);
  const xd = new Float64Array(n);
  native.linear.coordinateDescent(x.colPtr, x.rowIdx, x.values, D, G, H, w, active, d, xd, options);
  t.true(d.every((v, j) => active.includes(j) || v === 0));
  t.true(d[numFeatures] !== 0, 'the bias moves');
});

test('bad arguments throw JS errors naming them', (t) => {
  const { G, H } = stats();
  const d = new Float64Array(dim);
  const xd = new Float64Array(n);
  const all = Uint32Array.from({ length: dim }, (_, j) => j);
  const cd = (cols: Columns, active: Uint32Array, o: object = options) =>
    native.linear.coordinateDescent(cols.colPtr, cols.rowIdx, cols.values, D, G, H, w, active, d, xd, o as typeof options);
  const badRow: Columns = { ...x, rowIdx: x.rowIdx.map((v, k) => (k === 5 ? n + 3 : v)) };
  t.throws(() => cd(badRow, all), { instanceOf: RangeError, message: /coordinateDescent: a row index .* >= the number of rows \(200\)/ });
  const badPtr: Columns = { ...x, colPtr: x.colPtr.map((v, j) => (j === 3 ? 0 : v)) };
  t.throws(() => cd(badPtr, all), { instanceOf: RangeError, message: /'colPtr' is not ascending at column/ });
  t.throws(() => cd(x, Uint32Array.from([1, 1])), { instanceOf: RangeError, message: /column 1 appears twice/ });
  t.throws(() => cd(x, Uint32Array.from([dim])), { instanceOf: RangeError, message: /is not a column \(31\)/ });
  t.throws(() => cd(x, all, { ...options, nu: 0 }), { instanceOf: RangeError, message: /options.nu must be a finite number > 0/ });
  t.throws(() => cd(x, all, { ...options, penalized: dim + 1 }), { instanceOf: RangeError, message: /options.penalized must be an integer in \[0, 31\]/ });
  t.throws(() => cd(x, all, { l1: 1 }), { instanceOf: TypeError, message: /options.penalized must be a number/ });
  t.throws(() => native.linear.columnStats(x.colPtr, x.rowIdx, x.values, r, D, 0, G, new Float64Array(3)), { instanceOf: RangeError, message: /'H' must hold one value per column \(31\)/ });
  t.throws(() => native.linear.columnStats(badRow.colPtr, badRow.rowIdx, badRow.values, r, D, 0, G, H), { instanceOf: RangeError, message: /columnStats: a row index/ });
  t.throws(() => native.linear.rowsLoss(z, null, 0, new Float32Array(3), null, 1, null, null), { instanceOf: RangeError, message: /'labels' must hold one value per row \(200\)/ });
  t.throws(() => native.linear.rowsLoss(z, null, 0, data.labels, null, 1, r, null), { instanceOf: RangeError, message: /'r' and 'd' must both be given/ });
  const dots = new Float64Array(2);
  t.throws(() => native.linear.columnDots(badRow.colPtr, badRow.rowIdx, badRow.values, D, xd, all.subarray(0, 2), dots), { instanceOf: RangeError, message: /columnDots: a row index/ });
  t.throws(() => native.linear.blockStep(x.colPtr, x.rowIdx, x.values, G, H, w, Uint32Array.from([0, 0]), dots, d, xd, options, Infinity), { instanceOf: RangeError, message: /column 0 appears twice/ });
  t.throws(() => native.linear.blockStep(x.colPtr, x.rowIdx, x.values, G, H, w, Uint32Array.from([0, 1, 2]), dots, d, xd, options, Infinity), { instanceOf: RangeError, message: /'dots' must hold at least one value per entry of 'cols' \(3\)/ });
  t.throws(() => native.linear.blockStep(x.colPtr, x.rowIdx, x.values, G, H, w, all.slice(0, 2), dots, d, xd, options, -1), { instanceOf: RangeError, message: /shrinkBound must be >= 0/ });
  t.throws(() => native.linear.blockStep(badRow.colPtr, badRow.rowIdx, badRow.values, G, H, w, all, new Float64Array(dim), d, xd, options, Infinity), { instanceOf: RangeError, message: /blockStep: a row index/ });
});
