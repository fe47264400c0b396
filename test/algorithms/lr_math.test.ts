// Single-process checks of the LR math against closed forms and brute force: gradients vs
// finite differences, L-BFGS on a quadratic, AUC with ties, BCD vs L-BFGS/OWL-QN optima,
// the model file round trip and the train/predict flag parsers.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { localCollective } from '../../algorithms/common/collective.js';
import { csrFromRows } from '../../algorithms/common/dataset.js';
import { syntheticBinary } from '../helpers/synthetic.js';
import { tempDir } from '../helpers/temp_dir.js';
import { linearLayout } from '../../algorithms/common/logistic.js';
import { aucLocal, binaryMetrics, objective } from '../../algorithms/common/metrics.js';
import { LrObjective, predict, train } from '../../algorithms/lbfgs_lr/index.js';
import { lbfgs } from '../../algorithms/lbfgs_lr/lbfgs.js';
import { BlockScheduler } from '../../algorithms/bcd/scheduler.js';
import { loadModel, saveLinearModel, type Model } from '../../algorithms/model.js';
import { parseTrainArgs } from '../../cli/train_cli.js';
import { parsePredictArgs } from '../../cli/predict_cli.js';

const comm = localCollective();

async function gradientCheck(t: import('ava').ExecutionContext, bias: boolean, weighted: boolean): Promise<void> {
  const base = syntheticBinary({ rows: 80, features: 12, nnzPerRow: 4, seed: 7 });
  const data = weighted ? { ...base, weights: Float32Array.from({ length: base.numRows }, (_, i) => 0.5 + (i % 3)) } : base;
  const layout = linearLayout(13, bias);
  const fn = new LrObjective(comm, data, layout, 0.7, 1);
  const w = Float64Array.from({ length: layout.dim }, (_, j) => Math.sin(j + 1) * 0.5);
  const g = new Float64Array(layout.dim);
  const f = await fn.evaluate(w, g);
  t.true(Math.abs(f - (await objective(comm, data, w, layout, 0.7, { l2: 1, l1: 0 }))) < 1e-9 * Math.abs(f));
  const h = 1e-6;
  for (let j = 0; j < layout.dim; j++) {
    const wp = Float64Array.from(w);
    const wm = Float64Array.from(w);
    wp[j]! += h;
    wm[j]! -= h;
    const scratch = new Float64Array(layout.dim);
    const fd = ((await fn.evaluate(wp, scratch)) - (await fn.evaluate(wm, scratch))) / (2 * h);
    t.true(Math.abs(fd - g[j]!) < 1e-6 * Math.max(1, Math.abs(fd)), `slot ${j}: analytic ${g[j]} vs finite difference ${fd}`);
  }
}

test('gradient matches finite differences (L2, no bias)', (t) => gradientCheck(t, false, false));
test('gradient matches finite differences (L2, bias, instance weights)', (t) => gradientCheck(t, true, true));

test('lbfgs minimises a quadratic to its closed-form minimum', async (t) => {
  // f(x) = sum_j (j+1) (x_j - j)^2 / 2
  const dim = 20;
  const fn = {
    dim,
    evaluate: async (x: Float64Array, g: Float64Array) => {
      let f = 0;
      for (let j = 0; j < dim; j++) {
        f += ((j + 1) * (x[j]! - j) ** 2) / 2;
        g[j] = (j + 1) * (x[j]! - j);
      }
      return f;
    },
  };
  const r = await lbfgs(fn, new Float64Array(dim), { tol: 0, gradTol: 1e-12, maxIter: 200 });
  for (let j = 0; j < dim; j++) t.true(Math.abs(r.x[j]! - j) < 1e-8, `x[${j}] = ${r.x[j]}`);
  t.is(r.reason, 'gradient');
});

test('AUC: ties get the average rank; equals the pairwise definition', (t) => {
  const scores = [0.1, 0.4, 0.4, 0.8, 0.4, 0.9, 0.2, 0.8];
  const labels = [0, 1, 0, 1, 1, 0, 0, 1];
  let num = 0;
  let den = 0;
  for (let i = 0; i < scores.length; i++) {
    for (let j = 0; j < scores.length; j++) {
      if (labels[i] === 1 && labels[j] === 0) {
        den++;
        num += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
  }
  t.is(aucLocal(scores, labels), num / den);
  t.true(Number.isNaN(aucLocal([0.1, 0.2], [1, 1])));
});

test('metrics: logloss and accuracy of known probabilities', async (t) => {
  const m = await binaryMetrics(comm, Float64Array.from([0.9, 0.2, 0.6, 0.4]), [1, 0, 0, 1]);
  t.is(m.accuracy, 0.5);
  t.true(Math.abs(m.logloss - -(Math.log(0.9) + Math.log(0.8) + Math.log(0.4) + Math.log(0.4)) / 4) < 1e-12);
  t.is(m.auc, 0.75);
});

const small = syntheticBinary({ rows: 500, features: 30, nnzPerRow: 5, seed: 11 });

test('bcd reaches the lbfgs optimum (L2, bias) within 1e-7, block and diagonal statistics', async (t) => {
  const ref = await train(comm, small, { solver: 'lbfgs', bias: true, tol: 0, maxIter: 1000 }, { log: null });
  for (const bcdHessian of ['block', 'diagonal'] as const) {
    const r = await train(comm, small, { solver: 'bcd', bias: true, tol: 1e-12, maxIter: 2000, bcdHessian, blockSize: 8 }, { log: null });
    t.true(Math.abs(r.objective - ref.objective) / ref.objective < 1e-7, `${bcdHessian}: bcd ${r.objective} vs lbfgs ${ref.objective}`);
  }
});

test('bcd (L1) reaches the owlqn optimum within 1e-6 and both are sparse', async (t) => {
  const ref = await train(comm, small, { solver: 'owlqn', l1: 4, tol: 0, maxIter: 2000 }, { log: null });
  const r = await train(comm, small, { solver: 'bcd', penalty: 'l1', l1: 4, tol: 1e-12, maxIter: 500, blockSize: 10 }, { log: null });
  t.true(Math.abs(r.objective - ref.objective) / ref.objective < 1e-6, `bcd ${r.objective} vs owlqn ${ref.objective}`);
  t.true(r.weights.some((v, j) => j > 0 && v === 0), 'bcd L1 model has exact zeros');
  t.true(ref.weights.some((v, j) => j > 0 && v === 0), 'owlqn model has exact zeros');
});

test('block scheduler: non-converged blocks first, converged ones skipped until a full pass', (t) => {
  const s = new BlockScheduler(4, { fullEvery: 3, seed: 1 });
  t.deepEqual(s.plan(1).blocks.slice().sort(), [0, 1, 2, 3]);
  s.report(0, 5);
  s.report(1, 0.1);
  s.report(2, 9);
  s.report(3, 0.5);
  t.deepEqual(s.plan(1), { blocks: [2, 0], full: false });
  t.deepEqual(s.plan(1), { blocks: [2, 0], full: false });
  t.deepEqual(s.plan(1), { blocks: [2, 0, 3, 1], full: true });
});

test('model file round trip (JSON and .bin sidecar); predict rejects unknown feature ids', async (t) => {
  const dir = tempDir(t, 'shoal-model-');
  const r = await train(comm, small, { solver: 'lbfgs', bias: true }, { log: null });
  const path = join(dir, 'm.json');
  await saveLinearModel(path, { algorithm: 'lr', solver: 'lbfgs', bias: r.bias, numFeatures: r.numFeatures, params: {} }, r.weights);
  const m = await loadModel(path);
  t.deepEqual(Array.from(m.predict(small)), Array.from(predict(r, small)));
  const big = new Float64Array(100_001).map((_, j) => j / 7);
  await saveLinearModel(join(dir, 'big.json'), { algorithm: 'lr', solver: 'lbfgs', bias: 0.5, numFeatures: big.length, params: {} }, big);
  const mb = await loadModel(join(dir, 'big.json'));
  t.is(mb.algorithm, 'lr');
  t.deepEqual((mb as Model).weights, big);
  t.throws(() => m.predict(csrFromRows([{ label: 1, features: [[999, 1]] }])), { message: /feature id 999 .* numFeatures 31/ });
  writeFileSync(join(dir, 'bad.json'), '{"format":"other"}');
  await t.throwsAsync(loadModel(join(dir, 'bad.json')), { message: /not a valid shoal model/ });
  await t.throwsAsync(loadModel(join(dir, 'missing.json')), { message: /cannot read model/ });
});

test('train/predict flags: defaults, penalties, errors name the flag', (t) => {
  const a = parseTrainArgs(['lr', '--train', 'x', '--solver', 'owlqn', '--c', '2', '-np', '3', '--bias']);
  t.like(a, { np: 3, train: ['x'], params: { solver: 'owlqn', penalty: 'l1', l1: 1, c: 2, bias: true, maxIter: 500, m: 10 } });
  t.is(parseTrainArgs(['lr', '--train', 'x', '--solver', 'bcd', '--l1', '3']).params.penalty, 'l1');
  t.is(parseTrainArgs(['lr', '--train', 'x', '--solver', 'bcd']).params.penalty, 'l2');
  t.throws(() => parseTrainArgs(['lr', '--train', 'x', '--c', '-1']), { message: /--c needs a number > 0/ });
  t.throws(() => parseTrainArgs(['lr', '--train', 'x', '--solver', 'sgd']), { message: /--solver needs lbfgs, tron, owlqn, newton-l1 or bcd/ });
  t.throws(() => parseTrainArgs(['lr', '--train', 'x', '--l1', '2']), { message: /--l1 needs --solver newton-l1, owlqn or bcd/ });
  t.throws(() => parseTrainArgs(['lr']), { message: /--train FILE is required/ });
  t.throws(() => parseTrainArgs(['gbdt', '--train', 'x']), { message: /shoal train lr: unexpected argument "gbdt"/ }); // unknown trainers: cli_help.test.ts
  t.throws(() => parseTrainArgs(['lr', '--train', 'x', '--bogus']), { message: /unknown option "--bogus"/ });
  t.throws(() => parsePredictArgs(['--model', 'm.json', '--data', 'd']), { message: /--out FILE is required/ });
});
