// Rank program for the LR tests: builds or reads the data (every rank its share), trains with
// the given params and prints `RESULT {json}` (objective, iterations, a digest of the weights,
// metrics) so the test can compare ranks and world sizes.
//
// argv[2]: JSON { data: 'synthetic' | 'a9a', rows?, features?, nnz?, seed?, params, test? }
import { createHash } from 'node:crypto';

import { shardRows, globalNumFeatures, type CsrData } from '../../algorithms/common/dataset.js';
import { syntheticBinary } from '../helpers/synthetic.js';
import { binaryMetrics } from '../../algorithms/common/metrics.js';
import { predict, train, type LrParams } from '../../algorithms/lbfgs_lr/index.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { init } from '../../lib/index.js';

interface Spec {
  data: 'synthetic' | 'a9a';
  rows?: number;
  features?: number;
  nnz?: number;
  seed?: number;
  params: Partial<LrParams>;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
const comm = await init();
let data: CsrData;
let test: CsrData | null = null;
if (spec.data === 'a9a') {
  data = await readLibsvm('/work/shared/data/a9a/a9a', { rank: comm.rank, size: comm.size });
  test = await readLibsvm('/work/shared/data/a9a/a9a.t', { rank: comm.rank, size: comm.size });
} else {
  const all = syntheticBinary({ rows: spec.rows ?? 600, features: spec.features ?? 40, nnzPerRow: spec.nnz ?? 6, seed: spec.seed ?? 3 });
  data = shardRows(all, comm.rank, comm.size);
}
const numFeatures = await globalNumFeatures(comm, data, test);
const model = await train(comm, data, spec.params, { numFeatures, log: null });
const digest = createHash('sha256').update(new Uint8Array(model.weights.buffer, model.weights.byteOffset, model.weights.byteLength)).digest('hex').slice(0, 16);
const evalOn = test ?? data;
const m = await binaryMetrics(comm, predict(model, evalOn), evalOn.labels);
console.log(
  `RESULT ${JSON.stringify({
    rank: comm.rank,
    objective: model.objective,
    iterations: model.iterations,
    reason: model.reason,
    seconds: model.seconds,
    digest,
    bias: model.bias,
    weights: spec.data === 'synthetic' ? Array.from(model.weights) : undefined,
    auc: m.auc,
    logloss: m.logloss,
    accuracy: m.accuracy,
  })}`,
);
await comm.close();
