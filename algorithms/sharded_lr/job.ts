// One rank's part of `shoal train lr --servers K`: read this rank's share with 64-bit ids
// (readLibsvm keyIds: local indices plus the keys), train the sharded model
// (index.ts), evaluate, and on rank 0 print and write the metrics. Same metrics.json fields
// as the dense job (algorithms/lbfgs_lr/job.ts); num_features is the number of distinct keys.
// Like the dense job, everything after reading runs inside one resilient() (a replacement rank
// re-runs it from the start); the state it rolls back is the driver's (run_commits.ts; BCD's
// too, sharded_bcd/index.ts).
import { writeFile } from 'node:fs/promises';

import { readLibsvm, type ReadResult } from '../../lib/data/libsvm.js';
import type { PsClient } from '../../lib/ps/client.js';
import type { Collective } from '../common/collective.js';
import { binaryMetrics } from '../common/metrics.js';
import { progressLogger } from '../common/progress.js';
import { agreeShares, lrJobMetrics, lrModelParams, modelMetrics, readShares, type LrJobMetrics, type LrJobOptions, type LrShares } from '../lbfgs_lr/job.js';
import { resilient } from '../../lib/recovery/resilient.js';
import { TrainingState } from '../../lib/recovery/training_state.js';
import { trainShardedBcd, type BcdDriverState } from '../sharded_bcd/index.js';
import { trainSharded, type ShardedDriverState } from './index.js';
import { writeShardedModel, type KeyOwnership } from './model_file.js';
import { newShardedRunState, ShardedRunCommits, type ShardedRunState } from './run_commits.js';

async function readShare(comm: Collective, files: string[], opts: LrJobOptions): Promise<ReadResult> {
  return readLibsvm(files, { rank: comm.rank, size: comm.size, skipBadLines: opts.skipBadLines ?? false, binaryLabels: true, keyIds: true });
}

/** Runs the sharded job on this rank; the metrics are the same on every rank. */
export async function runShardedLrJob(comm: Collective & KeyOwnership, ps: PsClient, opts: LrJobOptions): Promise<LrJobMetrics> {
  const t0 = performance.now();
  const shares = await readShares(comm, opts, readShare);
  const recovery = opts.recovery ?? {};
  const state = new TrainingState<ShardedRunState>(comm, newShardedRunState(), recovery);
  const commits = new ShardedRunCommits<ShardedDriverState>(comm, ps, state, { dir: recovery.dir ?? null, resume: recovery.resume ?? null });
  return resilient(comm, state, () => trainAndReport(comm, ps, opts, t0, shares, commits));
}

async function trainAndReport(
  comm: Collective & KeyOwnership,
  ps: PsClient,
  opts: LrJobOptions,
  t0: number,
  shares: LrShares,
  commits: ShardedRunCommits<ShardedDriverState>,
): Promise<LrJobMetrics> {
  const { trainData, testData, counts, testCounts } = await agreeShares(comm, opts, shares);
  const log = opts.quiet || comm.rank !== 0 ? null : (line: string) => console.log(line);
  const keys = trainData.keys ?? new BigUint64Array(0);
  const readSeconds = (performance.now() - t0) / 1000;
  log?.(
    `lr: ${opts.params.solver} sharded over the parameter servers, np ${comm.size}, ${counts.rows} train rows (${counts.nnz} nnz), ` +
      `${testCounts.rows} test rows, read in ${readSeconds.toFixed(2)}s`,
  );
  const progress = progressLogger(comm, `${opts.params.solver}`, log, { every: opts.logEvery ?? 1, planned: opts.params.maxIter, mayStopEarly: true });
  const sharded =
    opts.params.solver === 'bcd'
      ? null
      : await trainSharded(
          comm, ps, trainData, keys, opts.params,
          (p) => progress({ ...p, extra: { step: p.step, ...('products' in p ? { 'cg steps': p.products as number } : {}), evals: p.evaluations } }),
          commits,
        );
  const result =
    sharded ??
    (await trainShardedBcd(
      comm, ps, trainData, keys, opts.params,
      (p) => progress({ ...p, extra: { blocks: p.blocks, allreduces: p.evaluations } }),
      commits as ShardedRunCommits<BcdDriverState>,
    ));
  progress.finish();
  const trainProbs = await result.predict(trainData, keys);
  const m = testData ? await binaryMetrics(comm, await result.predict(testData, testData.keys ?? new BigUint64Array(0)), testData.labels) : await binaryMetrics(comm, trainProbs, trainData.labels);
  const tm = testData ? await binaryMetrics(comm, trainProbs, trainData.labels) : m;
  const metrics = lrJobMetrics(
    comm,
    opts,
    {
      objective: result.objective,
      iterations: result.iterations,
      train_seconds: result.seconds,
      num_features: result.numKeys,
      model_nnz: result.modelNnz,
      evaluations: result.evaluations,
      stop_reason: result.reason,
      grad_norm: result.gradNorm,
      grad_norm_ratio: result.gradNorm0 ? result.gradNorm / result.gradNorm0 : null,
      read_seconds: readSeconds,
    },
    { counts, testCounts, hasTest: testData !== null },
    m,
    tm,
  );
  log?.(
    `lr: done: objective ${result.objective.toFixed(6)} after ${result.iterations} iterations (${result.reason}), ` +
      `${metrics.evaluated_on} auc ${m.auc.toFixed(6)} logloss ${m.logloss.toFixed(6)} accuracy ${m.accuracy.toFixed(6)}, ` +
      `${result.seconds.toFixed(2)}s, ${result.programs} vector programs${result.breakdown ? ` (${result.breakdown})` : ''}`,
  );
  // Sharded BCD has no model file yet (the CLI refuses --model-out for it).
  if (opts.modelOut && sharded) {
    const t1 = performance.now();
    const written = await writeShardedModel(comm, sharded.vectors, keys, opts.modelOut, { solver: opts.params.solver, params: lrModelParams(opts.params), metrics: modelMetrics(metrics) });
    log?.(`lr: model ${opts.modelOut}: ${written} non-zero weights of ${result.numKeys} keys, written in ${((performance.now() - t1) / 1000).toFixed(2)}s`);
  }
  if (comm.rank === 0 && opts.metricsOut) await writeFile(opts.metricsOut, JSON.stringify(metrics, null, 2) + '\n');
  await comm.barrier();
  return metrics;
}
