// The sharded BCD's model on the parameter servers: one vector table per feature block
// (`bcd.block.<b>`, keys of block b only, key_blocks.ts) and, with a bias, a one-key table
// (`bcd.bias`, so the bias never collides with a feature id). A program runs over one block's
// rows only, and the programs of a round's blocks run at once. Width 2: workers pull [w, d] and
// push [g, h], which the servers sum in float64.
//
// Where the step is computed: on the servers, by one vector program per block (rank 0 sends
// ~0.5 KB of instructions to every server and gets ~20 partial sums back), rather than by rank
// 0 pulling the block's sums [g, h, w] (24 bytes per key) and pushing d back (8 bytes per key):
// the program moves O(1) bytes instead of O(block) and takes one round trip instead of two,
// and rank 0 need not know the block's keys (no process holds the key list). The workers then
// pull d for their own keys only, which they need for their margins anyway.
//
// Recovery (--max-restarts, --checkpoint, --resume): two more slots hold committed weights. A
// commit applies the pending steps and copies W into the set the last commit did not name
// (COMMITTED[set]); the driver's state then names that set. A rolled-back run copies the named
// set back into W and clears D, G, H: a commit interrupted half-way (some tables copied) never
// touched the set the state names.
import type { PsClient, PsTable } from '../../lib/ps/client.js';
import { VectorProgram } from '../../lib/ps/vector_program.js';

export const W = 0; //  the weights
export const D = 1; //  the last step computed (workers pull [W, D])
export const G = 2; //  workers' pushes: gradient sums ...
export const H = 3; //  ... and Hessian-diagonal sums
const GT = 4; //        gradient with the L2 term
const T = 5; //         scratch
/** Committed weights, two sets used in turn (see the file comment); only when the run commits. */
const COMMITTED = [6, 7] as const;

/** Trial step sizes of the line search: 1, 1/2, ..., 1/2^11 (the dense BCD's). */
export const LADDER = Array.from({ length: 12 }, (_, s) => Math.pow(0.5, s));

/** What a round's step programs returned, summed over its blocks. */
export interface RoundStep {
  /** Squared norm of the (pseudo-)gradient over the round's keys. */
  gsq: number;
  /** Predicted decrease of the quadratic model: G.d + l1 (|w + d|_1 - |w|_1) (< 0 for a descent step). */
  delta: number;
  /** Keys with d != 0. */
  moving: number;
  /** Penalty change at each step size of LADDER. */
  reg: number[];
  /** delta of each block of the round (to share out the decrease among them). */
  blockDelta: number[];
}

export class BlockTables {
  /** Vector programs run so far (each one round trip to every server; a round's run in parallel). */
  programs = 0;

  private constructor(
    readonly blocks: PsTable[],
    readonly bias: PsTable | null,
    private readonly l1: number,
    private readonly l2: number,
  ) {}

  /** Creates (or joins) the tables; collective in the sense that every rank opens the same ones. */
  static async open(ps: PsClient, numBlocks: number, bias: boolean, penalty: { l1: number; l2: number }, commits: boolean): Promise<BlockTables> {
    const options = { updater: { type: 'vector' as const, slots: commits ? COMMITTED[1] + 1 : COMMITTED[0], width: 2 } };
    const blocks: PsTable[] = [];
    for (let b = 0; b < numBlocks; b++) blocks.push(await ps.table(`bcd.block.${b}`, options));
    const b = bias ? await ps.table('bcd.bias', options) : null;
    return new BlockTables(blocks, b, penalty.l1, penalty.l2);
  }

  /** Table of block b; b = blocks.length is the bias. */
  table(b: number): PsTable {
    return b < this.blocks.length ? this.blocks[b]! : this.bias!;
  }

  /**
   * Rank 0 only: the step of every block in `round` (pushes summed in G, H), run where the
   * rows are. First W += pending[b] * D (the block's last accepted step, applied lazily to
   * save a round trip), then D = the soft-thresholded Newton step per key, the sums the line
   * search needs, and G = H = 0 for the next pushes.
   */
  async step(round: readonly number[], pending: Float64Array): Promise<RoundStep> {
    const out: RoundStep = { gsq: 0, delta: 0, moving: 0, reg: LADDER.map(() => 0), blockDelta: [] };
    const results = await Promise.all(round.map((b) => this.table(b).run(this.#stepProgram(b, pending[b]!).bytes())));
    this.programs++;
    round.forEach((b, i) => {
      const r = results[i]!;
      const [gsq, gd, moving] = r;
      let at = 3;
      let delta = gd!;
      const reg = LADDER.map(() => 0);
      if (this.#penalised(b) && this.l2 > 0) {
        const wd = r[at++]!;
        const dd = r[at++]!;
        LADDER.forEach((a, s) => (reg[s]! += this.l2 * (a * wd + 0.5 * a * a * dd)));
      }
      if (this.#penalised(b) && this.l1 > 0) {
        const absW = r[at++]!;
        LADDER.forEach((_, s) => (reg[s]! += this.l1 * (r[at + s]! - absW)));
        delta += this.l1 * (r[at]! - absW); // LADDER[0] = 1: the full step
      }
      out.gsq += gsq!;
      out.delta += delta;
      out.moving += moving!;
      reg.forEach((v, s) => (out.reg[s]! += v));
      out.blockDelta.push(delta);
    });
    for (const b of round) pending[b] = 0;
    return out;
  }

  #penalised(b: number): boolean {
    return b < this.blocks.length;
  }

  #stepProgram(b: number, pending: number): VectorProgram {
    const pen = this.#penalised(b);
    const l1 = pen ? this.l1 : 0;
    const l2 = pen ? this.l2 : 0;
    const p = new VectorProgram();
    if (pending !== 0) p.lincomb(W, 1, W, pending, D);
    if (l2 > 0) p.lincomb(GT, 1, G, l2, W);
    else p.copy(GT, G);
    p.newtonStep(D, GT, H, W, l1, l2);
    p.pseudoGradient(T, W, GT, l1).dot(T, T).dot(GT, D).countNonZero(D);
    if (l2 > 0) p.dot(W, D).dot(D, D);
    if (l1 > 0) {
      p.absSum(W);
      for (const a of LADDER) p.lincomb(T, 1, W, a, D).absSum(T);
    }
    return p.lincomb(G, 0, G).lincomb(H, 0, H);
  }

  /** Every table (the blocks, then the bias's). */
  #all(): number[] {
    return [...this.blocks.keys(), ...(this.bias ? [this.blocks.length] : [])];
  }

  /** Rank 0 only: applies the pending steps and copies W into committed set `set` (0 or 1). */
  async commit(set: number, pending: Float64Array): Promise<void> {
    await Promise.all(
      this.#all().map((b) => {
        const p = new VectorProgram();
        if (pending[b] !== 0) p.lincomb(W, 1, W, pending[b]!, D);
        return this.table(b).run(p.copy(COMMITTED[set]!, W).bytes());
      }),
    );
    this.programs++;
    pending.fill(0);
  }

  /** Rank 0 only: W back to committed set `set`; no step pending, no statistics pushed. Safe to run twice. */
  async restore(set: number): Promise<void> {
    await Promise.all(this.#all().map((b) => this.table(b).run(new VectorProgram().copy(W, COMMITTED[set]!).lincomb(D, 0, D).lincomb(G, 0, G).lincomb(H, 0, H).bytes())));
    this.programs++;
  }

  /** Rank 0 only: rows over every table (0: servers that hold nothing of this model yet). */
  async rows(): Promise<number> {
    const r = await Promise.all(this.#all().map((b) => this.table(b).run(new VectorProgram().countRows().bytes())));
    return r.reduce((sum, x) => sum + x[0]!, 0);
  }

  /** Rank 0 only: applies the pending steps, then returns the penalty sums and sizes of the model. */
  async finish(pending: Float64Array): Promise<{ ww: number; abs: number; nonZero: number; keys: number }> {
    const all = this.#all();
    const results = await Promise.all(
      all.map((b) => {
        const p = new VectorProgram();
        if (pending[b] !== 0) p.lincomb(W, 1, W, pending[b]!, D);
        return this.table(b).run(p.dot(W, W).absSum(W).countNonZero(W).countRows().bytes());
      }),
    );
    this.programs++;
    pending.fill(0);
    const out = { ww: 0, abs: 0, nonZero: 0, keys: 0 };
    results.forEach((r, i) => {
      // The bias is neither penalised nor a feature key.
      if (all[i] === this.blocks.length) return;
      out.ww += r[0]!;
      out.abs += r[1]!;
      out.nonZero += r[2]!;
      out.keys += r[3]!;
    });
    return out;
  }
}
