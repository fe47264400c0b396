// FM with ALS and MCMC (`shoal train fm --solver als|mcmc`): exact partition-independent
// sums, feature blocks, the planted model reached in memory, identical models at np 1 and
// np 2, the saved MCMC model's round trip through loadModel, flags, native argument checks and
// draws, and the MovieLens goals, regression and binary (skipped without the shared data).
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localCollective } from '../../algorithms/common/collective.js';
import { aucLocal } from '../../algorithms/common/metrics.js';
import { Rng } from '../helpers/mulberry_rng.js';
import { trainFmCoordinate, scoreSample, type FmCoordinateOptions } from '../../algorithms/fm/coordinate_solver.js';
import { CoordinateStream, STREAM } from '../../algorithms/fm/coordinate_stream.js';
import { ExactSums } from '../../algorithms/fm/exact_sums.js';
import { featureBlocks } from '../../algorithms/fm/feature_blocks.js';
import { rmse } from '../../algorithms/fm/fm.js';
import { FmPredictionAverage, loadFmModel, predictFm } from '../../algorithms/fm/model.js';
import { parseFmArgs } from '../../algorithms/fm/params.js';
import { loadModel } from '../../algorithms/model.js';
import { main } from '../../cli/trainers/fm_cli.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { native } from '../../lib/native.js';
import { UsageError } from '../../lib/cli_flags.js';
import { writePlantedRatings } from '../helpers/planted_fm.js';
import { runRanks } from '../helpers/run_job.js';

const ML = '/work/shared/data/movielens100k';
const dir = mkdtempSync(join(tmpdir(), 'shoal-fm-coord-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const { trainFile, testFile, noiseRmse } = writePlantedRatings(dir);

const base: FmCoordinateOptions = { solver: 'mcmc', task: 'regression', factors: 4, iterations: 40, seed: 5, initStd: 0.1, l2w: 1, l2v: 1, burnIn: 0, keepSamples: 1000 };

test('exact sums: the same bits for any split of the terms and any order, close to the float sum', (t) => {
  const rng = new Rng(9);
  const terms = Array.from({ length: 5000 }, () => rng.normal() * 10 ** rng.int(6) * (rng.next() < 0.5 ? 1e-3 : 1));
  const sumOf = (parts: number[][]): number => {
    // Each part is one "rank": its own ExactSums, limbs normalized and added as the allReduce would.
    const total = new ExactSums(1);
    for (const part of parts) {
      const s = new ExactSums(1);
      for (const x of part) t.true(s.add(0, x));
      s.normalize();
      total.limbs[0] = total.limbs[0]! + s.limbs[0]!;
      total.limbs[1] = total.limbs[1]! + s.limbs[1]!;
    }
    total.normalize();
    return total.value(0);
  };
  const whole = sumOf([terms]);
  t.is(sumOf([terms.slice(0, 1234), terms.slice(1234)]), whole);
  t.is(sumOf([terms.slice(0, 10), terms.slice(10, 3000), terms.slice(3000)]), whole);
  t.is(sumOf([[...terms].reverse()]), whole);
  let naive = 0;
  for (const x of terms) naive += x;
  t.true(Math.abs(whole - naive) < 1e-6 * (1 + Math.abs(naive)), `${whole} vs ${naive}`);
  // Out-of-range terms are refused, not silently wrapped.
  const s = new ExactSums(1);
  t.false(s.add(0, 2 ** 21));
  t.false(s.add(0, Number.NaN));
});

test('feature blocks: no two features of a block share a row; every feature in exactly one block', async (t) => {
  const rng = new Rng(4);
  const lines: string[] = [];
  for (let r = 0; r < 400; r++) {
    const ids = new Set<number>();
    const n = 1 + rng.int(6);
    while (ids.size < n) ids.add(1 + rng.int(60));
    lines.push(`1 ${[...ids].sort((a, b) => a - b).map((id) => `${id}:1`).join(' ')}`);
  }
  const file = join(dir, 'blocks.svm');
  writeFileSync(file, lines.join('\n') + '\n');
  const data = await readLibsvm(file);
  const fb = await featureBlocks(localCollective(), data);
  const blockOf = new Map<number, number>();
  fb.blocks.forEach((b, c) => b.forEach((g) => {
    t.false(blockOf.has(g), `feature index ${g} in two blocks`);
    blockOf.set(g, c);
  }));
  t.is(blockOf.size, fb.featureIds.length);
  for (let r = 0; r < data.numRows; r++) {
    const seen = new Set<number>();
    for (let e = data.rowPtr[r]!; e < data.rowPtr[r + 1]!; e++) {
      const g = fb.featureIds.indexOf(data.featureIds[e]!);
      const c = blockOf.get(g)!;
      t.false(seen.has(c), `row ${r} has two features of block ${c}`);
      seen.add(c);
    }
  }
  t.true(fb.blocks.length >= 6 && fb.blocks.length < 60, `${fb.blocks.length} blocks`);
  t.is(fb.globalRows, 400);
});

test('coordinate stream: draws depend only on (seed, kind, iteration, index); moments of normal, gamma, truncated normal', (t) => {
  const a = new CoordinateStream(7);
  const b = new CoordinateStream(7);
  t.is(a.reset(4, 3, 2 ** 40 + 5).normal(), b.reset(4, 3, 2 ** 40 + 5).normal());
  t.not(a.reset(4, 3, 5).normal(), b.reset(4, 3, 2 ** 40 + 5).normal());
  const n = 20000;
  let s = 0;
  let s2 = 0;
  let g = 0;
  let tn = 0;
  for (let i = 0; i < n; i++) {
    const z = a.reset(1, 1, i).normal();
    s += z;
    s2 += z * z;
    g += a.gamma(3, 2);
    tn += a.normalAbove(1.5);
  }
  t.true(Math.abs(s / n) < 0.03 && Math.abs(s2 / n - 1) < 0.05, `normal mean ${s / n} var ${s2 / n}`);
  t.true(Math.abs(g / n - 1.5) < 0.05, `gamma(3, rate 2) mean ${g / n}`);
  // E[z | z > 1.5] = phi(1.5) / (1 - Phi(1.5)) = 0.129518 / 0.066807 = 1.9387
  t.true(Math.abs(tn / n - 1.9387) < 0.03, `truncated mean ${tn / n}`);
});

test('native draws (drawBlock, probitResiduals) follow the JS coordinate stream and the posterior formula', (t) => {
  const k = 3;
  const seed = 12345;
  // A feature id above 2^32 checks the stream's high index word.
  const featureIds = Float64Array.from([1, 7, 2 ** 40 + 3, 9, 11]);
  const params = Float64Array.from({ length: featureIds.length * (k + 1) }, (_, i) => Math.sin(i));
  const block = Int32Array.from([0, 2, 4]);
  const sums = new ExactSums(2 * block.length);
  block.forEach((_, j) => sums.add(2 * j, 3 + j) && sums.add(2 * j + 1, 0.5 - j));
  sums.normalize();
  const delta = new Float64Array(3);
  const oldValue = new Float64Array(3);
  const before = params.slice();
  const [alpha, lambda, mu] = [1.3, 2.5, 0.1];
  native.fm.drawBlock(block, featureIds, params, k, 1, sums.limbs, seed, STREAM.v, 17, alpha, lambda, mu, true, delta, oldValue);
  const rng = new CoordinateStream(seed);
  block.forEach((g, j) => {
    const theta = before[g * (k + 1) + 2]!;
    const s2 = sums.value(2 * j);
    const prec = alpha * s2 + lambda;
    const mean = (alpha * (sums.value(2 * j + 1) + theta * s2) + lambda * mu) / prec;
    const want = mean + rng.reset(STREAM.v, 17, featureIds[g]! * k + 1).normal() / Math.sqrt(prec);
    t.true(Math.abs(params[g * (k + 1) + 2]! - want) < 1e-12, `feature ${g}: ${params[g * (k + 1) + 2]} vs ${want}`);
    t.is(oldValue[j], theta);
    t.is(delta[j], params[g * (k + 1) + 2]! - theta);
  });
  // ALS: the mean, no draw; other features untouched.
  native.fm.drawBlock(block, featureIds, params, k, -1, sums.limbs, seed, STREAM.w, 1, 1, 0, 0, false, delta, oldValue);
  t.true(Math.abs(params[0]! - (sums.value(1) + before[0]! * sums.value(0)) / sums.value(0)) < 1e-12);
  t.is(params[1 * (k + 1)], before[1 * (k + 1)]);
  t.throws(() => native.fm.drawBlock(Int32Array.from([5]), featureIds, params, k, 0, new Float64Array(4), seed, 4, 1, 1, 1, 0, true, delta, oldValue), { instanceOf: RangeError, message: /'block' entry 0 \(5\)/ });
  t.throws(() => native.fm.drawBlock(block, featureIds, params, k, 0, sums.limbs, -1, 4, 1, 1, 1, 0, true, delta, oldValue), { instanceOf: RangeError, message: /'seed'/ });

  // Probit residuals: z on the label's side, as the JS stream draws it.
  const n = 500;
  const labels = Float64Array.from({ length: n }, (_, i) => (i % 3 ? 1 : 0));
  const yhat = Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
  const resid = new Float64Array(n);
  native.fm.probitResiduals(labels, yhat, seed, STREAM.target, 4, 100, resid);
  for (let i = 0; i < n; i++) {
    const y = yhat[i]!;
    rng.reset(STREAM.target, 4, 100 + i);
    const z = labels[i] ? y + rng.normalAbove(-y) : y - rng.normalAbove(y);
    t.true(Math.abs(resid[i]! - (z - y)) < 1e-12 && (labels[i] ? y + resid[i]! > 0 : y + resid[i]! < 0), `row ${i}`);
  }
  t.throws(() => native.fm.probitResiduals(labels, Float64Array.from(yhat, (y, i) => (i === 7 ? NaN : y)), seed, 6, 4, 0, resid), { instanceOf: RangeError, message: /'yhat' entry 7/ });
  t.throws(() => native.fm.probitResiduals(labels, yhat, seed, 6, 4, 0, new Float64Array(3)), { instanceOf: RangeError, message: /same length/ });
});

test('in memory: ALS and MCMC reach the planted noise level', async (t) => {
  const data = await readLibsvm(trainFile);
  const test = await readLibsvm(testFile);
  for (const o of [{ ...base, solver: 'als' as const, iterations: 15, l2w: 2, l2v: 2 }, { ...base }]) {
    let index: Map<number, number> | null = null;
    const avg = new FmPredictionAverage(test.numRows, { task: 'regression', link: 'probit', labelOffset: 0, labelMin: -Infinity, labelMax: Infinity });
    const res = await trainFmCoordinate(o, data, {
      comm: localCollective(),
      onStart: (ids) => void (index = new Map(Array.from(ids, (id, g) => [id, g]))),
      onIteration: (_s, current, averaged) => {
        if (averaged && o.solver === 'mcmc') avg.add(scoreSample(current, o.factors, index!, test));
      },
    });
    if (o.solver === 'als') avg.add(scoreSample(res.samples[0]!, o.factors, index!, test));
    const r = rmse(avg.predictions(), test.labels);
    t.log(`${o.solver}: planted RMSE ${r.toFixed(4)} (noise ${noiseRmse.toFixed(4)}), ${res.blocks} blocks`);
    t.is(res.blocks, 2);
    t.true(r < noiseRmse * 1.25, `${o.solver} RMSE ${r}`);
  }
});

test.serial('np 1 and np 2 write identical MCMC models (regression and probit); the model predicts what training reported', async (t) => {
  const common = ['--train', trainFile, '--test', testFile, '--solver', 'mcmc', '--factors', '4', '--epochs', '30', '--burn-in', '5', '--keep-samples', '30', '--seed', '3', '--quiet'];
  const files: string[] = [];
  for (const task of ['regression', 'binary']) {
    for (const np of [1, 2]) {
      const model = join(dir, `mcmc.${task}.${np}.json`);
      const metrics = join(dir, `mcmc.${task}.${np}.metrics.json`);
      const extra = task === 'binary' ? ['--task', 'binary', '--label-threshold', '1'] : [];
      const { result, output } = await runRanks(np, 'workers/fm.worker.js', [...common, ...extra, '--model-out', model, '--metrics-out', metrics], { wallTimeoutMs: 120_000 });
      t.true(result.ok, `${result.summary}\n${output.flat().join('\n')}`);
      files.push(model, metrics);
    }
  }
  const [reg1, regM1, reg2, regM2, bin1, binM1, bin2, binM2] = files.map((f) => readFileSync(f, 'utf8'));
  t.is(reg1, reg2, 'regression models differ between np 1 and np 2');
  t.is(bin1, bin2, 'binary models differ between np 1 and np 2');
  const m1 = JSON.parse(regM1!) as { rmse: number; workers: number };
  const m2 = JSON.parse(regM2!) as { rmse: number; workers: number };
  t.is(m1.rmse, m2.rmse);
  t.is(m2.workers, 2);
  t.is((JSON.parse(binM1!) as { auc: number }).auc, (JSON.parse(binM2!) as { auc: number }).auc);

  // Round trip: all 25 samples after burn-in were kept, so the loaded model averages the same predictions
  // (parameters stored as float32: 1e-4).
  const test = await readLibsvm(testFile);
  const loaded = await loadModel(files[2]!);
  t.is(loaded.algorithm, 'fm');
  const fm = await loadFmModel(files[2]!);
  t.is(fm.samples, 25);
  t.is(fm.link, 'probit');
  const r = rmse(loaded.predict(test), test.labels);
  t.true(Math.abs(r - m2.rmse) < 1e-4, `loaded model RMSE ${r} vs training's ${m2.rmse}`);
  const probs = predictFm(await loadFmModel(files[6]!), test);
  const labels = Array.from(test.labels, (y) => (y >= 1 ? 1 : 0));
  const auc = aucLocal(probs, labels);
  t.true(Math.abs(auc - (JSON.parse(binM2!) as { auc: number }).auc) < 1e-4, `loaded binary model AUC ${auc}`);
  t.true(auc > 0.85, `binary AUC ${auc}`);
});

test.serial('MCMC: a worker killed mid-run is replaced (--max-restarts), and a job killed with --checkpoint resumes (--resume); both write the undisturbed model', async (t) => {
  const common = ['--train', trainFile, '--test', testFile, '--solver', 'mcmc', '--factors', '4', '--epochs', '12', '--burn-in', '2', '--seed', '8', '-np', '2', '--quiet'];
  // Checkpoints are signed with the job secret: both jobs need the same one.
  const savedToken = process.env['SHOAL_TOKEN'];
  process.env['SHOAL_TOKEN'] = 'ab'.repeat(32);
  t.teardown(() => {
    if (savedToken === undefined) delete process.env['SHOAL_TOKEN'];
    else process.env['SHOAL_TOKEN'] = savedToken;
  });
  const ref = join(dir, 'ft.ref.json');
  t.is(await main([...common, '--model-out', ref]), 0);
  // Rank 1 dies before its 101st allReduce (iteration 9 of 12: 3 setup collectives, then
  // 1 + 2 blocks x (1 + k) = 11 allReduces per iteration).
  const replaced = join(dir, 'ft.replaced.json');
  const replacedMetrics = join(dir, 'ft.replaced.metrics.json');
  t.is(await main([...common, '--model-out', replaced, '--metrics-out', replacedMetrics, '--max-restarts', '1', '--inject', 'kill:rank=1:op=allReduce:seq=100']), 0);
  t.is(readFileSync(replaced, 'utf8'), readFileSync(ref, 'utf8'), 'the model after a worker replacement differs');
  t.is((JSON.parse(readFileSync(replacedMetrics, 'utf8')) as { recovery: { restart: number } }).recovery.restart, 0, 'rank 0 is the original process');

  const ckpt = join(dir, 'ft.ckpt');
  const resumed = join(dir, 'ft.resumed.json');
  t.not(await main([...common, '--model-out', resumed, '--checkpoint', ckpt, '--checkpoint-every', '2', '--inject', 'exit:rank=1:op=allReduce:seq=100:code=3']), 0);
  t.false(existsSync(resumed));
  const resumedMetrics = join(dir, 'ft.resumed.metrics.json');
  t.is(await main([...common, '--model-out', resumed, '--metrics-out', resumedMetrics, '--resume', ckpt]), 0);
  t.is(readFileSync(resumed, 'utf8'), readFileSync(ref, 'utf8'), 'the resumed model differs');
  const rm = JSON.parse(readFileSync(resumedMetrics, 'utf8')) as { recovery: { resumed_at_iteration: number } };
  // Killed in iteration 9; checkpoints after every 2nd iteration: the last one is of iteration 8.
  t.is(rm.recovery.resumed_at_iteration, 8);
  // Another seed is another job: its checkpoint is refused (exit 2, the meta named).
  t.is(await main([...common.map((a) => (a === '8' ? '9' : a)), '--resume', ckpt]), 2);
});

test('flags: solver defaults, options of another solver and recovery flags exit 2', async (t) => {
  const mc = parseFmArgs(['--train', 'x', '--solver', 'mcmc']);
  t.is(mc.epochs, 200);
  t.is(mc.servers, 0);
  t.is(mc.initStd, 0.1);
  t.is(parseFmArgs(['--train', 'x', '--solver', 'mcmc', '--task', 'binary']).initStd, 0.2);
  t.is(parseFmArgs(['--train', 'x', '--solver', 'als', '--task', 'binary']).initStd, 0.1);
  t.is(parseFmArgs(['--train', 'x']).solver, 'adagrad');
  t.is(parseFmArgs(['--train', 'x', '--solver', 'als', '--epochs', '7']).epochs, 7);
  // Usage errors are thrown as UsageError (the CLI prints the line and exits 2).
  const refused = async (argv: string[], message: RegExp) => t.throwsAsync(() => main(argv), { instanceOf: UsageError, message });
  await refused(['--train', trainFile, '--solver', 'als', '--lr', '0.1'], /--lr does not apply to --solver als/);
  await refused(['--train', trainFile, '--solver', 'als', '--burn-in', '3'], /--burn-in does not apply to --solver als|apply to --solver mcmc only/);
  await refused(['--train', trainFile, '--solver', 'mcmc', '--epochs', '5', '--burn-in', '5'], /--burn-in 5 leaves no samples of 5 iterations/);
  await refused(['--train', trainFile, '--burn-in', '5'], /--burn-in does not apply to --solver adagrad/);
  await refused(['--train', trainFile, '--solver', 'sgd'], /--solver/);
});

test('native fm kernels reject bad arguments with errors naming them', (t) => {
  const colStart = new Uint32Array([0, 1, 2]);
  const colRow = new Uint32Array([0, 1]);
  const colVal = new Float64Array([1, 1]);
  const params = new Float64Array(2 * 3);
  const q = new Float64Array(2 * 2);
  const resid = new Float64Array(2);
  const limbs = new Float64Array(8);
  const call = (over: Partial<Record<string, unknown>>) => () =>
    native.fm.blockStats(
      (over['colStart'] ?? colStart) as Uint32Array, (over['colRow'] ?? colRow) as Uint32Array, colVal, (over['block'] ?? new Int32Array([0, 1])) as Int32Array,
      params, (over['stride'] ?? 3) as number, (over['factor'] ?? 0) as number, q, 2, (over['resid'] ?? resid) as Float64Array, (over['limbs'] ?? limbs) as Float64Array,
    );
  t.is(call({})(), -1);
  t.throws(call({ colStart: new Float64Array(3) }), { instanceOf: TypeError, message: /'colStart'/ });
  t.throws(call({ block: new Int32Array([0, 2]) }), { instanceOf: RangeError, message: /'block' entry 1/ });
  t.throws(call({ stride: 4 }), { instanceOf: RangeError, message: /'stride'/ });
  t.throws(call({ factor: 2 }), { instanceOf: RangeError, message: /'factor'/ });
  t.throws(call({ colRow: new Uint32Array([0, 5]) }), { instanceOf: RangeError, message: /'colRow' holds row 5/ });
  const apply = (rows: Uint32Array) => () => native.fm.blockApply(colStart, rows, colVal, new Int32Array([0, 1]), params, 3, 0, q, 2, resid, new Float64Array([1, 1]), new Float64Array(2));
  t.notThrows(apply(colRow));
  t.throws(apply(new Uint32Array([0, 5])), { instanceOf: RangeError, message: /blockApply: 'colRow' holds row 5/ });
  t.throws(call({ colStart: new Uint32Array([0, 2, 1]) }), { instanceOf: RangeError, message: /not ascending/ });
  t.throws(call({ limbs: new Float64Array(7) }), { instanceOf: RangeError, message: /'limbs'/ });
  t.throws(call({ limbs: resid }), { instanceOf: RangeError });
  // rowScores checks feature indices and lengths; residualStats reports out-of-range residuals.
  const rowPtr = new Uint32Array([0, 1, 2]);
  const yhat = new Float64Array(2);
  t.notThrows(() => native.fm.rowScores(rowPtr, new Int32Array([0, 1]), new Float32Array([1, 1]), params, 2, 0.5, q, yhat));
  t.throws(() => native.fm.rowScores(rowPtr, new Int32Array([0, 2]), new Float32Array([1, 1]), params, 2, 0, q, yhat), { instanceOf: RangeError, message: /'entryFeature' entry 1/ });
  t.throws(() => native.fm.rowScores(rowPtr, new Int32Array([0, 1]), new Float32Array([1, 1]), params, 2, 0, q, new Float64Array(1)), { instanceOf: RangeError, message: /'yhat'/ });
  t.throws(() => native.fm.rowScores(rowPtr, new Int32Array([0, 1]), new Float32Array([1, 1]), params, 2, 0, q, q), { instanceOf: RangeError, message: /overlap/ });
  t.is(native.fm.residualStats(new Float64Array([1, -(2 ** 21)]), new Float64Array(4)), 1);
  t.throws(() => native.fm.residualStats(resid, new Float64Array(3)), { instanceOf: RangeError, message: /'limbs'/ });
  // A term of 2^20 or more is reported by block position, not wrapped.
  const big = new Float64Array([2 ** 21, 0]);
  t.is(native.fm.blockStats(colStart, colRow, colVal, new Int32Array([0, 1]), params, 3, -1, q, 2, big, limbs), 0);
});

const haveMl = existsSync(join(ML, 'u1.base.libfm')) && existsSync(join(ML, 'u1.test.libfm'));
(haveMl ? test.serial : test.skip)('MovieLens 100k u1 (np 2, defaults, seed 1): MCMC RMSE <= 0.911, ALS RMSE <= 0.925', async (t) => {
  const data = ['--train', join(ML, 'u1.base.libfm'), '--test', join(ML, 'u1.test.libfm'), '--quiet'];
    // Deterministic for a seed at any np, so the goals are checked on fixed numbers (MCMC 0.9108,
  // seeds 2 and 3 gave 0.9100 and 0.9096; ALS 0.9226).
  for (const [solver, goal] of [['mcmc', 0.911], ['als', 0.925]] as const) {
    const metrics = join(dir, `ml.${solver}.json`);
    const { result, output } = await runRanks(2, 'workers/fm.worker.js', [...data, '--solver', solver, '--metrics-out', metrics], { wallTimeoutMs: 170_000 });
    t.true(result.ok, `${result.summary}\n${output.flat().join('\n')}`);
    const m = JSON.parse(readFileSync(metrics, 'utf8')) as { rmse: number; seconds_per_iteration: number };
    t.log(`u1 ${solver} np 2: RMSE ${m.rmse.toFixed(4)}, ${m.seconds_per_iteration}s per iteration`);
    t.true(m.rmse <= goal, `${solver} RMSE ${m.rmse}`);
  }
});

(haveMl ? test.serial : test.skip)('MovieLens 100k u1 binary (np 2, defaults, seed 1): MCMC AUC >= 0.80, above AdaGrad', async (t) => {
  const data = ['--train', join(ML, 'u1.base.libfm'), '--test', join(ML, 'u1.test.libfm'), '--quiet'];
  // Binary (rating >= 4): MCMC's AUC is 0.8018 for seed 1 (deterministic); AdaGrad's was
  // 0.7941-0.7967 over seeds 1-3 (BENCHMARKS.md, "Binary AUC on three sets").
  const metrics = join(dir, 'ml.mcmc.binary.json');
  const { result, output } = await runRanks(2, 'workers/fm.worker.js', [...data, '--solver', 'mcmc', '--task', 'binary', '--label-threshold', '4', '--metrics-out', metrics], { wallTimeoutMs: 170_000 });
  t.true(result.ok, `${result.summary}\n${output.flat().join('\n')}`);
  const auc = (JSON.parse(readFileSync(metrics, 'utf8')) as { auc: number }).auc;
  t.log(`u1 binary mcmc np 2: AUC ${auc.toFixed(4)}`);
  t.true(auc >= 0.8, `binary MCMC AUC ${auc}`);
});
