// Single-process checks of the Newton solvers (algorithms/tron): the native Hessian-vector
// product and Hessian diagonal against finite differences of the gradient and against each
// other, on generated data (bias, instance weights, 1 and 2 threads); the preconditioned
// trust-region CG against a dense solve; TRON and newGLMNET (L1) reaching the optima of L-BFGS
// and BCD on a small generated set; newGLMNET resumed from a committed state.
import test from 'ava';

import { localCollective } from '../../algorithms/common/collective.js';
import { type CsrData } from '../../algorithms/common/dataset.js';
import { syntheticBinary } from '../helpers/synthetic.js';
import { linearLayout } from '../../algorithms/common/logistic.js';
import { train } from '../../algorithms/lbfgs_lr/index.js';
import { LrNewtonObjective, tronLr, type TronState } from '../../algorithms/tron/index.js';
import { trustRegionCg } from '../../algorithms/tron/trust_region_cg.js';
import { native } from '../../lib/native.js';

const comm = localCollective();

function generated(weighted: boolean): CsrData {
  const base = syntheticBinary({ rows: 120, features: 15, nnzPerRow: 4, seed: 5 });
  return weighted ? { ...base, weights: Float32Array.from({ length: base.numRows }, (_, i) => 0.5 + (i % 4) * 0.75) } : base;
}

for (const bias of [false, true]) {
  for (const weighted of [false, true]) {
    test(`Hessian-vector product matches finite differences of the gradient (bias ${bias}, weights ${weighted})`, async (t) => {
      const data = generated(weighted);
      const layout = linearLayout(16, bias);
      const fn = new LrNewtonObjective(comm, data, layout, 0.8, 1);
      const w = Float64Array.from({ length: layout.dim }, (_, j) => Math.cos(j + 2) * 0.7);
      const v = Float64Array.from({ length: layout.dim }, (_, j) => Math.sin(3 * j + 1));
      const g = new Float64Array(layout.dim);
      await fn.evaluate(w, g);
      fn.acceptLast();
      const hv = new Float64Array(layout.dim);
      await fn.hessianVector(v, hv);
      // Central difference of the gradient along v: (g(w + h v) - g(w - h v)) / 2h = H v + O(h^2).
      const h = 1e-5;
      const gp = new Float64Array(layout.dim);
      const gm = new Float64Array(layout.dim);
      await fn.evaluate(w.map((x, j) => x + h * v[j]!), gp);
      await fn.evaluate(w.map((x, j) => x - h * v[j]!), gm);
      let scale = 0;
      for (let j = 0; j < layout.dim; j++) scale = Math.max(scale, Math.abs(hv[j]!));
      t.true(scale > 1, 'the product is not trivially small');
      for (let j = 0; j < layout.dim; j++) {
        const fd = (gp[j]! - gm[j]!) / (2 * h);
        t.true(Math.abs(fd - hv[j]!) <= 1e-6 * scale, `slot ${j}: H v ${hv[j]} vs finite difference ${fd}`);
      }
      // The diagonal is e_j' H e_j, and the kernel gives the same bits for any chunking.
      const diag = new Float64Array(layout.dim);
      await fn.hessianDiagonal(diag);
      for (let j = 0; j < layout.dim; j++) {
        const e = new Float64Array(layout.dim);
        e[j] = 1;
        const col = new Float64Array(layout.dim);
        await fn.hessianVector(e, col);
        t.true(Math.abs(col[j]! - diag[j]!) <= 1e-12 * Math.max(1, diag[j]!), `diagonal ${j}: ${diag[j]} vs ${col[j]}`);
      }
    });
  }
}

test('hessianVector: two threads give the one-thread product (to rounding) and bad arguments throw', (t) => {
  const data = generated(true);
  const n = data.numRows;
  const d = Float64Array.from({ length: n }, (_, i) => 0.1 + (i % 7) / 10);
  const v = Float64Array.from({ length: 17 }, (_, j) => j - 8);
  const one = new Float64Array(17);
  const two = new Float64Array(17);
  native.linear.hessianVector(data.rowPtr, data.featureIds, data.values, d, v, 16, true, one, 1, new Float64Array(2 * 17));
  native.linear.hessianVector(data.rowPtr, data.featureIds, data.values, d, v, 16, true, two, 2, new Float64Array(4 * 17));
  for (let j = 0; j < 17; j++) t.true(Math.abs(one[j]! - two[j]!) <= 1e-12 * Math.max(1, Math.abs(one[j]!)));
  t.throws(() => native.linear.hessianVector(data.rowPtr, data.featureIds, data.values, d.subarray(1), v, 16, true, one, 1, new Float64Array(34)), {
    message: /'curvature' must hold one value per row/,
  });
  t.throws(() => native.linear.hessianVector(data.rowPtr, data.featureIds, data.values, d, v, 3, false, new Float64Array(3), 1, new Float64Array(6)), {
    instanceOf: RangeError,
    message: /'v' must hold/,
  });
  t.throws(() => native.linear.hessianDiagonal(data.rowPtr, data.featureIds, data.values, d, 3, false, new Float64Array(3), 1, new Float64Array(6)), {
    instanceOf: RangeError,
    message: /feature id \d+ in row \d+ of 'featureIds' is >= numFeatures \(3\)/,
  });
});

test('trust-region CG: inside the region it solves H s = -g; otherwise it stops on the boundary', async (t) => {
  // H = diag(1..6) + 0.5 * ones, g fixed: the dense solution is checked by the residual.
  const dim = 6;
  const hv = async (x: Float64Array, out: Float64Array): Promise<void> => {
    let sum = 0;
    for (let j = 0; j < dim; j++) sum += x[j]!;
    for (let j = 0; j < dim; j++) out[j] = (j + 1) * x[j]! + 0.5 * sum;
  };
  const g = Float64Array.from([1, -2, 3, -1, 0.5, 2]);
  const inside = await trustRegionCg(g, 1e6, hv, Float64Array.from([1, 2, 3, 4, 5, 6]), 1e-12);
  t.false(inside.boundary);
  const hs = new Float64Array(dim);
  await hv(inside.s, hs);
  for (let j = 0; j < dim; j++) t.true(Math.abs(hs[j]! + g[j]!) < 1e-9, `residual ${j}: ${hs[j]! + g[j]!}`);
  const cut = await trustRegionCg(g, 0.3, hv, null, 1e-12);
  t.true(cut.boundary);
  t.true(Math.abs(cut.norm - 0.3) < 1e-12, `||s|| = ${cut.norm}`);
});

const small = syntheticBinary({ rows: 500, features: 30, nnzPerRow: 5, seed: 11 });

test('tron reaches the L-BFGS optimum (L2, bias) within 1e-9 in a few Newton steps', async (t) => {
  const ref = await train(comm, small, { solver: 'lbfgs', bias: true, tol: 0, maxIter: 400 }, { log: null });
  const r = await train(comm, small, { solver: 'tron', bias: true, eps: 1e-8 }, { log: null });
  t.log(`tron ${r.objective} in ${r.iterations} iterations (${r.reason}); lbfgs ${ref.objective}`);
  // 'objective': no decrease left to see in double precision before the gradient rule fired.
  t.true(r.reason === 'gradient' || r.reason === 'objective', r.reason);
  t.true(r.iterations <= 15);
  t.true(Math.abs(r.objective - ref.objective) <= 1e-9 * ref.objective, `${r.objective} vs ${ref.objective}`);
  t.true(r.gradNorm0 !== null && r.gradNorm / r.gradNorm0 <= 1e-6, `|g|/|g0| ${r.gradNorm / r.gradNorm0!}`);
});

test('newton-l1 reaches the BCD (newGLMNET-like, one block) L1 optimum within 1e-7 and is sparse', async (t) => {
  const ref = await train(comm, small, { solver: 'bcd', penalty: 'l1', l1: 2, bias: true, tol: 1e-14, maxIter: 500 }, { log: null });
  const r = await train(comm, small, { solver: 'newton-l1', l1: 2, bias: true, eps: 1e-7 }, { log: null });
  t.log(`newton-l1 ${r.objective} in ${r.iterations} iterations (${r.reason}); bcd ${ref.objective}`);
  t.is(r.reason, 'gradient');
  t.true(Math.abs(r.objective - ref.objective) <= 1e-7 * ref.objective, `${r.objective} vs ${ref.objective}`);
  const zeros = r.weights.filter((w) => w === 0).length;
  t.true(zeros > 1, `${zeros} zero weights`);
});

test('newton-l1 resumed from a committed state (lost rank, restart) ends at the uninterrupted optimum', async (t) => {
  // 1100 slots: above the dense-Hessian limit, so the column-wise solve runs.
  const data = syntheticBinary({ rows: 800, features: 1100, nnzPerRow: 8, seed: 9 });
  const layout = linearLayout(1101, true);
  const options = { c: 1, l2: 0, l1: 0.5, eps: 1e-8, maxIter: 200 };
  const states: TronState[] = [];
  const full = await tronLr(comm, data, layout, { ...options, onCommit: (s) => states.push({ ...s, w: Float64Array.from(s.w) }) });
  t.true(full.iterations >= 4, `${full.iterations} iterations`);
  const at = states[2]!;
  t.is(at.stopped, null);
  const resumed = await tronLr(comm, data, layout, { ...options, resume: at });
  t.log(`uninterrupted ${full.objective} (${full.iterations}); resumed at ${at.iteration}: ${resumed.objective} (${resumed.iterations})`);
  t.true(Math.abs(resumed.objective - full.objective) <= 1e-10 * full.objective, `${resumed.objective} vs ${full.objective}`);
  t.is(resumed.reason, full.reason);
  // A state that says the run stopped is not run again.
  const done = await tronLr(comm, data, layout, { ...options, resume: states.at(-1)! });
  t.is(done.iterations, full.iterations);
  t.is(done.reason, full.reason);
  // The margins X w are rebuilt column by column on resume: the same objective up to rounding.
  t.true(Math.abs(done.objective - full.objective) <= 1e-12 * full.objective, `${done.objective} vs ${full.objective}`);
});
