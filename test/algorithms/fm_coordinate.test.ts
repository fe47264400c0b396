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
import { iterationSteps, trainFmCoordinate, sampleScorer, scoreSample, MAX_STEP_SUMS, type FmCoordinateOptions } from '../../algorithms/fm/coordinate_solver.js';
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
  // The ziggurat (MCMC's coordinate draws): moments, the tails beyond 2 and beyond its base
  // strip's edge r = 3.44 (P = 0.0455 and 0.000576), and the sub-streams' independence.
  const zn = 400000;
  let [z1, z2, z4, beyond2, beyondR, cross] = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < zn; i++) {
    const z = a.reset(4, 2, i).normalZiggurat();
    const other = a.seek(2 ** 16).normalZiggurat();
    z1 += z;
    z2 += z * z;
    z4 += z ** 4;
    cross += z * other;
    if (Math.abs(z) > 2) beyond2++;
    if (Math.abs(z) > 3.442619855899) beyondR++;
  }
  t.true(Math.abs(z1 / zn) < 0.006 && Math.abs(z2 / zn - 1) < 0.01 && Math.abs(z4 / zn - 3) < 0.06, `ziggurat mean ${z1 / zn} var ${z2 / zn} 4th moment ${z4 / zn}`);
  t.true(Math.abs(beyond2 / zn - 0.0455) < 0.002 && Math.abs(beyondR / zn - 0.000576) < 0.00015, `ziggurat tails ${beyond2 / zn} ${beyondR / zn}`);
  t.true(Math.abs(cross / zn) < 0.006, `sub-streams correlate: ${cross / zn}`);
  t.true(Math.abs(g / n - 1.5) < 0.05, `gamma(3, rate 2) mean ${g / n}`);
  // E[z | z > 1.5] = phi(1.5) / (1 - Phi(1.5)) = 0.129518 / 0.066807 = 1.9387
  t.true(Math.abs(tn / n - 1.9387) < 0.03, `truncated mean ${tn / n}`);
});

/**
 * Rows with one feature of block A (features 0..5, x in [0.5, 2)) and one of block B (6..9),
 * their parameters, and the per-row terms: q (row-major) and residuals against random targets.
 */
function stepFixture(k: number) {
  const rng = new Rng(21);
  const n = 60;
  const G = 10;
  const rowPtr = Uint32Array.from({ length: n + 1 }, (_, i) => 2 * i);
  const entryFeature = new Int32Array(2 * n);
  const values = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    entryFeature[2 * i] = i % 6;
    entryFeature[2 * i + 1] = 6 + rng.int(4);
    values[2 * i] = 0.5 + 1.5 * rng.next();
    values[2 * i + 1] = 0.5 + 1.5 * rng.next();
  }
  const params = Float64Array.from({ length: G * (k + 1) }, () => 0.3 * rng.normal());
  const q = new Float64Array(n * k);
  const yhat = new Float64Array(n);
  native.fm.rowScores(rowPtr, entryFeature, values, params, k, 0.2, q, yhat);
  const resid = Float64Array.from(yhat, (y) => 1 + rng.normal() - y);
  // Block A's entries in row order: row i holds feature i % 6 at entry 2i.
  const block = Int32Array.from([0, 1, 2, 3, 4, 5]);
  const row = Uint32Array.from({ length: n }, (_, i) => i);
  const pos = Int32Array.from({ length: n }, (_, i) => i % 6);
  const val = Float64Array.from({ length: n }, (_, i) => values[2 * i]!);
  return { n, G, params, q, resid, block, row, pos, val, // A feature id above 2^32 checks the streams' high index word.
  featureIds: Float64Array.from({ length: G }, (_, g) => (g === 2 ? 2 ** 40 + 3 : 3 * g + 1)) };
}

test('a step draws every coordinate of a feature as libFM would, one at a time on the residuals, for any split of the coordinates', (t) => {
  const k = 4;
  const seed = 99;
  const [alpha, it, shift] = [1.7, 5, 0.25];
  const lambda = Float64Array.from({ length: k + 1 }, (_, c) => 0.5 + c);
  const mu = Float64Array.from({ length: k + 1 }, (_, c) => 0.1 * c - 0.2);
  const fx = stepFixture(k);

  // Reference: the residuals move by -shift (w0's draw), then per feature w, v_1..v_k in turn,
  // each from sums over its rows of the current h and residuals (plain floats), as libFM does.
  const ref = { params: fx.params.slice(), q: fx.q.slice(), resid: Float64Array.from(fx.resid, (e) => e - shift) };
  const rng = new CoordinateStream(seed);
  for (const g of fx.block) {
    for (let c = 0; c <= k; c++) {
      const rows = Array.from(fx.row).filter((i) => fx.pos[i] === g);
      const at = g * (k + 1) + c;
      const theta = ref.params[at]!;
      const h = rows.map((i) => (c === 0 ? fx.val[i]! : fx.val[i]! * (ref.q[i * k + c - 1]! - theta * fx.val[i]!)));
      let s2 = 0;
      let se = 0;
      rows.forEach((i, j) => ((s2 += h[j]! * h[j]!), (se += h[j]! * ref.resid[i]!)));
      const prec = alpha * s2 + lambda[c]!;
      const mean = (alpha * (se + theta * s2) + lambda[c]! * mu[c]!) / prec;
      const z = (c === 0 ? rng.reset(STREAM.w, it, fx.featureIds[g]!) : rng.reset(STREAM.v, it, fx.featureIds[g]!).seek((c - 1) * 2 ** 16)).normalZiggurat();
      const next = mean + z / Math.sqrt(prec);
      ref.params[at] = next;
      rows.forEach((i, j) => {
        ref.resid[i] = ref.resid[i]! - (next - theta) * h[j]!;
        if (c > 0) ref.q[i * k + c - 1] = ref.q[i * k + c - 1]! + (next - theta) * fx.val[i]!;
      });
    }
  }

  // Native: one exchange's sums per step; the first step's sums are taken before the shift.
  for (const split of [[0, k + 1], [0, 2, k + 1], [0, 1, 2, 3, 4, k + 1]]) {
    const params = fx.params.slice();
    const q = fx.q.slice();
    const resid = fx.resid.slice();
    for (let sIdx = 0; sIdx + 1 < split.length; sIdx++) {
      const [lo, hi] = [split[sIdx]!, split[sIdx + 1]!];
      const first = sIdx === 0;
      const width = hi - lo;
      const sums = new ExactSums(fx.block.length * ((width * (width + 1)) / 2 + width * (first ? 2 : 1)));
      t.is(native.fm.blockStats(fx.row, fx.pos, fx.val, fx.block, k, lo, hi, q, resid, params, first, sums.limbs, 0), -1);
      const delta = new Float64Array(fx.block.length * width);
      const oldValue = new Float64Array(fx.block.length * width);
      native.fm.drawBlock(fx.block, fx.featureIds, params, k, lo, hi, first, sums.limbs, 0, seed, STREAM.w, STREAM.v, it, alpha, lambda, mu, true, first ? shift : 0, delta, oldValue);
      if (first) for (let i = 0; i < fx.n; i++) resid[i] = resid[i]! - shift;
      native.fm.blockApply(fx.row, fx.pos, fx.val, fx.block, k, lo, hi, q, resid, delta, oldValue);
    }
    const close = (a: Float64Array, b: Float64Array, what: string) => {
      let worst = 0;
      a.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - b[j]!))));
      t.true(worst < 1e-8, `split ${split.join(',')}: ${what} differs by ${worst}`);
    };
    close(params, ref.params, 'params');
    close(q, ref.q, 'q');
    close(resid, ref.resid, 'resid');
    // Block B's features are not drawn.
    t.deepEqual(params.subarray(6 * (k + 1)), fx.params.subarray(6 * (k + 1)));
  }

  // ALS: the means; a zero precision gives 0.
  const params = fx.params.slice();
  const sums = new ExactSums(fx.block.length * 2);
  native.fm.blockStats(fx.row, fx.pos, fx.val, fx.block, k, 0, 1, fx.q, fx.resid, params, false, sums.limbs, 0);
  const zero = new Float64Array(k + 1);
  native.fm.drawBlock(fx.block, fx.featureIds, params, k, 0, 1, false, sums.limbs, 0, seed, STREAM.w, STREAM.v, 1, 1, zero, zero, false, 0, new Float64Array(6), new Float64Array(6));
  t.true(Math.abs(params[0]! - (sums.value(1) + fx.params[0]! * sums.value(0)) / sums.value(0)) < 1e-12);
  native.fm.drawBlock(fx.block, fx.featureIds, params, k, 0, 1, false, new Float64Array(24), 0, seed, STREAM.w, STREAM.v, 1, 1, zero, zero, false, 0, new Float64Array(6), new Float64Array(6));
  t.is(params[0], 0);
});

test('native step sums are exact for runs of one feature, lone entries and features with more entries than an int64 holds', (t) => {
  // Block of 3 features, k = 1 (coordinates w, v_1): feature 0 on rows 0..19999 in one run
  // (summed in registers, runs of at most 2048), features 1 and 2 alternating on rows
  // 20000..59999 (lone entries). Terms near 2^18: 4096 of them overflow an int64 of 2^-32 units,
  // so every feature's sums pass through the 128-bit totals.
  const rng = new Rng(31);
  const n = 60_000;
  const k = 1;
  const block = Int32Array.from([0, 1, 2]);
  const row = Uint32Array.from({ length: n }, (_, i) => i);
  const pos = Int32Array.from({ length: n }, (_, i) => (i < 20_000 ? 0 : 1 + (i % 2)));
  const val = Float64Array.from({ length: n }, () => 1 + 2 * rng.next());
  const params = Float64Array.from([0.1, 0.7, -0.2, 1.3, 0.4, -0.9]);
  const q = Float64Array.from({ length: n }, () => 150 + 50 * rng.next());
  const resid = Float64Array.from({ length: n }, () => 400 * (rng.next() - 0.5));
  const perFeature = 3 + 2 * 2;
  const stats = (lo: number, hi: number): ExactSums => {
    const sums = new ExactSums(3 * perFeature);
    const r = native.fm.blockStats(row.subarray(lo, hi), pos.subarray(lo, hi), val.subarray(lo, hi), block, k, 0, 2, q, resid, params, true, sums.limbs, 0);
    t.is(r, -1);
    return sums;
  };
  const whole = stats(0, n);
  // Two "ranks" splitting feature 0's run and the lone entries: the limbs add to the same values.
  const parts = [stats(0, 4321), stats(4321, 35_001), stats(35_001, n)];
  const summed = new ExactSums(3 * perFeature);
  for (const part of parts) part.limbs.forEach((x, j) => (summed.limbs[j] = summed.limbs[j]! + x));
  // Plain float sums of the same terms, in the layout of stepSums: Gram [ww, vw, vv], [w e, v e], [w, v].
  const plain = new Float64Array(3 * perFeature);
  for (let i = 0; i < n; i++) {
    const b = pos[i]!;
    const x = val[i]!;
    const h = [x, x * (q[i]! - params[2 * b + 1]! * x)];
    const terms = [h[0]! * h[0]!, h[1]! * h[0]!, h[1]! * h[1]!, h[0]! * resid[i]!, h[1]! * resid[i]!, h[0]!, h[1]!];
    terms.forEach((term, s) => (plain[b * perFeature + s] = plain[b * perFeature + s]! + term));
  }
  for (const b of [0, 1, 2]) t.true(plain[b * perFeature + 2]! > 2 ** 31, `feature ${b}: sum h_v^2 ${plain[b * perFeature + 2]} exceeds what an int64 of 2^-32 units holds`);
  for (let j = 0; j < 3 * perFeature; j++) {
    t.is(summed.value(j), whole.value(j), `sum ${j}: split ${summed.value(j)} vs whole ${whole.value(j)}`);
    t.true(Math.abs(whole.value(j) - plain[j]!) <= 1e-9 * Math.abs(plain[j]!), `sum ${j}: ${whole.value(j)} vs float ${plain[j]}`);
  }
});

test('iteration steps: one per block up to 16 coordinates, equal ranges above, narrower for blocks with very many features', (t) => {
  const ranges = (blockLength: number, k: number) => iterationSteps([new Int32Array(blockLength)], k).map((s) => `${s.lo}-${s.hi}`);
  t.deepEqual(ranges(1000, 8), ['0-9']);
  t.deepEqual(ranges(1000, 15), ['0-16']);
  t.deepEqual(ranges(1000, 40), ['0-14', '14-28', '28-41']);
  t.is(iterationSteps([new Int32Array(5), new Int32Array(7)], 8).length, 2);
  // k = 8 with ~2^21 / 63 features or more: narrower steps keep a step's sums under the limit.
  const big = iterationSteps([new Int32Array(300_000)], 8);
  t.true(big.length > 1 && big.every((s) => 300_000 * (((s.hi - s.lo) * (s.hi - s.lo + 1)) / 2 + 2 * (s.hi - s.lo)) <= MAX_STEP_SUMS || s.hi - s.lo === 1), big.map((s) => `${s.lo}-${s.hi}`).join(' '));
  t.is(big[big.length - 1]!.hi, 9);
});

test('native probit residuals follow the JS coordinate stream', (t) => {
  const seed = 12345;
  const rng = new CoordinateStream(seed);
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
    let scorer: ReturnType<typeof sampleScorer> | null = null;
    let worst = 0;
    const avg = new FmPredictionAverage(test.numRows, { task: 'regression', link: 'probit', labelOffset: 0, labelMin: -Infinity, labelMax: Infinity });
    const res = await trainFmCoordinate(o, data, {
      comm: localCollective(),
      onStart: (ids) => {
        index = new Map(Array.from(ids, (id, g) => [id, g]));
        // The native scorer of the workers' test sets, against the JS reference; the
        // first test row gets a feature no training row has (scored as zero).
        const extra = { ...test, featureIds: test.featureIds.slice() };
        extra.featureIds[0] = 999_999;
        const sample = { w0: 0.5, params: Float64Array.from({ length: ids.length * (o.factors + 1) }, (_, j) => Math.sin(j)) };
        const reference = scoreSample(sample, o.factors, index, extra);
        const native_ = sampleScorer(o.factors, ids, extra)(sample);
        t.not(reference[0], scoreSample(sample, o.factors, index, test)[0]);
        scorer = sampleScorer(o.factors, ids, test);
        reference.forEach((y, r) => (worst = Math.max(worst, Math.abs(y - native_[r]!))));
      },
      onIteration: (_s, current, averaged) => {
        if (averaged && o.solver === 'mcmc') {
          const scores = scoreSample(current, o.factors, index!, test);
          avg.add(scores);
          const native_ = scorer!(current);
          scores.forEach((y, r) => (worst = Math.max(worst, Math.abs(y - native_[r]!))));
        }
      },
    });
    t.true(worst < 1e-12, `sampleScorer differs from scoreSample by ${worst}`);
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
  // Rank 1 dies before its 21st collective, an allReduce of iteration 9 of 12 (3 setup
  // collectives, then one allReduce per block: 2 per iteration).
  const replaced = join(dir, 'ft.replaced.json');
  const replacedMetrics = join(dir, 'ft.replaced.metrics.json');
  t.is(await main([...common, '--model-out', replaced, '--metrics-out', replacedMetrics, '--max-restarts', '1', '--inject', 'kill:rank=1:op=allReduce:seq=20']), 0);
  t.is(readFileSync(replaced, 'utf8'), readFileSync(ref, 'utf8'), 'the model after a worker replacement differs');
  t.is((JSON.parse(readFileSync(replacedMetrics, 'utf8')) as { recovery: { restart: number } }).recovery.restart, 0, 'rank 0 is the original process');

  const ckpt = join(dir, 'ft.ckpt');
  const resumed = join(dir, 'ft.resumed.json');
  t.not(await main([...common, '--model-out', resumed, '--checkpoint', ckpt, '--checkpoint-every', '2', '--inject', 'exit:rank=1:op=allReduce:seq=20:code=3']), 0);
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
  const row = new Uint32Array([0, 1]);
  const pos = new Int32Array([0, 1]);
  const val = new Float64Array([1, 1]);
  const params = new Float64Array(2 * 3);
  const q = new Float64Array(2 * 2);
  const resid = new Float64Array(2);
  // Two features, width 3 with the sum h: 6 + 3 + 3 = 12 sums each, 24 sums, 48 limbs.
  const limbs = new Float64Array(48);
  const call = (over: Partial<Record<string, unknown>>) => () =>
    native.fm.blockStats(
      (over['row'] ?? row) as Uint32Array, (over['pos'] ?? pos) as Int32Array, val, (over['block'] ?? new Int32Array([0, 1])) as Int32Array, 2,
      (over['lo'] ?? 0) as number, (over['hi'] ?? 3) as number, q, (over['resid'] ?? resid) as Float64Array, params, true, (over['limbs'] ?? limbs) as Float64Array, (over['first'] ?? 0) as number,
    );
  t.is(call({})(), -1);
  t.throws(call({ row: new Float64Array(2) }), { instanceOf: TypeError, message: /'row'/ });
  t.throws(call({ block: new Int32Array([0, 2]) }), { instanceOf: RangeError, message: /'block' entry 1/ });
  t.throws(call({ pos: new Int32Array([0, 2]) }), { instanceOf: RangeError, message: /'pos' entry 1 \(2\)/ });
  t.throws(call({ pos: new Int32Array([0]) }), { instanceOf: RangeError, message: /same length/ });
  t.throws(call({ hi: 4 }), { instanceOf: RangeError, message: /'lo' and 'hi'/ });
  t.throws(call({ lo: 2, hi: 2 }), { instanceOf: RangeError, message: /'lo' and 'hi'/ });
  t.throws(call({ row: new Uint32Array([0, 5]) }), { instanceOf: RangeError, message: /'row' holds row 5/ });
  t.throws(call({ limbs: new Float64Array(46) }), { instanceOf: RangeError, message: /'first'/ });
  t.throws(call({ first: 1 }), { instanceOf: RangeError, message: /'first'/ });
  t.throws(call({ limbs: new Float64Array(47) }), { instanceOf: RangeError, message: /'limbs'/ });
  t.throws(call({ limbs: resid }), { instanceOf: RangeError });
  const apply = (rows: Uint32Array) => () => native.fm.blockApply(rows, pos, val, new Int32Array([0, 1]), 2, 0, 3, q, resid, new Float64Array(6).fill(1), new Float64Array(6));
  t.notThrows(apply(row));
  t.throws(apply(new Uint32Array([0, 5])), { instanceOf: RangeError, message: /blockApply: 'row' holds row 5/ });
  // Block positions are checked in the pass: a bad one leaves q and resid of later entries alone.
  const qBefore = q.slice();
  t.throws(() => native.fm.blockApply(row, new Int32Array([-1, 0]), val, new Int32Array([0, 1]), 2, 0, 3, q, resid, new Float64Array(6).fill(1), new Float64Array(6)), { instanceOf: RangeError, message: /blockApply: 'pos' entry 0 \(-1\)/ });
  t.deepEqual(q, qBefore);
  t.throws(() => native.fm.blockApply(row, pos, val, new Int32Array([0, 1]), 2, 0, 3, q, resid, new Float64Array(5), new Float64Array(6)), { instanceOf: RangeError, message: /'delta'/ });
  const zero = new Float64Array(3);
  const draw = (over: Partial<Record<string, unknown>>) => () =>
    native.fm.drawBlock(
      new Int32Array([0, 1]), new Float64Array([1, 2]), params, 2, 0, 3, true, limbs, 0, (over['seed'] ?? 1) as number, 3, 4, 1, 1,
      (over['lambda'] ?? zero) as Float64Array, zero, true, 0, new Float64Array(6), (over['oldValue'] ?? new Float64Array(6)) as Float64Array,
    );
  t.notThrows(draw({}));
  t.throws(draw({ seed: -1 }), { instanceOf: RangeError, message: /'seed'/ });
  t.throws(draw({ lambda: new Float64Array(2) }), { instanceOf: RangeError, message: /'lambda' and 'mu'/ });
  t.throws(draw({ lambda: Float64Array.from([0, Number.NaN, 0]) }), { instanceOf: RangeError, message: /entry 1 must be finite/ });
  t.throws(draw({ oldValue: params }), { instanceOf: RangeError, message: /overlap/ });
  // rowScores checks feature indices and lengths; residualStats reports out-of-range residuals.
  const rowPtr = new Uint32Array([0, 1, 2]);
  const yhat = new Float64Array(2);
  t.notThrows(() => native.fm.rowScores(rowPtr, new Int32Array([0, 1]), new Float32Array([1, 1]), params, 2, 0.5, q, yhat));
  t.throws(() => native.fm.rowScores(rowPtr, new Int32Array([0, 2]), new Float32Array([1, 1]), params, 2, 0, q, yhat), { instanceOf: RangeError, message: /'entryFeature' entry 1/ });
  t.throws(() => native.fm.rowScores(rowPtr, new Int32Array([0, -1]), new Float32Array([1, 1]), params, 2, 0, q, yhat), { instanceOf: RangeError, message: /'entryFeature' entry 1/ });
  t.throws(() => native.fm.rowScores(new Uint32Array([0, 3, 2]), new Int32Array([0, 1, 0]), new Float32Array([1, 1, 1]), params, 2, 0, q, yhat), { instanceOf: RangeError, message: /'rowPtr' is not ascending up to rowPtr\[numRows\] at row 0/ });
  t.throws(() => native.fm.rowScores(rowPtr, new Int32Array([0, 1]), new Float32Array([1, 1]), params, 2, 0, q, new Float64Array(1)), { instanceOf: RangeError, message: /'yhat'/ });
  t.throws(() => native.fm.rowScores(rowPtr, new Int32Array([0, 1]), new Float32Array([1, 1]), params, 2, 0, q, q), { instanceOf: RangeError, message: /overlap/ });
  t.is(native.fm.residualStats(new Float64Array([1, -(2 ** 20)]), new Float64Array(4), 0), 1);
  t.throws(() => native.fm.residualStats(resid, new Float64Array(4), 1), { instanceOf: RangeError, message: /'first'/ });
  // A term of 2^19 or more is reported by block position, not wrapped (here h e for feature 1).
  t.is(native.fm.blockStats(row, pos, val, new Int32Array([0, 1]), 2, 0, 1, q, new Float64Array([1, 2 ** 19]), params, false, new Float64Array(8), 0), 1);
  t.is(native.fm.blockStats(row, pos, val, new Int32Array([0, 1]), 2, 0, 1, q, new Float64Array([Number.NaN, 0]), params, false, new Float64Array(8), 0), 0);
});

const haveMl = existsSync(join(ML, 'u1.base.libfm')) && existsSync(join(ML, 'u1.test.libfm'));
(haveMl ? test.serial : test.skip)('MovieLens 100k u1 (np 2, defaults, seed 1): MCMC RMSE <= 0.911, ALS RMSE <= 0.925', async (t) => {
  const data = ['--train', join(ML, 'u1.base.libfm'), '--test', join(ML, 'u1.test.libfm'), '--quiet'];
  // Deterministic for a seed at any np, so the goals are checked on fixed numbers (MCMC 0.9097,
  // ALS 0.9212; Box-Muller draws before the ziggurat: 0.9103; with the per-factor scan before
  // the block-wise one: 0.9108 and 0.9226).
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
  // Binary (rating >= 4): MCMC's AUC is 0.8023 for seed 1 (deterministic; 0.8019 before the ziggurat); AdaGrad's was
  // 0.7941-0.7967 over seeds 1-3 (BENCHMARKS.md, "Binary AUC on three sets").
  const metrics = join(dir, 'ml.mcmc.binary.json');
  const { result, output } = await runRanks(2, 'workers/fm.worker.js', [...data, '--solver', 'mcmc', '--task', 'binary', '--label-threshold', '4', '--metrics-out', metrics], { wallTimeoutMs: 170_000 });
  t.true(result.ok, `${result.summary}\n${output.flat().join('\n')}`);
  const auc = (JSON.parse(readFileSync(metrics, 'utf8')) as { auc: number }).auc;
  t.log(`u1 binary mcmc np 2: AUC ${auc.toFixed(4)}`);
  t.true(auc >= 0.8, `binary MCMC AUC ${auc}`);
});
