// Pointwise objectives of MART: per-row gradient and hessian of the loss at the current
// margins (weights applied), and the training loss reported per round. Ranking lives in
// algorithms/lambdamart.
import { gbdtNative } from './native.js';
import { sigmoid } from '../../lib/sigmoid.js';

export interface RowObjective {
  /** grad[i], hess[i] for every local row, weights applied. */
  gradients(margins: Float64Array, grad: Float64Array, hess: Float64Array): void;
  /** Sum of the weighted loss and the sum of weights over the local rows. */
  loss(margins: Float64Array): [number, number];
  /** Name of the loss column in progress lines. */
  lossName: string;
}

/**
 * Binary logistic on labels > 0 (positive) vs <= 0; hessians floored at 1e-16. Both passes run
 * natively (gbdt.logisticGradients / logisticLoss: C's exp and log1p, so values may differ in
 * the last bit from a JS loop, identically on every rank); logisticReference is the JS form.
 */
export function logisticObjective(labels: Float32Array, weights: Float32Array | null): RowObjective {
  const out = new Float64Array(2);
  return {
    lossName: 'logloss',
    gradients(m, grad, hess) {
      gbdtNative.logisticGradients(m, labels, weights, grad, hess);
    },
    loss(m) {
      gbdtNative.logisticLoss(m, labels, weights, out);
      return [out[0]!, out[1]!];
    },
  };
}

/** The JS form of logisticObjective (the reference of its native kernels in the tests). */
export function logisticReference(labels: Float32Array, weights: Float32Array | null): RowObjective {
  return {
    lossName: 'logloss',
    gradients(m, grad, hess) {
      for (let i = 0; i < m.length; i++) {
        const p = sigmoid(m[i]!);
        const w = weights ? weights[i]! : 1;
        grad[i] = (p - (labels[i]! > 0 ? 1 : 0)) * w;
        hess[i] = Math.max(p * (1 - p), 1e-16) * w;
      }
    },
    loss(m) {
      let s = 0;
      let sw = 0;
      for (let i = 0; i < m.length; i++) {
        const w = weights ? weights[i]! : 1;
        const z = m[i]!;
        // log(1 + exp(-y z)) computed stably.
        const yz = labels[i]! > 0 ? z : -z;
        s += w * (yz > 0 ? Math.log1p(Math.exp(-yz)) : -yz + Math.log1p(Math.exp(yz)));
        sw += w;
      }
      return [s, sw];
    },
  };
}

/** Squared error 0.5 * (m - y)^2. The reported loss is the weighted mean squared error. */
export function squaredErrorObjective(labels: Float32Array, weights: Float32Array | null): RowObjective {
  return {
    lossName: 'mse',
    gradients(m, grad, hess) {
      for (let i = 0; i < m.length; i++) {
        const w = weights ? weights[i]! : 1;
        grad[i] = (m[i]! - labels[i]!) * w;
        hess[i] = w;
      }
    },
    loss(m) {
      let s = 0;
      let sw = 0;
      for (let i = 0; i < m.length; i++) {
        const w = weights ? weights[i]! : 1;
        s += w * (m[i]! - labels[i]!) ** 2;
        sw += w;
      }
      return [s, sw];
    },
  };
}
