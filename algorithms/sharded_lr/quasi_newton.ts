// L-BFGS and OWL-QN with every vector on the parameter servers (KunPeng's layout). The driver
// (rank 0) runs the same iterations as algorithms/lbfgs_lr/lbfgs.ts and owlqn.ts, but each
// vector operation is a vector program the servers run shard-wise (lib/ps/vector_program.ts),
// and only scalars come back: dot products, norms, the L1 norm, the losses. The trial points,
// gradients, pairs and OWL-QN's projections are the dense loops' element operations; the
// direction comes from a Gram matrix (vector-free L-BFGS), so it is the two-loop recursion's
// up to rounding, and the objective matches the dense path to rounding.
//
// Per iteration: the direction is 2 programs (the Gram matrix of the 2m + 1 basis vectors, then
// their combination), a trial point is 2 programs around one evaluation (pull, native pass,
// push, one scalar allReduce), accepting it is 1 program.
//
// Recovery: accepting a step writes the new iterate into the other slot set (slots.ts,
// ITERATES), so until the driver commits, the servers still hold the committed iterate and
// its history pairs. After every completed iteration the driver hands its state
// (QnDriverState: scalars, the history's slot bookkeeping, which iterate set is current) to
// `onCommit`; a driver started with that state as `resume` goes on exactly where it was.
import { strongWolfe, type LinePoint } from '../lbfgs_lr/line_search.js';
import { objectiveConverged, type IterationInfo, type QuasiNewtonResult, type StopReason } from '../lbfgs_lr/lbfgs.js';
import type { VectorProgram } from '../../lib/ps/vector_program.js';
import { ShardedHistory, type HistoryState } from './history.js';
import type { ShardedVectors, VectorSums } from './sharded_vectors.js';
import { D, G, GT0, GT1, ITERATES, X, type IterateSlots } from './slots.js';

/** What the driver commits after each completed iteration (plain data: lib/recovery's state codec). */
export interface QnDriverState {
  /** The last completed iteration (0: the starting point was evaluated). */
  iteration: number;
  /** Objective and (pseudo-)gradient norm at the current iterate. */
  f: number;
  gnorm: number;
  /** The last objectives (as many as the stop rule looks back). */
  fs: number[];
  evaluations: number;
  programs: number;
  /** Index into ITERATES of the current iterate. */
  iterate: number;
  history: HistoryState;
  /** Set when the run has finished: why. */
  stop: StopReason | null;
}

export interface ShardedQnOptions {
  m: number;
  maxIter: number;
  tol: number;
  /** L2 weight of the smooth part (lbfgs: 1; owlqn: 0). */
  l2: number;
  /** L1 weight (owlqn; 0: L-BFGS). */
  l1: number;
  past?: number;
  gradTol?: number;
  onIteration?: (info: IterationInfo) => void;
  /** Continue from this committed state (same options, the servers' slots as they were at its commit). */
  resume?: QnDriverState | null;
  /** Called after every completed iteration (and with `stop` set at the end); the solver waits for it. */
  onCommit?: (state: QnDriverState) => Promise<void>;
}

/** The driver's view of a run: the result without x (it stays on the servers, in slot `w`). */
export type ShardedQnResult = Omit<QuasiNewtonResult, 'x'> & { programs: number; w: number };

/**
 * Minimises C*sum(loss) + 0.5*l2*||w||^2 (+ l1*||w||_1). `evaluate()` runs one collective
 * evaluation at the point in slot X (every rank takes part) and returns the summed loss.
 */
export async function shardedQuasiNewton(vectors: ShardedVectors, evaluate: () => Promise<number>, o: ShardedQnOptions): Promise<ShardedQnResult> {
  const s = new ShardedSolver(vectors, evaluate, o);
  return o.l1 > 0 ? s.owlqn() : s.lbfgs();
}

class ShardedSolver {
  readonly #v: ShardedVectors;
  readonly #evaluate: () => Promise<number>;
  readonly #o: ShardedQnOptions;
  readonly #history: ShardedHistory;
  readonly #t0 = performance.now();
  evaluations = 0;
  #iterate = 0;

  constructor(v: ShardedVectors, evaluate: () => Promise<number>, o: ShardedQnOptions) {
    this.#v = v;
    this.#evaluate = evaluate;
    this.#o = o;
    const r = o.resume ?? null;
    this.#history = new ShardedHistory(o.m, r?.history ?? null);
    if (r) {
      this.evaluations = r.evaluations;
      this.#iterate = r.iterate;
      v.programs = r.programs;
    }
  }

  /** The current iterate's slots. */
  get #cur(): IterateSlots {
    return ITERATES[this.#iterate]!;
  }

  /** Hands the state after `iteration` to onCommit (the objectives trimmed to what the stop rule reads). */
  async #commit(iteration: number, f: number, gnorm: number, fs: number[], stop: StopReason | null): Promise<void> {
    if (fs.length > this.#past() + 1) fs.splice(0, fs.length - this.#past() - 1);
    if (!this.#o.onCommit) return;
    await this.#o.onCommit({ iteration, f, gnorm, fs: [...fs], evaluations: this.evaluations, programs: this.#v.programs, iterate: this.#iterate, history: this.#history.state(), stop });
  }

  #past(): number {
    return this.#o.past ?? 3;
  }

  /** Commits the final state and returns the result. */
  async #finish(f: number, gnorm: number, iterations: number, reason: StopReason, fs: number[]): Promise<ShardedQnResult> {
    await this.#commit(iterations, f, gnorm, fs, reason);
    return this.#result(f, gnorm, iterations, reason);
  }

  #seconds(): number {
    return (performance.now() - this.#t0) / 1000;
  }

  #run(build: (p: VectorProgram, penalized: boolean) => void): Promise<VectorSums> {
    return this.#v.run(build);
  }

  /**
   * Evaluates at X (set by `setup`, which must also zero G), then GT = G + l2*X.
   * Returns f = loss + 0.5*l2*||X||^2 + l1*||X||_1, g.d, and the `extra` reductions.
   */
  async #trial(setup: (p: VectorProgram, penalized: boolean) => void, gt: number, extra: (p: VectorProgram) => void = () => {}): Promise<{ f: number; dg: number; sums: VectorSums }> {
    const { l2, l1 } = this.#o;
    await this.#run((p, pen) => {
      setup(p, pen);
      p.lincomb(G, 0, G);
    });
    const loss = await this.#evaluate();
    this.evaluations++;
    // grad = g + l2*w on the features (never the bias), as LrObjective.evaluate.
    const sums = await this.#run((p, pen) => {
      if (pen && l2 !== 0) p.lincomb(gt, 1, G, l2, X);
      else p.copy(gt, G);
      p.dot(gt, D).dot(X, X).absSum(X);
      extra(p);
    });
    const f = loss + 0.5 * l2 * sums.w[1]! + l1 * sums.w[2]!;
    return { f, dg: sums.all[0]!, sums };
  }

  /**
   * D = -H q, vector-free (Chen, Wang & Zhou 2014, "Large-scale L-BFGS using MapReduce"): one
   * program returns the Gram matrix of the basis [s_0..s_{n-1}, y_0..y_{n-1}, q], the two-loop
   * recursion runs on the driver over coefficients of that basis, and one program forms D as
   * their combination. Two programs per direction instead of 2n + 1; mathematically the
   * two-loop recursion, rounded differently. `extra` is appended to the last program.
   */
  async #direction(q: number, extra: (p: VectorProgram) => void): Promise<VectorSums> {
    const pairs = this.#history.pairs;
    const n = pairs.length;
    if (n === 0) return this.#run((p) => (p.lincomb(D, -1, q), extra(p)));
    const basis = [...pairs.map((x) => x.s), ...pairs.map((x) => x.y), q];
    const size = basis.length;
    const gram = await this.#run((p) => {
      for (let i = 0; i < size; i++) for (let j = i; j < size; j++) p.dot(basis[i]!, basis[j]!);
    });
    const B: number[][] = Array.from({ length: size }, () => new Array<number>(size).fill(0));
    let at = 0;
    for (let i = 0; i < size; i++) {
      for (let j = i; j < size; j++) B[i]![j] = B[j]![i] = gram.all[at++]!;
    }
    // The vector being transformed is sum_j delta_j basis_j; its dot with basis_i is (B delta)_i.
    const delta = new Array<number>(size).fill(0);
    delta[size - 1] = 1;
    const dotWith = (i: number): number => delta.reduce((sum, dj, j) => sum + dj * B[i]![j]!, 0);
    const alpha = new Array<number>(n);
    for (let k = n - 1; k >= 0; k--) {
      alpha[k] = pairs[k]!.rho * dotWith(k);
      delta[n + k]! -= alpha[k]!;
    }
    const newest = pairs[n - 1]!;
    const gamma = 1 / (newest.rho * newest.yy);
    for (let j = 0; j < size; j++) delta[j]! *= gamma;
    for (let k = 0; k < n; k++) delta[k]! += alpha[k]! - pairs[k]!.rho * dotWith(n + k);
    return this.#run((p) => {
      p.lincomb(D, -delta[0]!, basis[0]!, -delta[1]!, basis[1]!);
      for (let j = 2; j < size; j++) p.lincomb(D, 1, D, -delta[j]!, basis[j]!);
      extra(p);
    });
  }

  /**
   * The accepted point (X, gt) becomes the current iterate, in the other slot set (the
   * committed one stays intact); the pair (s, y) is offered to the history. `tail` adds to the
   * program, given the new iterate's slots. Returns the sums (s.y, y.y, then tail's).
   */
  async #accept(gt: number, setX: ((p: VectorProgram, pen: boolean) => void) | null, tail: (p: VectorProgram, pen: boolean, it: IterateSlots) => void): Promise<VectorSums> {
    const { s, y } = this.#history.scratch;
    const cur = this.#cur;
    const next = ITERATES[1 - this.#iterate]!;
    const sums = await this.#run((p, pen) => {
      setX?.(p, pen);
      p.lincomb(s, 1, X, -1, cur.w).lincomb(y, 1, gt, -1, cur.gw).dot(s, y).dot(y, y);
      p.copy(next.w, X).copy(next.gw, gt);
      tail(p, pen, next);
    });
    this.#iterate = 1 - this.#iterate;
    this.#history.push(sums.all[0]!, sums.all[1]!);
    return sums;
  }

  #stop(fs: number[], gnorm: number, xnorm: number): StopReason | null {
    const gradTol = this.#o.gradTol ?? 1e-10;
    return gnorm <= gradTol * Math.max(1, xnorm) ? 'gradient' : objectiveConverged(fs, this.#past(), this.#o.tol) ? 'objective' : null;
  }

  #result(f: number, gnorm: number, iterations: number, reason: StopReason): ShardedQnResult {
    return { objective: f, gradNorm: gnorm, iterations, evaluations: this.evaluations, reason, seconds: this.#seconds(), programs: this.#v.programs, w: this.#cur.w };
  }

  async lbfgs(): Promise<ShardedQnResult> {
    const { maxIter } = this.#o;
    const h = this.#history;
    const r = this.#o.resume ?? null;
    if (r?.stop) return this.#result(r.f, r.gnorm, r.iteration, r.stop);
    let f: number;
    let gnorm: number;
    let fs: number[];
    if (r) {
      [f, gnorm, fs] = [r.f, r.gnorm, [...r.fs]];
    } else {
      // x0 = 0: every key's slots start at zero.
      const first = await this.#trial((p) => p.lincomb(X, 1, this.#cur.w), GT0);
      f = first.f;
      const norms = await this.#run((p) => p.copy(this.#cur.gw, GT0).dot(this.#cur.gw, this.#cur.gw).dot(this.#cur.w, this.#cur.w));
      gnorm = Math.sqrt(norms.all[0]!);
      fs = [f];
      this.#o.onIteration?.({ iteration: 0, objective: f, gradNorm: gnorm, step: 0, evaluations: this.evaluations, seconds: this.#seconds() });
      if (gnorm <= (this.#o.gradTol ?? 1e-10) * Math.max(1, Math.sqrt(norms.all[1]!))) return this.#finish(f, gnorm, 0, 'gradient', fs);
      await this.#commit(0, f, gnorm, fs, null);
    }
    let reason: StopReason = 'max-iter';
    let iteration = 0;
    for (iteration = (r?.iteration ?? 0) + 1; iteration <= maxIter; iteration++) {
      const cur = this.#cur;
      let dir = await this.#direction(cur.gw, (p) => p.dot(cur.gw, D).dot(D, D));
      let dg = dir.all[0]!;
      if (!(dg < 0)) {
        h.clear();
        dir = await this.#run((p) => p.lincomb(D, -1, cur.gw).dot(cur.gw, D).dot(D, D));
        dg = -gnorm * gnorm;
      }
      // Trial points are x + alpha*d, recomputable from alpha; their gradients take turns in GT0/GT1.
      let seq = 0;
      const evalAt = async (alpha: number): Promise<LinePoint<number>> => {
        const id = ++seq;
        const t = await this.#trial((p) => p.lincomb(X, 1, cur.w, alpha, D), id % 2 ? GT1 : GT0);
        return { alpha, f: t.f, dg: t.dg, x: id, g: id };
      };
      const start: LinePoint<number> = { alpha: 0, f, dg, x: 0, g: 0 };
      const alpha0 = h.count === 0 ? Math.min(1, 1 / Math.sqrt(dir.all[1]!)) : 1;
      let ls = await strongWolfe(evalAt, start, alpha0);
      if (!ls.point && h.count > 0) {
        h.clear();
        await this.#run((p) => p.lincomb(D, -1, cur.gw));
        seq = 0;
        ls = await strongWolfe(evalAt, { ...start, dg: -gnorm * gnorm }, Math.min(1, 1 / gnorm));
      }
      let point = ls.point;
      if (!point) {
        reason = 'line-search';
        iteration--;
        break;
      }
      // Its gradient is still in GT0/GT1 if it was one of the last two trials; else evaluate again (same x, same bits).
      if (point.g < seq - 1) {
        const again = await evalAt(point.alpha);
        point = { ...again, f: point.f };
      }
      const gt = point.g % 2 ? GT1 : GT0;
      const alpha = point.alpha;
      const norms = await this.#accept(gt, (p) => p.lincomb(X, 1, cur.w, alpha, D), (p, _pen, it) => p.dot(it.gw, it.gw).dot(it.w, it.w));
      f = point.f;
      gnorm = Math.sqrt(norms.all[2]!);
      fs.push(f);
      this.#o.onIteration?.({ iteration, objective: f, gradNorm: gnorm, step: alpha, evaluations: this.evaluations, seconds: this.#seconds() });
      const stop = this.#stop(fs, gnorm, Math.sqrt(norms.all[3]!));
      if (stop) {
        reason = stop;
        break;
      }
      if (iteration < maxIter) await this.#commit(iteration, f, gnorm, fs, null);
    }
    if (iteration > maxIter) iteration = maxIter;
    return this.#finish(f, gnorm, iteration, reason, fs);
  }

  async owlqn(): Promise<ShardedQnResult> {
    const { maxIter, l1 } = this.#o;
    const h = this.#history;
    const c1 = 1e-4;
    const r = this.#o.resume ?? null;
    if (r?.stop) return this.#result(r.f, r.gnorm, r.iteration, r.stop);
    // The bias (pen false) is not penalised: its pseudo-gradient is its gradient.
    const pseudo = (p: VectorProgram, pen: boolean, it: IterateSlots): void => void p.pseudoGradient(it.pg, it.w, it.gw, pen ? l1 : 0).dot(it.pg, it.pg).dot(it.w, it.w);
    let F: number;
    let pgnorm: number;
    let Fs: number[];
    if (r) {
      [F, pgnorm, Fs] = [r.f, r.gnorm, [...r.fs]];
    } else {
      const first = await this.#trial((p) => p.lincomb(X, 1, this.#cur.w), GT0);
      F = first.f;
      const cur = this.#cur;
      const norms = await this.#run((p, pen) => (p.copy(cur.w, X).copy(cur.gw, GT0), pseudo(p, pen, cur)));
      pgnorm = Math.sqrt(norms.all[0]!);
      Fs = [F];
      this.#o.onIteration?.({ iteration: 0, objective: F, gradNorm: pgnorm, step: 0, evaluations: this.evaluations, seconds: this.#seconds() });
      if (pgnorm <= (this.#o.gradTol ?? 1e-10) * Math.max(1, Math.sqrt(norms.all[1]!))) return this.#finish(F, pgnorm, 0, 'gradient', Fs);
      await this.#commit(0, F, pgnorm, Fs, null);
    }
    let reason: StopReason = 'max-iter';
    let iteration = 0;
    for (iteration = (r?.iteration ?? 0) + 1; iteration <= maxIter; iteration++) {
      const cur = this.#cur;
      let dir = await this.#direction(cur.pg, (p) => p.maskSameSign(D, cur.pg).dot(D, cur.pg).dot(D, D));
      if (!(dir.all[0]! < 0)) {
        // The projected quasi-Newton direction is useless: fall back to -pg.
        h.clear();
        dir = await this.#run((p) => p.lincomb(D, -1, cur.pg).dot(D, cur.pg).dot(D, D));
      }
      let alpha = h.count === 0 ? Math.min(1, 1 / Math.sqrt(dir.all[1]!)) : 1;
      let accepted: { F: number; alpha: number } | null = null;
      for (let trial = 0; trial < 40; trial++) {
        const a = alpha;
        // x(a) = P(x + a d), projected onto x's orthant (sign of x, or of -pg where x is 0).
        const t = await this.#trial((p, pen) => p.project(X, cur.w, a, D, cur.pg, pen), GT0, (p) => p.dotDiff(cur.pg, X, cur.w));
        const decrease = t.sums.all[3]!;
        if (t.f <= F + c1 * decrease) {
          accepted = { F: t.f, alpha: a };
          break;
        }
        alpha *= 0.5;
      }
      if (!accepted) {
        if (h.count > 0) {
          h.clear();
          iteration--;
          continue;
        }
        reason = 'line-search';
        iteration--;
        break;
      }
      const norms = await this.#accept(GT0, null, pseudo);
      F = accepted.F;
      pgnorm = Math.sqrt(norms.all[2]!);
      Fs.push(F);
      this.#o.onIteration?.({ iteration, objective: F, gradNorm: pgnorm, step: accepted.alpha, evaluations: this.evaluations, seconds: this.#seconds() });
      const stop = this.#stop(Fs, pgnorm, Math.sqrt(norms.all[3]!));
      if (stop) {
        reason = stop;
        break;
      }
      if (iteration < maxIter) await this.#commit(iteration, F, pgnorm, Fs, null);
    }
    if (iteration > maxIter) iteration = maxIter;
    return this.#finish(F, pgnorm, iteration, reason, Fs);
  }
}
