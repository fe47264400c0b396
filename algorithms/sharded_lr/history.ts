// The L-BFGS history of the sharded solver: which slots hold the pairs (s_i, y_i), oldest
// first, and their rho_i = 1/(s_i.y_i) and y_i.y_i. The vectors stay on the servers; this is
// bookkeeping on the driver. A new pair is computed into the scratch slots (SS, SY) and, when
// accepted, swapped in for the oldest pair's slots, so a rejected pair overwrites nothing.
import { pairSlots, SS, SY } from './slots.js';

export interface SlotPair {
  s: number;
  y: number;
  rho: number;
  yy: number;
}

/** The history's bookkeeping as plain data (the driver's checkpoint). */
export interface HistoryState {
  pairs: SlotPair[];
  free: Array<{ s: number; y: number }>;
  scratch: { s: number; y: number };
}

export class ShardedHistory {
  readonly pairs: SlotPair[] = [];
  #free: Array<{ s: number; y: number }> = [];
  #scratch = { s: SS, y: SY };

  /** An empty history, or the one `state` describes. */
  constructor(
    readonly m: number,
    state: HistoryState | null = null,
  ) {
    if (state) {
      this.pairs.push(...state.pairs.map((p) => ({ ...p })));
      this.#free = state.free.map((f) => ({ ...f }));
      this.#scratch = { ...state.scratch };
    } else {
      for (let i = 0; i < m; i++) this.#free.push(pairSlots(i));
    }
  }

  /** A copy of the bookkeeping (which slots hold which pair, their scalars). */
  state(): HistoryState {
    return { pairs: this.pairs.map((p) => ({ ...p })), free: this.#free.map((f) => ({ ...f })), scratch: { ...this.#scratch } };
  }

  get count(): number {
    return this.pairs.length;
  }

  /** Where the next candidate pair goes. */
  get scratch(): { s: number; y: number } {
    return this.#scratch;
  }

  clear(): void {
    for (const p of this.pairs) this.#free.push({ s: p.s, y: p.y });
    this.pairs.length = 0;
  }

  /** The candidate in `scratch` joins when s.y > 1e-10 y.y (as LbfgsHistory.push); returns whether it did. */
  push(sy: number, yy: number): boolean {
    if (!(sy > 1e-10 * yy) || yy === 0) return false;
    const freed = this.pairs.length === this.m ? this.pairs.shift()! : this.#free.pop()!;
    this.pairs.push({ ...this.#scratch, rho: 1 / sy, yy });
    this.#scratch = { s: freed.s, y: freed.y };
    return true;
  }
}
