// The native logistic-regression pass (native/linear/logistic.h through native.linear.lossGrad
// and algorithms/common/logistic.ts localLossGrad) against the straightforward JS loop it
// replaced, on random CSR data: empty rows, repeated ids within a row, instance weights, bias
// on and off, several thread counts; plus argument validation (every bad argument is a JS
// error naming it, never a crash).
import test from 'ava';

import { csrFromRows, type CsrData, type Row } from '../../algorithms/common/dataset.js';
import { linearLayout, localLossGrad, lossGradWorkSize, type LinearLayout } from '../../algorithms/common/logistic.js';
import { Rng } from '../helpers/mulberry_rng.js';
import { native } from '../../lib/native.js';

/** The JS formulation of the data term (margins pass, then one exp per row), as before the kernel. */
function referenceLossGrad(data: CsrData, w: Float64Array, layout: LinearLayout, c: number, grad: Float64Array): number {
  const { rowPtr, featureIds, values, labels, weights } = data;
  const b = layout.bias ? w[layout.numFeatures]! : 0;
  grad.fill(0);
  let loss = 0;
  let biasGrad = 0;
  for (let i = 0; i < data.numRows; i++) {
    let z = b;
    for (let k = rowPtr[i]!; k < rowPtr[i + 1]!; k++) z += w[featureIds[k]!]! * values[k]!;
    const y = labels[i]! > 0 ? 1 : -1;
    const cv = weights ? c * weights[i]! : c;
    const t = -y * z;
    const e = Math.exp(-Math.abs(t));
    loss += cv * ((t > 0 ? t : 0) + Math.log1p(e));
    const r = -y * cv * (t >= 0 ? 1 / (1 + e) : e / (1 + e));
    biasGrad += r;
    for (let k = rowPtr[i]!; k < rowPtr[i + 1]!; k++) grad[featureIds[k]!]! += r * values[k]!;
  }
  if (layout.bias) grad[layout.numFeatures] = biasGrad;
  return loss;
}

function randomData(rng: Rng, rows: number, numFeatures: number, weighted: boolean): CsrData {
  const out: Row[] = [];
  for (let i = 0; i < rows; i++) {
    const nnz = rng.next() < 0.15 ? 0 : Math.floor(rng.next() * 12);
    const features: Array<[number, number]> = [];
    for (let k = 0; k < nnz; k++) features.push([Math.floor(rng.next() * numFeatures), (rng.next() - 0.5) * 4]);
    const label = [0, 1, -1, 2][Math.floor(rng.next() * 4)]!;
    out.push(weighted ? { label, features, weight: rng.next() * 3 } : { label, features });
  }
  return csrFromRows(out);
}

function close(t: import('ava').ExecutionContext, got: number, want: number, scale: number, what: string): void {
  t.true(Math.abs(got - want) <= 1e-12 * Math.max(1, scale), `${what}: ${got} vs ${want}`);
}

for (const bias of [false, true]) {
  for (const weighted of [false, true]) {
    test(`lossGrad matches the JS reference (bias ${bias}, weights ${weighted}, threads 1/2/3)`, (t) => {
      const rng = new Rng(bias ? 7 : 3);
      for (const [rows, nf] of [[0, 5], [1, 1], [37, 9], [500, 40]] as const) {
        const data = randomData(rng, rows, nf, weighted);
        const layout = linearLayout(nf, bias);
        // Large weights too, so some rows have |t| > 30 (both branches of the stable formulas).
        const w = Float64Array.from({ length: layout.dim }, () => (rng.next() - 0.5) * (rng.next() < 0.2 ? 40 : 2));
        const c = 0.5 + rng.next();
        const want = new Float64Array(layout.dim);
        const wantLoss = referenceLossGrad(data, w, layout, c, want);
        const scale = Math.abs(wantLoss) + want.reduce((s, v) => s + Math.abs(v), 0);
        for (const threads of [1, 2, 3]) {
          const grad = new Float64Array(layout.dim).fill(Number.NaN); // overwritten, not added to
          const loss = localLossGrad(data, w, layout, c, grad, threads);
          close(t, loss, wantLoss, scale, `rows ${rows} threads ${threads} loss`);
          for (let j = 0; j < layout.dim; j++) close(t, grad[j]!, want[j]!, scale, `rows ${rows} threads ${threads} grad[${j}]`);
          // Deterministic for a given thread count, reused scratch or not.
          const again = new Float64Array(layout.dim);
          const work = new Float64Array(lossGradWorkSize(layout, threads)).fill(123);
          t.is(localLossGrad(data, w, layout, c, again, threads, work), loss);
          t.deepEqual(again, grad);
        }
      }
    });
  }
}

test('lossGrad with one thread does the JS arithmetic: equal to the reference up to exp/log1p rounding', (t) => {
  // Integer-valued weights and values keep every margin exact, so only exp/log1p may differ.
  const rng = new Rng(11);
  const rows: Row[] = [];
  for (let i = 0; i < 200; i++) rows.push({ label: i % 2, features: [[1 + (i % 7), 1], [3, 2]] });
  const data = csrFromRows(rows);
  const layout = linearLayout(8, true);
  const w = Float64Array.from({ length: layout.dim }, () => Math.round((rng.next() - 0.5) * 6));
  const want = new Float64Array(layout.dim);
  const wantLoss = referenceLossGrad(data, w, layout, 1, want);
  const grad = new Float64Array(layout.dim);
  const loss = localLossGrad(data, w, layout, 1, grad);
  t.true(Math.abs(loss - wantLoss) <= 1e-13 * wantLoss);
  for (let j = 0; j < layout.dim; j++) t.true(Math.abs(grad[j]! - want[j]!) <= 1e-13 * Math.max(1, Math.abs(want[j]!)));
});

test('lossGrad rejects bad arguments with errors naming them', (t) => {
  const data = csrFromRows([
    { label: 1, features: [[1, 1], [2, 0.5]] },
    { label: 0, features: [] },
    { label: 0, features: [[3, 2]] },
  ]);
  const nf = 4;
  const dim = nf + 1;
  const w = new Float64Array(dim);
  const grad = new Float64Array(dim);
  const work = new Float64Array(2 * 2 * dim);
  type Args = Parameters<typeof native.linear.lossGrad>;
  const good: Args = [data.rowPtr, data.featureIds, data.values, data.labels, null, w, nf, true, 1, grad, 2, work];
  t.true(Number.isFinite(native.linear.lossGrad(...good)));
  const bad = (i: number, v: unknown): Args => {
    const a = [...good] as unknown[];
    a[i] = v;
    return a as Args;
  };
  const cases: Array<[string, Args, 'type' | 'range', RegExp]> = [
    ['rowPtr as Int32Array', bad(0, new Int32Array(data.rowPtr)), 'type', /'rowPtr'.*Int32Array/],
    ['featureIds as Float64Array', bad(1, new Float64Array(data.featureIds)), 'type', /'featureIds'/],
    ['values as Float64Array', bad(2, new Float64Array(data.values)), 'type', /'values'/],
    ['labels as a plain array', bad(3, [1, 0, 0]), 'type', /'labels'/],
    ['weights as Float64Array', bad(4, new Float64Array(3)), 'type', /'weights'/],
    ['w as Float32Array', bad(5, new Float32Array(dim)), 'type', /'w'/],
    ['numFeatures as a string', bad(6, '4'), 'type', /'numFeatures'/],
    ['numFeatures fractional', bad(6, 3.5), 'range', /'numFeatures'/],
    ['bias as a number', bad(7, 1), 'type', /'bias'/],
    ['c as a string', bad(8, '1'), 'type', /'c'/],
    ['grad missing', bad(9, null), 'type', /'grad'/],
    ['threads 0', bad(10, 0), 'range', /'threads'/],
    ['threads 65', bad(10, 65), 'range', /'threads'/],
    ['work missing', bad(11, null), 'type', /'work'/],
    ['work short', bad(11, new Float64Array(2 * 2 * dim - 1)), 'range', /'work'/],
    ['labels short', bad(3, new Float32Array(2)), 'range', /'labels'/],
    ['weights short', bad(4, new Float32Array(2)), 'range', /'weights'/],
    ['w short', bad(5, new Float64Array(dim - 1)), 'range', /'w'/],
    ['grad long', bad(9, new Float64Array(dim + 1)), 'range', /'grad'/],
    ['grad aliasing w', bad(9, w), 'range', /'grad' overlaps 'w'/],
    ['work aliasing grad', bad(11, grad), 'range', /'work'/],
    ['rowPtr empty', bad(0, new Uint32Array(0)), 'range', /'rowPtr' is empty/],
    ['rowPtr not ascending', bad(0, Uint32Array.from([0, 2, 1, 3])), 'range', /'rowPtr' is not ascending at row 1/],
    ['rowPtr past the entries', bad(0, Uint32Array.from([0, 2, 2, 9])), 'range', /'featureIds' is shorter/],
    [
      'a feature id >= numFeatures',
      [data.rowPtr, data.featureIds, data.values, data.labels, null, new Float64Array(3), 3, false, 1, new Float64Array(3), 1, new Float64Array(6)],
      'range',
      /feature id 3 in row 2 .*numFeatures \(3\)/,
    ],
  ];
  for (const [name, args, kind, message] of cases) {
    const err = t.throws(() => native.linear.lossGrad(...args), { instanceOf: kind === 'type' ? TypeError : RangeError, message }, name);
    t.regex(err?.message ?? '', /^linear\.lossGrad: /, name);
  }
  t.throws(() => (native.linear.lossGrad as unknown as (...a: unknown[]) => number)(data.rowPtr), { instanceOf: TypeError, message: /expected 12 arguments/ });
  // Through the JS wrapper: an id beyond the layout is a RangeError, not NaN or a crash.
  t.throws(() => localLossGrad(data, new Float64Array(3), linearLayout(3, false), 1, new Float64Array(3)), { instanceOf: RangeError, message: /row 2/ });
});
