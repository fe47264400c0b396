// TRON's vectors on the parameter servers (`shoal train lr --solver tron --servers K`): the
// trust-region Newton method and its CG (algorithms/tron/tron.ts, trust_region_cg.ts) run on
// rank 0 on scalars only; w, g, the trial point and the CG vectors s, r, z, d, Hd and the
// preconditioner M are slots of the vector table (one float64 each per key), changed by
// vector programs the servers run shard-wise (lib/ps/vector_program.ts).
//
// One CG step is one command broadcast, one pull of z and one push of the rows' H d per rank
// (newton_rows.ts), one scalar allReduce and ONE vector program. CG needs two dependent
// reductions per step (d'Hd for alpha, then r'z for beta); here the first comes from the
// ranks' allReduce (the data term, summed over rows) plus l2 ||d||^2, and ||d||^2, d'Md and
// s'Md of the new direction d = z + beta d are expanded from the previous program's
// reductions (z'z, z'd, r'd, s'r, ..., each recomputed exactly once d exists), so the
// direction update itself is deferred: the ranks form d from z and beta when they pull, and
// the next program forms it first on the servers (the same operations, the same bits). A
// step to the trust-region boundary, the acceptance of a point and the D swap on the ranks
// are deferred the same way into the next program or command. Per Newton step: the CG steps,
// a diagonal (one command, one push, one program), and an evaluation (a program, a command,
// a pull and push, the loss allReduce, a program).
//
// Every program is safe to run twice (a lost server's program runs again on the live ones,
// sharded_vectors.ts): no program writes a slot it reads before writing it, except to zero it
// (0 a is 0 however often it runs) and the folds of G below. The CG vectors s,
// r, d come in two sets, and a step reads one set and writes the other; the accepted point w
// and its gradient also come in two sets (accepting writes the other one), so the point of the
// last commit stays on the servers until the next commit (sharded_tron.ts rolls back to it).
// The ranks' summed pushes land in G, which the next push needs cleared: the program that
// reads them first folds G into T(p) (T(p) = G + T(p), then G = 0 and T(1-p) = 0, clearing the
// next push's T). T(p) was 0 before, so the first run leaves T(p) = G; a second run finds G = 0
// and leaves T(p) as it was.
import type { VectorProgram } from '../../lib/ps/vector_program.js';
import type { TronVectors } from '../tron/tron.js';
import type { ShardedVectors, VectorSums } from './sharded_vectors.js';

// Slots 0 and 1 are fixed by the vector table: the ranks pull X and push into G.
const X = 0; //  the trial point during an evaluation; z = M^-1 r during CG
const G = 1; //  the ranks' pushes (data gradient, H d's data term, diag(H)'s), summed
// Two sets (0, 1) of these, see above:
const W = (set: number): number => 2 + set; //   the accepted point
const GW = (set: number): number => 4 + set; //  the objective's gradient at W
const S = (set: number): number => 7 + set; //   CG: the step
const R = (set: number): number => 9 + set; //   CG: the residual -g - H s
const D = (set: number): number => 11 + set; //  CG: the direction (one step behind the ranks' until the next program)
const T = (set: number): number => 15 + set; //  the ranks' summed pushes, taken out of G
const GT = 6; // the objective's gradient at the trial point
const HD = 13; // CG: H d (written before it is read in every program that uses it)
const M = 14; //  the diagonal preconditioner
/** Slots of the sharded TRON's vector table. */
export const TRON_SLOTS = 17;

type Build = (p: VectorProgram, penalized: boolean) => void;

/** What rank 0 asks of every rank (broadcast with the command; rank 0 takes part too). */
export interface NewtonCommands {
  /** Evaluation at slot X; returns the summed losses. */
  evaluate(): Promise<number>;
  /** d = z + beta d, H d's data term into G; returns its d'Hd. */
  product(beta: number): Promise<number>;
  /** diag(H)'s data term into G. */
  diagonal(): Promise<void>;
  /** The last evaluated point becomes the accepted one (sent with the next command). */
  accept(): void;
}

export class ShardedTronVectors implements TronVectors {
  /** Instructions deferred to the front of the next program. */
  #pending: Build[] = [];
  /** Which set of W, GW holds the accepted point. */
  #iterate: number;
  /** Which set of S, R, D the CG is at. */
  #cg = 0;
  /** Which T the next program that reads the pushes fills. */
  #push = 0;
  /** The direction's beta the next product and program apply (d = z + beta d). */
  #beta = 0;
  // ||d||^2 (features), d'Md and s'Md of the direction the next product uses.
  #dd = 0;
  #dMd = 0;
  #sMd = 0;
  // The last CG step's reductions, for the next direction's expansions.
  #last = { rz: 0, zz: 0, zd: 0, rd: 0, sr: 0, sMdOld: 0, ddOld: 0, dMdOld: 0 };
  /** Seconds waiting for vector programs (the servers' passes plus one round trip each). */
  programSeconds = 0;

  constructor(
    private readonly vectors: ShardedVectors,
    private readonly commands: NewtonCommands,
    private readonly l2: number,
    /** The preconditioner's weight on diag(H): M = (1 - a) I + a diag(H). */
    private readonly a: number,
    /** Resuming: the set holding the committed point (start() evaluates there); null: start at 0. */
    private readonly resumeAt: number | null = null,
  ) {
    this.#iterate = resumeAt ?? 0;
  }

  /** Which set of slots holds the accepted point (what a commit records). */
  get iterate(): number {
    return this.#iterate;
  }

  /** Runs the deferred instructions now (before a commit: the committed set must be written). */
  async flush(): Promise<void> {
    if (this.#pending.length > 0) await this.#run(() => {});
  }

  /** The final program: X takes the accepted point (what the ranks pull for predictions); counts. */
  async finish(): Promise<{ nnz: number; keys: number }> {
    const w = W(this.#iterate);
    const sums = await this.#run((p) => p.copy(X, w).countNonZero(w).countRows());
    return { nnz: sums.w[0]!, keys: sums.w[1]! };
  }

  async #run(build: Build): Promise<VectorSums> {
    const pending = this.#pending;
    this.#pending = [];
    const t0 = performance.now();
    const sums = await this.vectors.run((p, pen) => {
      for (const b of pending) b(p, pen);
      build(p, pen);
    });
    this.programSeconds += (performance.now() - t0) / 1000;
    return sums;
  }

  /** The ranks' last pushes, summed: instructions that move them from G into a T (see above), and that T. */
  #takePushes(): { sum: number; build: Build } {
    const sum = T(this.#push);
    const next = T(1 - this.#push);
    this.#push = 1 - this.#push;
    return { sum, build: (p) => void p.lincomb(sum, 1, G, 1, sum).lincomb(G, 0, G).lincomb(next, 0, next) };
  }

  /** Evaluates at X (set by `setup`): f, ||g||, and setup's reductions (first). GT = the gradient. */
  async #evaluate(setup: Build): Promise<{ f: number; gnorm: number; before: VectorSums }> {
    const before = await this.#run(setup);
    const loss = await this.commands.evaluate();
    const g = this.#takePushes();
    const l2 = this.l2;
    // grad = g + l2*x on the features (never the bias), as the dense LrObjective.
    const sums = await this.#run((p, pen) => {
      g.build(p, pen);
      if (pen && l2 !== 0) p.lincomb(GT, 1, g.sum, l2, X);
      else p.copy(GT, g.sum);
      p.dot(X, X).dot(GT, GT);
    });
    return { f: loss + 0.5 * l2 * sums.w[0]!, gnorm: Math.sqrt(sums.all[1]!), before };
  }

  async start(): Promise<{ f: number; gnorm: number }> {
    const at = this.resumeAt;
    this.#push = 0;
    // X = the committed point, or x0 = 0 (keys appear with zero slots as the ranks pull them;
    // zeroed, as a failed first attempt may have left values). G and both T are cleared: a
    // failure may have left part of the ranks' pushes there.
    const r = await this.#evaluate((p) => {
      if (at === null) p.lincomb(X, 0, X);
      else p.copy(X, W(at));
      p.lincomb(G, 0, G).lincomb(T(0), 0, T(0)).lincomb(T(1), 0, T(1));
    });
    this.accept();
    return { f: r.f, gnorm: r.gnorm };
  }

  accept(): void {
    this.commands.accept();
    this.#iterate = 1 - this.#iterate;
    const [w, gw] = [W(this.#iterate), GW(this.#iterate)];
    this.#pending.push((p) => void p.copy(w, X).copy(gw, GT));
  }

  async precondition(): Promise<number> {
    await this.commands.diagonal();
    const h = this.#takePushes();
    const { a, l2 } = this;
    const gw = GW(this.#iterate);
    // M = (1 - a) + a * (diag + l2), as the dense loop; ||g||_{M^-1} through HD (free until the next CG step).
    const sums = await this.#run((p, pen) => {
      h.build(p, pen);
      if (pen) p.affine(M, 1, h.sum, l2);
      else p.copy(M, h.sum);
      p.affine(M, a, M, 1 - a).divide(HD, gw, M).dot(gw, HD);
    });
    return Math.sqrt(sums.all[0]!);
  }

  async cgStart(): Promise<number> {
    this.#cg = 0;
    const [s, r, gw] = [S(0), R(0), GW(this.#iterate)];
    const sums = await this.#run((p) => void p.lincomb(s, 0, s).lincomb(r, -1, gw).divide(X, r, M).dot(r, X).dot(X, X));
    const rz = sums.all[0]!;
    // d = z (beta 0): ||d||^2 = z'z, d'Md = r'z, s = 0.
    this.#beta = 0;
    this.#dd = sums.w[1]!;
    this.#dMd = rz;
    this.#sMd = 0;
    return rz;
  }

  async product(): Promise<{ dHd: number; sMd: number; dMd: number }> {
    const data = await this.commands.product(this.#beta);
    return { dHd: data + this.l2 * this.#dd, sMd: this.#sMd, dMd: this.#dMd };
  }

  /**
   * The deferred direction d = z + beta d into the other CG set (z = M^-1 r again: the bits
   * the ranks pulled from X) and H d = the ranks' pushes + l2 d into HD; the CG moves to that set.
   */
  #nextDirection(): { from: number; to: number; build: Build } {
    const from = this.#cg;
    const to = 1 - from;
    this.#cg = to;
    const hd = this.#takePushes();
    const { l2 } = this;
    const beta = this.#beta;
    const build: Build = (p, pen) => {
      hd.build(p, pen);
      p.divide(D(to), R(from), M).lincomb(D(to), 1, D(to), beta, D(from));
      if (pen && l2 !== 0) p.lincomb(HD, 1, hd.sum, l2, D(to));
      else p.copy(HD, hd.sum);
    };
    return { from, to, build };
  }

  async cgStep(alpha: number): Promise<number> {
    const { from, to, build } = this.#nextDirection();
    const [s, r, d] = [S(to), R(to), D(to)];
    const sums = await this.#run((p, pen) => {
      build(p, pen);
      p.dot(d, d).dot3(d, M, d);
      p.lincomb(s, 1, S(from), alpha, d).lincomb(r, 1, R(from), -alpha, HD).divide(X, r, M);
      p.dot(r, X).dot(X, X).dot(X, d).dot(r, d).dot(s, r).dot3(s, M, d);
    });
    // In program order: d'd, d'Md (of this step's d), then r'z, z'z, z'd, r'd, s'r, s'Md after it.
    const [, dMdOld, rz, , , rd, sr, sMdOld] = sums.all as [number, number, number, number, number, number, number, number];
    this.#last = { rz, zz: sums.w[3]!, zd: sums.w[4]!, rd, sr, sMdOld, ddOld: sums.w[0]!, dMdOld };
    return rz;
  }

  cgDirection(beta: number): void {
    // d+ = z + beta d: its norms from the last program's reductions (z'Mz = r'z, z'Md = r'd).
    const l = this.#last;
    this.#beta = beta;
    this.#dd = l.zz + 2 * beta * l.zd + beta * beta * l.ddOld;
    this.#dMd = l.rz + 2 * beta * l.rd + beta * beta * l.dMdOld;
    this.#sMd = l.sr + beta * l.sMdOld;
  }

  async cgBoundary(tau: number): Promise<void> {
    const { from, to, build } = this.#nextDirection();
    this.#pending.push((p, pen) => {
      build(p, pen);
      p.lincomb(S(to), 1, S(from), tau, D(to)).lincomb(R(to), 1, R(from), -tau, HD);
    });
  }

  async trial(): Promise<{ f: number; gs: number; sr: number; snorm: number; gnorm: number }> {
    // After a deferred boundary step (#pending), the CG's set is already the new one.
    const [w, gw, s, r] = [W(this.#iterate), GW(this.#iterate), S(this.#cg), R(this.#cg)];
    const res = await this.#evaluate((p) => void p.lincomb(X, 1, w, 1, s).dot(gw, s).dot(s, r).dot3(s, M, s));
    const [gs, sr, sMs] = res.before.all as [number, number, number];
    return { f: res.f, gs, sr, snorm: Math.sqrt(sMs), gnorm: res.gnorm };
  }
}
