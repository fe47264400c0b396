// Entry script of `shoal train fm`: one worker of the job (the launcher starts -np of them
// beside --servers parameter servers; --solver als|mcmc go to coordinate_worker.ts). Reads this rank's share of --train, trains with
// trainFm, and on rank 0 evaluates --test after every epoch (RMSE, or AUC/log-loss for
// --task binary), then writes the model (rows pulled for every feature any worker saw) and
// metrics.json.
import { pathToFileURL } from 'node:url';
import { readLibsvm } from '../../lib/data/libsvm.js';
import type { CsrMatrix } from '../../lib/data/csr.js';
import { binaryMetrics } from '../common/metrics.js';
import { localCollective } from '../common/collective.js';
import { progressPacer } from '../common/progress.js';
import { binaryLabel } from '../ps_trainer/flags.js';
import { sigmoid } from '../../lib/sigmoid.js';
import { BIAS_KEY, buildSlots, gatherIds, pullChunked, type KvTable, type Slots } from '../ps_trainer/kv.js';
import { writeSparseModel } from '../ps_trainer/sparse_model.js';
import { init, restartCount } from '../../lib/index.js';
import { pipelineBounds } from '../ps_trainer/step_pipeline.js';
import { consistencyOf, psRecovery, psTrafficTotals, cpuSecondsSince, runEntry, secs, writeJson } from '../ps_trainer/job.js';
import { rmse } from './fm.js';
import { runFmCoordinateWorker } from './coordinate_worker.js';
import { fmScores, trainFm, type FmLabelInfo } from './index.js';
import { parseFmArgs, type FmParams, type FmTask } from './params.js';

export type FmMetrics = { rmse: number } | { auc: number; logloss: number; accuracy: number };

/** Rank 0's evaluator of a fixed test set. */
export class FmEvaluator {
  readonly #data: CsrMatrix;
  readonly #slots: Slots;
  readonly #task: FmTask;
  readonly #k: number;
  readonly #labels: Float64Array;

  constructor(data: CsrMatrix, task: FmTask, k: number, labelThreshold: number | undefined) {
    this.#data = data;
    this.#slots = buildSlots(data, true);
    this.#task = task;
    this.#k = k;
    this.#labels = new Float64Array(data.numRows);
    for (let i = 0; i < data.numRows; i++) this.#labels[i] = task === 'binary' ? binaryLabel(data.labels[i]!, labelThreshold) : data.labels[i]!;
  }

  async evaluate(table: KvTable, labels: FmLabelInfo): Promise<FmMetrics> {
    const params = await pullChunked(table, this.#slots.keys);
    const s = fmScores(this.#data, this.#slots, params, this.#k);
    if (this.#task === 'regression') {
      for (let i = 0; i < s.length; i++) s[i] = Math.min(labels.max, Math.max(labels.min, s[i]! + labels.offset));
      return { rmse: rmse(s, this.#labels) };
    }
    for (let i = 0; i < s.length; i++) s[i] = sigmoid(s[i]!);
    const m = await binaryMetrics(localCollective(), s, this.#labels);
    return { auc: m.auc, logloss: m.logloss, accuracy: m.accuracy };
  }
}

function describeMetrics(m: FmMetrics): string {
  return 'rmse' in m ? `test rmse ${m.rmse.toFixed(5)}` : `test auc ${m.auc.toFixed(5)} logloss ${m.logloss.toFixed(5)}`;
}

export async function runFmWorker(argv: readonly string[]): Promise<void> {
  const p: FmParams = parseFmArgs(argv);
  const comm = await init();
  if (p.solver !== 'adagrad') {
    try {
      await runFmCoordinateWorker(p, comm);
    } finally {
      await comm.close();
    }
    return;
  }
  try {
    const hashBits = p.hashBits > 0 ? p.hashBits : undefined;
    const tLoad = performance.now();
    const data = await readLibsvm(p.train, { rank: comm.rank, size: comm.size, hashBits, weightFile: false, queryFile: false });
    const test = comm.rank === 0 && p.test ? new FmEvaluator(await readLibsvm(p.test, { hashBits, weightFile: false, queryFile: false }), p.task, p.factors, p.labelThreshold) : null;
    // --prefetch pulls one clock early: the table's and cache's bounds are lowered to match (step_pipeline.ts).
    const bounds = pipelineBounds('shoal train fm', p, 1);
    const table = await comm.ps.table('fm', {
      dim: p.factors + 1,
      init: { type: 'normal', std: p.initStd, seed: p.seed },
      updater: { type: 'adagrad', lr: p.lr, eps: p.eps },
      consistency: consistencyOf(bounds.staleness),
    });
    // Worker loss / checkpoints: progress rows on the servers, collective rounds (ps_trainer/recovery.ts).
    const rec = await psRecovery(comm, p, 'fm');
    const loadSeconds = (performance.now() - tLoad) / 1000;
    const log = (line: string) => {
      if (comm.rank === 0 && !p.quiet) console.log(line);
    };
    // Every epoch runs (no early stop): the ETA is from the epochs left.
    const pacer = progressPacer(comm.rank === 0 && !p.quiet ? log : null, { every: p.logEvery, planned: p.epochs });
    log(`fm: ${p.task}, k ${p.factors}, ${comm.size} workers, ${p.servers} servers, staleness ${p.staleness}, batch ${p.batch}, load ${loadSeconds.toFixed(2)}s`);
    let last: FmMetrics | null = null;
    let lastEpoch = 0;
    const lossBuf = new Float64Array(2);
    try {
      const cpu0 = process.cpuUsage();
      // --ps-cache S: windows of S + 1 minibatches, one pull and one push each (ps_trainer/window_rows.ts).
      const result = await trainFm({ ...p, psCache: bounds.psCache, slowMs: comm.rank === p.slowRank ? p.slowMs : 0 }, data, table, {
        comm,
        clock: () => comm.ps.clock(),
        recovery: rec,
        checkpointEvery: p.checkpointEveryBatches,
        log: (line) => process.stderr.write(`${line}\n`),
        onEpoch: async (s, labels) => {
          // Mean of squares (regression) or log-loss, weighted by rows, over ranks.
          lossBuf[0] = (p.task === 'regression' ? s.trainLoss * s.trainLoss : s.trainLoss) * s.rows;
          lossBuf[1] = s.rows;
          await comm.reduceTo(lossBuf, 0, { op: 'sum' });
          if (comm.rank !== 0) return;
          const mean = lossBuf[0]! / Math.max(1, lossBuf[1]!);
          const trainLoss = p.task === 'regression' ? Math.sqrt(mean) : mean;
          last = test ? await test.evaluate(table, labels) : null;
          lastEpoch = s.epoch;
          const metric: Record<string, number> = last ? ('rmse' in last ? { rmse: last.rmse } : { auc: last.auc }) : {};
          // Regression's training number is an RMSE, not a loss: named for what it is on the charts.
          comm.report({ epoch: s.epoch, iteration: s.epoch, planned: p.epochs, ...(p.task === 'regression' ? { 'train-rmse': trainLoss } : { loss: trainLoss }), ...metric });
          pacer.step(s.epoch, `fm epoch ${s.epoch}/${p.epochs}  train ${p.task === 'regression' ? 'rmse' : 'logloss'} ${trainLoss.toFixed(5)}${last ? `  ${describeMetrics(last)}` : ''}  ${s.seconds.toFixed(2)}s`);
        },
      });

      const trainCpu = cpuSecondsSince(cpu0);
      // The end of the job is one collective round: after a worker loss everyone runs it again.
      await rec.round(result.nextRound, async () => {
        const ids = await gatherIds(comm, result.slots.ids);
        const prefetchedBuf = new Float64Array([result.prefetchedPulls]);
        await comm.reduceTo(prefetchedBuf, 0, { op: 'sum' });
        const traffic = await psTrafficTotals(comm, result.traffic, trainCpu, result.globalRows * p.epochs);
        if (comm.rank === 0 && ids) {
          // The last epoch's round was skipped here (rank 0 is a replacement, or the round was
          // interrupted): evaluate the final model now.
          if (test && lastEpoch !== p.epochs) {
            last = await test.evaluate(table, result.labels);
            lastEpoch = p.epochs;
          }
          const metrics: Record<string, unknown> = {
            algorithm: 'fm',
            task: p.task,
            factors: p.factors,
            workers: comm.size,
            servers: p.servers,
            staleness: p.staleness === Infinity ? 'asp' : p.staleness,
            epochs: p.epochs,
            train_rows: result.globalRows,
            train_seconds: secs(result.seconds),
            rows_per_second: Math.round((result.globalRows * p.epochs) / Math.max(result.seconds, 1e-9)),
            load_seconds: secs(loadSeconds),
            steps_per_epoch: result.steps,
            pipeline: result.pipelineTimes !== null,
            prefetch: p.prefetch,
            prefetched_pulls: prefetchedBuf[0],
            ...(result.pipelineTimes ? { pipeline_stages_rank0: result.pipelineTimes } : {}),
            recovery: { world_rebuilds: rec.recoveries, restart: restartCount(), resumed_at: result.resumedAt },
          };
          if (bounds.psCache !== undefined) metrics['ps_cache'] = { staleness: bounds.psCache, window_minibatches: bounds.psCache + 1 };
          metrics['traffic'] = traffic;
          const m = last as FmMetrics | null;
          if (m) Object.assign(metrics, m);
          const featureIds = Uint32Array.from(ids.filter((id) => id >= 0));
          metrics['keys_seen'] = featureIds.length;
          if (p.modelOut) {
            const keys = new BigUint64Array(featureIds.length + 1);
            for (let i = 0; i < featureIds.length; i++) keys[i] = BigInt(featureIds[i]!);
            keys[featureIds.length] = BIAS_KEY;
            const rows = await pullChunked(table, keys);
            const stride = p.factors + 1;
            await writeSparseModel(
              p.modelOut,
              {
                format: 'shoal-model',
                version: 1,
                algorithm: 'fm',
                task: p.task,
                factors: p.factors,
                w0: rows[featureIds.length * stride]!,
                hashBits: p.hashBits,
                labelOffset: result.labels.offset,
                labelMin: result.labels.min,
                labelMax: result.labels.max,
                labelThreshold: p.labelThreshold ?? null,
                params: { lr: p.lr, eps: p.eps, l2w: p.l2w, l2v: p.l2v, initStd: p.initStd, batch: p.batch, epochs: p.epochs, seed: p.seed, staleness: p.staleness === Infinity ? 'asp' : p.staleness },
              },
              { featureIds, values: rows.subarray(0, featureIds.length * stride), dim: stride },
            );
          }
          if (p.metricsOut) await writeJson(p.metricsOut, metrics);
          console.log(`fm result ${JSON.stringify(metrics)}`);
        }
        await comm.barrier();
      });
    } finally {
      rec.stop();
    }
  } finally {
    await comm.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) runEntry(() => runFmWorker(process.argv.slice(2)));
