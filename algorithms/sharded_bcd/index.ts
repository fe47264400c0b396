// Block coordinate descent for L2- or L1-regularised logistic regression with the model on the
// parameter servers (`shoal train lr --solver bcd --servers K`): data-parallel over rows and
// model-parallel over feature blocks, as KunPeng's BCD (and Li et al.'s delayed block proximal
// gradient). No process holds w: it lives on the servers by uint64 key, one table per block
// (block_tables.ts); a block is a range of the hashed key space (key_blocks.ts). Each rank
// keeps its rows, their keys and their margins m_i = w.x_i.
//
// One round updates `parallel` blocks S at once (every rank runs the same schedule):
//   1. statistics  each rank sums, for the keys of S in its rows, g_j = sum_i -c y_i p_i x_ij and
//                  h_j = sum_i c p_i (1 - p_i) x_ij^2 (p_i = sigma(-y_i m_i)), pushes [g, h] to the
//                  blocks' tables (the servers add them up), and a barrier says all pushes landed.
//   2. step        rank 0 runs each block's step program where the block lives: the per-key
//                  soft-thresholded Newton step d_j (as the dense BCD with --bcd-hessian diagonal),
//                  and the scalars of the line search (G.d, the penalty change at each trial step);
//                  one bcast of 15 doubles hands them to every rank.
//   3. line search each rank pulls d for its keys of S, forms dm = X_S d on its rows and sums the
//                  loss change of 4 trial steps a = 1, 1/2, ... in one allReduce of 4 doubles (up to
//                  3 rounds); Armijo as the dense BCD: F(w + a d) - F(w) <= 0.01 a delta.
//   4. accept      every rank updates its margins m += a dm; the servers apply w += a d at the
//                  start of the block's next step program (or at the end), saving a round trip.
// A round costs 5 round trips (push, barrier, program, bcast, pull) plus one allReduce per
// line-search round, and moves 16 bytes per key per rank up and 16 down; nothing of size O(keys)
// goes through one process.
//
// Concurrency and its cost: the blocks of a round take one joint step, each block's d computed
// from statistics at the same margins (a Jacobi step over S, with the per-key diagonal inside
// each block already Jacobi), and one step size for all of them. Armijo on the joint step keeps
// every round monotone whatever the coupling between the blocks; the price is that coupled
// blocks (sharing rows) overshoot together and the line search shortens the step, so a pass
// makes less progress than `parallel` rounds of one block (Gauss-Seidel), in exchange for
// `parallel` times fewer round trips (BENCHMARKS.md: passes and time against --bcd-parallel).
// Across rounds it is Gauss-Seidel, and the scheduler (algorithms/bcd/scheduler.ts) visits the
// blocks by their last decrease, skipping converged ones, with a full pass every 4 passes; the
// run stops after a full pass whose relative decrease is below tol.
//
// Recovery (--max-restarts, --checkpoint/--resume; sharded_lr/run_commits.ts as TRON's): after
// every pass rank 0 applies the pending steps, copies w into a committed slot set on the
// servers (block_tables.ts) and commits the scalars (BcdDriverState: the pass, F, the
// schedule, which set); with --max-restarts every rank takes the commit (one small bcast). A
// rolled-back run copies the named set back into w, every rank rebuilds its margins from its
// keys' weights, and the schedule goes on from the committed pass: the same passes, F within
// rounding (the margins are summed in another order).
//
// Summation order: the servers add the ranks' pushes as they arrive and allReduce adds the
// ranks' partial sums, so np changes the last bits of the statistics; the runs at np 1 and 2
// differ at rounding level (the test data: 1e-15 relative in the objective, L1 and L2).
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { computeMargins, linearLayout, predictProbabilities, softplus } from '../common/logistic.js';
import { BlockScheduler, type SchedulerSnapshot } from '../bcd/scheduler.js';
import { toCsc } from '../bcd/csc.js';
import type { IterationInfo, StopReason } from '../lbfgs_lr/lbfgs.js';
import type { LrParams } from '../lbfgs_lr/params.js';
import { penaltyOf } from '../lbfgs_lr/params.js';
import { ShoalError } from '../../lib/errors.js';
import type { PsClient } from '../../lib/ps/client.js';
import type { ShardedTrainResult } from '../sharded_lr/index.js';
import type { ShardedRunCommits } from '../sharded_lr/run_commits.js';
import { BlockTables, LADDER } from './block_tables.js';
import { localBlocks, type LocalBlock } from './key_blocks.js';

const SIGMA = 0.01;
const STEPS_PER_ROUND = 4;
const OK = 1;
const FAILED = 3;
/** The bias table's one key. */
const BIAS_KEY = new BigUint64Array([0n]);
const STOPS: StopReason[] = ['gradient', 'objective', 'max-iter', 'line-search'];

/** What a sharded BCD run commits after every pass (plain data: lib/recovery's state codec). */
export interface BcdDriverState {
  iteration: number;
  F: number;
  evaluations: number;
  gradNorm: number;
  scheduler: SchedulerSnapshot;
  /** The committed weight set on the servers (block_tables.ts). */
  set: number;
  programs: number;
  /** Index into STOPS once the run has stopped (a failure after the last pass must not add passes), else -1. */
  stopped: number;
}

/**
 * Trains on this rank's rows (feature ids = local indices into `keys`, readLibsvm keyIds).
 * Collective over `comm` and the servers behind `ps`; every rank passes the same params.
 */
export async function trainShardedBcd(
  comm: Collective,
  ps: PsClient,
  data: CsrData,
  keys: BigUint64Array,
  params: LrParams,
  onIteration?: (info: IterationInfo & { blocks: number }) => void,
  commits: ShardedRunCommits<BcdDriverState> | null = null,
): Promise<Omit<ShardedTrainResult, 'vectors'>> {
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  const penalty = penaltyOf(params);
  const numBlocks = params.bcdBlocks;
  const durable = commits?.active ?? false;
  const tables = await BlockTables.open(ps, numBlocks, params.bias, penalty, durable);
  const solver = new RankSolver(comm, tables, data, keys, params);
  const allBlocks = numBlocks + (params.bias ? 1 : 0);
  const scheduler = new BlockScheduler(allBlocks, { seed: params.seed });
  const resume = durable ? await solver.resume(commits!) : null;
  let F: number;
  let evaluations: number;
  let gradNorm = Number.NaN;
  let reason: StopReason = 'max-iter';
  let iteration = 0;
  let set = 1;
  if (resume) {
    ({ F, evaluations, gradNorm, set } = resume);
    iteration = resume.iteration;
    scheduler.restore(resume.scheduler);
    tables.programs = resume.programs;
  } else {
    // w = 0: every loss is c ln 2.
    F = await solver.sumOverRanks(solver.loss());
    evaluations = 1;
    onIteration?.({ iteration: 0, objective: F, gradNorm, step: 0, evaluations, seconds: seconds(), blocks: 0 });
  }
  const stoppedAt = resume && resume.stopped >= 0 ? resume.iteration : -1;
  if (stoppedAt >= 0) reason = STOPS[resume!.stopped]!;
  for (iteration = stoppedAt >= 0 ? params.maxIter + 1 : iteration + 1; iteration <= params.maxIter; iteration++) {
    const { blocks, full } = scheduler.plan((params.tol * Math.abs(F)) / allBlocks);
    const F0 = F;
    let gsq = 0;
    for (let at = 0; at < blocks.length; at += params.bcdParallel) {
      const round = blocks.slice(at, at + params.bcdParallel);
      const r = await solver.round(round);
      evaluations += r.allReduces;
      gsq += r.gsq;
      F += r.change;
      round.forEach((b, i) => scheduler.report(b, r.change < 0 && r.delta < 0 ? (-r.change * r.blockDelta[i]!) / r.delta : 0));
    }
    gradNorm = Math.sqrt(gsq);
    onIteration?.({ iteration, objective: F, gradNorm, step: 0, evaluations, seconds: seconds(), blocks: blocks.length });
    const rel = (F0 - F) / Math.max(Math.abs(F), 1);
    const converged = full && rel < params.tol;
    if (!full && rel < params.tol) scheduler.requestFullPass();
    if (durable) {
      set ^= 1;
      const stopped = converged ? STOPS.indexOf('objective') : iteration === params.maxIter ? STOPS.indexOf('max-iter') : -1;
      await solver.commit(commits!, { iteration, F, evaluations, gradNorm, scheduler: scheduler.snapshot(), set, programs: tables.programs, stopped });
    }
    if (converged) {
      reason = 'objective';
      break;
    }
  }
  if (stoppedAt >= 0) iteration = stoppedAt;
  if (iteration > params.maxIter) iteration = params.maxIter;
  const model = await solver.finish();
  // The running objective accumulates rounding; report an exact one.
  const loss = await solver.sumOverRanks(solver.loss());
  evaluations++;
  const objective = loss + 0.5 * penalty.l2 * model.ww + penalty.l1 * model.abs;
  const layout = linearLayout(keys.length, params.bias);
  return {
    objective,
    gradNorm,
    iterations: iteration,
    evaluations,
    reason,
    seconds: seconds(),
    modelNnz: model.nonZero,
    programs: model.programs,
    numKeys: model.keys,
    localWeights: model.w,
    predict: async (rows: CsrData, rowKeys: BigUint64Array): Promise<Float64Array> => {
      const w = rowKeys === keys ? model.w : await solver.pullWeights(rowKeys);
      return predictProbabilities(rows, w, linearLayout(rowKeys.length, params.bias));
    },
  };
}

/** The outcome of one round, the same on every rank. */
interface RoundOutcome {
  gsq: number;
  delta: number;
  blockDelta: number[];
  /** Accepted change of the objective (0 if no step was taken). */
  change: number;
  allReduces: number;
}

/** One rank's part: its rows, margins and keys by block; rank 0 also drives the servers' programs. */
class RankSolver {
  readonly #n: number;
  readonly #ys: Float64Array;
  readonly #cw: Float64Array;
  readonly #margins: Float64Array;
  readonly #csr: CsrData;
  readonly #csc: ReturnType<typeof toCsc>;
  readonly #blocks: LocalBlock[];
  /** Per-row -c y p and c p (1 - p) at the current margins, computed when a round first needs them. */
  readonly #r: Float64Array;
  readonly #dd: Float64Array;
  readonly #stamp: Uint32Array;
  #roundId = 0;
  readonly #dm: Float64Array;
  readonly #touched: Uint32Array;
  readonly #mark: Uint8Array;
  /** Rank 0: each block's accepted step size not yet applied on the servers. */
  readonly #pending: Float64Array;
  /** Rank 0's bcast after the step programs: status, gsq, delta, moving keys, penalty changes, each block's delta. */
  readonly #cmd: Float64Array;

  constructor(
    private readonly comm: Collective,
    private readonly tables: BlockTables,
    data: CsrData,
    private readonly keys: BigUint64Array,
    private readonly params: LrParams,
  ) {
    const n = data.numRows;
    this.#n = n;
    this.#ys = new Float64Array(n);
    this.#cw = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.#ys[i] = data.labels[i]! > 0 ? 1 : -1;
      this.#cw[i] = data.weights ? params.c * data.weights[i]! : params.c;
    }
    this.#margins = new Float64Array(n);
    this.#csr = data;
    this.#csc = toCsc(data, linearLayout(keys.length, false));
    this.#blocks = localBlocks(keys, params.bcdBlocks);
    this.#r = new Float64Array(n);
    this.#dd = new Float64Array(n);
    this.#stamp = new Uint32Array(n);
    this.#dm = new Float64Array(n);
    this.#touched = new Uint32Array(n);
    this.#mark = new Uint8Array(n);
    this.#pending = new Float64Array(params.bcdBlocks + 1);
    this.#cmd = new Float64Array(4 + LADDER.length + params.bcdParallel);
  }

  /**
   * Collective, before the first pass of a run that commits: rank 0 loads a --resume snapshot
   * into empty servers (run_commits.ts) and, when there is a committed state, puts w back to
   * its set; then every rank rebuilds its margins from its keys' weights. Returns the state.
   */
  async resume(commits: ShardedRunCommits<BcdDriverState>): Promise<BcdDriverState | null> {
    await this.#onRank0(async () => {
      await commits.prepare(() => this.tables.rows());
      if (commits.resume) await this.tables.restore(commits.resume.set);
    }, 'restore the committed model');
    const state = commits.resume;
    if (!state) return null;
    const w = await this.pullWeights(this.keys);
    computeMargins(this.#csr, w, linearLayout(this.keys.length, this.params.bias), this.#margins);
    return state;
  }

  /** Collective, after a pass: rank 0 saves w on the servers and commits `state`; with replicated commits every rank takes it. */
  async commit(commits: ShardedRunCommits<BcdDriverState>, state: BcdDriverState): Promise<void> {
    await this.#onRank0(async () => {
      await this.tables.commit(state.set, this.#pending);
      await commits.commit({ ...state, programs: this.tables.programs });
    }, 'commit the pass');
    this.#pending.fill(0);
    if (commits.replicated) await commits.follow();
  }

  /** Runs `work` on rank 0 while the others wait for its outcome (a bcast); a failure there stops every rank. */
  async #onRank0(work: () => Promise<void>, what: string): Promise<void> {
    const status = new Float64Array(1);
    if (this.comm.rank === 0) {
      try {
        await work();
        status[0] = OK;
      } catch (err) {
        status[0] = FAILED;
        await this.comm.bcast(status, 0).catch(() => undefined);
        throw err;
      }
    }
    await this.comm.bcast(status, 0);
    if (status[0] !== OK) throw new ShoalError('ERR_ABORTED', `lr --servers (bcd): rank 0 could not ${what} (see its message)`, { rank: this.comm.rank });
  }

  /** C * sum of this rank's losses at its margins. */
  loss(): number {
    let s = 0;
    for (let i = 0; i < this.#n; i++) s += this.#cw[i]! * softplus(-this.#ys[i]! * this.#margins[i]!);
    return s;
  }

  async sumOverRanks(v: number): Promise<number> {
    const buf = new Float64Array([v]);
    await this.comm.allReduce(buf, { op: 'sum' });
    return buf[0]!;
  }

  #isBias(b: number): boolean {
    return b === this.params.bcdBlocks;
  }

  #rowStats(i: number): void {
    if (this.#stamp[i] === this.#roundId) return;
    this.#stamp[i] = this.#roundId;
    const y = this.#ys[i]!;
    const p = 1 / (1 + Math.exp(y * this.#margins[i]!)); // sigma(-y m): probability of the wrong class
    this.#r[i] = -y * this.#cw[i]! * p;
    this.#dd[i] = this.#cw[i]! * p * (1 - p);
  }

  /** [g, h] of block b's keys over this rank's rows, interleaved. */
  #statistics(b: number): Float64Array {
    if (this.#isBias(b)) {
      let g = 0;
      let h = 0;
      for (let i = 0; i < this.#n; i++) {
        this.#rowStats(i);
        g += this.#r[i]!;
        h += this.#dd[i]!;
      }
      return new Float64Array([g, h]);
    }
    const { colPtr, rows, values } = this.#csc;
    const idx = this.#blocks[b]!.indices;
    const out = new Float64Array(2 * idx.length);
    for (let a = 0; a < idx.length; a++) {
      const j = idx[a]!;
      let g = 0;
      let h = 0;
      for (let k = colPtr[j]!; k < colPtr[j + 1]!; k++) {
        const i = rows[k]!;
        const v = values[k]!;
        this.#rowStats(i);
        g += this.#r[i]! * v;
        h += this.#dd[i]! * v * v;
      }
      out[2 * a] = g;
      out[2 * a + 1] = h;
    }
    return out;
  }

  #keysOf(b: number): BigUint64Array {
    return this.#isBias(b) ? (this.params.bias && this.#n > 0 ? BIAS_KEY : new BigUint64Array(0)) : this.#blocks[b]!.keys;
  }

  /** One round over `round`'s blocks (see the file comment); collective. */
  async round(round: number[]): Promise<RoundOutcome> {
    this.#roundId++;
    // 1. Statistics, pushed; the barrier says every rank's push has landed.
    await Promise.all(
      round.map((b) => {
        const k = this.#keysOf(b);
        if (k.length === 0) return undefined;
        const s = this.#statistics(b);
        return this.tables.table(b).push(k, new Float32Array(s.buffer));
      }),
    );
    await this.comm.barrier();
    // 2. Rank 0 runs the steps on the servers; everyone gets the scalars.
    const cmd = this.#cmd;
    if (this.comm.rank === 0) {
      try {
        const s = await this.tables.step(round, this.#pending);
        cmd.set([OK, s.gsq, s.delta, s.moving, ...s.reg, ...s.blockDelta]);
      } catch (err) {
        cmd[0] = FAILED;
        await this.comm.bcast(cmd, 0).catch(() => undefined);
        throw err;
      }
    }
    await this.comm.bcast(cmd, 0);
    if (cmd[0] !== OK) throw new ShoalError('ERR_ABORTED', 'lr --servers (bcd): rank 0 could not run a step program (see its message)', { rank: this.comm.rank });
    const gsq = cmd[1]!;
    const delta = cmd[2]!;
    const blockDelta = Array.from(cmd.subarray(4 + LADDER.length, 4 + LADDER.length + round.length));
    const outcome: RoundOutcome = { gsq, delta, blockDelta, change: 0, allReduces: 0 };
    if (!(cmd[3]! > 0) || !(delta < 0)) return outcome;
    // 3. d for this rank's keys, its margin change, and Armijo over trial steps.
    const nt = await this.#marginChange(round);
    const trial = new Float64Array(STEPS_PER_ROUND);
    let accepted = 0;
    for (let start = 0; start < LADDER.length && accepted === 0; start += STEPS_PER_ROUND) {
      trial.fill(0);
      for (let t = 0; t < nt; t++) {
        const i = this.#touched[t]!;
        const y = this.#ys[i]!;
        const m = this.#margins[i]!;
        const base = softplus(-y * m);
        for (let s = 0; s < STEPS_PER_ROUND; s++) trial[s]! += this.#cw[i]! * (softplus(-y * (m + LADDER[start + s]! * this.#dm[i]!)) - base);
      }
      await this.comm.allReduce(trial, { op: 'sum' });
      outcome.allReduces++;
      for (let s = 0; s < STEPS_PER_ROUND; s++) {
        const a = LADDER[start + s]!;
        const total = trial[s]! + cmd[4 + start + s]!;
        if (total <= SIGMA * a * delta) {
          accepted = a;
          outcome.change = total;
          break;
        }
      }
    }
    // 4. Accept: margins here, w on the servers with the block's next program.
    for (let t = 0; t < nt; t++) {
      const i = this.#touched[t]!;
      if (accepted > 0) this.#margins[i]! += accepted * this.#dm[i]!;
      this.#dm[i] = 0;
      this.#mark[i] = 0;
    }
    if (accepted > 0) for (const b of round) this.#pending[b] = accepted;
    return outcome;
  }

  /** Pulls d of this rank's keys of the round's blocks into dm = X_S d; returns how many rows it touched. */
  async #marginChange(round: number[]): Promise<number> {
    const pulled = await Promise.all(
      round.map(async (b) => {
        const k = this.#keysOf(b);
        const wd = new Float64Array(2 * k.length);
        if (k.length > 0) await this.tables.table(b).pull(k, new Float32Array(wd.buffer));
        return wd;
      }),
    );
    let nt = 0;
    const touch = (i: number, v: number): void => {
      if (!this.#mark[i]) {
        this.#mark[i] = 1;
        this.#touched[nt++] = i;
      }
      this.#dm[i]! += v;
    };
    const { colPtr, rows, values } = this.#csc;
    round.forEach((b, r) => {
      const wd = pulled[r]!;
      if (this.#isBias(b)) {
        if (wd.length > 0 && wd[1] !== 0) for (let i = 0; i < this.#n; i++) touch(i, wd[1]!);
        return;
      }
      const idx = this.#blocks[b]!.indices;
      for (let a = 0; a < idx.length; a++) {
        const dj = wd[2 * a + 1]!;
        if (dj === 0) continue;
        const j = idx[a]!;
        for (let k = colPtr[j]!; k < colPtr[j + 1]!; k++) touch(rows[k]!, dj * values[k]!);
      }
    });
    return nt;
  }

  /** The final weights of `keys` (any keys; local index order, then the bias), read from the servers. */
  async pullWeights(rowKeys: BigUint64Array): Promise<Float64Array> {
    const blocks = rowKeys === this.keys ? this.#blocks : localBlocks(rowKeys, this.params.bcdBlocks);
    const w = new Float64Array(rowKeys.length + (this.params.bias ? 1 : 0));
    await Promise.all(
      blocks.map(async (blk, b) => {
        if (blk.keys.length === 0) return;
        const wd = new Float64Array(2 * blk.keys.length);
        await this.tables.table(b).pull(blk.keys, new Float32Array(wd.buffer));
        for (let a = 0; a < blk.indices.length; a++) w[blk.indices[a]!] = wd[2 * a]!;
      }),
    );
    if (this.params.bias) {
      const wd = new Float64Array(2);
      await this.tables.bias!.pull(BIAS_KEY, new Float32Array(wd.buffer));
      w[rowKeys.length] = wd[0]!;
    }
    return w;
  }

  /** Collective: rank 0 applies the pending steps and sums the model's penalty and size; every rank pulls its weights. */
  async finish(): Promise<{ ww: number; abs: number; nonZero: number; keys: number; programs: number; w: Float64Array }> {
    const cmd = new Float64Array(6);
    if (this.comm.rank === 0) {
      try {
        const t = await this.tables.finish(this.#pending);
        cmd.set([OK, t.ww, t.abs, t.nonZero, t.keys, this.tables.programs]);
      } catch (err) {
        cmd[0] = FAILED;
        await this.comm.bcast(cmd, 0).catch(() => undefined);
        throw err;
      }
    }
    await this.comm.bcast(cmd, 0);
    if (cmd[0] !== OK) throw new ShoalError('ERR_ABORTED', 'lr --servers (bcd): rank 0 could not finish the model (see its message)', { rank: this.comm.rank });
    const w = await this.pullWeights(this.keys);
    return { ww: cmd[1]!, abs: cmd[2]!, nonZero: cmd[3]!, keys: cmd[4]!, programs: cmd[5]!, w };
  }
}
