// One worker of `shoal train fm --solver als|mcmc` (called from fm/worker.ts; no parameter
// servers). Reads this rank's share of --train, runs trainFmCoordinate, and on rank 0
// evaluates --test after every iteration: ALS on the current parameters, MCMC on the average
// of the predictions of every sample after burn-in (as libFM reports it). Rank 0 writes the
// model (ALS: the final parameters; MCMC: the kept samples, model.ts) and metrics.json.
// --checkpoint / --resume / --max-restarts go to the solver's TrainingState (docs/fm.md).
import type { Communicator } from '../../lib/communicator.js';
import type { CsrMatrix } from '../../lib/data/csr.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { binaryMetrics } from '../common/metrics.js';
import { localCollective } from '../common/collective.js';
import { progressPacer } from '../common/progress.js';
import { binaryLabel } from '../ps_trainer/flags.js';
import { writeSparseModel } from '../ps_trainer/sparse_model.js';
import { secs, writeJson } from '../ps_trainer/job.js';
import { restartCount } from '../../lib/index.js';
import { rmse } from './fm.js';
import { sampleScorer, trainFmCoordinate, type FmSample, type FmCoordinateSolver } from './coordinate_solver.js';
import { FmPredictionAverage, type FmOutput } from './model.js';
import type { FmParams } from './params.js';

/** Default --checkpoint-every of als / mcmc, in iterations. */
export const CHECKPOINT_EVERY_ITERATIONS = 10;

export type FmCoordinateMetrics = { rmse: number } | { auc: number; logloss: number; accuracy: number };

async function metricsOf(p: FmParams, predictions: Float64Array, labels: Float64Array): Promise<FmCoordinateMetrics> {
  if (p.task === 'regression') return { rmse: rmse(predictions, labels) };
  const m = await binaryMetrics(localCollective(), predictions, labels);
  return { auc: m.auc, logloss: m.logloss, accuracy: m.accuracy };
}

/** The body of a coordinate-solver worker, after init(). */
export async function runFmCoordinateWorker(p: FmParams, comm: Communicator): Promise<void> {
  const solver = p.solver as FmCoordinateSolver;
  const hashBits = p.hashBits > 0 ? p.hashBits : undefined;
  const tLoad = performance.now();
  const data = await readLibsvm(p.train, { rank: comm.rank, size: comm.size, hashBits, weightFile: false, queryFile: false });
  const test: CsrMatrix | null = comm.rank === 0 && p.test ? await readLibsvm(p.test, { hashBits, weightFile: false, queryFile: false }) : null;
  const testLabels = test ? Float64Array.from(test.labels, (y) => (p.task === 'binary' ? binaryLabel(y, p.labelThreshold) : y)) : null;
  const loadSeconds = (performance.now() - tLoad) / 1000;
  const log = (line: string) => {
    if (comm.rank === 0 && !p.quiet) console.log(line);
  };
  const pacer = progressPacer(comm.rank === 0 && !p.quiet ? log : null, { every: p.logEvery, planned: p.epochs });
  log(`fm: ${solver}, ${p.task}, k ${p.factors}, ${comm.size} workers, ${p.epochs} iterations, load ${loadSeconds.toFixed(2)}s`);

  let scoreTest: ((sample: FmSample) => Float64Array) | null = null;
  let last: FmCoordinateMetrics | null = null;
  let output: FmOutput | null = null;
  const r = p.recovery;
  const result = await trainFmCoordinate({ ...p, solver, iterations: p.epochs }, data, {
    comm,
    evaluationRows: test?.numRows ?? 0,
    // Checkpoints every --checkpoint-every iterations (default 10: an MCMC state grows with
    // its kept samples, and every write is fsynced); resumed only by a job with the same meta.
    recovery: {
      dir: r.checkpoint ?? r.resume,
      resume: r.resume,
      every: p.checkpointEveryBatches > 0 ? p.checkpointEveryBatches : CHECKPOINT_EVERY_ITERATIONS,
      meta: { algorithm: 'fm', solver, task: p.task, factors: p.factors, seed: p.seed, iterations: p.epochs, initStd: p.initStd, l2w: p.l2w, l2v: p.l2v, burnIn: p.burnIn, keepSamples: p.keepSamples, labelThreshold: p.labelThreshold ?? null, workers: comm.size, train: p.train.join(',') },
      log: (line) => process.stderr.write(`${line}\n`),
    },
    log: (line) => process.stderr.write(`${line}\n`),
    onIteration: async (s, current, averaged, evaluation) => {
      if (test && testLabels && averaged && output) {
        // ALS reports the current model, MCMC the running average of its samples (kept in the
        // training state, so a resumed job goes on with the same average).
        const average = solver === 'als' ? new FmPredictionAverage(test.numRows, output) : new FmPredictionAverage(test.numRows, output, evaluation);
        average.add(scoreTest!(current));
        // Metrics (an AUC sorts the test set) only for the lines printed and the result.
        const shown = !p.quiet && (s.iteration === 1 || s.iteration % p.logEvery === 0);
        if (shown || s.iteration === p.epochs) last = await metricsOf(p, average.predictions(), testLabels);
      }
      if (comm.rank !== 0) return;
      const metric: Record<string, number> = last ? ('rmse' in last ? { rmse: last.rmse } : { auc: last.auc }) : {};
      comm.report({ epoch: s.iteration, iteration: s.iteration, loss: s.trainRmse, ...metric });
      const m = last as FmCoordinateMetrics | null;
      const shown = m ? ('rmse' in m ? `  test rmse ${m.rmse.toFixed(5)}` : `  test auc ${m.auc.toFixed(5)} logloss ${m.logloss.toFixed(5)}`) : '';
      pacer.step(s.iteration, `fm ${solver} iteration ${s.iteration}/${p.epochs}  train rmse ${s.trainRmse.toFixed(5)}${shown}  ${s.seconds.toFixed(3)}s`);
    },
    onStart: (featureIds, labelMin, labelMax) => {
      if (test) scoreTest = sampleScorer(p.factors, featureIds, test);
      output = { task: p.task, link: 'probit', labelOffset: 0, labelMin, labelMax };
    },
  });
  // Resumed after the last iteration: the final metrics come from the state's averages.
  if (test && testLabels && output && last === null && (solver === 'mcmc' || result.samples.length > 0)) {
    const average = new FmPredictionAverage(test.numRows, output);
    if (solver === 'als') average.add(sampleScorer(p.factors, result.featureIds, test)(result.samples[0]!));
    last = await metricsOf(p, solver === 'als' ? average.predictions() : new FmPredictionAverage(test.numRows, output, result.evaluation).predictions(), testLabels);
  }

  if (comm.rank === 0) {
    const metrics: Record<string, unknown> = {
      algorithm: 'fm',
      solver,
      task: p.task,
      factors: p.factors,
      workers: comm.size,
      iterations: p.epochs,
      train_rows: result.globalRows,
      features: result.featureIds.length,
      blocks: result.blocks,
      allreduces_per_iteration: result.allReducesPerIteration,
      train_seconds: secs(result.seconds),
      seconds_per_iteration: secs(result.seconds / p.epochs),
      // Rank 0's CPU time: on a shared machine wall time also counts waiting for a core.
      cpu_seconds_per_iteration: secs(result.cpuSeconds / p.epochs),
      // Rank 0's wall time in the per-step allReduces (waiting for the other ranks included).
      allreduce_seconds_per_iteration: secs(result.allReduceSeconds / p.epochs),
      load_seconds: secs(loadSeconds),
      samples_kept: result.samples.length,
      recovery: { restart: restartCount(), resumed_at_iteration: result.resumedAt },
    };
    if (last) Object.assign(metrics, last);
    if (p.modelOut) {
      const stride = p.factors + 1;
      const S = result.samples.length;
      const G = result.featureIds.length;
      const values = new Float32Array(G * S * stride);
      for (let g = 0; g < G; g++) for (let s = 0; s < S; s++) values.set(result.samples[s]!.params.subarray(g * stride, (g + 1) * stride), (g * S + s) * stride);
      await writeSparseModel(
        p.modelOut,
        {
          format: 'shoal-model',
          version: 1,
          algorithm: 'fm',
          solver,
          task: p.task,
          factors: p.factors,
          samples: S,
          w0: result.samples[0]!.w0,
          w0Samples: result.samples.map((s) => s.w0),
          link: 'probit',
          hashBits: p.hashBits,
          labelOffset: 0,
          labelMin: result.labelMin,
          labelMax: result.labelMax,
          labelThreshold: p.labelThreshold ?? null,
          params: { iterations: p.epochs, seed: p.seed, initStd: p.initStd, ...(solver === 'als' ? { l2w: p.l2w, l2v: p.l2v } : { burnIn: p.burnIn, keepSamples: p.keepSamples }) },
        },
        { featureIds: Uint32Array.from(result.featureIds), values, dim: S * stride },
      );
    }
    if (p.metricsOut) await writeJson(p.metricsOut, metrics);
    console.log(`fm result ${JSON.stringify(metrics)}`);
  }
  await comm.barrier();
}
