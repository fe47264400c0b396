// `shoal train lr --solver tron`: L2 logistic regression by trust-region Newton (tron.ts) on the
// distributed objective with Hessian-vector products (lr_newton.ts; per outer iteration one
// fused allReduce for f and g per evaluation, one allReduce of dim doubles per CG step), and
// `--solver newton-l1`: L1 by newGLMNET over feature blocks (glmnet_l1.ts; one allReduce of
// numRows doubles per outer iteration). Both stop by liblinear's -e rule (common/stopping.ts).
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import type { LinearLayout } from '../common/logistic.js';
import { classBalancedTol } from '../common/stopping.js';
import type { IterationInfo } from '../lbfgs_lr/lbfgs.js';
import { glmnetL1 } from './glmnet_l1.js';
import { LrNewtonObjective } from './lr_newton.js';
import { tron, type TronResult, type TronState } from './tron.js';

export { tron, type NewtonFunction, type TronResult, type TronState } from './tron.js';
export { LrNewtonObjective } from './lr_newton.js';

export interface TronLrOptions {
  c: number;
  l2: number;
  /** > 0: the L1 problem (newton-l1; then l2 must be 0). */
  l1?: number;
  eps: number;
  maxIter: number;
  /** newton-l1 at np > 1: the inner solve (glmnet_l1.ts); default 'local'. */
  l1Inner?: 'local' | 'blocked';
  onIteration?: (info: IterationInfo & { products: number; delta: number }) => void;
  onCommit?: (state: TronState) => void;
  resume?: TronState | null;
}

/** Collective: every rank calls it with its own rows; returns the same result everywhere. */
export async function tronLr(comm: Collective, data: CsrData, layout: LinearLayout, options: TronLrOptions): Promise<TronResult> {
  const gradTol = await classBalancedTol(comm, data, options.eps);
  const l1 = options.l1 ?? 0;
  if (l1 > 0) {
    const { c, maxIter, onIteration, onCommit, resume } = options;
    return glmnetL1(comm, data, layout, { c, l1, maxIter, gradTol, inner: options.l1Inner ?? 'local', ...(onIteration ? { onIteration } : {}), ...(onCommit ? { onCommit } : {}), resume: resume ?? null });
  }
  const fn = new LrNewtonObjective(comm, data, layout, options.c, options.l2);
  const solverOptions = {
    maxIter: options.maxIter,
    gradTol,
    ...(options.onIteration ? { onIteration: options.onIteration } : {}),
    ...(options.onCommit ? { onCommit: options.onCommit } : {}),
    resume: options.resume ?? null,
  };
  return tron(fn, new Float64Array(layout.dim), solverOptions);
}
