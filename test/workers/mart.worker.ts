// Rank program for the MART tests: every rank reads its share of a libsvm file (MART) or its
// greedy share of the queries (LambdaMART), trains, and prints a digest of the model so the
// test can compare runs with different numbers of ranks bit for bit.
// args: mart|lambdamart TRAIN [TEST] [ROUNDS]
import { createHash } from 'node:crypto';

import { init } from '../../lib/index.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { train } from '../../algorithms/mart/index.js';
import { readRankData, trainLambdaMart } from '../../algorithms/lambdamart/index.js';

const [kind, trainPath, testPath, roundsArg] = process.argv.slice(2);
const comm = await init();
const rounds = Number(roundsArg ?? 10);
const params = { rounds, maxDepth: 4, eta: 0.3, maxBin: 32, subsample: 0.8, colsampleBytree: 0.8, seed: 7 };
let result;
if (kind === 'lambdamart') {
  const tr = await readRankData(trainPath!, comm);
  const te = testPath ? await readRankData(testPath, comm) : null;
  result = await trainLambdaMart(comm, tr, params, { test: te, log: null });
} else {
  const tr = await readLibsvm(trainPath!, { rank: comm.rank, size: comm.size });
  const te = testPath ? await readLibsvm(testPath, { rank: comm.rank, size: comm.size }) : null;
  result = await train(comm, tr, params, { test: te, log: null });
}
const digest = createHash('sha256').update(JSON.stringify(result.model.trees)).digest('hex');
console.log(`RESULT ${JSON.stringify({ rank: comm.rank, digest, trees: result.model.trees.length, metrics: result.testMetrics })}`);
await comm.close();
