// LambdaMART: query partitioning, lambda gradients on a hand-checked query, NDCG, bad inputs,
// quality on lgb_rank and 1-rank vs 2-rank runs equal bit for bit.
import test from 'ava';
import { existsSync } from 'node:fs';

import { localCollective } from '../../algorithms/common/collective.js';
import { checkLabels, lambdaGradients, ndcgSums, partitionQueries, queryBoundaries, readRankData, trainLambdaMart } from '../../algorithms/lambdamart/index.js';
import { runRanks } from '../helpers/run_job.js';

const DATA = '/work/shared/data/lgb_rank';
/** Tests on the shared data are skipped (reason in the title), never passed, when it is absent. */
const haveRank = existsSync(`${DATA}/rank.train`) && existsSync(`${DATA}/rank.test`);
const rankTest = haveRank ? test : test.skip;
const withRank = (title: string): string => (haveRank ? title : `${title} (skipped: ${DATA}/rank.train not present)`);

test('partitionQueries: largest first to the least-loaded rank', (t) => {
  t.deepEqual(Array.from(partitionQueries([5, 3, 3, 2, 1], 2)), [0, 1, 1, 0, 1]);
  t.deepEqual(Array.from(partitionQueries([1, 1, 1], 1)), [0, 0, 0]);
});

test('lambda gradients push the relevant row up and the irrelevant one down', (t) => {
  const labels = Float32Array.of(0, 2);
  const f = lambdaGradients(labels, Uint32Array.of(0, 2), 10);
  const g = new Float64Array(2);
  const h = new Float64Array(2);
  f(Float64Array.of(1, 0), g, h);
  t.true(g[1]! < 0 && g[0]! > 0);
  t.is(g[0]! + g[1]!, 0);
  t.true(h[0]! > 0 && h[0] === h[1]);
});

test('ndcg: perfect order is 1, reversed order is below 1, all-zero query counts as 1', (t) => {
  const labels = [3, 2, 0, 0, 0];
  const groups = Uint32Array.of(0, 3, 5);
  t.deepEqual(ndcgSums([3, 2, 1, 0, 0], labels, groups, [3]).sums, [2]);
  t.true(ndcgSums([1, 2, 3, 0, 0], labels, groups, [3]).sums[0]! < 2);
});

test('bad inputs: labels outside 0..31 and data without queries give clear errors', (t) => {
  t.throws(() => checkLabels(Float32Array.of(1, 2.5), 'x'), { instanceOf: RangeError, message: /x row 2: relevance label 2.5/ });
  t.throws(() => checkLabels(Float32Array.of(40), 'x'), { instanceOf: RangeError, message: /\[0, 31\]/ });
  t.throws(() => queryBoundaries(null, 3, 'f.svm'), { instanceOf: RangeError, message: /f.svm has no queries/ });
});

rankTest(withRank('lgb_rank: 100 rounds, depth 6, eta 0.1 reach test NDCG@10 >= 0.745'), async (t) => {
  const c = localCollective();
  const tr = await readRankData(`${DATA}/rank.train`, c);
  const te = await readRankData(`${DATA}/rank.test`, c);
  const r = await trainLambdaMart(c, tr, { rounds: 100, maxDepth: 6, eta: 0.1 }, { test: te, log: null });
  t.true(r.testMetrics['ndcg@10']! >= 0.745, JSON.stringify(r.testMetrics));
  t.log(JSON.stringify(r.testMetrics));
});

rankTest(withRank('a 2-rank run (greedy query placement) gives the same trees as 1 rank'), async (t) => {
  const digests: string[] = [];
  for (const np of [1, 2]) {
    const run = await runRanks(np, 'workers/mart.worker.js', ['lambdamart', `${DATA}/rank.train`, `${DATA}/rank.test`, '5'], { wallTimeoutMs: 90_000 });
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    for (const lines of run.stdout) {
      const line = lines.find((l) => l.startsWith('RESULT '));
      t.truthy(line);
      digests.push((JSON.parse(line!.slice(7)) as { digest: string }).digest);
    }
  }
  t.is(new Set(digests).size, 1, digests.join(' '));
});
