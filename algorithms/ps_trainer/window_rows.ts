// --ps-cache S for a trainer whose local slots index its model rows (FM; FTRL keeps its own
// z/n the same way): Petuum's SSP client cache without a separate store. A window of S + 1
// minibatches pulls the rows of all its keys once, at its first minibatch, into a slot-indexed
// array the trainer reads in place; the gradients of the window are summed into a slot-indexed
// array as they are computed, and leave as one push of the window's keys at its last minibatch.
// So a window costs one pull and one push request instead of S + 1 of each, sends each key
// once, and the trainer copies no rows per minibatch.
//
// Staleness: a read is at most S clocks older than its fetch, and this worker's updates reach
// the servers at most S clocks after they were made (the tables' SSP bound applies on top).
import { keysOf, type KvTable, type Slots } from './kv.js';
import type { PsTraffic } from './step_pipeline.js';

export class WindowRows {
  /** Rows as fetched, by slot (dim floats each). */
  readonly rows: Float32Array;
  /** Pushes summed since the last flush, by slot (pushFloats each). */
  readonly sums: Float32Array;
  readonly #table: KvTable;
  readonly #slots: Slots;

  constructor(table: KvTable, slots: Slots) {
    this.#table = table;
    this.#slots = slots;
    this.rows = new Float32Array(slots.numSlots * table.dim);
    this.sums = new Float32Array(slots.numSlots * table.pushFloats);
  }

  /** Pulls the rows of `list` (distinct slots) in one request into `rows`. */
  async fetch(list: Uint32Array, traffic: PsTraffic): Promise<void> {
    if (list.length === 0) return;
    traffic.pullRequests++;
    traffic.keysPulled += list.length;
    const got = await this.#table.pull(keysOf(this.#slots, list));
    const dim = this.#table.dim;
    const rows = this.rows;
    for (let j = 0; j < list.length; j++) {
      const to = list[j]! * dim;
      const from = j * dim;
      for (let c = 0; c < dim; c++) rows[to + c] = got[from + c]!;
    }
  }

  /**
   * Sends the sums of `list` (the window's distinct slots: every slot its minibatches touched)
   * as one push and zeroes them. The request is issued synchronously (wire order).
   */
  flush(list: Uint32Array, traffic: PsTraffic): Promise<void> | null {
    if (list.length === 0) return null;
    const w = this.#table.pushFloats;
    const values = new Float32Array(list.length * w);
    const sums = this.sums;
    for (let j = 0; j < list.length; j++) {
      const from = list[j]! * w;
      for (let c = 0; c < w; c++) {
        values[j * w + c] = sums[from + c]!;
        sums[from + c] = 0;
      }
    }
    traffic.pushRequests++;
    traffic.keysPushed += list.length;
    return this.#table.push(keysOf(this.#slots, list), values);
  }
}
