// The rank-deficient plateau of FM AdaGrad on the planted ratings (test/helpers/planted_fm.ts,
// seed 11: 300 users x 200 items, planted k 4), measured in memory, deterministically: one
// worker, LocalAdagradTable (the servers' update), every push applied DELAY minibatches late
// (a stand-in for asynchronous workers: a pull misses the last DELAY pushes). Per delay and
// over SEEDS seeds (the seed draws the init and the shuffles) it prints the first epoch whose
// test RMSE is below 0.25 (median / 90th percentile / max; EPOCHS + 1 = never) and how many
// runs end above 0.25; the plateau is at ~0.33 and the planted optimum at ~0.214.
// TRACE=seed prints, for that seed and the first delay, the singular values of the learned
// interaction matrix P Q^T (users x items) per epoch with the median AdaGrad step factor
// lr / sqrt(acc) of the factors: the plateau is its 4th singular value staying small.
// Settings from the environment: LR (0.1), K (4), INITSTD (0.01), EPS (1e-8), L2 (0.01),
// BATCH (128), EPOCHS (15), SEEDS (20), DELAYS ("0 8"), WARM (epochs of bias-only updates, 0).
//   npm run build:ts && LR=0.2 node bench/fm_plateau.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { trainFm } from '../dist/algorithms/fm/index.js';
import { FmEvaluator } from '../dist/algorithms/fm/worker.js';
import { LocalAdagradTable } from '../dist/algorithms/ps_trainer/kv.js';
import { localCollective } from '../dist/algorithms/common/collective.js';
import { readLibsvm } from '../dist/lib/data/libsvm.js';
import { Rng } from '../dist/lib/rng.js';
import { writePlantedRatings } from '../dist/test/helpers/planted_fm.js';

const num = (name, fallback) => Number(process.env[name] ?? fallback);
const o = { lr: num('LR', 0.1), k: num('K', 4), initStd: num('INITSTD', 0.01), eps: num('EPS', 1e-8), l2: num('L2', 0.01), batch: num('BATCH', 128), epochs: num('EPOCHS', 15), warm: num('WARM', 0) };
const seeds = num('SEEDS', 20);
const delays = (process.env.DELAYS ?? '0 8').split(' ').filter(Boolean).map(Number);
const trace = process.env.TRACE ? Number(process.env.TRACE) : null;
const USERS = 300;
const ITEMS = 200;

const dir = mkdtempSync(join(tmpdir(), 'shoal-fm-plateau-'));
const { trainFile, testFile } = writePlantedRatings(dir);
const data = await readLibsvm(trainFile);
const evaluator = new FmEvaluator(await readLibsvm(testFile), 'regression', o.k, undefined);
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const featureKeys = BigUint64Array.from({ length: USERS + ITEMS }, (_, i) => BigInt(i + 1));

/** Eigenvalues of a small symmetric matrix (cyclic Jacobi). */
function symmetricEigenvalues(a, n) {
  const m = Float64Array.from(a);
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(m[p * n + q]) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * m[p * n + q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < n; r++) {
          const rp = m[r * n + p];
          const rq = m[r * n + q];
          m[r * n + p] = c * rp - s * rq;
          m[r * n + q] = s * rp + c * rq;
        }
        for (let r = 0; r < n; r++) {
          const pr = m[p * n + r];
          const qr = m[q * n + r];
          m[p * n + r] = c * pr - s * qr;
          m[q * n + r] = s * pr + c * qr;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => m[i * n + i]).sort((x, y) => y - x);
}

/** Singular values of P Q^T (P: the users' factors, Q: the items'): the square roots of the eigenvalues of C^T (Q^T Q) C, where P^T P = C C^T. */
function interactionSingularValues(rows, k) {
  const gram = (from, count) => {
    const g = new Float64Array(k * k);
    for (let i = from; i < from + count; i++) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) g[a * k + b] += rows[i * (k + 1) + 1 + a] * rows[i * (k + 1) + 1 + b];
    return g;
  };
  const gp = gram(0, USERS);
  const gq = gram(USERS, ITEMS);
  // Cholesky of gp (lower C, gp = C C^T); a tiny ridge keeps it defined for rank-deficient P.
  const c = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = gp[i * k + j] + (i === j ? 1e-12 : 0);
      for (let l = 0; l < j; l++) s -= c[i * k + l] * c[j * k + l];
      c[i * k + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / c[j * k + j];
    }
  }
  const m = new Float64Array(k * k);
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) m[a * k + b] += c[i * k + a] * gq[i * k + j] * c[j * k + b];
  return symmetricEigenvalues(m, k).map((e) => Math.sqrt(Math.max(0, e)));
}

/** Median over the features' factor columns of the AdaGrad step factor lr / sqrt(accumulator) (the table's rows: [w, v, acc_w, acc_v]). */
function medianFactorStep(table) {
  const steps = [];
  for (const [key, row] of table['rows']) if (key >= 1n && key <= BigInt(USERS + ITEMS)) for (let f = 1; f <= o.k; f++) steps.push(o.lr / Math.sqrt(row[o.k + 1 + f]));
  return quantile(steps, 0.5);
}

/** One run: test RMSE after every epoch (and the trace lines when asked). */
async function run(seed, delay, traced) {
  const rng = new Rng(seed * 7 + 3);
  const table = new LocalAdagradTable(o.k + 1, o.lr, o.eps, () => o.initStd * rng.normal());
  const queue = [];
  const warmPushes = o.warm * Math.ceil(data.numRows / o.batch);
  let pushes = 0;
  const late = {
    name: 'fm',
    dim: table.dim,
    pushFloats: table.pushFloats,
    pull: (keys) => table.pull(keys),
    push: async (keys, grad) => {
      // WARM: the factors' gradients are dropped during the first epochs (biases learn alone).
      if (pushes++ < warmPushes) for (let i = 0; i < keys.length; i++) grad.fill(0, i * (o.k + 1) + 1, (i + 1) * (o.k + 1));
      queue.push([keys, grad]);
      while (queue.length > delay) {
        const [k, g] = queue.shift();
        await table.push(k, g);
      }
    },
  };
  const curve = [];
  await trainFm({ task: 'regression', factors: o.k, batch: o.batch, epochs: o.epochs, l2w: o.l2, l2v: o.l2, seed }, data, late, {
    comm: localCollective(),
    clock: async () => {},
    onEpoch: async (s, labels) => {
      const { rmse } = await evaluator.evaluate(table, labels);
      curve.push(rmse);
      if (traced) {
        const sv = interactionSingularValues(await table.pull(featureKeys), o.k);
        console.log(`  seed ${seed} delay ${delay} epoch ${s.epoch}: test RMSE ${rmse.toFixed(3)}, singular values of P Q^T ${sv.map((x) => x.toFixed(1)).join(' ')}, median factor step lr/sqrt(acc) ${medianFactorStep(table).toFixed(4)}`);
      }
    },
  });
  return curve;
}

console.log(`FM AdaGrad on the planted set, in memory: ${JSON.stringify(o)}, ${seeds} seeds`);
for (const delay of delays) {
  const escape = [];
  const finals = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const curve = await run(seed, delay, trace === seed && delay === delays[0]);
    const e = curve.findIndex((r) => r < 0.25);
    escape.push(e < 0 ? o.epochs + 1 : e + 1);
    finals.push(curve.at(-1));
  }
  const stuck = finals.filter((r) => r > 0.25).length;
  console.log(`delay ${delay}: first epoch below 0.25 median ${quantile(escape, 0.5)} p90 ${quantile(escape, 0.9)} max ${Math.max(...escape)}; ${stuck}/${seeds} end above 0.25; final RMSE median ${quantile(finals, 0.5).toFixed(4)} max ${Math.max(...finals).toFixed(4)}`);
}
rmSync(dir, { recursive: true, force: true });
