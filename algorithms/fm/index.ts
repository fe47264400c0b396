// Distributed factorization machine (order 2, k factors) with AdaGrad on the parameter server,
// as KunPeng-FM: workers compute gradients asynchronously, servers apply AdaGrad.
//
// One table of dim k + 1 holds [w_i, v_i1..v_ik] per feature key; the global bias w0 is the
// reserved key BIAS_KEY of the same table (only its column 0 is used). Per minibatch a worker
// pulls the rows of the batch's distinct keys, computes every row's score and gradient in
// O(k * nnz) (fm.ts), sums the gradients per key (L2 added per occurrence) and pushes them;
// the servers' `adagrad` updater applies them. Consistency is ASP by default (pulls never
// wait), SSP with a staleness bound; every rank runs the same number of minibatches per epoch
// so clocks stay aligned. Rows are shuffled per epoch (seeded by seed, rank, epoch).
//
// Regression trains on labels minus the global training mean (labelOffset) and clips
// predictions to the training label range; binary uses the logistic loss on 0/1 labels.
//
// Worker loss and checkpoints work as for FTRL (ps_trainer/recovery.ts): progress rows on the
// servers, collective rounds at fixed data positions; a replacement replays the earlier
// epochs' shuffles, so it continues on exactly the rows its predecessor had not pushed.
//
// Cost per minibatch and worker: O(k * nnz) arithmetic; one pull and one push of (k + 1)
// floats per distinct key of the batch.
import type { Collective } from '../common/collective.js';
import type { CsrMatrix } from '../../lib/data/csr.js';
import { Rng } from '../../lib/rng.js';
import { binaryLabel } from '../ps_trainer/flags.js';
import { logLoss } from '../common/log_loss.js';
import { sigmoid } from '../../lib/sigmoid.js';
import { buildSlots, keysOf, SlotCollector, sleep, type KvTable, type Slots, type SlotTable } from '../ps_trainer/kv.js';
import { fmAccumulateGradient, fmScore } from './fm.js';
import type { FmTask } from './params.js';
import { checkpointDue, PsRecovery } from '../ps_trainer/recovery.js';
import { globalMinibatches } from '../common/dataset.js';
import { PsRequestOrder, runStepPipeline, type PipelineTimes, type PsTraffic } from '../ps_trainer/step_pipeline.js';

export { fmScore, fmAccumulateGradient, fmScoreDirect, fmGradVDirect, rmse } from './fm.js';
export { parseFmArgs, FM_DEFAULTS, FM_USAGE, type FmParams, type FmTask } from './params.js';

export interface FmTrainOptions {
  task: FmTask;
  factors: number;
  batch: number;
  epochs: number;
  l2w: number;
  l2v: number;
  seed: number;
  labelThreshold?: number;
  slowMs?: number;
  /**
   * --pipeline: keys extracted two minibatches ahead, the pull, the compute and the push of
   * successive minibatches overlap (ps_trainer/step_pipeline.ts).
   */
  pipeline?: boolean;
  /** --prefetch (implies pipeline): each pull goes out a clock early (the table's SSP bound must already be lowered by 1). */
  prefetch?: boolean;
}

export interface FmEpochStats {
  epoch: number;
  /** Regression: training RMSE before each minibatch's update; binary: log-loss. Over this rank's rows. */
  trainLoss: number;
  rows: number;
  seconds: number;
}

export interface FmTrainContext {
  comm: Collective;
  /** ps.clock(), once per minibatch. */
  clock(): Promise<void>;
  /**
   * --ps-cache: the table addressed by local slot (slot i has key slotKeys[i]), through the SSP
   * client cache (lib/ps/ssp_cache.ts). With it, the keys of staleness + 1 minibatches are
   * fetched in one pull at the first of them, and the others are served locally.
   */
  bySlots?(slotKeys: BigUint64Array): SlotTable;
  /**
   * Called on every rank after every epoch, inside the epoch's collective round (run again
   * after a worker loss; see ps_trainer/recovery.ts); its time is excluded from `seconds`.
   */
  onEpoch?: (stats: FmEpochStats, labels: FmLabelInfo) => Promise<void>;
  /** Worker-loss recovery and checkpoints (ps_trainer/recovery.ts); default: none. */
  recovery?: PsRecovery;
  /** Checkpoint (when the recovery has a directory) after every this many minibatches; 0: at epoch ends only. */
  checkpointEvery?: number;
  /** Where resumption is reported; default: nowhere. */
  log?: (line: string) => void;
}

/** How labels map to the trained target (regression). */
export interface FmLabelInfo {
  /** Subtracted from labels before training, added to scores at prediction. */
  offset: number;
  /** Predictions are clipped to [min, max] (regression). */
  min: number;
  max: number;
}

export interface FmTrainResult {
  slots: Slots;
  labels: FmLabelInfo;
  globalRows: number;
  seconds: number;
  steps: number;
  /** Minibatches whose rows were pulled one minibatch ahead (--prefetch). */
  prefetchedPulls: number;
  /** --pipeline: per stage busy / waiting time (ms), summed over epochs. */
  pipelineTimes: PipelineTimes | null;
  /** Requests and keys this worker sent to the table (without --ps-cache; the cache counts its own). */
  traffic: PsTraffic;
  /** Key of the next collective round (ps_trainer/recovery.ts). */
  nextRound: number;
  /** Where this worker started (a replacement or --resume); null: from the beginning. */
  resumedAt: { epoch: number; step: number } | null;
}

/** Global label mean / min / max (regression) of every rank's rows. */
export async function fmLabelInfo(comm: Collective, data: CsrMatrix, task: FmTask): Promise<FmLabelInfo> {
  if (task === 'binary') return { offset: 0, min: 0, max: 1 };
  let s = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.numRows; i++) {
    const y = data.labels[i]!;
    s += y;
    if (y < lo) lo = y;
    if (y > hi) hi = y;
  }
  const sum = new Float64Array([s, data.numRows]);
  await comm.allReduce(sum, { op: 'sum' });
  const mn = new Float64Array([lo === Infinity ? Number.MAX_VALUE : lo]);
  const mx = new Float64Array([hi === -Infinity ? -Number.MAX_VALUE : hi]);
  await comm.allReduce(mn, { op: 'min' });
  await comm.allReduce(mx, { op: 'max' });
  return { offset: sum[1]! > 0 ? sum[0]! / sum[1]! : 0, min: mn[0]!, max: mx[0]! };
}

/** A minibatch's rows [lo, hi) of the shuffled order, its distinct keys (m of them), and their pulled parameter rows. */
interface Batch {
  lo: number;
  hi: number;
  m: number;
  keys: BigUint64Array;
  /** The distinct keys' local slots (slot-addressed tables). */
  list: Uint32Array;
  /** --ps-cache, first minibatch of a window: the slots of the whole window, fetched before this minibatch's pull. */
  window: Uint32Array | null;
  params: Float32Array;
}

/** Trains on this rank's rows; every rank calls it with its own shard and the same options. */
export async function trainFm(o: FmTrainOptions, data: CsrMatrix, table: KvTable, ctx: FmTrainContext): Promise<FmTrainResult> {
  const { comm } = ctx;
  const k = o.factors;
  const stride = k + 1;
  if (table.dim !== stride) throw new RangeError(`trainFm: table dim is ${table.dim}, expected factors + 1 = ${stride}`);
  // Setup collectives: run at the start and again after every world rebuild (ps_trainer/recovery.ts).
  let labels: FmLabelInfo = { offset: 0, min: 0, max: 1 };
  let steps = 0;
  let globalRows = 0;
  const rec = ctx.recovery ?? new PsRecovery(comm);
  const roundKey = (epoch: number, done: number): number => (epoch - 1) * (steps + 1) + done + 1;
  const resume = await rec.begin(
    async () => {
      labels = await fmLabelInfo(comm, data, o.task);
      ({ steps, rows: globalRows } = await globalMinibatches(comm, data.numRows, o.batch));
    },
    (p) => roundKey(p.epoch, p.step),
  );
  const ckptEvery = rec.checkpointing ? Math.max(0, ctx.checkpointEvery ?? 0) : 0;
  const slots = buildSlots(data, true);
  const S = slots.numSlots;
  const stamp = new Uint32Array(S);
  const localPos = new Int32Array(S);
  const list = new Uint32Array(S);
  let gen = 0;
  const sums = new Float64Array(k);
  const nnz = data.rowPtr[data.numRows] ?? 0;
  const posOf = new Int32Array(nnz);

  const perm = new Uint32Array(data.numRows);
  for (let i = 0; i < perm.length; i++) perm[i] = i;
  let evalMs = 0;
  const t0 = performance.now();
  const rp = data.rowPtr;
  const checkpointRound = (epoch: number, done: number) => rec.round(roundKey(epoch, done), () => rec.checkpoint(`epoch ${epoch} minibatch ${done}`));
  const { startEpoch, startStep, resumedAt } = await rec.startAt(resume, o.epochs, steps, 'fm', ctx.log ?? (() => undefined));
  // A position recorded for a checkpoint round: see trainFtrl.
  if (resume !== null && startStep > 0 && checkpointDue(ckptEvery, startEpoch, startStep - 1, steps)) await checkpointRound(startEpoch, startStep);
  // The permutation of epoch e is the composition of the shuffles of epochs 1..e (each seeded
  // by seed, rank and epoch): a worker starting at a later epoch replays the earlier shuffles.
  const shuffle = (epoch: number): void => {
    const rng = new Rng((o.seed * 1000003 + comm.rank * 7919 + epoch) >>> 0);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = t;
    }
  };
  for (let epoch = 1; epoch < startEpoch; epoch++) shuffle(epoch);
  // Recovery records progress per step and may re-send requests: steps then run in order.
  const pipelined = !!(o.pipeline || o.prefetch) && !rec.recordsProgress;
  const slotTable = ctx.bySlots?.(slots.keys) ?? null;
  const noKeys = new BigUint64Array(0);
  const traffic: PsTraffic = { pullRequests: 0, keysPulled: 0, pushRequests: 0, keysPushed: 0 };
  // --ps-cache: one fetch per window of staleness + 1 minibatches (within an epoch: the order changes at its end).
  const windowSteps = slotTable ? slotTable.staleness + 1 : 1;
  const windowCollector = slotTable && windowSteps > 1 ? new SlotCollector(S) : null;
  const pullRows = async (b: Omit<Batch, 'params'>): Promise<Float32Array> => {
    if (!slotTable) {
      traffic.pullRequests++;
      traffic.keysPulled += b.keys.length;
      return table.pull(b.keys);
    }
    if (b.window) await slotTable.fetchSlots(b.window, windowSteps - 1);
    return slotTable.pullSlots(b.list);
  };
  const pushGrads = (b: { keys: BigUint64Array; list: Uint32Array }, grad: Float32Array) => {
    if (slotTable) return slotTable.pushSlots(b.list, grad);
    traffic.pushRequests++;
    traffic.keysPushed += b.keys.length;
    return table.push(b.keys, grad);
  };
  const order = new PsRequestOrder();
  const pipelineTimes: PipelineTimes | null = pipelined ? {} : null;
  let prefetchedPulls = 0;
  /**
   * Distinct keys of the shuffled rows [lo, hi) (slot -> position in the pulled rows, kept in
   * posOf for the batch's entries: batches of an epoch never share rows, so a pipeline may
   * extract the next batches' keys while this one is computed).
   */
  const batchKeys = (lo: number, hi: number, windowStart: boolean): Omit<Batch, 'params'> => {
    gen++;
    let m = 0;
    stamp[0] = gen;
    localPos[0] = m;
    list[m++] = 0;
    for (let b = lo; b < hi; b++) {
      const r = perm[b]!;
      for (let e = rp[r]!; e < rp[r + 1]!; e++) {
        const s = slots.slotOf[e]!;
        if (stamp[s] !== gen) {
          stamp[s] = gen;
          localPos[s] = m;
          list[m++] = s;
        }
        posOf[e] = localPos[s]!;
      }
    }
    const distinct = list.slice(0, m);
    const window = windowCollector && windowStart ? windowCollector.collect(data, slots, lo, Math.min(data.numRows, lo + windowSteps * o.batch), perm).slice() : null;
    return { lo, hi, m, list: distinct, window, keys: slotTable ? noKeys : keysOf(slots, distinct) };
  };
  /** Scores the batch's rows and sums their gradients per pulled row; adds the loss to `acc`. */
  const acc = { loss: 0 };
  const gradients = (b: Batch): Float32Array => {
    const { m, params } = b;
    const grad = new Float32Array(m * stride);
    for (let i = b.lo; i < b.hi; i++) {
      const r = perm[i]!;
      const s = fmScore(params, k, params[0]!, posOf, data.values, rp[r]!, rp[r + 1]!, sums);
      let dl: number;
      if (o.task === 'regression') {
        const y = data.labels[r]! - labels.offset;
        const pred = Math.min(labels.max - labels.offset, Math.max(labels.min - labels.offset, s));
        acc.loss += (pred - y) * (pred - y);
        dl = s - y;
      } else {
        const y = binaryLabel(data.labels[r]!, o.labelThreshold);
        const p = sigmoid(s);
        acc.loss += logLoss(p, y);
        dl = p - y;
      }
      grad[0] = grad[0]! + dl;
      fmAccumulateGradient(params, k, posOf, data.values, rp[r]!, rp[r + 1]!, sums, dl, o.l2w, o.l2v, grad);
    }
    return grad;
  };
  const rowsOf = (step: number) => {
    const lo = Math.min(step * o.batch, data.numRows);
    return { lo, hi: Math.min(lo + o.batch, data.numRows) };
  };
  /** --pipeline: one epoch's steps as overlapped stages (ps_trainer/step_pipeline.ts). */
  const pipelinedEpoch = (first: number): Promise<void> => {
    const lead = o.prefetch ? 1 : 0;
    const base = order.clocksSent - first;
    return runStepPipeline(
      'fm',
      first,
      steps,
      {
        keys: (step) => {
          const { lo, hi } = rowsOf(step);
          return { step, batch: hi > lo ? batchKeys(lo, hi, (step - first) % windowSteps === 0) : null };
        },
        pull: async ({ step, batch }) => {
          if (!batch) return null;
          // The pull of step j follows clock j - 1 - lead (SSP bound lowered by lead).
          const params = await order.pull(base + step - lead, () => {
            if (order.clocksSent < base + step) prefetchedPulls++;
            return pullRows(batch);
          });
          return { ...batch, params };
        },
        compute: (b) => {
          const g = b ? { batch: b, grad: gradients(b) } : null;
          // A straggler is slow in compute (pushes overlap: a sleep after one would not hold the next).
          return o.slowMs ? sleep(o.slowMs).then(() => g) : g;
        },
        // FM takes a pull that misses its own last push (one more asynchronous worker): not exclusive.
        push: (g) => order.pushAndClock(false, () => [...(g ? [pushGrads(g.batch, g.grad)] : []), ctx.clock()]),
      },
      order,
      pipelineTimes!,
    );
  };
  for (let epoch = startEpoch; epoch <= o.epochs; epoch++) {
    const te = performance.now();
    shuffle(epoch);
    const resumed = epoch === startEpoch && resume !== null;
    acc.loss = resumed ? resume.loss : 0;
    const first = epoch === startEpoch ? startStep : 0;
    if (pipelined) await pipelinedEpoch(first);
    for (let step = first; step < steps && !pipelined; step++) {
      const ckptDue = checkpointDue(ckptEvery, epoch, step, steps);
      const { lo, hi } = rowsOf(step);
      if (hi > lo) {
        const b = batchKeys(lo, hi, (step - first) % windowSteps === 0);
        const batch = { ...b, params: await pullRows(b) };
        await pushGrads(b, gradients(batch));
        await rec.record({ epoch, step: step + 1, loss: acc.loss, counters: [0, 0] }, step === steps - 1 || ckptDue);
      }
      await ctx.clock();
      if (o.slowMs) await sleep(o.slowMs);
      if (ckptDue) {
        const ts = performance.now();
        await checkpointRound(epoch, step + 1);
        evalMs += performance.now() - ts;
      }
    }
    if (gen > 0xfffffff0) {
      stamp.fill(0);
      gen = 0;
    }
    const mean = data.numRows > 0 ? acc.loss / data.numRows : 0;
    const stats: FmEpochStats = { epoch, trainLoss: o.task === 'regression' ? Math.sqrt(mean) : mean, rows: data.numRows, seconds: (performance.now() - te) / 1000 };
    const ts = performance.now();
    await rec.round(roundKey(epoch, steps), async () => {
      if (ctx.onEpoch) await ctx.onEpoch(stats, labels);
      await rec.checkpoint(`end of epoch ${epoch}`);
    });
    evalMs += performance.now() - ts;
  }
  const finalKey = o.epochs * (steps + 1) + 1;
  await rec.round(finalKey, () => comm.barrier());
  return { slots, labels, globalRows, seconds: (performance.now() - t0 - evalMs) / 1000, steps, prefetchedPulls, pipelineTimes, traffic, nextRound: finalKey + 1, resumedAt };
}

/** Scores of every row given the pulled parameter rows of `slots` (row s at s * (k + 1); w0 at the bias slot). */
export function fmScores(data: CsrMatrix, slots: Slots, params: ArrayLike<number>, k: number): Float64Array {
  const out = new Float64Array(data.numRows);
  const sums = new Float64Array(k);
  const w0 = slots.biasSlot >= 0 ? params[slots.biasSlot * (k + 1)]! : 0;
  for (let r = 0; r < data.numRows; r++) out[r] = fmScore(params, k, w0, slots.slotOf, data.values, data.rowPtr[r]!, data.rowPtr[r + 1]!, sums);
  return out;
}
