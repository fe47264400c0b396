// The dependency check's correlations for Lasso. Columns never change, so the correlation of
// two coordinates is summed over the ranks once and kept: the scheduler keeps drawing the same
// active coordinates, and after a few passes most rounds need no dot product and no message.
// Every rank holds the same cache (same candidates, same order), so all ranks agree on whether
// a round's check needs an allReduce.
import type { Collective } from '../common/collective.js';
import type { LassoState } from './lasso_state.js';

export class CorrelationCache {
  readonly #known = new Map<number, number>();
  readonly #state: LassoState;
  readonly #comm: Collective;
  readonly #maxEntries: number;
  /** Pairs computed (and allReduced) so far. */
  computed = 0;

  /** @param maxEntries the cache starts afresh (on every rank alike) past this many pairs */
  constructor(state: LassoState, comm: Collective, maxEntries = 1 << 21) {
    this.#state = state;
    this.#comm = comm;
    this.#maxEntries = maxEntries;
  }

  /**
   * The candidates' |correlation| matrix (k x k). The allReduce of the pairs not seen before is
   * submitted before this returns, so it keeps its place among the rank's collectives.
   */
  matrix(candidates: Uint32Array): Promise<Float64Array> {
    const k = candidates.length;
    const d = this.#state.numFeatures;
    const out = new Float64Array(k * k);
    const missing: Array<[number, number]> = [];
    const keyOf = (a: number, b: number): number => Math.min(candidates[a]!, candidates[b]!) * d + Math.max(candidates[a]!, candidates[b]!);
    for (let a = 0; a < k; a++) {
      for (let b = a + 1; b < k; b++) {
        const c = this.#known.get(keyOf(a, b));
        if (c === undefined) missing.push([a, b]);
        else out[a * k + b] = out[b * k + a] = c;
      }
    }
    if (missing.length === 0) return Promise.resolve(out);
    if (this.#known.size + missing.length > this.#maxEntries) this.#known.clear();
    this.computed += missing.length;
    const dots = this.#state.localDots(candidates, missing);
    return this.#comm.allReduce(dots, { op: 'sum' }).then((sums) => {
      missing.forEach(([a, b], i) => {
        const c = this.#state.correlation(candidates[a]!, candidates[b]!, sums[i]!);
        this.#known.set(keyOf(a, b), c);
        out[a * k + b] = out[b * k + a] = c;
      });
      return out;
    });
  }
}
