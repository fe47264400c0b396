// Distributed FTRL-Proximal logistic regression, split the KunPeng way (DESIGN 7):
//
// - Every worker keeps local z, n (and w) for the distinct features of its shard (local slots,
//   kv.ts), processes its minibatches example by example with exact per-coordinate FTRL
//   (ftrl.ts), and accumulates the deltas dz, dn it made.
// - Every `pushEvery` minibatches it pushes the accumulated (dz, dn) of the touched keys to
//   the `zn` table (`add`, dim 2: z and n of a key side by side), which merges them into the
//   global z and n.
// - Every `pullEvery` minibatches it pulls (z, n) for the keys of the next `pullEvery`
//   minibatches, takes them as its local z and n, and re-adds its not-yet-pushed deltas. One
//   table, not an `ftrl` table answering w beside an `add` table for n: one request per pull
//   and per push, each key sent once, and the exact z (w = 0 does not tell z).
// - It calls ps.clock() after every minibatch; tables use SSP with the given staleness
//   (0 = BSP, Infinity = ASP), so a pull waits while this worker is more than s clocks ahead of
//   the slowest. Every rank runs the same number of minibatches per epoch (the largest shard's;
//   short shards run empty ones) so clocks never deadlock.
// - Trust region, projection mode (default): each update's z delta is clipped so the worker's
//   |w_i| stays <= R (ftrlStep); the clip count is reported. Concurrent workers may still push
//   the global z past the region by up to (workers - 1) clipped steps.
// - Trust region, rollback mode (KunPeng's): updates are not clipped. Rank 0 is the guardian:
//   every `snapshotEvery` minibatches it records the pulled in-region weights of the keys it
//   pulled as "last good" (the initial w = 0 is the first snapshot); when a pulled w_i is outside
//   [-R, R] it adds to its pending z delta the correction that makes the server's z_i the z
//   whose weight at the server's current n_i is the last good w_i (n_i is kept: the learning
//   rate keeps decaying), so the next push brings w_i back to the snapshot; each such
//   correction counts one rollback. Only rank 0 corrects, so a correction is never applied
//   twice; a coordinate rank 0 never pulls is not guarded (see docs/ftrl.md).
// - Worker loss (recovery.ts): after every push the worker's position goes to the servers'
//   progress table; a replacement reads it, catches its clock up and goes on from there. The
//   world communicator is used only in rounds (setup, epoch ends, checkpoints, the end) that
//   every rank runs at the same data position, so survivors and replacement stay in step.
//
// Cost per minibatch and worker: O(nnz) arithmetic; pull of 2 floats and push of 2 floats per
// distinct key of the window, in 1 + 1 requests (plus a 1-key progress push at most every
// 100 ms with --max-restarts / --checkpoint).
import type { Collective } from '../common/collective.js';
import type { CsrMatrix } from '../../lib/data/csr.js';
import { binaryLabel } from '../ps_trainer/flags.js';
import { ftrlStep, ftrlWeight, ftrlZFromWeight, type FtrlHyper } from './ftrl.js';
import { logLoss } from '../common/log_loss.js';
import { sigmoid } from '../../lib/sigmoid.js';
import { buildSlots, keysOf, SlotCollector, sleep, type KvTable, type Slots } from '../ps_trainer/kv.js';
import { Rng } from '../../lib/rng.js';
import type { StragglerMode, TrustMode } from './params.js';
import { checkpointDue, PsRecovery } from '../ps_trainer/recovery.js';
import { globalMinibatches } from '../common/dataset.js';
import { PsRequestOrder, runStepPipeline, type PipelineTimes, type PsTraffic } from '../ps_trainer/step_pipeline.js';

export { ftrlStep, ftrlWeight, ftrlWeightsOfRows, ftrlZFromWeight, ftrlDenominator, type FtrlHyper } from './ftrl.js';
export { parseFtrlArgs, FTRL_DEFAULTS, FTRL_USAGE, type FtrlParams, type TrustMode, type StragglerMode } from './params.js';

export interface FtrlTrainOptions extends FtrlHyper {
  batch: number;
  epochs: number;
  pushEvery: number;
  pullEvery: number;
  trustRegion: number;
  /** 'projection' (default) or 'rollback'; see the header. */
  trustMode?: TrustMode;
  /** Rollback mode: snapshot the last good weights every this many minibatches (default 10). */
  snapshotEvery?: number;
  bias: boolean;
  labelThreshold?: number;
  /** This rank sleeps this long per minibatch (benchmarks of stragglers). */
  slowMs?: number;
  /** 'every' (default): sleep slowMs after every minibatch; 'intermittent'(-all): after a seeded random `stragglerProb` of them. */
  straggler?: StragglerMode;
  stragglerProb?: number;
  /** Seed of the intermittent straggler's draws (mixed with the rank). */
  seed?: number;
  /**
   * --pipeline: keys extracted ahead, the window's pull, the compute and the push of
   * successive minibatches overlap (ps_trainer/step_pipeline.ts). Not with rollback mode (its
   * corrections assume the pull is current).
   */
  pipeline?: boolean;
  /**
   * --prefetch (implies pipeline): a window's pull goes out pullEvery clocks early, beside
   * the previous window's compute (the tables' SSP bound must already be lowered by pullEvery).
   */
  prefetch?: boolean;
}

/** The table of a run: `zn` (add updater, dim 2: z, n per key; w = ftrlWeight(z, n)). */
export interface FtrlTables {
  zn: KvTable;
  /** ps.clock(): once per minibatch. */
  clock(): Promise<void>;
}

export interface FtrlEpochStats {
  epoch: number;
  /** Progressive (predict-then-train) log-loss of this rank's rows in this epoch. */
  trainLogloss: number;
  rows: number;
  seconds: number;
  clips: number;
  /** Rollback mode: coordinates rolled back to their last good weight in this epoch (rank 0 only). */
  rollbacks: number;
}

export interface FtrlTrainContext {
  comm: Collective;
  /**
   * Called after every epoch on every rank (rank 0 evaluates), inside the epoch's collective
   * round (recovery.ts: run again after a worker loss, skipped on a replacement when the others
   * had finished it); its time is excluded from `seconds`.
   */
  onEpoch?: (stats: FtrlEpochStats) => Promise<void>;
  /** Worker-loss recovery and checkpoints (recovery.ts); default: none. */
  recovery?: PsRecovery;
  /** Checkpoint (when the recovery has a directory) after every this many minibatches; 0: at epoch ends only. */
  checkpointEvery?: number;
  /** Where resumption is reported (rank's stderr in the worker); default: nowhere. */
  log?: (line: string) => void;
}

export interface FtrlTrainResult {
  slots: Slots;
  /** Rows over all ranks per epoch. */
  globalRows: number;
  /** Training time (s), evaluation excluded. */
  seconds: number;
  clips: number;
  rollbacks: number;
  /** Minibatches this rank slept on (straggler benchmarks). */
  slowedSteps: number;
  pushes: number;
  pulls: number;
  /** Pulls whose answer was requested one window ahead (--prefetch). */
  prefetchedPulls: number;
  /** --pipeline: per stage busy / waiting time (ms), summed over epochs. */
  pipelineTimes: PipelineTimes | null;
  /** Requests and keys sent to the table (a window's pull is one request). */
  traffic: PsTraffic;
  steps: number;
  /** Key of the next collective round (recovery.ts): the caller's rounds after training use it and up. */
  nextRound: number;
  /** Where this worker started (a replacement or --resume): epoch and minibatch; null: from the beginning. */
  resumedAt: { epoch: number; step: number } | null;
}

/** Distinct slots of a window and their pulled (z, n). */
interface Pulled {
  list: Uint32Array;
  zn: Float32Array;
  /** Pushes this worker had sent when the pull went out: the answer contains exactly those. */
  sentBefore: number;
}

/** One push's deltas (kept until no answer in use can miss it). */
interface PushMessage {
  /** 1, 2, ... in the order pushes are built and sent. */
  seq: number;
  list: Uint32Array;
  keys: BigUint64Array;
  /** (dz, dn) per key, as the zn table takes them. */
  zn: Float32Array;
}

/** Trains on this rank's rows; every rank calls it with its own shard and the same options. */
export async function trainFtrl(o: FtrlTrainOptions, data: CsrMatrix, tables: FtrlTables, ctx: FtrlTrainContext): Promise<FtrlTrainResult> {
  const { comm } = ctx;
  const h: FtrlHyper = { alpha: o.alpha, beta: o.beta, l1: o.l1, l2: o.l2 };
  const slots = buildSlots(data, o.bias);
  const S = slots.numSlots;
  const z = new Float64Array(S);
  const n = new Float64Array(S);
  const w = new Float64Array(S);
  const pdz = new Float64Array(S);
  const pdn = new Float64Array(S);
  const dirty = new Uint8Array(S);
  const dirtyList = new Uint32Array(S);
  let numDirty = 0;
  const collector = new SlotCollector(S);
  const traffic: PsTraffic = { pullRequests: 0, keysPulled: 0, pushRequests: 0, keysPushed: 0 };

  // Setup collectives: run at the start and again after every world rebuild (recovery.ts).
  let steps = 0;
  let globalRows = 0;
  const rec = ctx.recovery ?? new PsRecovery(comm);
  /** Round keys grow with the data position; epoch e ends at e * (steps + 1). */
  const roundKey = (epoch: number, done: number): number => (epoch - 1) * (steps + 1) + done + 1;
  const resume = await rec.begin(
    async () => {
      ({ steps, rows: globalRows } = await globalMinibatches(comm, data.numRows, o.batch));
    },
    (p) => roundKey(p.epoch, p.step),
  );
  const ckptEvery = rec.checkpointing ? Math.max(0, ctx.checkpointEvery ?? 0) : 0;

  let pushes = 0;
  let pulls = 0;
  let clipsTotal = 0;
  let rollbacks = 0;
  let rollbacksTotal = 0;
  let slowedSteps = 0;
  let evalMs = 0;
  const R = o.trustRegion;
  const rollbackMode = (o.trustMode ?? 'projection') === 'rollback' && R !== Infinity;
  // Projection clips every step; in rollback mode steps run free and rank 0 corrects on pulls.
  const stepRegion = rollbackMode ? Infinity : R;
  const guardian = rollbackMode && comm.rank === 0;
  const snapshotEvery = Math.max(1, o.snapshotEvery ?? 10);
  /** Last good (in-region) pulled weight per slot; 0 (the initial model) until the first snapshot. */
  const good = guardian ? new Float64Array(S) : null;
  /** Rollback corrections of z sitting in pdz, not yet pushed (so a second pull does not correct twice). */
  const corrPending = guardian ? new Float64Array(S) : null;
  let lastSnapshotPeriod = -1;
  const slowRng = new Rng(((o.seed ?? 1) * 1000003 + comm.rank * 7919 + 0x5bd1) >>> 0);
  const slowEvery = (o.straggler ?? 'every') === 'every';
  const slowProb = o.stragglerProb ?? 0.2;
  const t0 = performance.now();

  // Recovery records progress per step and may re-send requests: steps then run in order.
  const pipelined = !!(o.pipeline || o.prefetch) && !rec.recordsProgress;
  if (pipelined && rollbackMode) throw new RangeError('trainFtrl: pipeline does not combine with trust mode rollback');
  // --pipeline: pushes built or sent after a pull went out, which its answer misses (they are
  // added back when it is applied, through missZ / missN).
  const pushLog: PushMessage[] = [];
  let pushesBuilt = 0;
  let pushesSent = 0;
  let prefetchedPulls = 0;
  const missZ = pipelined ? new Float64Array(S) : null;
  const missN = pipelined ? new Float64Array(S) : null;
  const pipelineTimes: PipelineTimes | null = pipelined ? {} : null;

  const markDirty = (s: number): void => {
    if (!dirty[s]) {
      dirty[s] = 1;
      dirtyList[numDirty++] = s;
    }
  };

  /** The distinct slots of rows [lo, hi) and their keys. */
  const windowKeys = (lo: number, hi: number): { list: Uint32Array; keys: BigUint64Array } => {
    const list = collector.collect(data, slots, lo, hi).slice();
    return { list, keys: keysOf(slots, list) };
  };
  /** Requests (z, n) of a window's keys. */
  const request = async (win: { list: Uint32Array; keys: BigUint64Array }): Promise<Pulled> => {
    const { list, keys } = win;
    const sentBefore = pushesSent;
    if (list.length === 0) return { list, zn: new Float32Array(0), sentBefore };
    traffic.pullRequests++;
    traffic.keysPulled += keys.length;
    return { list, zn: await tables.zn.pull(keys), sentBefore };
  };

  /** Pipelined: sums into missZ / missN the pushes `answer` misses, and forgets those no later answer can miss. */
  const collectMissed = (answer: Pulled): void => {
    let keep = 0;
    for (const m of pushLog) {
      if (m.seq <= answer.sentBefore) continue;
      pushLog[keep++] = m;
      for (let j = 0; j < m.list.length; j++) {
        const s = m.list[j]!;
        missZ![s] = missZ![s]! + m.zn[2 * j]!;
        missN![s] = missN![s]! + m.zn[2 * j + 1]!;
      }
    }
    pushLog.length = keep;
  };
  const clearMissed = (): void => {
    for (const m of pushLog) for (let j = 0; j < m.list.length; j++) missZ![m.list[j]!] = missN![m.list[j]!] = 0;
  };

  const applyPulled = (answer: Pulled, snapshot: boolean): void => {
    const { list, zn } = answer;
    if (list.length === 0) return;
    if (missZ) collectMissed(answer);
    for (let j = 0; j < list.length; j++) {
      const s = list[j]!;
      const zServer = zn[2 * j]!;
      const nServer = Math.max(zn[2 * j + 1]!, 0);
      // What this worker has added since the answer: pending deltas, and pushes it missed.
      const mz = pdz[s]! + (missZ ? missZ[s]! : 0);
      const mn = pdn[s]! + (missN ? missN[s]! : 0);
      if (good && corrPending) {
        // The server's z once this worker's pending corrections land.
        const zEff = zServer + corrPending[s]!;
        const wEff = ftrlWeight(zEff, nServer, h);
        if (Math.abs(wEff) > R) {
          const corr = ftrlZFromWeight(good[s]!, nServer, h, 0) - zEff;
          pdz[s] = pdz[s]! + corr;
          corrPending[s] = corrPending[s]! + corr;
          markDirty(s);
          rollbacks++;
        } else if (snapshot) {
          good[s] = wEff;
        }
      }
      z[s] = zServer + mz;
      n[s] = nServer + mn;
      w[s] = ftrlWeight(z[s]!, n[s]!, h);
    }
    if (missZ) clearMissed();
    pulls++;
  };

  /** Moves the pending deltas into a push message (null: nothing to push). */
  const buildPush = (): PushMessage | null => {
    if (numDirty === 0) return null;
    const list = dirtyList.slice(0, numDirty);
    const keys = keysOf(slots, list);
    const zn = new Float32Array(2 * list.length);
    for (let j = 0; j < list.length; j++) {
      const s = list[j]!;
      zn[2 * j] = pdz[s]!;
      zn[2 * j + 1] = pdn[s]!;
      pdz[s] = 0;
      pdn[s] = 0;
      dirty[s] = 0;
      if (corrPending) corrPending[s] = 0;
    }
    numDirty = 0;
    const m: PushMessage = { seq: ++pushesBuilt, list, keys, zn };
    if (pipelined) pushLog.push(m);
    return m;
  };
  /** Issues a push's requests (synchronously: wire order) and returns them. */
  const sendPush = (m: PushMessage): Array<Promise<void>> => {
    pushesSent = m.seq;
    pushes++;
    traffic.pushRequests++;
    traffic.keysPushed += m.keys.length;
    return [tables.zn.push(m.keys, m.zn)];
  };
  const push = async (): Promise<void> => {
    const m = buildPush();
    if (m) await Promise.all(sendPush(m));
  };

  const update = (s: number, g: number): boolean => {
    const d = ftrlStep(z[s]!, n[s]!, g, h, stepRegion);
    z[s] = z[s]! + d.dz;
    n[s] = n[s]! + d.dn;
    w[s] = d.w;
    pdz[s] = pdz[s]! + d.dz;
    pdn[s] = pdn[s]! + d.dn;
    markDirty(s);
    return d.clipped;
  };

  const rp = data.rowPtr;
  /** Trains on rows [lo, hi) (predict, then update); adds their log-loss and clips to `acc`. */
  const acc = { loss: 0, clips: 0 };
  const trainRows = (lo: number, hi: number): void => {
    for (let r = lo; r < hi; r++) {
      const b = rp[r]!;
      const e = rp[r + 1]!;
      let m = slots.biasSlot >= 0 ? w[slots.biasSlot]! : 0;
      for (let k = b; k < e; k++) m += w[slots.slotOf[k]!]! * data.values[k]!;
      const p = sigmoid(m);
      const y = binaryLabel(data.labels[r]!, o.labelThreshold);
      acc.loss += logLoss(p, y);
      const dl = p - y;
      if (slots.biasSlot >= 0 && update(slots.biasSlot, dl)) acc.clips++;
      for (let k = b; k < e; k++) if (update(slots.slotOf[k]!, dl * data.values[k]!)) acc.clips++;
    }
  };
  const windowEnd = (lo: number) => Math.min(data.numRows, lo + o.pullEvery * o.batch);
  const order = new PsRequestOrder();
  /** --pipeline: one epoch's steps [first, steps) as overlapped stages (ps_trainer/step_pipeline.ts). */
  const pipelinedEpoch = (first: number): Promise<void> => {
    const lead = o.prefetch ? o.pullEvery : 0;
    // Clocks sent before step `first` of this epoch: the pull of step j follows clock j - 1 - lead.
    const base = order.clocksSent - first;
    const rows = (step: number) => ({ step, lo: Math.min(step * o.batch, data.numRows), hi: Math.min(step * o.batch + o.batch, data.numRows) });
    return runStepPipeline(
      'ftrl',
      first,
      steps,
      {
        keys: (step) => {
          const x = rows(step);
          return { ...x, win: step % o.pullEvery === 0 || step === first ? windowKeys(x.lo, windowEnd(x.lo)) : null };
        },
        pull: (x) => {
          if (!x.win) return { ...x, answer: null as Pulled | null };
          const win = x.win;
          const pulled = order.pull(base + x.step - lead, () => {
            if (order.clocksSent < base + x.step) prefetchedPulls++;
            return request(win);
          });
          return pulled.then((answer): typeof x & { answer: Pulled | null } => ({ ...x, answer }));
        },
        compute: (x) => {
          if (x.answer) applyPulled(x.answer, false);
          trainRows(x.lo, x.hi);
          const pushNow = (x.step + 1) % o.pushEvery === 0 || x.step === steps - 1;
          const m = pushNow ? buildPush() : null;
          // A straggler is slow in compute (pushes overlap: a sleep after one would not hold the next).
          if (o.slowMs && (slowEvery || slowRng.next() < slowProb)) {
            slowedSteps++;
            return sleep(o.slowMs).then(() => m);
          }
          return m;
        },
        // Push and clock leave together; FTRL's pulls must not overlap a push (exclusive).
        push: (m) => order.pushAndClock(true, () => [...(m ? sendPush(m) : []), tables.clock()]),
      },
      order,
      pipelineTimes!,
    );
  };
  const checkpointRound = (epoch: number, done: number) => rec.round(roundKey(epoch, done), () => rec.checkpoint(`epoch ${epoch} minibatch ${done}`));
  const { startEpoch, startStep, resumedAt } = await rec.startAt(resume, o.epochs, steps, 'ftrl', ctx.log ?? (() => undefined));
  // A position recorded for a checkpoint round: the loss may have interrupted that round, and the
  // others then run it again. Join it (it is skipped if they had finished it).
  if (resume !== null && startStep > 0 && checkpointDue(ckptEvery, startEpoch, startStep - 1, steps)) await checkpointRound(startEpoch, startStep);
  for (let epoch = startEpoch; epoch <= o.epochs; epoch++) {
    const te = performance.now();
    const resumed = epoch === startEpoch && resume !== null;
    acc.loss = resumed ? resume.loss : 0;
    acc.clips = resumed ? resume.counters[0] : 0;
    rollbacks = resumed ? resume.counters[1] : 0;
    const first = epoch === startEpoch ? startStep : 0;
    if (pipelined) await pipelinedEpoch(first);
    for (let step = first; step < steps && !pipelined; step++) {
      const lo = Math.min(step * o.batch, data.numRows);
      const hi = Math.min(lo + o.batch, data.numRows);
      const globalStep = (epoch - 1) * steps + step;
      const ckptDue = checkpointDue(ckptEvery, epoch, step, steps);
      if (step % o.pullEvery === 0 || step === first) {
        // Snapshot on the first pull of every window of snapshotEvery minibatches.
        const period = Math.floor(globalStep / snapshotEvery);
        const snapshot = period !== lastSnapshotPeriod;
        lastSnapshotPeriod = period;
        applyPulled(await request(windowKeys(lo, windowEnd(lo))), snapshot);
      }
      trainRows(lo, hi);
      if ((step + 1) % o.pushEvery === 0 || step === steps - 1 || ckptDue) {
        await push();
        await rec.record({ epoch, step: step + 1, loss: acc.loss, counters: [acc.clips, rollbacks] }, step === steps - 1 || ckptDue);
      }
      await tables.clock();
      if (o.slowMs && (slowEvery || slowRng.next() < slowProb)) {
        slowedSteps++;
        await sleep(o.slowMs);
      }
      if (ckptDue) {
        const ts = performance.now();
        await checkpointRound(epoch, step + 1);
        evalMs += performance.now() - ts;
      }
    }
    clipsTotal += acc.clips;
    rollbacksTotal += rollbacks;
    const stats: FtrlEpochStats = { epoch, trainLogloss: data.numRows > 0 ? acc.loss / data.numRows : 0, rows: data.numRows, seconds: (performance.now() - te) / 1000, clips: acc.clips, rollbacks };
    const ts = performance.now();
    await rec.round(roundKey(epoch, steps), async () => {
      if (ctx.onEpoch) await ctx.onEpoch(stats);
      await rec.checkpoint(`end of epoch ${epoch}`);
    });
    evalMs += performance.now() - ts;
  }
  const finalKey = o.epochs * (steps + 1) + 1;
  await rec.round(finalKey, () => comm.barrier());
  return {
    slots,
    nextRound: finalKey + 1,
    resumedAt,
    globalRows,
    seconds: (performance.now() - t0 - evalMs) / 1000,
    clips: clipsTotal,
    rollbacks: rollbacksTotal,
    slowedSteps,
    pushes,
    pulls,
    prefetchedPulls,
    pipelineTimes,
    traffic,
    steps,
  };
}

/** Sequential single-process FTRL-Proximal over rows in order (the reference the tests compare with). */
export function ftrlReference(o: FtrlHyper & { bias: boolean; labelThreshold?: number; trustRegion?: number }, data: CsrMatrix): Map<number, { z: number; n: number }> {
  const state = new Map<number, { z: number; n: number }>();
  const get = (id: number) => {
    let s = state.get(id);
    if (!s) state.set(id, (s = { z: 0, n: 0 }));
    return s;
  };
  const step = (id: number, g: number) => {
    const s = get(id);
    const d = ftrlStep(s.z, s.n, g, o, o.trustRegion);
    s.z += d.dz;
    s.n += d.dn;
  };
  for (let r = 0; r < data.numRows; r++) {
    let m = o.bias ? ftrlWeight(get(-1).z, get(-1).n, o) : 0;
    for (let k = data.rowPtr[r]!; k < data.rowPtr[r + 1]!; k++) {
      const s = get(data.featureIds[k]!);
      m += ftrlWeight(s.z, s.n, o) * data.values[k]!;
    }
    const dl = sigmoid(m) - binaryLabel(data.labels[r]!, o.labelThreshold);
    if (o.bias) step(-1, dl);
    for (let k = data.rowPtr[r]!; k < data.rowPtr[r + 1]!; k++) step(data.featureIds[k]!, dl * data.values[k]!);
  }
  return state;
}

/** Margins of rows with a weight lookup by feature id (bias added when given). */
export function linearScores(data: CsrMatrix, weightOf: (id: number) => number, bias: number): Float64Array {
  const out = new Float64Array(data.numRows);
  for (let r = 0; r < data.numRows; r++) {
    let m = bias;
    for (let k = data.rowPtr[r]!; k < data.rowPtr[r + 1]!; k++) m += weightOf(data.featureIds[k]!) * data.values[k]!;
    out[r] = m;
  }
  return out;
}
