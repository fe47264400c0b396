// One rank's part of `shoal train lr --servers K`: read this rank's share with 64-bit ids
// (readLibsvm keyIds: local indices plus the keys), train the sharded model
// (index.ts), evaluate, and on rank 0 print and write the metrics. Same metrics.json fields
// as the dense job (algorithms/lbfgs_lr/job.ts); num_features is the number of distinct keys.
import { writeFile } from 'node:fs/promises';

import { readLibsvm, type ReadResult } from '../../lib/data/libsvm.js';
import { ShoalError } from '../../lib/errors.js';
import type { PsClient } from '../../lib/ps/client.js';
import type { Collective } from '../common/collective.js';
import { checkNotEmpty, globalCounts } from '../common/dataset.js';
import { binaryMetrics } from '../common/metrics.js';
import { progressLogger } from '../common/progress.js';
import type { LrJobMetrics, LrJobOptions } from '../lbfgs_lr/job.js';
import { trainSharded } from './index.js';

async function readShare(comm: Collective, files: string[], opts: LrJobOptions): Promise<ReadResult> {
  return readLibsvm(files, { rank: comm.rank, size: comm.size, skipBadLines: opts.skipBadLines ?? false, binaryLabels: true, keyIds: true });
}

/** Runs the sharded job on this rank; the metrics are the same on every rank. */
export async function runShardedLrJob(comm: Collective, ps: PsClient, opts: LrJobOptions): Promise<LrJobMetrics> {
  const t0 = performance.now();
  let trainData: ReadResult | null = null;
  let testData: ReadResult | null = null;
  let readError: unknown = null;
  try {
    trainData = await readShare(comm, opts.train, opts);
    testData = opts.test.length > 0 ? await readShare(comm, opts.test, opts) : null;
  } catch (err) {
    readError = err;
  }
  // A rank that cannot read its share must not leave the others waiting: agree, then all fail.
  const failed = new Int32Array([readError ? 1 : 0]);
  await comm.allReduce(failed, { op: 'max' });
  if (readError) throw readError;
  if (failed[0] || !trainData) throw new ShoalError('ERR_INVALID_ARGUMENT', 'another rank could not read its share of the data (see its message)', { rank: comm.rank });
  const log = opts.quiet || comm.rank !== 0 ? null : (line: string) => console.log(line);
  const counts = await globalCounts(comm, trainData);
  const testCounts = testData ? await globalCounts(comm, testData) : { rows: 0, nnz: 0 };
  const skipped = new Float64Array([trainData.skippedLines]);
  await comm.allReduce(skipped, { op: 'sum' });
  checkNotEmpty('lr', counts.rows, opts.train, skipped[0]);
  if (testData) checkNotEmpty('lr --test', testCounts.rows, opts.test);
  const keys = trainData.keys ?? new BigUint64Array(0);
  const readSeconds = (performance.now() - t0) / 1000;
  log?.(
    `lr: ${opts.params.solver} sharded over the parameter servers, np ${comm.size}, ${counts.rows} train rows (${counts.nnz} nnz), ` +
      `${testCounts.rows} test rows, read in ${readSeconds.toFixed(2)}s`,
  );
  const progress = progressLogger(comm, `${opts.params.solver}`, log, { every: opts.logEvery ?? 1, planned: opts.params.maxIter, mayStopEarly: true });
  const result = await trainSharded(comm, ps, trainData, keys, opts.params, (p) => progress({ ...p, extra: { step: p.step, evals: p.evaluations } }));
  progress.finish();
  const trainProbs = await result.predict(trainData, keys);
  const m = testData ? await binaryMetrics(comm, await result.predict(testData, testData.keys ?? new BigUint64Array(0)), testData.labels) : await binaryMetrics(comm, trainProbs, trainData.labels);
  const tm = testData ? await binaryMetrics(comm, trainProbs, trainData.labels) : m;
  const metrics: LrJobMetrics = {
    objective: result.objective,
    auc: m.auc,
    logloss: m.logloss,
    accuracy: m.accuracy,
    iterations: result.iterations,
    train_seconds: result.seconds,
    nnz: counts.nnz,
    evaluated_on: testData ? 'test' : 'train',
    train_rows: counts.rows,
    test_rows: testCounts.rows,
    num_features: result.numKeys,
    model_nnz: result.modelNnz,
    evaluations: result.evaluations,
    stop_reason: result.reason,
    grad_norm: result.gradNorm,
    grad_norm_ratio: null,
    read_seconds: readSeconds,
    np: comm.size,
    solver: opts.params.solver,
    train_auc: tm.auc,
    train_logloss: tm.logloss,
  };
  log?.(
    `lr: done: objective ${result.objective.toFixed(6)} after ${result.iterations} iterations (${result.reason}), ` +
      `${metrics.evaluated_on} auc ${m.auc.toFixed(6)} logloss ${m.logloss.toFixed(6)} accuracy ${m.accuracy.toFixed(6)}, ` +
      `${result.seconds.toFixed(2)}s, ${result.programs} vector programs`,
  );
  if (comm.rank === 0 && opts.metricsOut) await writeFile(opts.metricsOut, JSON.stringify(metrics, null, 2) + '\n');
  await comm.barrier();
  return metrics;
}
