// MART's per-round native kernels (native/gbdt, binding/gbdt_wrap.cc) against JS references,
// and their argument checks.
import test from 'ava';

import { csrFromRows, type Row } from '../../algorithms/common/dataset.js';
import { Rng } from '../helpers/mulberry_rng.js';
import { gbdtNative } from '../../algorithms/mart/native.js';
import { logisticObjective, logisticReference } from '../../algorithms/mart/objective.js';
import { localDistributions } from '../../algorithms/mart/sketch.js';
import { referenceHistogram } from '../helpers/gbdt_reference.js';

function randomBins(rng: Rng, numRows: number, nbs: number[]): { bins: Uint8Array; binOffsets: Uint32Array } {
  const nf = nbs.length;
  const binOffsets = new Uint32Array(nf + 1);
  nbs.forEach((nb, f) => (binOffsets[f + 1] = binOffsets[f]! + nb + 1));
  const bins = new Uint8Array(numRows * nf);
  for (let r = 0; r < numRows; r++) for (let f = 0; f < nf; f++) bins[r * nf + f] = rng.int(nbs[f]! + 1);
  return { bins, binOffsets };
}

test('buildHistPairs equals buildHist and a JS reference (1 and 2 threads, row subsets); bad input is a named error', (t) => {
  const rng = new Rng(5);
  const numRows = 40000; // enough cells for 2 threads to split the root
  const nbs = [1, 3, 255, 2, 16, 5, 9];
  const nf = nbs.length;
  const { bins, binOffsets } = randomBins(rng, numRows, nbs);
  const grad = Float64Array.from({ length: numRows }, () => Math.round(rng.normal() * 1e6));
  const hess = Float64Array.from({ length: numRows }, (_, i) => (i % 11 === 0 ? 0 : rng.int(1000)));
  for (let i = 0; i < numRows; i += 13) grad[i] = 0; // some unsampled rows (grad = hess = 0)
  const gh = new Float64Array(2 * numRows);
  gbdtNative.quantizePairs(grad, hess, 1, 1, gh);
  const slots = binOffsets[nf]!;
  for (const rows of [Uint32Array.from({ length: numRows }, (_, i) => i), Uint32Array.from({ length: 5000 }, (_, i) => (i * 7) % numRows)]) {
    const want = referenceHistogram(bins, nf, rows, grad, hess, binOffsets);
    for (const threads of [1, 2]) {
      const got = new Float64Array(2 * slots);
      gbdtNative.buildHistPairs(bins, nf, rows, gh, binOffsets, got, threads);
      t.deepEqual(got, want);
      const old = new Float64Array(2 * slots);
      gbdtNative.buildHist(bins, nf, rows, grad, hess, binOffsets, old, threads);
      t.deepEqual(old, want);
    }
  }
  const hist = new Float64Array(2 * slots);
  t.throws(() => gbdtNative.buildHistPairs(bins, nf, Uint32Array.of(numRows), gh, binOffsets, hist, 1), { instanceOf: RangeError, message: /buildHistPairs: a row index is out of range/ });
  t.throws(() => gbdtNative.buildHistPairs(bins, nf, Uint32Array.of(0), grad, binOffsets, hist, 1), { instanceOf: RangeError, message: /'gh' must hold 2 doubles per row/ });
  t.throws(() => gbdtNative.buildHistPairs(bins, nf, Uint32Array.of(0), gh, binOffsets, new Float64Array(3), 1), { instanceOf: RangeError, message: /'hist'/ });
  t.throws(() => gbdtNative.buildHistPairs(bins, nf, Uint32Array.of(0), new Float32Array(2 * numRows) as unknown as Float64Array, binOffsets, hist, 1), {
    instanceOf: TypeError,
    message: /expected a Float64Array for 'gh' but received Float32Array/,
  });
});

test('quantizePairs rounds exactly like Math.round (halves, -0, huge, non-finite); absMax is the JS maximum', (t) => {
  const rng = new Rng(9);
  const special = [0, -0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994, -0.3, 0.3, -1e-300, 2 ** 52 - 0.5, -(2 ** 52) + 0.5, 2 ** 52 + 2, -(2 ** 53), 1e300, -1e300, Infinity, -Infinity, NaN];
  const values = [...special, ...Array.from({ length: 20000 }, () => rng.normal() * 10 ** rng.int(16))];
  const n = values.length;
  const grad = Float64Array.from(values);
  const hess = Float64Array.from(values, (v) => v * 3);
  const gh = new Float64Array(2 * n);
  for (const [sg, sh] of [
    [1, 1],
    [2 ** 20, 2 ** -3],
  ] as const) {
    gbdtNative.quantizePairs(grad, hess, sg, sh, gh);
    let mismatches = 0;
    for (let i = 0; i < n; i++) {
      if (!Object.is(gh[2 * i], Math.round(grad[i]! * sg))) mismatches++;
      if (!Object.is(gh[2 * i + 1], Math.round(hess[i]! * sh))) mismatches++;
    }
    t.is(mismatches, 0);
  }
  t.throws(() => gbdtNative.quantizePairs(grad, hess, 0, 1, gh), { instanceOf: RangeError, message: /'sg' must be a finite number > 0/ });
  t.throws(() => gbdtNative.quantizePairs(grad, hess, 1, 1, new Float64Array(n)), { instanceOf: RangeError, message: /'gh' must hold 2 doubles per row/ });

  const g = Float64Array.of(0.5, -3, NaN, 2);
  const h = Float64Array.of(0.1, NaN, 0.7, 0.2);
  const out = new Float64Array(2);
  gbdtNative.absMax(g, h, out);
  t.deepEqual(Array.from(out), [3, 0.7]);
  gbdtNative.absMax(new Float64Array(0), new Float64Array(0), out);
  t.deepEqual(Array.from(out), [0, 0]);
  t.throws(() => gbdtNative.absMax(g, new Float64Array(3), out), { instanceOf: RangeError, message: /absMax: 'grad' and 'hess'/ });
});

test('addLeafValues adds each leaf value to its rows; ranges and rows are checked', (t) => {
  const rows = Uint32Array.of(4, 0, 2, 1, 3);
  const margins = Float64Array.of(1, 1, 1, 1, 1);
  gbdtNative.addLeafValues(rows, Uint32Array.of(0, 2, 2, 5), Float64Array.of(0.25, -0.5), margins);
  t.deepEqual(Array.from(margins), [1.25, 0.5, 0.5, 0.5, 1.25]);
  t.throws(() => gbdtNative.addLeafValues(rows, Uint32Array.of(0, 6), Float64Array.of(1), margins), { instanceOf: RangeError, message: /a range is not inside 'rows'/ });
  t.throws(() => gbdtNative.addLeafValues(rows, Uint32Array.of(3, 2), Float64Array.of(1), margins), { instanceOf: RangeError, message: /a range is not inside 'rows'/ });
  t.throws(() => gbdtNative.addLeafValues(Uint32Array.of(5), Uint32Array.of(0, 1), Float64Array.of(1), margins), { instanceOf: RangeError, message: /out of range of 'margins'/ });
  t.throws(() => gbdtNative.addLeafValues(rows, Uint32Array.of(0, 1), Float64Array.of(1, 2), margins), { instanceOf: RangeError, message: /'ranges' must hold/ });
});

test('partitionRows (branch-free) is the stable JS partition on random data', (t) => {
  const rng = new Rng(21);
  const numRows = 5000;
  const nf = 4;
  const { bins } = randomBins(rng, numRows, [7, 30, 2, 255]);
  for (let trial = 0; trial < 20; trial++) {
    const rows = Uint32Array.from({ length: 3000 }, () => rng.int(numRows)).sort();
    const feature = rng.int(nf);
    const threshold = rng.int(8);
    const defaultLeft = rng.int(2) === 1;
    const goLeft = (r: number): boolean => {
      const b = bins[r * nf + feature]!;
      return b === 0 ? defaultLeft : b <= threshold;
    };
    const want = [...Array.from(rows).filter(goLeft), ...Array.from(rows).filter((r) => !goLeft(r))];
    const nl = gbdtNative.partitionRows(bins, nf, rows, feature, threshold, defaultLeft, new Uint32Array(rows.length));
    t.is(nl, Array.from(rows).filter(goLeft).length);
    t.deepEqual(Array.from(rows), want);
  }
});

test('logisticGradients/logisticLoss match the JS objective (with and without weights); lengths are checked', (t) => {
  const rng = new Rng(13);
  const n = 5000;
  const margins = Float64Array.from({ length: n }, () => rng.normal() * 8);
  margins[0] = 40;
  margins[1] = -40;
  margins[2] = 0;
  const labels = Float32Array.from({ length: n }, () => (rng.int(2) === 1 ? 1 : 0));
  const weights = Float32Array.from({ length: n }, () => rng.int(4) / 2);
  for (const w of [null, weights]) {
    const nat = logisticObjective(labels, w);
    const ref = logisticReference(labels, w);
    const [g1, h1, g2, h2] = [0, 1, 2, 3].map(() => new Float64Array(n)) as [Float64Array, Float64Array, Float64Array, Float64Array];
    nat.gradients(margins, g1, h1);
    ref.gradients(margins, g2, h2);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(g1[i]! - g2[i]!), Math.abs(h1[i]! - h2[i]!) / Math.max(h2[i]!, 1e-300));
    t.true(worst < 1e-12, `worst difference ${worst}`);
    const [s1, w1] = nat.loss(margins);
    const [s2, w2] = ref.loss(margins);
    t.true(Math.abs(s1 - s2) <= 1e-12 * s2);
    t.is(w1, w2);
  }
  const g = new Float64Array(n);
  t.throws(() => gbdtNative.logisticGradients(margins, labels.subarray(1), null, g, g), { instanceOf: RangeError, message: /logisticGradients: 'labels'/ });
  t.throws(() => gbdtNative.logisticGradients(margins, labels, weights.subarray(1), g, g), { instanceOf: RangeError, message: /'weights'/ });
  t.throws(() => gbdtNative.logisticLoss(margins, labels, null, new Float64Array(3)), { instanceOf: RangeError, message: /'out' must hold 2 doubles/ });
  t.throws(() => gbdtNative.logisticLoss(margins, Float64Array.from(labels) as unknown as Float32Array, null, new Float64Array(2)), {
    instanceOf: TypeError,
    message: /expected a Float32Array for 'labels'/,
  });
});

test('sortFloat32/sortFloat64 sort like the typed-array sort (-0 before +0, ties, negatives); NaN is refused', (t) => {
  const rng = new Rng(17);
  for (const n of [0, 1, 2, 7, 3000, 70000]) {
    const src = Array.from({ length: n }, (_, i) => (i % 17 === 0 ? -0 : i % 19 === 0 ? 0 : i % 5 === 0 ? Math.round(rng.normal() * 3) : rng.normal() * 10 ** rng.int(8)));
    const f32 = Float32Array.from(src);
    const want32 = f32.slice().sort();
    gbdtNative.sortFloat32(f32, new Float32Array(n));
    t.true(f32.every((v, i) => Object.is(v, want32[i])));
    const f64 = Float64Array.from(src);
    const want64 = f64.slice().sort();
    gbdtNative.sortFloat64(f64, new Float64Array(n));
    t.true(f64.every((v, i) => Object.is(v, want64[i])));
  }
  const probs = Float64Array.from({ length: 1000 }, () => rng.next());
  const want = probs.slice().sort();
  gbdtNative.sortFloat64(probs, new Float64Array(1000));
  t.deepEqual(probs, want);
  t.throws(() => gbdtNative.sortFloat64(Float64Array.of(1, NaN), new Float64Array(2)), { instanceOf: RangeError, message: /sortFloat64: 'values' holds NaN/ });
  t.throws(() => gbdtNative.sortFloat32(Float32Array.of(1, 2), new Float32Array(1)), { instanceOf: RangeError, message: /'scratch' is shorter/ });
});

test('featureDistinct (the unweighted sketch input) equals the JS path with unit weights; bad input is a named error', (t) => {
  const rng = new Rng(31);
  const rows: Row[] = Array.from({ length: 3000 }, () => ({
    label: rng.int(2),
    features: [0, 1, 2, 3, 5, 9]
      .filter(() => rng.int(4) > 0)
      .map((f) => [f, f === 1 ? rng.int(5) - 2 : f === 2 ? (rng.int(3) === 0 ? NaN : rng.normal()) : f === 3 ? (rng.int(2) === 0 ? -0 : 0) : rng.normal() * 100] as const),
  }));
  const data = csrFromRows(rows);
  t.is(data.weights, null);
  const weighted = { ...data, weights: new Float32Array(data.numRows).fill(1) };
  for (const nf of [4, 10, 12]) {
    const got = localDistributions(data, nf);
    const want = localDistributions(weighted, nf);
    t.is(got.length, nf);
    for (let f = 0; f < nf; f++) {
      t.deepEqual(Array.from(got[f]!.values), Array.from(want[f]!.values), `feature ${f}`);
      t.deepEqual(Array.from(got[f]!.masses), Array.from(want[f]!.masses), `feature ${f}`);
    }
  }
  const o = new Uint32Array(5);
  const d = new Uint32Array(4);
  const nnz = data.featureIds.length;
  t.throws(() => gbdtNative.featureDistinct(data.rowPtr, data.featureIds, data.values, 4, o, d, new Float32Array(nnz - 1), new Uint32Array(nnz)), {
    instanceOf: RangeError,
    message: /featureDistinct: 'vals' and 'mult'/,
  });
  t.throws(() => gbdtNative.featureDistinct(data.rowPtr, data.featureIds, data.values, 4, new Uint32Array(4), d, new Float32Array(nnz), new Uint32Array(nnz)), {
    instanceOf: RangeError,
    message: /'offsets' must hold numFeatures \+ 1/,
  });
  t.throws(() => gbdtNative.featureDistinct(Uint32Array.of(0, 2, 1), data.featureIds, data.values, 4, o, d, new Float32Array(nnz), new Uint32Array(nnz)), {
    instanceOf: RangeError,
    message: /'rowPtr' is not ascending/,
  });
});
