// One rank's part of every objective evaluation of the sharded solver: pull the current point
// (slot 0) for the keys in its rows only, run the native loss-and-gradient pass over its rows
// in a local compact index space, push the sparse gradient (summed in float64 into slot 1 on
// the servers), and sum the losses with one scalar allReduce. The allReduce also tells the
// driver that every rank's push was acknowledged.
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { linearLayout, localLossGrad, lossGradWorkSize, predictProbabilities, type LinearLayout } from '../common/logistic.js';
import { lossGradThreads } from '../lbfgs_lr/index.js';
import { BIAS_KEY, type ShardedVectors } from './sharded_vectors.js';

export class ShardedEvaluator {
  /** This rank's weights at the evaluated point, by local index (then the bias). */
  readonly w: Float64Array;
  readonly layout: LinearLayout;
  readonly #grad: Float64Array;
  readonly #work: Float64Array;
  readonly #threads: number;
  readonly #loss = new Float64Array(1);
  /** When set (numRows doubles), each evaluation also writes the rows' loss curvature D here (sharded TRON). */
  curvature: Float64Array | null = null;
  /** Threads of the native passes (lossGradThreads). */
  get threads(): number {
    return this.#threads;
  }

  /**
   * @param data rows whose feature ids are local indices 0..keys.length-1 (readLibsvm keyIds)
   * @param keys the key of each local index
   */
  constructor(
    private readonly comm: Collective,
    private readonly data: CsrData,
    private readonly keys: BigUint64Array,
    private readonly vectors: ShardedVectors,
    private readonly c: number,
  ) {
    this.layout = linearLayout(keys.length, vectors.bias !== null);
    this.w = new Float64Array(this.layout.dim);
    this.#grad = new Float64Array(this.layout.dim);
    this.#threads = lossGradThreads(comm.size, data);
    this.#work = new Float64Array(lossGradWorkSize(this.layout, this.#threads));
  }

  /**
   * Probabilities for `rows` (feature ids local to `rowKeys`) at the point in `w`, which the
   * caller pulled: this evaluator's own rows as they are, other rows through a pull of their keys.
   */
  async predict(rows: CsrData, rowKeys: BigUint64Array): Promise<Float64Array> {
    if (rowKeys === this.keys) return predictProbabilities(rows, this.w, this.layout);
    const other = new ShardedEvaluator(this.comm, rows, rowKeys, this.vectors, this.c);
    await other.pullPoint();
    return predictProbabilities(rows, other.w, other.layout);
  }

  /** Pulls slot 0 of this rank's keys (and the bias) into `w`. */
  pullPoint(): Promise<void> {
    return this.pullInto(this.w);
  }

  /** Pulls slot 0 of this rank's keys (and the bias) into `out` (layout.dim doubles). */
  async pullInto(out: Float64Array): Promise<void> {
    const k = this.keys.length;
    // A vector table answers one float64 per key, as 2 floats: land it straight in out.
    await this.vectors.w.pull(this.keys, new Float32Array(out.buffer, out.byteOffset, 2 * k));
    if (this.vectors.bias) await this.vectors.bias.pull(BIAS_KEY, new Float32Array(out.buffer, out.byteOffset + 8 * k, 2));
  }

  /** Pushes `v` (layout.dim doubles, by local index, then the bias) into slot 1, where the servers sum it. */
  async push(v: Float64Array): Promise<void> {
    const k = this.keys.length;
    await this.vectors.w.push(this.keys, new Float32Array(v.buffer, v.byteOffset, 2 * k));
    if (this.vectors.bias) await this.vectors.bias.push(BIAS_KEY, new Float32Array(v.buffer, v.byteOffset + 8 * k, 2));
  }

  /** One evaluation, collective: returns C * (sum of every rank's losses); the gradient is on the servers. `onCompute` gets the native pass's seconds. */
  async evaluate(onCompute?: (seconds: number) => void): Promise<number> {
    await this.pullPoint();
    const t0 = performance.now();
    this.#loss[0] = localLossGrad(this.data, this.w, this.layout, this.c, this.#grad, this.#threads, this.#work, this.curvature);
    onCompute?.((performance.now() - t0) / 1000);
    await this.push(this.#grad);
    await this.comm.allReduce(this.#loss, { op: 'sum' });
    return this.#loss[0]!;
  }
}
