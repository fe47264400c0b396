// k-means on N ranks with nothing but the public SDK: each rank owns a share of the points,
// assigns them to the nearest center, and one allReduce per iteration sums the per-center
// coordinate sums and counts across ranks, so every rank computes the same new centers.
//
// It survives a lost rank: the loop runs inside resilient() and commits the centers after each
// iteration, so with `--max-restarts` a killed rank is replaced and every rank continues from
// the last completed iteration (docs/fault_tolerance.md).
//
// Run from the repository root after `npm run build`:
//   npx shoal run -np 4 node examples/kmeans.mjs [--k 4] [--points 20000] [--iters 20]
//   npx shoal run -np 4 --max-restarts 1 --inject 'kill:rank=2:op=allReduce:seq=9' node examples/kmeans.mjs
//
// Outside this repository write `import { init } from 'shoal'`; inside it the package cannot
// import itself by name, so we import the built entry point directly.
import { init, resilient, TrainingState } from '../dist/lib/index.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const k = arg('k', 4);
const totalPoints = arg('points', 20000);
const iters = arg('iters', 20);
const dim = 2;

const comm = await init();

// Deterministic data: point p (global index) belongs to cluster p % k, around (10c, -5c).
function rand(seed) {
  let t = (seed * 0x9e3779b1) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const mine = [];
for (let p = comm.rank; p < totalPoints; p += comm.size) {
  const c = p % k;
  mine.push([10 * c + (rand(2 * p + 1) - 0.5) * 4, -5 * c + (rand(2 * p + 2) - 0.5) * 4]);
}

// What must survive a lost rank: the iteration and the centers (the same on every rank).
const state = new TrainingState(comm, { iteration: 0, centers: null });
const centers = await resilient(comm, state, async (s) => {
  // Every collective is inside resilient(): a replacement rank starts the program over.
  if (s.centers === null) {
    // Initial centers: rank 0 picks the first k of its points and broadcasts them.
    s.centers = new Float64Array(k * dim);
    if (comm.rank === 0) for (let c = 0; c < k; c++) s.centers.set(mine[c], c * dim);
    await comm.bcast(s.centers, 0);
  }
  for (; s.iteration < iters; s.iteration++) {
    await step(s.centers, s.iteration);
    state.commit();
  }
  return s.centers;
});

async function step(centers, it) {
  const acc = new Float64Array(k * (dim + 1)); // per center: dim sums, then the count
  let inertia = 0;
  for (const x of mine) {
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < k; c++) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += (x[j] - centers[c * dim + j]) ** 2;
      if (d < bestD) [best, bestD] = [c, d];
    }
    inertia += bestD;
    for (let j = 0; j < dim; j++) acc[best * (dim + 1) + j] += x[j];
    acc[best * (dim + 1) + dim] += 1;
  }
  await comm.allReduce(acc, { op: 'sum' });
  const total = new Float64Array([inertia]);
  await comm.allReduce(total, { op: 'sum' });
  for (let c = 0; c < k; c++) {
    const n = acc[c * (dim + 1) + dim];
    if (n > 0) for (let j = 0; j < dim; j++) centers[c * dim + j] = acc[c * (dim + 1) + j] / n;
  }
  if (comm.rank === 0) console.log(`iter ${it + 1}: inertia ${(total[0] / totalPoints).toFixed(4)}`);
}

const sorted = Array.from({ length: k }, (_, c) => [centers[c * dim], centers[c * dim + 1]]).sort((a, b) => a[0] - b[0]);
console.log(`CENTERS ${JSON.stringify(sorted.map((c) => c.map((v) => Number(v.toFixed(6)))))}`);
await comm.close();
