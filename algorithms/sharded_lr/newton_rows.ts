// One rank's part of the sharded TRON (tron_vectors.ts drives it): the objective's evaluation
// (ShardedEvaluator, with each row's curvature D_i = C v_i sigma (1 - sigma) written on the
// side), and per CG step the rank's rows' share of H d = X' D X d (+ l2 d, added on the
// servers). D stays here: it is computed once per evaluation and used by every product of
// the Newton step, as in the dense trainer (algorithms/tron/lr_newton.ts); two buffers, so a
// rejected trial point does not overwrite the accepted point's D.
//
// A product pulls z (slot 0, the servers' preconditioned residual) for this rank's keys, forms
// d = z + beta d with the driver's beta exactly as the servers' next program will (same
// operations, same bits; this rank keeps the previous d of its own keys), runs the native pass,
// pushes its part of H d into slot 1 and joins one allReduce of its d'(X_r' D X_r d) (= the sum
// over its rows of D_i (x_i.d)^2), which is the data term of d'Hd.
import { native } from '../../lib/native.js';
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { lossGradWorkSize } from '../common/logistic.js';
import { dot } from '../lbfgs_lr/two_loop.js';
import type { ShardedEvaluator } from './evaluator.js';

export class ShardedNewtonRows {
  #accepted: Float64Array;
  #trial: Float64Array;
  readonly #z: Float64Array;
  readonly #d: Float64Array;
  readonly #hd: Float64Array;
  readonly #work: Float64Array;
  readonly #sum = new Float64Array(1);
  readonly #rowPtr: Uint32Array;
  /** Seconds in this rank's native passes (loss and gradient, products, diagonal): its compute. */
  computeSeconds = 0;

  constructor(
    private readonly comm: Collective,
    private readonly data: CsrData,
    private readonly evaluator: ShardedEvaluator,
  ) {
    const n = data.numRows;
    const dim = evaluator.layout.dim;
    this.#accepted = new Float64Array(n);
    this.#trial = new Float64Array(n);
    this.#z = new Float64Array(dim);
    this.#d = new Float64Array(dim);
    this.#hd = new Float64Array(dim);
    this.#work = new Float64Array(lossGradWorkSize(evaluator.layout, evaluator.threads));
    this.#rowPtr = data.rowPtr.length === n + 1 ? data.rowPtr : data.rowPtr.subarray(0, n + 1);
  }

  /** One evaluation at slot 0 (collective); D of the rows goes to the trial buffer. */
  evaluate(): Promise<number> {
    this.evaluator.curvature = this.#trial;
    return this.evaluator.evaluate((seconds) => (this.computeSeconds += seconds));
  }

  /** The last evaluated point is now the accepted one (its D is used by products). */
  accept(): void {
    [this.#accepted, this.#trial] = [this.#trial, this.#accepted];
  }

  /** d = z + beta d, this rank's part of H d into slot 1 (collective); returns d'(X' D X)d over every rank's rows. */
  async product(beta: number): Promise<number> {
    const z = this.#z;
    const d = this.#d;
    await this.evaluator.pullInto(z);
    for (let j = 0; j < d.length; j++) d[j] = z[j]! + beta * d[j]!;
    const { layout } = this.evaluator;
    const { featureIds, values } = this.data;
    const t0 = performance.now();
    native.linear.hessianVector(this.#rowPtr, featureIds, values, this.#accepted, d, layout.numFeatures, layout.bias, this.#hd, this.evaluator.threads, this.#work);
    this.computeSeconds += (performance.now() - t0) / 1000;
    await this.evaluator.push(this.#hd);
    this.#sum[0] = dot(d, this.#hd);
    await this.comm.allReduce(this.#sum, { op: 'sum' });
    return this.#sum[0]!;
  }

  /** This rank's part of diag(X' D X) into slot 1 (collective; the allReduce says every push landed). */
  async diagonal(): Promise<void> {
    const { layout } = this.evaluator;
    const { featureIds, values } = this.data;
    const t0 = performance.now();
    native.linear.hessianDiagonal(this.#rowPtr, featureIds, values, this.#accepted, layout.numFeatures, layout.bias, this.#hd, this.evaluator.threads, this.#work);
    this.computeSeconds += (performance.now() - t0) / 1000;
    await this.evaluator.push(this.#hd);
    this.#sum[0] = 0;
    await this.comm.allReduce(this.#sum, { op: 'sum' });
  }
}
