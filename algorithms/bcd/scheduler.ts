// Which feature blocks BCD updates in a pass, and in what order (Petuum's scheduler idea:
// spend the work on the parameters that are still moving).
//
// Each block's priority is the objective decrease its last update achieved. A pass visits the
// blocks in decreasing priority and skips "converged" blocks, those whose last decrease was
// under `skipBelow` (a small fraction of the objective). Skipped blocks are not forgotten:
// every `fullEvery`-th pass, and any pass that follows a pass with nothing left to do, visits
// all blocks, so convergence is only ever declared on a full pass. The schedule is a pure
// function of values every rank shares (allReduced decreases, the seed), so all ranks agree.
import { Rng } from '../../lib/rng.js';

export interface BlockSchedulerOptions {
  /** Visit every block at least every fullEvery passes (default 4). */
  fullEvery?: number;
  seed?: number;
}

export interface SchedulerSnapshot {
  priority: Float64Array;
  sinceFull: number;
  forceFull: boolean;
}

export class BlockScheduler {
  readonly numBlocks: number;
  readonly #priority: Float64Array;
  readonly #fullEvery: number;
  /** Tie-break order, shuffled by the seed. */
  readonly #tiebreak: Uint32Array;
  #sinceFull = 0;
  #forceFull = true;

  constructor(numBlocks: number, options: BlockSchedulerOptions = {}) {
    this.numBlocks = numBlocks;
    this.#priority = new Float64Array(numBlocks).fill(Number.POSITIVE_INFINITY);
    this.#fullEvery = options.fullEvery ?? 4;
    const rng = new Rng(options.seed ?? 1);
    this.#tiebreak = new Uint32Array(numBlocks);
    for (let i = 0; i < numBlocks; i++) this.#tiebreak[i] = i;
    for (let i = numBlocks - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = this.#tiebreak[i]!;
      this.#tiebreak[i] = this.#tiebreak[j]!;
      this.#tiebreak[j] = t;
    }
  }

  /**
   * The blocks to visit this pass, highest priority first, and whether the pass is full.
   * @param skipBelow a block whose last decrease is below this is skipped on partial passes
   */
  plan(skipBelow: number): { blocks: number[]; full: boolean } {
    const all = Array.from(this.#tiebreak);
    let full = this.#forceFull || this.#sinceFull + 1 >= this.#fullEvery;
    let blocks = full ? all : all.filter((b) => this.#priority[b]! >= skipBelow);
    if (blocks.length === 0) {
      blocks = all;
      full = true;
    }
    blocks.sort((a, b) => this.#priority[b]! - this.#priority[a]!);
    this.#sinceFull = full ? 0 : this.#sinceFull + 1;
    this.#forceFull = false;
    return { blocks, full };
  }

  /** Records the objective decrease (>= 0) of the block's latest update. */
  report(block: number, decrease: number): void {
    this.#priority[block] = decrease;
  }

  /** What a checkpoint needs to continue the same schedule (the tie-break order comes from the seed). */
  snapshot(): SchedulerSnapshot {
    return { priority: Float64Array.from(this.#priority), sinceFull: this.#sinceFull, forceFull: this.#forceFull };
  }

  restore(s: SchedulerSnapshot): void {
    if (s.priority.length !== this.numBlocks) throw new RangeError(`BCD schedule snapshot has ${s.priority.length} blocks, this run has ${this.numBlocks}`);
    this.#priority.set(s.priority);
    this.#sinceFull = s.sinceFull;
    this.#forceFull = s.forceFull;
  }

  /** The next pass visits every block (used after a partial pass found nothing to do). */
  requestFullPass(): void {
    this.#forceFull = true;
  }
}
