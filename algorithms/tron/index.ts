// `shoal train lr --solver tron`: L2 logistic regression by trust-region Newton (tron.ts) on
// the distributed objective with Hessian-vector products (lr_newton.ts), stopped by
// liblinear's -e rule (common/stopping.ts). Per outer iteration: one fused allReduce for f and
// g (dim + 1 doubles) and one allReduce of dim doubles per CG step.
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import type { LinearLayout } from '../common/logistic.js';
import { classBalancedTol } from '../common/stopping.js';
import type { IterationInfo } from '../lbfgs_lr/lbfgs.js';
import { LrNewtonObjective } from './lr_newton.js';
import { tron, type TronResult, type TronState } from './tron.js';

export { tron, type NewtonFunction, type TronResult, type TronState } from './tron.js';
export { LrNewtonObjective } from './lr_newton.js';

export interface TronLrOptions {
  c: number;
  l2: number;
  eps: number;
  maxIter: number;
  onIteration?: (info: IterationInfo & { products: number; delta: number }) => void;
  onCommit?: (state: TronState) => void;
  resume?: TronState | null;
}

/** Collective: every rank calls it with its own rows; returns the same result everywhere. */
export async function tronLr(comm: Collective, data: CsrData, layout: LinearLayout, options: TronLrOptions): Promise<TronResult> {
  const gradTol = await classBalancedTol(comm, data, options.eps);
  const fn = new LrNewtonObjective(comm, data, layout, options.c, options.l2);
  return tron(fn, new Float64Array(layout.dim), {
    maxIter: options.maxIter,
    gradTol,
    ...(options.onIteration ? { onIteration: options.onIteration } : {}),
    ...(options.onCommit ? { onCommit: options.onCommit } : {}),
    resume: options.resume ?? null,
  });
}
