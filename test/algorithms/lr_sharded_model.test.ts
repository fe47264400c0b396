// The model file of `shoal train lr --servers K` (algorithms/keyed_model.ts, written by
// sharded_lr/model_file.ts): weights by uint64 key streamed from the servers. loadModel and
// `shoal predict` read it and give the trained model's probabilities on rows whose ids spread
// over 2^64; the same at np 1 and np 2 (keys owned by different ranks, one file); the dense
// model of the same rows (ids 1..n) gives the same probabilities. Generated data only.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';
import { loadModel } from '../../algorithms/model.js';
import type { KeyedModel } from '../../algorithms/keyed_model.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { denseAndWideData, trainLr } from '../helpers/sharded_lr_data.js';
import { shoal } from '../helpers/shoal_cli.js';

const { dir, dense, wide } = denseAndWideData('lr-sharded-model', { rows: 2000, features: 800, nnz: 10, seed: 11 });

const TRAIN = ['-q', '--tol', '1e-13', '--max-iter', '2000', '--bias'];

type ModelMetrics = { logloss: number; auc: number; model_nnz: number; num_features: number };

async function trainModel(name: string, args: string[]): Promise<{ model: string; metrics: ModelMetrics }> {
  const model = join(dir, `${name}.json`);
  const r = await trainLr<ModelMetrics>(dir, `${name}.metrics`, [...TRAIN, ...args, '--model-out', model], 150_000);
  if (r.code !== 0) throw new Error(`${name}: exit ${r.code}: ${r.stderr}`);
  return { model, metrics: r };
}

test.serial('--model-out with --servers: loadModel and shoal predict give the trained probabilities on 64-bit ids', async (t) => {
  t.timeout(600_000);
  const rows = await readLibsvm(wide, { keyIds: true });
  t.true(rows.keys!.some((k) => k >= 1n << 32n), 'the data has ids of 2^32 and more');
  const denseRun = await trainModel('dense', ['--solver', 'lbfgs', '--train', dense]);
  const denseModel = await loadModel(denseRun.model);
  const denseProbs = denseModel.predict(await readLibsvm(dense));
  const probs: Float64Array[] = [];
  for (const np of [1, 2]) {
    const run = await trainModel(`sharded-np${np}`, ['--solver', 'lbfgs', '--train', wide, '-np', String(np), '--servers', '2']);
    const model = (await loadModel(run.model)) as KeyedModel;
    t.true(model.keyed);
    t.is(model.algorithm, 'lr');
    t.is(model.numKeys, run.metrics.num_features);
    t.is(model.keys.length, run.metrics.model_nnz, 'one stored weight per non-zero weight of the trained model');
    t.not(model.bias, 0);
    const p = model.predict(rows);
    probs.push(p);
    // The job's logloss on the training rows came from the trained weights (pulled from the servers).
    let logloss = 0;
    for (let i = 0; i < p.length; i++) logloss -= rows.labels[i]! > 0 ? Math.log(p[i]!) : Math.log(1 - p[i]!);
    t.true(Math.abs(logloss / p.length - run.metrics.logloss) < 1e-12, `np ${np}: logloss ${logloss / p.length} vs the job's ${run.metrics.logloss}`);
    // shoal predict reads the rows with their 64-bit ids and writes the same probabilities.
    const out = join(dir, `preds-np${np}.txt`);
    const pm = join(dir, `predict-np${np}.json`);
    const r = await shoal(['predict', '--model', run.model, '--data', wide, '--out', out, '--metrics-out', pm]);
    t.is(r.code, 0, r.stderr);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map(Number);
    t.deepEqual(Float64Array.from(lines), p);
    t.is((JSON.parse(readFileSync(pm, 'utf8')) as { auc: number }).auc, run.metrics.auc);
  }
  for (let i = 0; i < probs[0]!.length; i++) {
    t.true(Math.abs(probs[0]![i]! - probs[1]![i]!) < 1e-7, `row ${i + 1}: np 1 ${probs[0]![i]} vs np 2 ${probs[1]![i]}`);
    t.true(Math.abs(probs[0]![i]! - denseProbs[i]!) < 1e-6, `row ${i + 1}: sharded ${probs[0]![i]} vs dense ${denseProbs[i]}`);
  }
});

test('a keyed model reads ids as keys without keyIds, unknown keys weigh 0, and a bad sidecar is refused naming it', async (t) => {
  const path = join(dir, 'hand.json');
  const keys = new BigUint64Array([3n, (1n << 63n) + 5n, 7n]);
  const weights = new Float64Array([0.5, -2, 1.25]);
  const doc = { format: 'shoal-model', version: 1, algorithm: 'lr', keyed: true, solver: 'lbfgs', weights: null, weightsFile: 'hand.keys.bin', count: 3, numKeys: 4, bias: 0.25, params: {} };
  writeFileSync(path, JSON.stringify(doc));
  writeFileSync(join(dir, 'hand.keys.bin'), Buffer.concat([Buffer.from(keys.buffer), Buffer.from(weights.buffer)]));
  const m = (await loadModel(path)) as KeyedModel;
  t.is(m.weight((1n << 63n) + 5n), -2);
  t.is(m.weight(4n), 0);
  // Rows: [3:1, 7:2] and [9:1] (9 is unknown), feature ids as keys.
  const rows = { numRows: 2, rowPtr: new Int32Array([0, 2, 3]), featureIds: new Int32Array([3, 7, 9]), values: new Float32Array([1, 2, 1]) };
  t.deepEqual(Array.from(m.margins(rows as never)), [0.25 + 0.5 + 2.5, 0.25]);
  // The same rows by local index into keys.
  const local = { ...rows, featureIds: new Int32Array([0, 1, 2]), keys: new BigUint64Array([3n, 7n, 9n]) };
  t.deepEqual(Array.from(m.margins(local as never)), [3.25, 0.25]);
  writeFileSync(join(dir, 'hand.keys.bin'), Buffer.from(keys.buffer));
  await t.throwsAsync(loadModel(path), { message: /hand\.keys\.bin holds 24 bytes, expected count \* 16 = 48/ });
  writeFileSync(join(dir, 'hand.keys.bin'), Buffer.concat([Buffer.from(new BigUint64Array([3n, 3n, 7n]).buffer), Buffer.from(weights.buffer)]));
  await t.throwsAsync(loadModel(path), { message: /holds key 3 twice/ });
});

test.serial('--model-out with --servers and the default solver (tron): the model file gives the trained probabilities', async (t) => {
  t.timeout(600_000);
  const rows = await readLibsvm(wide, { keyIds: true });
  const run = await trainModel('sharded-tron', ['--train', wide, '-np', '2', '--servers', '2']);
  const model = (await loadModel(run.model)) as KeyedModel;
  t.true(model.keyed);
  t.is((JSON.parse(readFileSync(run.model, 'utf8')) as { solver: string }).solver, 'tron', 'tron is the default with --servers');
  t.is(model.keys.length, run.metrics.model_nnz, 'one stored weight per non-zero weight of the trained model');
  const p = model.predict(rows);
  let logloss = 0;
  for (let i = 0; i < p.length; i++) logloss -= rows.labels[i]! > 0 ? Math.log(p[i]!) : Math.log(1 - p[i]!);
  // Slot X holds the accepted point after the last program (tron_vectors.ts finish()), so the file is the trained model.
  t.true(Math.abs(logloss / p.length - run.metrics.logloss) < 1e-12, `logloss ${logloss / p.length} vs the job's ${run.metrics.logloss}`);
});
