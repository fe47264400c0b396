// The sharded solvers' vector programs are safe to run twice: a program cut short by a lost
// server runs again on the live ones (sharded_lr/sharded_vectors.ts), and rows that had already
// run it run it a second time. Here every program of a whole run is run twice on purpose
// (ShardedVectors.run patched to run each build twice), on one in-process server with one
// rank, where runs are bit-reproducible: each solver must end exactly where its plain run does.
// A program that reads a slot it writes (x += alpha d) would change the result.
import test from 'ava';
import { localCollective } from '../../algorithms/common/collective.js';
import type { CsrData } from '../../algorithms/common/dataset.js';
import { lrParams, type LrSolver } from '../../algorithms/lbfgs_lr/params.js';
import { trainSharded } from '../../algorithms/sharded_lr/index.js';
import { ShardedVectors } from '../../algorithms/sharded_lr/sharded_vectors.js';
import { connectWorker, startServer } from '../helpers/ps_inprocess.js';
import { syntheticBinary } from '../helpers/synthetic.js';

// Feature ids 1..features become local indices 0..features-1, keyed far apart in 64 bits.
const raw = syntheticBinary({ rows: 600, features: 300, nnzPerRow: 8, seed: 3 });
const data: CsrData = { ...raw, featureIds: raw.featureIds.map((id) => id - 1), maxFeatureId: raw.maxFeatureId - 1 };
const keys = BigUint64Array.from({ length: 300 }, (_, i) => BigInt(i) * 0x9e3779b97f4a7c15n + 17n);

async function train(solver: LrSolver, bias: boolean, twice: boolean): Promise<{ objective: number; iterations: number; evaluations: number; programs: number; weights: Float64Array }> {
  const server = startServer();
  const ps = await connectWorker(server, 30_000);
  const run = ShardedVectors.prototype.run;
  if (twice) {
    ShardedVectors.prototype.run = async function (this: ShardedVectors, build) {
      await run.call(this, build);
      this.programs--;
      return run.call(this, build);
    };
  }
  try {
    const params = lrParams({ solver, bias, maxIter: 30, eps: 1e-8, tol: 1e-12, ...(solver === 'owlqn' ? { penalty: 'l1' as const, l1: 1 } : {}) });
    const r = await trainSharded(localCollective(), ps, data, keys, params);
    return { objective: r.objective, iterations: r.iterations, evaluations: r.evaluations, programs: r.programs, weights: Float64Array.from(r.localWeights) };
  } finally {
    ShardedVectors.prototype.run = run;
    await ps.close();
    server.stop();
  }
}

for (const [solver, bias] of [['tron', false], ['tron', true], ['lbfgs', true], ['owlqn', true]] as const) {
  test.serial(`${solver}${bias ? ' --bias' : ''}: every vector program run twice gives the same run, bit for bit`, async (t) => {
    t.timeout(120_000);
    const once = await train(solver, bias, false);
    const twice = await train(solver, bias, true);
    t.true(once.iterations >= 3, `a run of several iterations (${once.iterations})`);
    t.is(twice.objective, once.objective);
    t.is(twice.iterations, once.iterations);
    t.is(twice.evaluations, once.evaluations);
    t.is(twice.programs, once.programs);
    t.deepEqual(twice.weights, once.weights);
  });
}
