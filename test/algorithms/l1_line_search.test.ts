// newton-l1's line search (algorithms/tron/glmnet_l1.ts): the full step's loss travels with the
// next Newton step's gradient and Hessian diagonal; when the full step fails Armijo those sums
// are dropped, the search goes on from t = 1/2 and the statistics are computed again at the
// accepted point. This set (C = 100, column-wise solve above 1024 slots) takes two steps of
// 1/2, so the fallback runs; the run must still descend at every step and end at the optimum.
import test from 'ava';

import { localCollective } from '../../algorithms/common/collective.js';
import { linearLayout } from '../../algorithms/common/logistic.js';
import { tronLr } from '../../algorithms/tron/index.js';
import { syntheticBinary } from '../helpers/synthetic.js';

const comm = localCollective();
const data = syntheticBinary({ rows: 800, features: 1100, nnzPerRow: 8, seed: 9 });
const layout = linearLayout(1101, true);
const options = { c: 100, l2: 0, l1: 0.1, maxIter: 500 };

test('newton-l1 steps shorter than 1 (the full step failed) descend and end at the optimum', async (t) => {
  const steps: number[] = [];
  const objectives: number[] = [];
  const r = await tronLr(comm, data, layout, { ...options, eps: 1e-8, onIteration: (i) => (steps.push(i.step), objectives.push(i.objective)) });
  const short = steps.filter((s) => s > 0 && s < 1);
  t.log(`${r.iterations} Newton steps (${r.reason}), ${r.evaluations} loss evaluations, steps < 1: ${short.join(', ')}`);
  t.true(short.length > 0, 'no step < 1: the fallback path did not run');
  t.is(r.reason, 'gradient');
  for (let k = 1; k < objectives.length; k++) t.true(objectives[k]! < objectives[k - 1]!, `step ${k}: ${objectives[k]} after ${objectives[k - 1]}`);
  // Each Newton step evaluates its full step once; each batch of halvings adds 3 losses.
  t.is((r.evaluations - 1 - r.iterations) % 3, 0, `${r.evaluations} evaluations for ${r.iterations} steps`);
  // The optimum: a run to a far tighter tolerance.
  const tight = await tronLr(comm, data, layout, { ...options, eps: 1e-12 });
  t.log(`eps 1e-8: ${r.objective}; eps 1e-12: ${tight.objective} (${tight.iterations} steps, ${tight.reason})`);
  t.true(Math.abs(r.objective - tight.objective) <= 1e-9 * tight.objective, `${r.objective} vs ${tight.objective}`);
});
