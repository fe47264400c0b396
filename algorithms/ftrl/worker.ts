// Entry script of `shoal train ftrl`: one worker of the job (the launcher starts -np of them
// beside --servers parameter servers). Reads this rank's share of --train, trains with
// trainFtrl, and on rank 0 evaluates --test after every epoch, then writes the model (weights
// derived from the (z, n) pulled from the servers for every feature any worker saw) and metrics.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { currentSnapshotDir } from '../../lib/ps/snapshot_dir.js';
import { MANIFEST_FILE } from '../../lib/ps/snapshot_manifest.js';
import { UsageError } from '../../lib/cli_flags.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import type { CsrMatrix } from '../../lib/data/csr.js';
import { binaryMetrics, type BinaryMetrics } from '../common/metrics.js';
import { localCollective } from '../common/collective.js';
import { progressPacer } from '../common/progress.js';
import { binaryLabel } from '../ps_trainer/flags.js';
import { sigmoid } from '../../lib/sigmoid.js';
import { ftrlWeightsOfRows, trainFtrl, type FtrlHyper, type FtrlTables } from './index.js';
import { BIAS_KEY, buildSlots, gatherIds, pullChunked, type KvTable } from '../ps_trainer/kv.js';
import { writeSparseModel } from '../ps_trainer/sparse_model.js';
import { parseFtrlArgs, type FtrlParams } from './params.js';
import { init, restartCount } from '../../lib/index.js';
import { pipelineBounds } from '../ps_trainer/step_pipeline.js';
import { consistencyOf, psRecovery, psTrafficTotals, cpuSecondsSince, runEntry, secs, writeJson } from '../ps_trainer/job.js';

/** The model's weights of `keys`: (z, n) pulled from the `zn` table, w derived from them. */
export async function pullFtrlWeights(zn: KvTable, keys: BigUint64Array, h: FtrlHyper): Promise<Float32Array> {
  return ftrlWeightsOfRows(await pullChunked(zn, keys), h);
}

/**
 * --resume of a snapshot written before z and n shared the `ftrl.zn` table: its `ftrl.w` and
 * `ftrl.n` would load beside an empty `ftrl.zn` and training would restart from zero unnoticed.
 */
export function checkFtrlSnapshotLayout(dir: string): void {
  let tables: unknown[];
  try {
    const manifest = JSON.parse(readFileSync(join(currentSnapshotDir(dir), MANIFEST_FILE), 'utf8')) as { shards?: Array<{ table?: unknown }> };
    tables = (manifest.shards ?? []).map((s) => s.table);
  } catch {
    return; // missing or unreadable: the load itself reports it, naming the file
  }
  if (tables.includes('ftrl.w') && !tables.includes('ftrl.zn')) {
    throw new UsageError(`--resume ${dir}: the snapshot holds FTRL's tables ftrl.w and ftrl.n of an older shoal; this version keeps (z, n) in ftrl.zn and cannot resume from it (train again, or resume with the shoal that wrote it)`);
  }
}

/** Rank 0's evaluator of a fixed test set: the key list is built once, weights pulled per call. */
export class FtrlEvaluator {
  readonly #data: CsrMatrix;
  readonly #slots;
  readonly #labels: Float64Array;
  readonly #h: FtrlHyper;

  constructor(data: CsrMatrix, bias: boolean, labelThreshold: number | undefined, h: FtrlHyper) {
    this.#data = data;
    this.#h = h;
    this.#slots = buildSlots(data, bias);
    this.#labels = new Float64Array(data.numRows);
    for (let i = 0; i < data.numRows; i++) this.#labels[i] = binaryLabel(data.labels[i]!, labelThreshold);
  }

  async evaluate(table: KvTable): Promise<BinaryMetrics> {
    const w = await pullFtrlWeights(table, this.#slots.keys, this.#h);
    const d = this.#data;
    const probs = new Float64Array(d.numRows);
    const b = this.#slots.biasSlot >= 0 ? w[this.#slots.biasSlot]! : 0;
    for (let r = 0; r < d.numRows; r++) {
      let m = b;
      for (let k = d.rowPtr[r]!; k < d.rowPtr[r + 1]!; k++) m += w[this.#slots.slotOf[k]!]! * d.values[k]!;
      probs[r] = sigmoid(m);
    }
    return binaryMetrics(localCollective(), probs, this.#labels);
  }
}

export async function runFtrlWorker(argv: readonly string[]): Promise<void> {
  const p: FtrlParams = parseFtrlArgs(argv);
  if (p.recovery.resume) checkFtrlSnapshotLayout(p.recovery.resume);
  const comm = await init();
  try {
    const hashBits = p.hashBits > 0 ? p.hashBits : undefined;
    const tLoad = performance.now();
    const data = await readLibsvm(p.train, { rank: comm.rank, size: comm.size, hashBits, weightFile: false, queryFile: false });
    const test = comm.rank === 0 && p.test ? new FtrlEvaluator(await readLibsvm(p.test, { hashBits, weightFile: false, queryFile: false }), p.bias, p.labelThreshold, p) : null;
    // --prefetch pulls pull-every clocks early: the tables' bound is lowered to match (step_pipeline.ts).
    const bounds = pipelineBounds('shoal train ftrl', { ...p, psCache: undefined }, p.pullEvery);
    const consistency = consistencyOf(bounds.staleness);
    // z and n of a key side by side: one request per pull and push (index.ts header).
    const zn = await comm.ps.table('ftrl.zn', { dim: 2, init: { type: 'zeros' }, updater: { type: 'add' }, consistency });
    // --ps-cache S: the trainer's local z/n are the cache (pullEvery = S + 1, set by parseFtrlArgs).
    const tables: FtrlTables = { zn, clock: () => comm.ps.clock() };
    // Worker loss / checkpoints: progress rows on the servers, collective rounds (recovery.ts).
    const rec = await psRecovery(comm, p, 'ftrl');
    const loadSeconds = (performance.now() - tLoad) / 1000;
    const log = (line: string) => {
      if (comm.rank === 0 && !p.quiet) console.log(line);
    };
    // Every epoch runs (no early stop): the ETA is from the epochs left.
    const pacer = progressPacer(comm.rank === 0 && !p.quiet ? log : null, { every: p.logEvery, planned: p.epochs });
    log(`ftrl: ${comm.size} workers, ${p.servers} servers, staleness ${p.staleness}, batch ${p.batch}, load ${loadSeconds.toFixed(2)}s`);

    let last: BinaryMetrics | null = null;
    let lastEpoch = 0;
    const lossBuf = new Float64Array(3);
    // Per epoch: a round run again after a worker loss must not count twice.
    const clipsByEpoch: number[] = [];
    const rollbacksByEpoch: number[] = [];
    const stderrLog = (line: string) => process.stderr.write(`${line}\n`);
    try {
      const cpu0 = process.cpuUsage();
      const result = await trainFtrl(
        { ...p, slowMs: comm.rank === p.slowRank || p.straggler === 'intermittent-all' ? p.slowMs : 0 },
        data,
        tables,
        {
          comm,
          recovery: rec,
          checkpointEvery: p.checkpointEveryBatches,
          log: stderrLog,
          onEpoch: async (s) => {
            lossBuf[0] = s.trainLogloss * s.rows;
            lossBuf[1] = s.clips;
            lossBuf[2] = s.rollbacks;
            await comm.reduceTo(lossBuf, 0, { op: 'sum' });
            if (comm.rank !== 0) return;
            clipsByEpoch[s.epoch] = lossBuf[1]!;
            rollbacksByEpoch[s.epoch] = lossBuf[2]!;
            last = test ? await test.evaluate(zn) : null;
            lastEpoch = s.epoch;
            const trainLoss = lossBuf[0]! / Math.max(1, data.numRows * comm.size);
            comm.report({ epoch: s.epoch, iteration: s.epoch, planned: p.epochs, loss: trainLoss, ...(last ? { auc: last.auc } : {}) });
            pacer.step(
              s.epoch,
              `ftrl epoch ${s.epoch}/${p.epochs}  progressive-logloss ${(lossBuf[0]! / Math.max(1, s.rows * comm.size)).toFixed(5)}` +
                (last ? `  test auc ${last.auc.toFixed(5)} logloss ${last.logloss.toFixed(5)}` : '') +
                `  clips ${lossBuf[1]}` +
                (p.trustMode === 'rollback' ? `  rollbacks ${lossBuf[2]}` : '') +
                `  ${s.seconds.toFixed(2)}s`,
            );
          },
        },
      );

      const trainCpu = cpuSecondsSince(cpu0);
      // The end of the job is one collective round: after a worker loss everyone runs it again.
      await rec.round(result.nextRound, async () => {
        const slowedBuf = new Float64Array([result.slowedSteps]);
        await comm.reduceTo(slowedBuf, 0, { op: 'sum' });
        const prefetchedBuf = new Float64Array([result.prefetchedPulls]);
        await comm.reduceTo(prefetchedBuf, 0, { op: 'sum' });
        const keys = await gatherIds(comm, result.slots.ids);
        const traffic = await psTrafficTotals(comm, result.traffic, trainCpu, result.globalRows * p.epochs);
        if (comm.rank === 0 && keys) {
          // The last epoch's round was skipped here (rank 0 is a replacement, or the round was
          // interrupted): evaluate the final model now.
          if (test && lastEpoch !== p.epochs) {
            last = await test.evaluate(zn);
            lastEpoch = p.epochs;
          }
          const clipsTotal = clipsByEpoch.reduce((a, b) => a + (b ?? 0), 0);
          const rollbacksTotal = rollbacksByEpoch.reduce((a, b) => a + (b ?? 0), 0);
          const trainSeconds = result.seconds;
          const rowsPerSecond = (result.globalRows * p.epochs) / Math.max(trainSeconds, 1e-9);
          const metrics: Record<string, unknown> = {
            algorithm: 'ftrl',
            workers: comm.size,
            servers: p.servers,
            staleness: p.staleness === Infinity ? 'asp' : p.staleness,
            epochs: p.epochs,
            train_rows: result.globalRows,
            train_seconds: secs(trainSeconds),
            rows_per_second: Math.round(rowsPerSecond),
            load_seconds: secs(loadSeconds),
            trust_mode: p.trustRegion === Infinity ? 'off' : p.trustMode,
            trust_region_clips: clipsTotal,
            trust_region_rollbacks: rollbacksTotal,
            straggler: (p.slowRank >= 0 || p.straggler === 'intermittent-all') && p.slowMs > 0 ? { rank: p.straggler === 'intermittent-all' ? 'all' : p.slowRank, ms: p.slowMs, mode: p.straggler, ...(p.straggler !== 'every' ? { prob: p.stragglerProb } : {}), slowed_steps: slowedBuf[0] } : null,
            steps_per_epoch: result.steps,
            pipeline: result.pipelineTimes !== null,
            prefetch: p.prefetch,
            prefetched_pulls: prefetchedBuf[0],
            ...(result.pipelineTimes ? { pipeline_stages_rank0: result.pipelineTimes } : {}),
            recovery: { world_rebuilds: rec.recoveries, restart: restartCount(), resumed_at: result.resumedAt },
          };
          metrics['traffic'] = traffic;
          if (p.psCache !== undefined) metrics['ps_cache'] = { staleness: p.psCache, pull_every: p.pullEvery };
          const m = last as BinaryMetrics | null;
          if (m) {
            metrics['auc'] = m.auc;
            metrics['logloss'] = m.logloss;
            metrics['accuracy'] = m.accuracy;
            metrics['test_rows'] = m.count;
          }
          let nonZero = 0;
          if (p.modelOut) {
            const featureIds = keys.filter((id) => id >= 0);
            const bigKeys = new BigUint64Array(featureIds.length + 1);
            for (let i = 0; i < featureIds.length; i++) bigKeys[i] = BigInt(featureIds[i]!);
            bigKeys[featureIds.length] = BIAS_KEY;
            const ws = await pullFtrlWeights(zn, bigKeys, p);
            for (let i = 0; i < featureIds.length; i++) if (ws[i] !== 0) nonZero++;
            const ids = new Uint32Array(nonZero);
            const vals = new Float32Array(nonZero);
            let j = 0;
            for (let i = 0; i < featureIds.length; i++) {
              if (ws[i] !== 0) {
                ids[j] = featureIds[i]!;
                vals[j++] = ws[i]!;
              }
            }
            await writeSparseModel(
              p.modelOut,
              {
                format: 'shoal-model',
                version: 1,
                algorithm: 'ftrl',
                task: 'binary',
                link: 'logistic',
                bias: p.bias ? ws[featureIds.length]! : 0,
                hashBits: p.hashBits,
                labelThreshold: p.labelThreshold ?? null,
                keysSeen: featureIds.length,
                params: { alpha: p.alpha, beta: p.beta, l1: p.l1, l2: p.l2, batch: p.batch, epochs: p.epochs, staleness: p.staleness === Infinity ? 'asp' : p.staleness, trustRegion: p.trustRegion === Infinity ? null : p.trustRegion, trustMode: p.trustMode },
              },
              { featureIds: ids, values: vals, dim: 1 },
            );
            metrics['model_nonzeros'] = nonZero;
          }
          metrics['keys_seen'] = keys.length;
          if (p.metricsOut) await writeJson(p.metricsOut, metrics);
          console.log(`ftrl result ${JSON.stringify(metrics)}`);
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

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) runEntry(() => runFtrlWorker(process.argv.slice(2)));
