// A model-parallel algorithm on the SDK's scheduler (ParamScheduler + runScheduledRounds, the
// Petuum STRADS schedule / push / pull pattern): Lasso by coordinate descent on dense
// correlated data, (1/(2n))||y - Xw||^2 + lambda*||w||_1.
//
//   schedule  the scheduler proposes coordinates by priority (last change^2 + a floor) and
//             drops any candidate whose |correlation| with one already kept is above the
//             threshold; `dependency` below computes those correlations (one allReduce).
//   push      each rank sums its rows' x_ij * r_i for the scheduled coordinates (one allReduce).
//   pull      every rank applies the same new weights to w and to its residuals; with --ps,
//             rank 0 also writes them to a parameter-server table (the model's home).
//   The next round is scheduled while this round's allReduce is in flight.
//
// Run from the repository root after `npm run build`:
//   npx shoal run -np 2 node examples/scheduled_lasso.mjs [--rows 2000] [--features 60] [--lambda 0.05]
//   npx shoal run -np 2 --servers 1 node examples/scheduled_lasso.mjs --ps
// It prints the objective and the largest violation of the Lasso optimality (KKT) conditions.
//
// Outside this repository write `import { init, ParamScheduler, runScheduledRounds } from 'shoal'`.
import { init, ParamScheduler, runScheduledRounds } from '../dist/lib/index.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const rows = arg('rows', 2000);
const d = arg('features', 60);
const lambda = arg('lambda', 0.05);
const usePs = process.argv.includes('--ps');

const comm = await init();

// Deterministic data: row p goes to rank p % size. Features come in groups of 4 that share a
// latent value (correlation ~0.9); y depends on one feature of every third group.
function rand(a, b) {
  let t = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 1, 0x85ebca6b)) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
}
const X = []; // this rank's rows, dense
const y = [];
for (let p = comm.rank; p < rows; p += comm.size) {
  const x = new Float64Array(d);
  let target = 0;
  for (let j = 0; j < d; j++) {
    x[j] = 2 * rand(p, 1000 + Math.floor(j / 4)) + 0.3 * rand(p, j);
    if (j % 12 === 0) target += (j % 24 === 0 ? 1 : -1) * x[j];
  }
  X.push(x);
  y.push(target + 0.05 * rand(p, 99999));
}
const r = Float64Array.from(y); // residuals y - Xw of this rank's rows (w = 0)
const w = new Float64Array(d);

// Column sums of squares over every rank's rows.
const colSq = new Float64Array(d);
for (const x of X) for (let j = 0; j < d; j++) colSq[j] += x[j] * x[j];
await comm.allReduce(colSq, { op: 'sum' });
const table = usePs ? await comm.ps.table('example.lasso.w', { dim: 1, updater: { type: 'assign' } }) : null;

const scheduler = new ParamScheduler({ numParams: d, batch: 6, policy: 'dependency', threshold: 0.2, seed: 1 });
let objective = Infinity;
const { rounds, updates } = await runScheduledRounds({
  scheduler,
  maxRounds: 4000,
  // Every rank's column dot products of the candidates, summed; |correlation| matrix.
  dependency: (c) => {
    const k = c.length;
    const g = new Float64Array(k * k);
    for (const x of X) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) g[a * k + b] += x[c[a]] * x[c[b]];
    return comm.allReduce(g, { op: 'sum' }).then((sum) => sum.map((v, i) => Math.abs(v) / Math.sqrt(colSq[c[Math.floor(i / k)]] * colSq[c[i % k]])));
  },
  // Workers: partial gradients of the scheduled coordinates, and the residual norm last.
  push: (params) => {
    const s = new Float64Array(params.length + 1);
    X.forEach((x, i) => {
      params.forEach((j, q) => (s[q] += x[j] * r[i]));
      s[params.length] += r[i] * r[i];
    });
    return comm.allReduce(s, { op: 'sum' });
  },
  // Everyone: the same soft-thresholded coordinate steps, then the residuals.
  pull: async (params, sums) => {
    objective = sums[params.length] / (2 * rows) + lambda * w.reduce((a, v) => a + Math.abs(v), 0);
    const changes = new Float64Array(params.length);
    params.forEach((j, q) => {
      const a = colSq[j] / rows;
      const z = sums[q] / rows + a * w[j];
      const next = (Math.sign(z) * Math.max(Math.abs(z) - lambda, 0)) / a;
      changes[q] = next - w[j];
      w[j] = next;
    });
    X.forEach((x, i) => params.forEach((j, q) => (r[i] -= x[j] * changes[q])));
    if (table && comm.rank === 0) await table.push(BigUint64Array.from(params, (j) => BigInt(j)), Float32Array.from(params, (j) => w[j]));
    return changes;
  },
  // Stop once no coordinate of a whole pass moved by more than 1e-10.
  onRound: (() => {
    let sinceMove = 0;
    return ({ changes }) => {
      sinceMove = changes.some((c) => Math.abs(c) > 1e-10) ? 0 : sinceMove + changes.length;
      return sinceMove >= 2 * d;
    };
  })(),
});

// KKT: |x_j . r| / n <= lambda where w_j = 0, and = lambda * sign(w_j) elsewhere.
const grad = new Float64Array(d + 1);
X.forEach((x, i) => {
  for (let j = 0; j < d; j++) grad[j] += x[j] * r[i];
  grad[d] += r[i] * r[i];
});
await comm.allReduce(grad, { op: 'sum' });
let kkt = 0;
for (let j = 0; j < d; j++) {
  const g = grad[j] / rows;
  kkt = Math.max(kkt, w[j] === 0 ? Math.max(0, Math.abs(g) - lambda) : Math.abs(g - lambda * Math.sign(w[j])));
}
objective = grad[d] / (2 * rows) + lambda * w.reduce((a, v) => a + Math.abs(v), 0);
let serverDiff = null;
if (table && comm.rank === 0) {
  const served = await table.pull(BigUint64Array.from({ length: d }, (_, j) => BigInt(j)));
  serverDiff = Math.max(...Array.from(served, (v, j) => Math.abs(v - w[j])));
}
console.log(`RESULT ${JSON.stringify({ objective, kkt, rounds, updates, nonzeros: w.filter((v) => v !== 0).length, serverDiff })}`);
await comm.close();
