// The L2 logistic-regression objective with Hessian-vector products, for TRON over every
// rank's rows:
//   F(w) = 0.5*l2*||w||^2 + C sum_i v_i log(1 + exp(-y_i w.x_i)),  H = l2*I + X' D X,
//   D_i = C v_i sigma(y_i w.x_i) (1 - sigma(y_i w.x_i)).
// evaluate() is the L-BFGS trainer's fused pass and allReduce (LrObjective) with D of the
// rank's own rows written on the side; D stays local (each rank only multiplies its own rows).
// A product is one native pass over the rank's rows (native/linear/hessian_vector.h) and ONE
// allReduce of dim doubles, then + l2*v on the feature slots (the bias is not penalised).
// Two D buffers: a rejected trial point must not overwrite the D of the accepted one.
import { native } from '../../lib/native.js';
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { lossGradWorkSize, type LinearLayout } from '../common/logistic.js';
import { LrObjective } from '../lbfgs_lr/index.js';
import type { NewtonFunction } from './tron.js';

export class LrNewtonObjective implements NewtonFunction {
  readonly dim: number;
  readonly #objective: LrObjective;
  #accepted: Float64Array;
  #trial: Float64Array;
  readonly #work: Float64Array;

  constructor(
    private readonly comm: Collective,
    private readonly data: CsrData,
    readonly layout: LinearLayout,
    c: number,
    private readonly l2: number,
  ) {
    this.#objective = new LrObjective(comm, data, layout, c, l2);
    this.dim = layout.dim;
    this.#accepted = new Float64Array(data.numRows);
    this.#trial = new Float64Array(data.numRows);
    this.#work = new Float64Array(lossGradWorkSize(layout, this.#objective.threads));
  }

  /** Fused allReduces so far: evaluations plus products. */
  get allReduces(): number {
    return this.#objective.evaluations + this.products;
  }

  products = 0;

  evaluate(w: Float64Array, grad: Float64Array): Promise<number> {
    this.#objective.curvature = this.#trial;
    return this.#objective.evaluate(w, grad);
  }

  acceptLast(): void {
    [this.#accepted, this.#trial] = [this.#trial, this.#accepted];
  }

  async hessianVector(v: Float64Array, out: Float64Array): Promise<void> {
    const { data, layout } = this;
    native.linear.hessianVector(this.#rowPtr(), data.featureIds, data.values, this.#accepted, v, layout.numFeatures, layout.bias, out, this.#objective.threads, this.#work);
    await this.comm.allReduce(out, { op: 'sum' });
    this.products++;
    const l2 = this.l2;
    for (let j = 0; j < layout.numFeatures; j++) out[j]! += l2 * v[j]!;
  }

  /** The diagonal of H: one scatter pass and one allReduce of dim doubles. */
  async hessianDiagonal(out: Float64Array): Promise<void> {
    const { data, layout } = this;
    native.linear.hessianDiagonal(this.#rowPtr(), data.featureIds, data.values, this.#accepted, layout.numFeatures, layout.bias, out, this.#objective.threads, this.#work);
    await this.comm.allReduce(out, { op: 'sum' });
    for (let j = 0; j < layout.numFeatures; j++) out[j]! += this.l2;
  }

  #rowPtr(): Uint32Array {
    const n = this.data.numRows;
    return this.data.rowPtr.length === n + 1 ? this.data.rowPtr : this.data.rowPtr.subarray(0, n + 1);
  }
}
