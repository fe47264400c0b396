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
import { buildSlots, keysOf, SlotCollector, sleep, type KvTable, type Slots } from '../ps_trainer/kv.js';
import { WindowRows } from '../ps_trainer/window_rows.js';
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
  /**
   * --ps-cache S: this worker's rows are pulled once per window of S + 1 minibatches (all their
   * keys, at its first) and read locally; its gradients are summed per key and pushed once, at
   * the window's last minibatch (ps_trainer/window_rows.ts).
   */
  psCache?: number;
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

/** A minibatch's rows [lo, hi) of the shuffled order and its distinct keys (m of them; their rows are pulled in this order). */
interface PlainBatch {
  lo: number;
  hi: number;
  m: number;
  keys: BigUint64Array;
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
  const traffic: PsTraffic = { pullRequests: 0, keysPulled: 0, pushRequests: 0, keysPushed: 0 };
  // --ps-cache S: windows of S + 1 minibatches (within an epoch: the order changes at its end),
  // one pull and one push each, rows read and gradients summed in place (ps_trainer/window_rows.ts).
  const windowRows = o.psCache !== undefined ? new WindowRows(table, slots) : null;
  const windowSteps = o.psCache !== undefined ? o.psCache + 1 : 1;
  const windowCollector = windowRows ? new SlotCollector(S) : null;
  const windowOf = (first: number, step: number) => ({ start: (step - first) % windowSteps === 0, end: (step - first + 1) % windowSteps === 0 || step === steps - 1 });
  /** The distinct slots of the window starting at rows [lo, ...). */
  const windowList = (lo: number): Uint32Array => windowCollector!.collect(data, slots, lo, Math.min(data.numRows, lo + windowSteps * o.batch), perm).slice();
  const pullRows = (b: PlainBatch): Promise<Float32Array> => {
    traffic.pullRequests++;
    traffic.keysPulled += b.keys.length;
    return table.pull(b.keys);
  };
  const pushGrads = (b: PlainBatch, grad: Float32Array): Promise<void> => {
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
  const batchKeys = (lo: number, hi: number): PlainBatch => {
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
    return { lo, hi, m, keys: keysOf(slots, list.subarray(0, m)) };
  };
  /**
   * Scores rows [lo, hi) of the shuffled order and adds their gradients to `grad`; `pos` maps an
   * entry to its row in `params` and `grad` (posOf: the batch's pulled rows; slotOf: by slot).
   * Adds the loss to `acc`.
   */
  const acc = { loss: 0 };
  const gradients = (lo: number, hi: number, params: Float32Array, pos: Int32Array | Uint32Array, grad: Float32Array): void => {
    for (let i = lo; i < hi; i++) {
      const r = perm[i]!;
      const s = fmScore(params, k, params[0]!, pos, data.values, rp[r]!, rp[r + 1]!, sums);
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
      fmAccumulateGradient(params, k, pos, data.values, rp[r]!, rp[r + 1]!, sums, dl, o.l2w, o.l2v, grad);
    }
  };
  /** Without --ps-cache: the batch's own rows, pulled; its gradient rows, pushed. */
  const plainGradients = (b: PlainBatch, params: Float32Array): Float32Array => {
    const grad = new Float32Array(b.m * stride);
    gradients(b.lo, b.hi, params, posOf, grad);
    return grad;
  };
  /** With --ps-cache: the window's rows, read and summed into in place. */
  const windowGradients = (lo: number, hi: number): void => gradients(lo, hi, windowRows!.rows, slots.slotOf, windowRows!.sums);
  const rowsOf = (step: number) => {
    const lo = Math.min(step * o.batch, data.numRows);
    return { lo, hi: Math.min(lo + o.batch, data.numRows) };
  };
  /** The step's requests, sent synchronously in wire order: its push (plain), or its window's (at the window's end), then the clock. */
  const sendStep = (push: (() => Promise<void> | null) | null): Array<Promise<unknown>> => {
    const sent = push?.();
    return [...(sent ? [sent] : []), ctx.clock()];
  };
  /** --pipeline: one epoch's steps as overlapped stages (ps_trainer/step_pipeline.ts). */
  const pipelinedEpoch = (first: number): Promise<void> => {
    const lead = o.prefetch ? 1 : 0;
    const base = order.clocksSent - first;
    // --ps-cache: the window being computed (its slots are what its last step pushes).
    let computing: Uint32Array | null = null;
    return runStepPipeline(
      'fm',
      first,
      steps,
      {
        keys: (step) => {
          const { lo, hi } = rowsOf(step);
          if (windowRows) return { step, lo, hi, batch: null, window: windowOf(first, step).start && hi > lo ? windowList(lo) : null };
          return { step, lo, hi, batch: hi > lo ? batchKeys(lo, hi) : null, window: null };
        },
        pull: (x) => {
          const { step, batch, window } = x;
          if (!batch && !window) return { ...x, params: null };
          // The pull of step j follows clock j - 1 - lead (SSP bound lowered by lead).
          const pulled = order.pull(base + step - lead, () => {
            if (order.clocksSent < base + step) prefetchedPulls++;
            return batch ? pullRows(batch) : windowRows!.fetch(window!, traffic).then(() => null);
          });
          return pulled.then((params) => ({ ...x, params }));
        },
        compute: (x) => {
          let push: (() => Promise<void> | null) | null = null;
          if (windowRows) {
            // A window of only empty minibatches (a short shard's last ones) pushes nothing.
            if (windowOf(first, x.step).start) computing = x.window;
            if (x.hi > x.lo) windowGradients(x.lo, x.hi);
            const list = computing;
            if (list && windowOf(first, x.step).end) push = () => windowRows.flush(list, traffic);
          } else if (x.batch) {
            const b = x.batch;
            const grad = plainGradients(b, x.params!);
            push = () => pushGrads(b, grad);
          }
          // A straggler is slow in compute (pushes overlap: a sleep after one would not hold the next).
          return o.slowMs ? sleep(o.slowMs).then(() => push) : push;
        },
        // FM takes a pull that misses its own last push (one more asynchronous worker): not exclusive.
        push: (push) => order.pushAndClock(false, () => sendStep(push)),
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
    let window: Uint32Array | null = null;
    for (let step = first; step < steps && !pipelined; step++) {
      const ckptDue = checkpointDue(ckptEvery, epoch, step, steps);
      const { lo, hi } = rowsOf(step);
      if (windowRows) {
        const w = windowOf(first, step);
        if (w.start) window = hi > lo ? windowList(lo) : null;
        if (w.start && window) await windowRows.fetch(window, traffic);
        if (hi > lo) windowGradients(lo, hi);
        if (w.end && window) await windowRows.flush(window, traffic);
      } else if (hi > lo) {
        const b = batchKeys(lo, hi);
        await pushGrads(b, plainGradients(b, await pullRows(b)));
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
