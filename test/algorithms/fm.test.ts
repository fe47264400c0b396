// Factorization machines: O(k nnz) prediction and gradient against the direct O(k n^2)
// formula, training in memory and through real servers (np 3) on a planted FM model, and the
// MovieLens goals.
import test from 'ava';
import { UsageError } from '../../lib/cli_flags.js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmAccumulateGradient, fmGradVDirect, fmScore, fmScoreDirect, rmse, trainFm } from '../../algorithms/fm/index.js';
import { loadFmModel, predictFm } from '../../algorithms/fm/model.js';
import { parseFmArgs } from '../../algorithms/fm/params.js';
import { LocalAdagradTable, LocalAssignTable } from '../../algorithms/ps_trainer/kv.js';
import { PROGRESS_DIM, PsRecovery } from '../../algorithms/ps_trainer/recovery.js';
import { localCollective } from '../../algorithms/common/collective.js';
import { Rng } from '../helpers/mulberry_rng.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { main } from '../../cli/trainers/fm_cli.js';
import { runRanks } from '../helpers/run_job.js';
import { writePlantedRatings } from '../helpers/planted_fm.js';

const ML = '/work/shared/data/movielens100k';
const dir = mkdtempSync(join(tmpdir(), 'shoal-fm-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const { trainFile, testFile, noiseRmse } = writePlantedRatings(dir);
// The multi-process AdaGrad tests run at --lr 0.2, as the chaos test: at 0.1 a run can sit on
// the rank-3 plateau (test RMSE ~0.33; docs/fm.md, "The AdaGrad plateau") for a number of
// epochs that depends on timing. CI ended the np 2 SSP 1 prefetch run at 0.3426, and 1 of 30
// np 3 ASP runs beside two busy loops ended at 0.3230; at 0.2, 40 such runs ended at
// 0.2152-0.2378 (BENCHMARKS.md, "FM AdaGrad plateau", bench/fm_rmse_spread.mjs).
const PLANTED_ADAGRAD = ['--factors', '4', '--lr', '0.2', '--l2', '0.01'];

test('fmScore and its gradient equal the direct O(k n^2) formulas', (t) => {
  const rng = new Rng(3);
  for (const [k, n] of [[1, 1], [3, 5], [8, 12]] as const) {
    const w0 = rng.normal();
    const w = Array.from({ length: n }, () => rng.normal());
    const v = Array.from({ length: n }, () => Array.from({ length: k }, () => rng.normal()));
    const x = Array.from({ length: n }, () => rng.normal());
    const params = new Float64Array(n * (k + 1));
    for (let i = 0; i < n; i++) {
      params[i * (k + 1)] = w[i]!;
      for (let f = 0; f < k; f++) params[i * (k + 1) + 1 + f] = v[i]![f]!;
    }
    const pos = Array.from({ length: n }, (_, i) => i);
    const sums = new Float64Array(k);
    const fast = fmScore(params, k, w0, pos, x, 0, n, sums);
    const direct = fmScoreDirect(w0, w, v, x);
    t.true(Math.abs(fast - direct) < 1e-9 * (1 + Math.abs(direct)), `k ${k} n ${n}: ${fast} vs ${direct}`);
    const grad = new Float64Array(n * (k + 1));
    const dl = 0.7;
    fmAccumulateGradient(params, k, pos, x, 0, n, sums, dl, 0, 0, grad);
    for (let i = 0; i < n; i++) {
      t.true(Math.abs(grad[i * (k + 1)]! - dl * x[i]!) < 1e-12);
      for (let f = 0; f < k; f++) {
        const want = dl * fmGradVDirect(v, x, i, f);
        t.true(Math.abs(grad[i * (k + 1) + 1 + f]! - want) < 1e-9 * (1 + Math.abs(want)), `dv[${i}][${f}]`);
      }
    }
    // Finite differences on one v coordinate confirm the direct derivative itself.
    if (n > 1) {
      const h = 1e-6;
      const v2 = v.map((row) => [...row]);
      v2[1]![0] = v2[1]![0]! + h;
      const numeric = (fmScoreDirect(w0, w, v2, x) - direct) / h;
      t.true(Math.abs(numeric - fmGradVDirect(v, x, 1, 0)) < 1e-4 * (1 + Math.abs(numeric)));
    }
  }
});

test('in memory, one worker learns the planted model (AdaGrad table)', async (t) => {
  const data = await readLibsvm(trainFile);
  const k = 4;
  const table = new LocalAdagradTable(k + 1, 0.1, 1e-8, (key, j) => (key === 0xffff_ffff_ffff_ffffn ? 0 : 0.01 * Math.sin(Number(key % 1000n) * 7 + j)));
  const res = await trainFm({ task: 'regression', factors: k, batch: 256, epochs: 15, l2w: 0.01, l2v: 0.01, seed: 1 }, data, table, { comm: localCollective(), clock: async () => {} });
  const params = await table.pull(res.slots.keys);
  const test = await readLibsvm(testFile);
  // Score the test rows with the learned rows (unseen features: zeros).
  const index = new Map<number, number>();
  res.slots.ids.forEach((id, s) => index.set(id, s));
  let sq = 0;
  const sums = new Float64Array(k);
  const rowsParams = new Float32Array(params.length + k + 1);
  rowsParams.set(params);
  const zero = params.length / (k + 1);
  for (let r = 0; r < test.numRows; r++) {
    const pos: number[] = [];
    for (let e = test.rowPtr[r]!; e < test.rowPtr[r + 1]!; e++) pos.push(index.get(test.featureIds[e]!) ?? zero);
    const vals = Array.from(test.values.subarray(test.rowPtr[r]!, test.rowPtr[r + 1]!));
    const s = fmScore(rowsParams, k, params[0]!, pos, vals, 0, pos.length, sums) + res.labels.offset;
    sq += (s - test.labels[r]!) ** 2;
  }
  const r = Math.sqrt(sq / test.numRows);
  t.log(`in-memory planted RMSE ${r.toFixed(4)} (noise ${noiseRmse.toFixed(4)})`);
  t.true(r < 0.3, `RMSE ${r}`);
});

test('in memory, the client cache (--ps-cache 2): one pull and one push per window of 3 minibatches, the same training loss', async (t) => {
  const data = await readLibsvm(trainFile);
  const k = 4;
  const init = (key: bigint, j: number) => (key === 0xffff_ffff_ffff_ffffn ? 0 : 0.01 * Math.sin(Number(key % 1000n) * 7 + j));
  const o = { task: 'regression' as const, factors: k, batch: 256, epochs: 6, l2w: 0.01, l2v: 0.01, seed: 1 };
  const lastLoss = async (psCache: number | undefined, pipeline: boolean) => {
    const table = new LocalAdagradTable(k + 1, 0.1, 1e-8, init);
    let pulls = 0;
    let pushes = 0;
    const counted = { dim: table.dim, pushFloats: table.pushFloats, pull: (keys: BigUint64Array) => (pulls++, table.pull(keys)), push: (keys: BigUint64Array, v: Float32Array) => (pushes++, table.push(keys, v)) };
    let loss = 0;
    const res = await trainFm({ ...o, pipeline, ...(psCache !== undefined ? { psCache } : {}) }, data, counted, {
      comm: localCollective(),
      clock: () => Promise.resolve(),
      onEpoch: async (s) => void (loss = s.trainLoss),
    });
    return { loss, pulls, pushes, steps: res.steps, traffic: res.traffic };
  };
  const plain = await lastLoss(undefined, false);
  t.is(plain.pulls, plain.steps * o.epochs);
  t.is(plain.traffic.pullRequests, plain.pulls);
  for (const pipeline of [false, true]) {
    const cached = await lastLoss(2, pipeline);
    t.log(`pipeline ${pipeline}: last epoch train RMSE ${plain.loss.toFixed(4)} without the cache, ${cached.loss.toFixed(4)} with --ps-cache 2; pulls ${plain.pulls} / ${cached.pulls}`);
    t.is(cached.pulls, Math.ceil(cached.steps / 3) * o.epochs, 'one pull per window of 3 minibatches, restarted each epoch');
    t.is(cached.pushes, cached.pulls, 'one push per window');
    t.deepEqual([cached.traffic.pullRequests, cached.traffic.pushRequests], [cached.pulls, cached.pushes]);
    t.is(cached.traffic.keysPushed, cached.traffic.keysPulled, 'a window pushes exactly the keys it pulled');
    t.true(cached.traffic.keysPulled < plain.traffic.keysPulled, `${cached.traffic.keysPulled} keys pulled vs ${plain.traffic.keysPulled}`);
    t.true(Math.abs(cached.loss - plain.loss) < 0.05, `train RMSE ${cached.loss} vs ${plain.loss}`);
  }
});

test('in memory: a worker that dies in epoch 3 is replaced from its progress row; the model equals the undisturbed one', async (t) => {
  const all = await readLibsvm(trainFile);
  const data = { ...all, numRows: 3000, labels: all.labels.subarray(0, 3000), rowPtr: all.rowPtr.subarray(0, 3001) };
  const k = 4;
  const o = { task: 'regression' as const, factors: k, batch: 100, epochs: 4, l2w: 0.01, l2v: 0.01, seed: 3 };
  const init = (key: bigint, j: number) => (key === 0xffff_ffff_ffff_ffffn ? 0 : 0.01 * Math.sin(Number(key % 1000n) * 7 + j));
  const undisturbed = new LocalAdagradTable(k + 1, 0.1, 1e-8, init);
  const ref = await trainFm(o, data, undisturbed, { comm: localCollective(), clock: async () => {} });

  const table = new LocalAdagradTable(k + 1, 0.1, 1e-8, init);
  const progress = new LocalAssignTable(PROGRESS_DIM);
  let clocks = 0;
  const dies = trainFm(o, data, table, {
    comm: localCollective(),
    clock: async () => {
      if (++clocks === 2 * 30 + 12) throw new Error('killed'); // after minibatch 12 of epoch 3 was pushed
    },
    recovery: new PsRecovery(localCollective(), { progress, recordEveryMs: 0 }),
  });
  await t.throwsAsync(dies, { message: 'killed' });
  let replacementClocks = 0;
  const lines: string[] = [];
  const res = await trainFm(o, data, table, {
    comm: localCollective(),
    clock: async () => void replacementClocks++,
    recovery: new PsRecovery(localCollective(), { progress, restart: 1, clock: async () => void replacementClocks++, log: (l) => lines.push(l) }),
    log: (l) => lines.push(l),
  });
  t.deepEqual(res.resumedAt, { epoch: 3, step: 12 });
  t.is(replacementClocks, 4 * 30);
  t.regex(lines.join('\n'), /resuming fm at epoch 3 minibatch 12\/30 \(skipping 72 minibatches already pushed\)/);
  // The replacement replays the earlier epochs' shuffles, so it sees the same rows in the same order.
  const a = await undisturbed.pull(ref.slots.keys);
  const b = await table.pull(ref.slots.keys);
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  t.is(maxDiff, 0);
});

test('flags: task defaults, bad values exit 2', async (t) => {
  const p = parseFmArgs(['--train', 'x', '--task', 'binary', '--factors', '4']);
  t.is(p.task, 'binary');
  t.is(p.factors, 4);
  t.is(p.l2w, 0.05);
  t.is(p.staleness, Infinity);
  t.is(parseFmArgs(['--train', 'x']).l2v, 0.1);
  // The launcher throws UsageErrors; the shoal CLI prints their one line and exits 2.
  await t.throwsAsync(main(['--train', trainFile, '--task', 'ranking']), { instanceOf: UsageError, message: /--task needs regression or binary, got "ranking"/ });
  await t.throwsAsync(main(['--train', trainFile, '--test', join(dir, 'nope')]), { instanceOf: UsageError, message: /cannot read --test .*nope: ENOENT/ });
  await t.throwsAsync(main(['--train', trainFile, '--factors', '0']), { instanceOf: UsageError, message: /--factors needs an integer in \[1, 4096\], got "0"/ });
});

test.serial('np 3 with 2 servers reaches the planted model; the saved model predicts the same', async (t) => {
  const model = join(dir, 'fm.model.json');
  const metrics = join(dir, 'fm.metrics.json');
  const args = ['--train', trainFile, '--test', testFile, ...PLANTED_ADAGRAD, '--epochs', '15', '--model-out', model, '--metrics-out', metrics, '--quiet'];
  const { result, output } = await runRanks(3, 'workers/fm.worker.js', args, { servers: 2, wallTimeoutMs: 90_000 });
  t.true(result.ok, `${result.summary}\n${output.flat().join('\n')}`);
  const m = JSON.parse(readFileSync(metrics, 'utf8')) as { rmse: number; train_seconds: number; rows_per_second: number; epochs: number };
  t.log(`np 3 planted: RMSE ${m.rmse.toFixed(4)} (noise ${noiseRmse.toFixed(4)}), ${m.train_seconds}s, ${m.rows_per_second} rows/s`);
  t.true(m.rmse < 0.3, `RMSE ${m.rmse}`);
  t.is(m.epochs, 15);
  const loaded = await loadFmModel(model);
  const test = await readLibsvm(testFile);
  t.true(Math.abs(rmse(predictFm(loaded, test), test.labels) - m.rmse) < 1e-4);

  // The same data as a binary task (rating >= 1, about half the rows): AUC well above chance.
  const binMetrics = join(dir, 'fm.bin.json');
  const bin = await runRanks(3, 'workers/fm.worker.js', ['--train', trainFile, '--test', testFile, '--task', 'binary', '--label-threshold', '1', ...PLANTED_ADAGRAD, '--epochs', '10', '--metrics-out', binMetrics, '--quiet'], { servers: 2, wallTimeoutMs: 90_000 });
  t.true(bin.result.ok, bin.result.summary);
  const bm = JSON.parse(readFileSync(binMetrics, 'utf8')) as { auc: number };
  t.log(`np 3 planted binary: AUC ${bm.auc.toFixed(4)}`);
  // ASP makes the result depend on timing (0.924-0.952 over 10 runs beside two busy loops;
  // 0.898-0.925 at --lr 0.1): 0.85 is well above chance (0.5) and below that spread.
  t.true(bm.auc > 0.85, `AUC ${bm.auc}`);
});

test.serial('np 2 with 2 servers and the client cache (--ps-cache 2) reaches the planted model with one pull and one push per window', async (t) => {
  const metrics = join(dir, 'fm.cache.json');
  const args = ['--train', trainFile, '--test', testFile, ...PLANTED_ADAGRAD, '--epochs', '15', '--ps-cache', '2', '--metrics-out', metrics, '--quiet'];
  const { result, output } = await runRanks(2, 'workers/fm.worker.js', args, { servers: 2, wallTimeoutMs: 90_000 });
  t.true(result.ok, `${result.summary}\n${output.flat().join('\n')}`);
  const m = JSON.parse(readFileSync(metrics, 'utf8')) as { rmse: number; ps_cache: Record<string, number>; traffic: Record<string, number>; steps_per_epoch: number; epochs: number; workers: number };
  const tr = m.traffic;
  // One pull and one push per window of 3 minibatches per worker; a window pushes the keys it pulled.
  const windows = m.workers * m.epochs * Math.ceil(m.steps_per_epoch / 3);
  t.deepEqual([tr['pull_requests'], tr['push_requests']], [windows, windows], JSON.stringify(m));
  t.is(tr['keys_pushed'], tr['keys_pulled']);
  t.deepEqual(m.ps_cache, { staleness: 2, window_minibatches: 3 });
  t.log(`np 2 cache s=2: RMSE ${m.rmse.toFixed(4)}; keys pulled per row ${tr['keys_pulled_per_row']}`);
  t.true(m.rmse < 0.3, `RMSE ${m.rmse}`);
  // Refused as a UsageError (the CLI prints the line and exits 2).
  await t.throwsAsync(() => main(['--train', trainFile, '--ps-cache', '1', '--max-restarts', '1']), { instanceOf: UsageError, message: /--ps-cache does not combine with --max-restarts/ });
});

test.serial('prefetch: one worker (ASP) is within 0.02 RMSE of the plain run, np 2 (ASP and SSP 1) learns the planted model; prefetched pulls are counted; --pipeline under BSP and with the cache', async (t) => {
  const base = ['--train', trainFile, '--test', testFile, ...PLANTED_ADAGRAD, '--epochs', '15', '--quiet'];
  const run = async (np: number, pre: boolean, extra: string[] = []) => {
    const metrics = join(dir, `fm.prefetch.${np}.${pre}${extra.join('')}.json`);
    const { result, output } = await runRanks(np, 'workers/fm.worker.js', [...base, ...extra, ...(pre ? ['--prefetch'] : []), '--metrics-out', metrics], { servers: 2, wallTimeoutMs: 90_000 });
    t.true(result.ok, `${result.summary}\n${output.flat().join('\n')}`);
    return JSON.parse(readFileSync(metrics, 'utf8')) as { rmse: number; prefetch: boolean; prefetched_pulls: number; steps_per_epoch: number; epochs: number };
  };
  // One worker is deterministic either way; with prefetch each minibatch misses the update of
  // the one before it (one minibatch staler, as with one more asynchronous worker).
  const plain = await run(1, false);
  const pre = await run(1, true);
  t.log(`np 1 RMSE without / with prefetch: ${plain.rmse.toFixed(4)} / ${pre.rmse.toFixed(4)}`);
  t.is(plain.prefetched_pulls, 0);
  t.is(pre.prefetched_pulls, (pre.steps_per_epoch - 1) * pre.epochs, 'every minibatch but the first of each epoch was pulled ahead');
  t.true(pre.rmse < 0.3 && Math.abs(pre.rmse - plain.rmse) <= 0.02, `RMSE ${pre.rmse} vs ${plain.rmse}`);
  const two = await run(2, true);
  t.log(`np 2 RMSE with prefetch: ${two.rmse.toFixed(4)}`);
  t.true(two.prefetched_pulls > 0 && two.rmse < 0.3, JSON.stringify(two));
  // SSP 1: the table runs at bound 0 so the pull one clock early still sees every worker's
  // clock t - 1; the workers wait on each other as under BSP, and must not deadlock.
  const ssp = await run(2, true, ['--staleness', '1']);
  t.log(`np 2 SSP 1 RMSE with prefetch: ${ssp.rmse.toFixed(4)}`);
  t.true(ssp.prefetched_pulls > 0 && ssp.rmse < 0.3, JSON.stringify(ssp));
  // --pipeline keeps each pull after the clock before it: BSP works, and with the
  // slot-addressed client cache the planted model is still learned.
  const bsp = await run(2, false, ['--pipeline', '--staleness', '0']);
  t.log(`np 2 BSP RMSE with --pipeline: ${bsp.rmse.toFixed(4)}`);
  t.true(bsp.rmse < 0.3 && bsp.prefetched_pulls === 0, JSON.stringify(bsp));
  const cached = await run(2, false, ['--pipeline', '--ps-cache', '2']);
  t.log(`np 2 RMSE with --pipeline --ps-cache 2: ${cached.rmse.toFixed(4)}`);
  t.true(cached.rmse < 0.3, JSON.stringify(cached));
  // --prefetch under BSP is refused; the coordinate solvers have no pulls.
  await t.throwsAsync(() => main(['--train', trainFile, '--prefetch', '--staleness', '0']), { instanceOf: UsageError, message: /--prefetch pulls 1 clock\(s\) ahead, which --staleness 0 does not allow/ });
  await t.throwsAsync(() => main(['--train', trainFile, '--prefetch', '--solver', 'als']), { instanceOf: UsageError, message: /--prefetch does not apply to --solver als/ });
});

const haveMl = existsSync(join(ML, 'u1.base.libfm')) && existsSync(join(ML, 'u1.test.libfm'));
// One worker: with a single pusher ASP is deterministic, so the goal is checked on a fixed
// number (0.9203), not on a timing-dependent draw (np 2 gave 0.9209-0.9237 across runs).
(haveMl ? test.serial : test.skip)('MovieLens 100k u1: RMSE <= 0.925 (np 1) and binary (rating >= 4) AUC >= 0.79 (np 2)', async (t) => {
  const metrics = join(dir, 'ml.json');
  const base = ['--train', join(ML, 'u1.base.libfm'), '--test', join(ML, 'u1.test.libfm'), '--quiet'];
  const reg = await runRanks(1, 'workers/fm.worker.js', [...base, '--metrics-out', metrics], { servers: 2, wallTimeoutMs: 120_000 });
  t.true(reg.result.ok, reg.result.summary);
  const m = JSON.parse(readFileSync(metrics, 'utf8')) as { rmse: number; train_seconds: number; rows_per_second: number };
  t.log(`regression np 1: RMSE ${m.rmse.toFixed(4)}, ${m.train_seconds}s, ${m.rows_per_second} rows/s`);
  t.true(m.rmse <= 0.925, `RMSE ${m.rmse}`);
  const binMetrics = join(dir, 'ml.bin.json');
  const bin = await runRanks(2, 'workers/fm.worker.js', [...base, '--task', 'binary', '--label-threshold', '4', '--metrics-out', binMetrics], { servers: 2, wallTimeoutMs: 120_000 });
  t.true(bin.result.ok, bin.result.summary);
  const b = JSON.parse(readFileSync(binMetrics, 'utf8')) as { auc: number; train_seconds: number };
  t.log(`binary np 2: AUC ${b.auc.toFixed(4)}, ${b.train_seconds}s`);
  t.true(b.auc >= 0.79, `AUC ${b.auc}`);
});
