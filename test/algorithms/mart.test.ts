// MART: the native histogram kernel against a JS reference, the quantile sketch (exactness and
// error bound), split finding on hand-checked data, model save/load/predict, quality on the
// shared data, and 1-rank vs 2/3-rank runs equal bit for bit.
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { localCollective } from '../../algorithms/common/collective.js';
import { csrFromRows, sliceRows, syntheticBinary } from '../../algorithms/common/dataset.js';
import { aucLocal } from '../../algorithms/common/metrics.js';
import { Rng } from '../../algorithms/common/rng.js';
import { binData, buildCuts, findSplit, loadMartModel, martParams, predict, saveMartModel, toXgboostJson, train } from '../../algorithms/mart/index.js';
import { gbdtNative } from '../../algorithms/mart/native.js';
import { cutsFromSummary, mergeSummaries, summarize, WEIGHT_UNIT } from '../../algorithms/mart/sketch.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { runRanks } from '../helpers/run_job.js';

const DATA = '/work/shared/data';

test('buildHist equals a JS reference (1 and 2 threads, row subsets)', (t) => {
  const rng = new Rng(3);
  const numRows = 3000;
  const nf = 7;
  const nbs = [1, 3, 255, 2, 16, 5, 9];
  const binOffsets = new Uint32Array(nf + 1);
  nbs.forEach((nb, f) => (binOffsets[f + 1] = binOffsets[f]! + nb + 1));
  const bins = new Uint8Array(numRows * nf);
  for (let r = 0; r < numRows; r++) for (let f = 0; f < nf; f++) bins[r * nf + f] = rng.int(nbs[f]! + 1);
  const grad = Float64Array.from({ length: numRows }, () => Math.round(rng.normal() * 1000));
  const hess = Float64Array.from({ length: numRows }, () => rng.int(500));
  const rows = Uint32Array.from({ length: 1200 }, (_, i) => (i * 7) % numRows);
  const slots = binOffsets[nf]!;
  const want = new Float64Array(2 * slots);
  for (const r of rows) {
    for (let f = 0; f < nf; f++) {
      const s = binOffsets[f]! + bins[r * nf + f]!;
      want[2 * s] = want[2 * s]! + grad[r]!;
      want[2 * s + 1] = want[2 * s + 1]! + hess[r]!;
    }
  }
  for (const threads of [1, 2]) {
    const got = new Float64Array(2 * slots);
    gbdtNative.buildHist(bins, nf, rows, grad, hess, binOffsets, got, threads);
    t.deepEqual(got, want);
  }
  t.throws(() => gbdtNative.buildHist(bins, nf, Uint32Array.of(numRows), grad, hess, binOffsets, new Float64Array(2 * slots), 1), {
    instanceOf: RangeError,
    message: /row index is out of range/,
  });
  t.throws(() => gbdtNative.buildHist(bins, nf, rows, new Float64Array(3), hess, binOffsets, new Float64Array(2 * slots), 1), { instanceOf: RangeError });
});

test('partitionRows is a stable split with the missing bin on the default side', (t) => {
  const bins = Uint8Array.of(0, 1, 2, 3, 0, 2);
  const rows = Uint32Array.of(0, 1, 2, 3, 4, 5);
  const nl = gbdtNative.partitionRows(bins, 1, rows, 0, 2, true, new Uint32Array(6));
  t.is(nl, 5);
  t.deepEqual(Array.from(rows), [0, 1, 2, 4, 5, 3]);
  const rows2 = Uint32Array.of(0, 1, 2, 3, 4, 5);
  t.is(gbdtNative.partitionRows(bins, 1, rows2, 0, 1, false, new Uint32Array(6)), 1);
  t.deepEqual(Array.from(rows2), [1, 0, 2, 3, 4, 5]);
});

test('sketch: exact summaries give every distinct value; approximate ones stay within W/K + size*w_max', (t) => {
  const rng = new Rng(11);
  const parts = [0, 1, 2].map(() => {
    const v = Float64Array.from({ length: 5000 }, () => Math.round(rng.normal() * 1e4) / 1e4).sort();
    const dv: number[] = [];
    const dm: number[] = [];
    for (const x of v) {
      if (dv.length > 0 && dv[dv.length - 1] === x) dm[dm.length - 1]! += WEIGHT_UNIT;
      else {
        dv.push(x);
        dm.push(WEIGHT_UNIT);
      }
    }
    return { values: Float64Array.from(dv), masses: Float64Array.from(dm) };
  });
  const exact = mergeSummaries(parts);
  const total = exact.masses.reduce((a, b) => a + b, 0);
  t.is(total, 3 * 5000 * WEIGHT_UNIT);
  const k = 64;
  const approx = mergeSummaries(parts.map((p) => summarize(p.values, p.masses, k)));
  t.true(approx.values.length <= 3 * k);
  t.is(approx.masses.reduce((a, b) => a + b, 0), total);
  // Rank of every exact value under the approximate distribution vs the truth.
  let worst = 0;
  let ai = 0;
  let acum = 0;
  let ecum = 0;
  for (let i = 0; i < exact.values.length; i++) {
    ecum += exact.masses[i]!;
    while (ai < approx.values.length && approx.values[ai]! <= exact.values[i]!) acum += approx.masses[ai++]!;
    worst = Math.max(worst, Math.abs(acum - ecum));
  }
  t.true(worst <= total / k + 3 * WEIGHT_UNIT, `rank error ${worst / WEIGHT_UNIT} rows > ${total / k / WEIGHT_UNIT + 3}`);
  const cuts = cutsFromSummary(exact, 256);
  t.true(cuts.length <= 255);
  t.is(cuts[cuts.length - 1], exact.values[exact.values.length - 1]);
  t.deepEqual(cutsFromSummary({ values: Float64Array.of(1, 2, 3), masses: Float64Array.of(1, 1, 1) }, 256), [1, 2, 3]);
});

test('buildCuts + binData: bins follow the cuts, absent and NaN are missing (bin 0)', async (t) => {
  const data = csrFromRows([
    { label: 1, features: [[1, 0.5], [2, 3]] },
    { label: 0, features: [[1, 1.5]] },
    { label: 1, features: [[1, 2.5], [2, Number.NaN]] },
    { label: 0, features: [[1, 9]] },
  ]);
  const cuts = await buildCuts(localCollective(), data, 3, 256);
  t.deepEqual(Array.from(cuts.cuts.subarray(cuts.cutPtr[1], cuts.cutPtr[2])), [0.5, 1.5, 2.5, 9]);
  t.deepEqual(Array.from(cuts.cuts.subarray(cuts.cutPtr[2], cuts.cutPtr[3])), [3]);
  const b = binData(data, cuts);
  t.deepEqual(Array.from(b.bins), [0, 1, 1, 0, 2, 0, 0, 3, 0, 0, 4, 0]);
  t.deepEqual(Array.from(b.binOffsets), [0, 1, 6, 8]);
});

test('findSplit picks the hand-computed best split and learns the missing direction', (t) => {
  // One feature, 2 value bins + missing. Slots: [missing, bin1, bin2]; g/h per slot.
  const binOffsets = Uint32Array.of(0, 3);
  const hist = Float64Array.of(-4, 2, /* bin1 */ -3, 3, /* bin2 */ 5, 3);
  const g = -2;
  const h = 8;
  const p = { maxDepth: 3, eta: 1, lambda: 1, gamma: 0, minChildWeight: 0 };
  const s = findSplit(hist, binOffsets, Uint8Array.of(1), g, h, 1, 1, p);
  // Candidates: k=1 missing right: L(-3,3) R(1,5); missing left: L(-7,5) R(5,3); k=2 missing right: L(2,6) R(-4,2).
  const score = (gg: number, hh: number): number => (gg * gg) / (hh + 1);
  const parent = score(g, h);
  const gains = [score(-3, 3) + score(1, 5) - parent, score(-7, 5) + score(5, 3) - parent, score(2, 6) + score(-4, 2) - parent];
  t.truthy(s);
  t.is(s!.threshold, 1);
  t.true(s!.defaultLeft);
  t.is(s!.gain, Math.max(...gains));
  t.is(findSplit(hist, binOffsets, Uint8Array.of(1), g, h, 1, 1, { ...p, gamma: 100 }), null);
  t.is(findSplit(hist, binOffsets, Uint8Array.of(1), g, h, 1, 1, { ...p, minChildWeight: 5 }), null);
});

test('train on synthetic data: learns, saves, loads and predicts identically; XGBoost JSON has every tree', async (t) => {
  const all = syntheticBinary({ rows: 2500, features: 10, nnzPerRow: 5, seed: 5 });
  const data = sliceRows(all, 0, 2000);
  const testData = sliceRows(all, 2000, 2500);
  const r = await train(localCollective(), data, { rounds: 20, maxDepth: 4, eta: 0.3 }, { test: testData, log: null });
  t.is(r.model.trees.length, 20);
  t.true(r.testMetrics.auc! > 0.6, `auc ${r.testMetrics.auc}`);
  const probs = predict(r.model, testData);
  t.is(aucLocal(probs, testData.labels), r.testMetrics.auc!);
  const dir = mkdtempSync(join(tmpdir(), 'mart-'));
  await saveMartModel(join(dir, 'm.json'), r.model);
  const loaded = await loadMartModel(join(dir, 'm.json'));
  t.deepEqual(predict(loaded, testData), probs);
  t.true(Object.keys(r.model.featureImportance.gain).length > 0);
  const x = toXgboostJson(r.model) as { learner: { gradient_booster: { model: { trees: unknown[] } } } };
  t.is(x.learner.gradient_booster.model.trees.length, 20);
});

test('params are validated with the parameter name', (t) => {
  t.throws(() => martParams({ maxBin: 300 }), { instanceOf: RangeError, message: /'maxBin'/ });
  t.throws(() => martParams({ eta: 0 }), { instanceOf: RangeError, message: /'eta'/ });
  t.throws(() => martParams({ objective: 'multi' as never }), { instanceOf: TypeError, message: /'objective'/ });
});

const higgs = `${DATA}/higgs_lgb/binary.train.svm`;
const higgsTest = `${DATA}/higgs_lgb/binary.test.svm`;

test('higgs_lgb: 100 rounds, depth 6, eta 0.1 reach test AUC >= 0.824', async (t) => {
  if (!existsSync(higgs)) return t.pass('shared data not present');
  const tr = await readLibsvm(higgs);
  const te = await readLibsvm(higgsTest);
  const r = await train(localCollective(), tr, { rounds: 100, maxDepth: 6, eta: 0.1, maxBin: 256, lambda: 1, minChildWeight: 1 }, { test: te, log: null });
  t.true(r.testMetrics.auc! >= 0.824, `auc ${r.testMetrics.auc}`);
  t.log(`higgs auc ${r.testMetrics.auc!.toFixed(4)} in ${r.trainSeconds.toFixed(2)}s`);
});

test('a 3-rank and a 2-rank run give the same trees as 1 rank, bit for bit (subsampling on)', async (t) => {
  if (!existsSync(higgs)) return t.pass('shared data not present');
  const digests: string[] = [];
  for (const np of [1, 2, 3]) {
    const run = await runRanks(np, 'workers/mart.worker.js', ['mart', higgs, higgsTest, '8'], { wallTimeoutMs: 90_000 });
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    for (const lines of run.stdout) {
      const line = lines.find((l) => l.startsWith('RESULT '));
      t.truthy(line);
      digests.push((JSON.parse(line!.slice(7)) as { digest: string }).digest);
    }
  }
  t.is(new Set(digests).size, 1, digests.join(' '));
});
