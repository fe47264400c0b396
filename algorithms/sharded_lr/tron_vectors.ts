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
import type { VectorProgram } from '../../lib/ps/vector_program.js';
import type { TronVectors } from '../tron/tron.js';
import type { ShardedVectors, VectorSums } from './sharded_vectors.js';

// Slots 0 and 1 are fixed by the vector table: the ranks pull X and push into G.
const X = 0; //  the trial point during an evaluation; z = M^-1 r during CG
const G = 1; //  the ranks' pushes (data gradient, H d's data term, diag(H)'s), summed
const W = 2; //  the accepted point
const GW = 3; // the objective's gradient at W
const GT = 4; // the objective's gradient at the trial point
const S = 5; //  CG: the step
const R = 6; //  CG: the residual -g - H s
const D = 7; //  CG: the direction (one step behind the ranks' until the next program)
const HD = 8; // CG: H d
const M = 9; //  the diagonal preconditioner
/** Slots of the sharded TRON's vector table. */
export const TRON_SLOTS = 10;

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
  ) {}

  /** The final program: X takes the accepted point (what the ranks pull for predictions); counts. */
  async finish(): Promise<{ nnz: number; keys: number }> {
    const sums = await this.#run((p) => p.copy(X, W).countNonZero(W).countRows());
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

  /** Evaluates at X (set by `setup`): f, ||g||, and setup's reductions (first). GT = the gradient. */
  async #evaluate(setup: Build): Promise<{ f: number; gnorm: number; before: VectorSums }> {
    const before = await this.#run(setup);
    const loss = await this.commands.evaluate();
    // grad = g + l2*x on the features (never the bias), as the dense LrObjective.
    const sums = await this.#run((p, pen) => {
      if (pen && this.l2 !== 0) p.lincomb(GT, 1, G, this.l2, X);
      else p.copy(GT, G);
      p.lincomb(G, 0, G).dot(X, X).dot(GT, GT);
    });
    return { f: loss + 0.5 * this.l2 * sums.w[0]!, gnorm: Math.sqrt(sums.all[1]!), before };
  }

  async start(): Promise<{ f: number; gnorm: number }> {
    // x0 = 0: every key's slots start at zero (keys appear as the ranks pull them).
    const r = await this.#evaluate((p) => void p.copy(X, W));
    this.accept();
    return { f: r.f, gnorm: r.gnorm };
  }

  accept(): void {
    this.commands.accept();
    this.#pending.push((p) => void p.copy(W, X).copy(GW, GT));
  }

  async precondition(): Promise<number> {
    await this.commands.diagonal();
    const a = this.a;
    // M = (1 - a) + a * (diag + l2), as the dense loop; X is free until the next CG start.
    const sums = await this.#run((p, pen) => {
      if (pen) p.affine(M, 1, G, this.l2);
      else p.copy(M, G);
      p.affine(M, a, M, 1 - a).lincomb(G, 0, G).divide(X, GW, M).dot(GW, X);
    });
    return Math.sqrt(sums.all[0]!);
  }

  async cgStart(): Promise<number> {
    const sums = await this.#run((p) => void p.lincomb(S, 0, S).lincomb(R, -1, GW).divide(X, R, M).dot(R, X).dot(X, X));
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

  /** The deferred direction and H d = G + l2 d (the servers' sum of the ranks' pushes); G back to 0. */
  #formDirection(p: VectorProgram, pen: boolean): void {
    p.lincomb(D, 1, X, this.#beta, D);
    if (pen && this.l2 !== 0) p.lincomb(HD, 1, G, this.l2, D);
    else p.copy(HD, G);
    p.lincomb(G, 0, G);
  }

  async cgStep(alpha: number): Promise<number> {
    const sums = await this.#run((p, pen) => {
      this.#formDirection(p, pen);
      p.dot(D, D).dot3(D, M, D);
      p.lincomb(S, 1, S, alpha, D).lincomb(R, 1, R, -alpha, HD).divide(X, R, M);
      p.dot(R, X).dot(X, X).dot(X, D).dot(R, D).dot(S, R).dot3(S, M, D);
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
    this.#pending.push((p, pen) => {
      this.#formDirection(p, pen);
      p.lincomb(S, 1, S, tau, D).lincomb(R, 1, R, -tau, HD);
    });
  }

  async trial(): Promise<{ f: number; gs: number; sr: number; snorm: number; gnorm: number }> {
    const r = await this.#evaluate((p) => void p.lincomb(X, 1, W, 1, S).dot(GW, S).dot(S, R).dot3(S, M, S));
    const [gs, sr, sMs] = r.before.all as [number, number, number];
    return { f: r.f, gs, sr, snorm: Math.sqrt(sMs), gnorm: r.gnorm };
  }
}
