// LR trained by real multi-rank jobs (launcher + native collectives): every rank ends with the
// same model bits, np = 1 and np = 3 agree up to summation order, and on a9a the solvers reach
// liblinear's optima (L2: 10529.563, L1: 10558.72) and test AUC 0.9025 +- 0.001.
import test from 'ava';

import { lrJob as job } from '../helpers/lr_job.js';

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

for (const solver of ['lbfgs', 'owlqn', 'bcd'] as const) {
  test(`synthetic, ${solver}: np=1 and np=3 reach the same objective (1e-9 relative)`, async (t) => {
    t.timeout(120_000);
    const spec = { data: 'synthetic', rows: 600, features: 40, nnz: 6, params: { solver, bias: true, tol: 0, maxIter: solver === 'owlqn' ? 400 : 300, ...(solver === 'bcd' ? { tol: 1e-13 } : {}) } };
    const [one] = await job(t, 1, spec);
    const [three] = await job(t, 3, spec);
    t.true(rel(three!.objective, one!.objective) < 1e-9, `np=1 ${one!.objective} vs np=3 ${three!.objective}`);
    const maxDiff = one!.weights!.reduce((m, w, j) => Math.max(m, Math.abs(w - three!.weights![j]!)), 0);
    t.true(maxDiff < 1e-4, `largest weight difference ${maxDiff}`);
  });
}

test('a9a, lbfgs, np=2: objective within 1e-6 of 10529.563 and test AUC 0.9025 +- 0.001', async (t) => {
  t.timeout(120_000);
  const [r] = await job(t, 2, { data: 'a9a', params: { solver: 'lbfgs', c: 1 } });
  t.log(`objective ${r!.objective} after ${r!.iterations} iterations (${r!.reason}) in ${r!.seconds.toFixed(2)}s, auc ${r!.auc}`);
  t.true(rel(r!.objective, 10529.563) < 1e-6, `objective ${r!.objective}`);
  t.true(Math.abs(r!.auc - 0.9025) <= 0.001, `auc ${r!.auc}`);
});

test('a9a, owlqn (L1 = 1), np=2: objective within 1e-5 of 10558.72', async (t) => {
  t.timeout(150_000);
  const [r] = await job(t, 2, { data: 'a9a', params: { solver: 'owlqn', c: 1, l1: 1, maxIter: 1200, tol: 0 } }, 140_000);
  t.log(`objective ${r!.objective} after ${r!.iterations} iterations in ${r!.seconds.toFixed(2)}s, auc ${r!.auc}`);
  t.true(rel(r!.objective, 10558.72) < 1e-5, `objective ${r!.objective}`);
});

test('a9a, bcd, np=2: L2 and L1 optima within 1e-5', async (t) => {
  t.timeout(120_000);
  const [l2] = await job(t, 2, { data: 'a9a', params: { solver: 'bcd', c: 1 } });
  const [l1] = await job(t, 2, { data: 'a9a', params: { solver: 'bcd', penalty: 'l1', l1: 1, c: 1 } });
  t.log(`L2 ${l2!.objective} in ${l2!.iterations} passes (${l2!.seconds.toFixed(2)}s); L1 ${l1!.objective} in ${l1!.iterations} passes (${l1!.seconds.toFixed(2)}s)`);
  t.true(rel(l2!.objective, 10529.563) < 1e-5, `L2 objective ${l2!.objective}`);
  t.true(rel(l1!.objective, 10558.72) < 1e-5, `L1 objective ${l1!.objective}`);
});
