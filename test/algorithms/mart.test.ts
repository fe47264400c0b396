// MART: the native histogram kernel against a JS reference, the quantile sketch (exactness and
// error bound), split finding on hand-checked data, model save/load/predict, quality on the
// shared data, and 1-rank vs 2/3-rank runs equal bit for bit.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { localCollective } from '../../algorithms/common/collective.js';
import { csrFromRows, sliceRows } from '../../algorithms/common/dataset.js';
import { syntheticBinary } from '../helpers/synthetic.js';
import { aucLocal } from '../../algorithms/common/metrics.js';
import { Rng } from '../helpers/mulberry_rng.js';
import { tempDir } from '../helpers/temp_dir.js';
import { binData, buildCuts, findSplit, loadMartModel, martParams, predict, predictMargins, saveMartModel, toXgboostJson, train, xgboostJsonText } from '../../algorithms/mart/index.js';
import { gbdtNative } from '../../algorithms/mart/native.js';
import { float32String, type MartModel, type MartTree } from '../../algorithms/mart/model.js';
import { cutsFromSummary, mergeSummaries, summarize, WEIGHT_UNIT } from '../../algorithms/mart/sketch.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { runRanks } from '../helpers/run_job.js';
import { referenceHistogram } from '../helpers/gbdt_reference.js';

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
  const want = referenceHistogram(bins, nf, rows, grad, hess, binOffsets);
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
  const dir = tempDir(t, 'mart-');
  await saveMartModel(join(dir, 'm.json'), r.model);
  const loaded = await loadMartModel(join(dir, 'm.json'));
  t.deepEqual(predict(loaded, testData), probs);
  t.true(Object.keys(r.model.featureImportance.gain).length > 0);
  const x = toXgboostJson(r.model) as { learner: { gradient_booster: { model: { trees: unknown[] } } } };
  t.is(x.learner.gradient_booster.model.trees.length, 20);
  // The text form parses, and writes XGBoost's float arrays with a '.' or an exponent in every number.
  const text = xgboostJsonText(r.model);
  t.deepEqual(JSON.parse(text).learner.gradient_booster.model.trees.length, 20);
  for (const key of ['base_weights', 'split_conditions', 'sum_hessian', 'loss_changes']) {
    for (const m of text.matchAll(new RegExp(`"${key}":\\[([^\\]]*)\\]`, 'g'))) t.true(m[1]!.split(',').every((v) => /[.eE]/.test(v)), key);
  }
});

test('float32String: shortest decimal that reads back as the same float32 (XGBoost drops longer base_score strings)', (t) => {
  t.is(float32String(3.0103828125), '3.010383'); // XGBoost itself writes 3.010383E0
  t.is(float32String(0.5), '0.5');
  t.is(float32String(0), '0');
  t.is(float32String(-1e-45), '-1e-45');
  const rng = new Rng(2);
  for (let i = 0; i < 2000; i++) {
    const x = rng.normal() * 10 ** rng.int(20 - 10);
    const s = float32String(x);
    t.is(Math.fround(Number(s)), Math.fround(x), s);
    if (s.replace(/^-|e.*$|\./g, '').replace(/^0+|0+$/g, '').length > 9) t.fail(`${s} has more than 9 digits`);
  }
});

/** Leaves of a tree, and its depth (root = 0). */
function shape(tree: MartTree): { leaves: number; depth: number } {
  let leaves = 0;
  let depth = 0;
  const walk = (n: number, d: number): void => {
    if (tree.left[n]! < 0) {
      leaves++;
      depth = Math.max(depth, d);
    } else {
      walk(tree.left[n]!, d + 1);
      walk(tree.right[n]!, d + 1);
    }
  };
  walk(0, 0);
  return { leaves, depth };
}

test('max_leaves: leaf-wise growth caps the leaves, splits best gain first, and equals depth-wise at 2^max_depth leaves', async (t) => {
  const all = syntheticBinary({ rows: 2500, features: 12, nnzPerRow: 6, seed: 9 });
  const data = sliceRows(all, 0, 2000);
  const testData = sliceRows(all, 2000, 2500);
  const base = { rounds: 8, eta: 0.3, maxBin: 64 };
  const depthWise = await train(localCollective(), data, { ...base, maxDepth: 4 }, { log: null });
  const full = await train(localCollective(), data, { ...base, maxDepth: 4, maxLeaves: 16 }, { log: null });
  // Same splits taken (in another order): the same predictions, bit for bit, and the same leaves.
  t.deepEqual(predictMargins(full.model, testData), predictMargins(depthWise.model, testData));
  full.model.trees.forEach((tr, i) => t.deepEqual(shape(tr), shape(depthWise.model.trees[i]!)));

  const capped = await train(localCollective(), data, { ...base, maxDepth: 10, maxLeaves: 5 }, { test: testData, log: null });
  t.true(capped.testMetrics.auc! > 0.6, `auc ${capped.testMetrics.auc}`);
  const shapes = capped.model.trees.map(shape);
  t.true(shapes.every((sh) => sh.leaves <= 5), JSON.stringify(shapes));
  t.true(shapes.some((sh) => sh.leaves === 5));
  t.true(shapes.some((sh) => sh.depth >= 3), 'leaf-wise trees are unbalanced where the gain is');
  // Best-first: the 4 splits of the first tree are the 4 largest-gain splits depth-wise growth
  // would find among the nodes they can reach, so its root split and gain are the depth-wise root's.
  const first = capped.model.trees[0]!;
  const dw = depthWise.model.trees[0]!;
  t.is(first.feature[0], dw.feature[0]);
  t.is(first.gain[0], dw.gain[0]);
  // Best first: node ids are handed out in split order (split k creates nodes 2k+1, 2k+2), so a
  // node that already existed at split k (id <= 2k) and was split later has no larger gain.
  for (const tr of capped.model.trees) {
    const order = tr.left.map((l, id) => ({ l, id, gain: tr.gain[id]! })).filter((n) => n.l >= 0).sort((a, b) => a.l - b.l);
    order.forEach((n, k) => {
      t.is(n.l, 2 * k + 1);
      for (const later of order.slice(k + 1)) if (later.id <= 2 * k) t.true(later.gain <= n.gain, `split ${k}: ${later.gain} > ${n.gain}`);
    });
  }
  const model: MartModel = capped.model;
  t.is(model.params.maxLeaves, 5);
  t.throws(() => martParams({ maxLeaves: 1 }), { instanceOf: RangeError, message: /'maxLeaves'/ });
  t.throws(() => martParams({ maxLeaves: -2 }), { instanceOf: RangeError, message: /'maxLeaves'/ });
});

const CLI = fileURLToPath(new URL('../../cli/cli.js', import.meta.url));
function shoalCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('max_leaves: shoal train mart --max-leaves at -np 2 grows the same trees as -np 1', async (t) => {
  const dir = tempDir(t, 'mart-leaves-');
  const rng = new Rng(4);
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const x = Array.from({ length: 6 }, () => Math.round(rng.normal() * 32) / 32);
    const z = x[0]! - x[1]! * x[2]! + (x[3]! > 0.5 ? 1 : -0.3) + rng.normal() * 0.5;
    lines.push(`${z > 0 ? 1 : 0} ${x.map((v, j) => (rng.next() < 0.1 ? '' : `${j + 1}:${v}`)).filter((f) => f).join(' ')}`);
  }
  const file = join(dir, 'train.svm');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const trees: string[] = [];
  for (const np of [1, 2]) {
    const out = join(dir, `m${np}.json`);
    const r = await shoalCli(['train', 'mart', '--train', file, '-np', String(np), '--rounds', '5', '--max-depth', '8', '--max-leaves', '7', '--model-out', out, '-q']);
    t.is(r.code, 0, r.stderr);
    const m = JSON.parse(readFileSync(out, 'utf8')) as MartModel;
    t.true(m.trees.every((tr) => shape(tr).leaves <= 7));
    trees.push(JSON.stringify(m.trees));
  }
  t.is(trees[0], trees[1]);
});

test('params are validated with the parameter name', (t) => {
  t.throws(() => martParams({ maxBin: 300 }), { instanceOf: RangeError, message: /'maxBin'/ });
  t.throws(() => martParams({ eta: 0 }), { instanceOf: RangeError, message: /'eta'/ });
  t.throws(() => martParams({ objective: 'multi' as never }), { instanceOf: TypeError, message: /'objective'/ });
});

const higgs = `${DATA}/higgs_lgb/binary.train.svm`;
const higgsTest = `${DATA}/higgs_lgb/binary.test.svm`;
/** Tests on the shared data are skipped (reason in the title), never passed, when it is absent. */
const haveHiggs = existsSync(higgs) && existsSync(higgsTest);
const withHiggs = (title: string): string => (haveHiggs ? title : `${title} (skipped: ${higgs} not present)`);
const higgsTestFn = haveHiggs ? test : test.skip;

higgsTestFn(withHiggs('higgs_lgb: 100 rounds, depth 6, eta 0.1 reach test AUC >= 0.824'), async (t) => {
  const tr = await readLibsvm(higgs);
  const te = await readLibsvm(higgsTest);
  const r = await train(localCollective(), tr, { rounds: 100, maxDepth: 6, eta: 0.1, maxBin: 256, lambda: 1, minChildWeight: 1 }, { test: te, log: null });
  t.true(r.testMetrics.auc! >= 0.824, `auc ${r.testMetrics.auc}`);
  t.log(`higgs auc ${r.testMetrics.auc!.toFixed(4)} in ${r.trainSeconds.toFixed(2)}s`);
});

higgsTestFn(withHiggs('a 3-rank and a 2-rank run give the same trees as 1 rank, bit for bit (subsampling on)'), async (t) => {
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
