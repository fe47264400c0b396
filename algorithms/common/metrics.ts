// Evaluation metrics for binary classifiers, local and distributed: AUC (auc.ts, exact, ties
// averaged; re-exported here), log-loss, accuracy, and the regularised logistic objective.
// Log-loss and accuracy are sums reduced with one allReduce.
import type { Collective } from './collective.js';
import type { CsrData } from './dataset.js';
import { auc } from './auc.js';
import { logLoss } from './log_loss.js';
import { computeMargins, penaltyValue, softplus, type LinearLayout, type Penalty } from './logistic.js';

export { auc, aucLocal } from './auc.js';

export interface BinaryMetrics {
  auc: number;
  /** Mean of -[y log p + (1-y) log(1-p)] (p clipped to [1e-15, 1-1e-15]). */
  logloss: number;
  /** Fraction of rows with (p > 0.5) === (label > 0). */
  accuracy: number;
  /** Rows over all ranks. */
  count: number;
}

/** This rank's [log-loss sum, correct count, rows] (probabilities clipped to [1e-15, 1 - 1e-15]), to be summed over ranks. */
export function lossAccuracySums(probs: Float64Array, labels: ArrayLike<number>): Float64Array {
  let ll = 0;
  let correct = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = Math.min(Math.max(probs[i]!, 1e-15), 1 - 1e-15);
    const y = labels[i]!;
    ll += logLoss(p, y);
    if (p > 0.5 === y > 0) correct++;
  }
  return new Float64Array([ll, correct, probs.length]);
}

/** AUC, log-loss and accuracy of probabilities `probs` over every rank's rows. */
export async function binaryMetrics(comm: Collective, probs: Float64Array, labels: ArrayLike<number>): Promise<BinaryMetrics> {
  const sums = lossAccuracySums(probs, labels);
  await comm.allReduce(sums, { op: 'sum' });
  const a = await auc(comm, probs, labels);
  const count = sums[2]!;
  return { auc: a, logloss: count > 0 ? sums[0]! / count : Number.NaN, accuracy: count > 0 ? sums[1]! / count : Number.NaN, count };
}

/** The regularised objective F(w) (logistic.ts) over every rank's rows: the same value on every rank. */
export async function objective(
  comm: Collective,
  data: CsrData,
  w: Float64Array,
  layout: LinearLayout,
  c: number,
  penalty: Penalty,
): Promise<number> {
  const margins = computeMargins(data, w, layout, new Float64Array(data.numRows));
  let loss = 0;
  for (let i = 0; i < data.numRows; i++) {
    const y = data.labels[i]! > 0 ? 1 : -1;
    loss += (data.weights ? c * data.weights[i]! : c) * softplus(-y * margins[i]!);
  }
  const buf = new Float64Array([loss]);
  await comm.allReduce(buf, { op: 'sum' });
  return buf[0]! + penaltyValue(w, layout, penalty);
}
