// Evaluation metrics for binary classifiers, local and distributed: AUC, log-loss, accuracy,
// and the regularised logistic objective.
//
// Distributed AUC is exact, not binned: AUC needs a global sort of the scores, so the scores
// and labels are gathered on rank 0. Counts are exchanged with allGather, every rank writes
// its (score, label) pairs at its offset of a zero-filled buffer of 2*total doubles, and a
// reduceTo(sum) onto rank 0 concatenates them (x + 0 is exact). Rank 0 sorts and ranks (ties
// share the average rank) and broadcasts the value. Cost: 2*total doubles of memory on every
// rank and O(total) bytes on the wire per rank; for test sets beyond a few tens of millions of
// rows a histogram AUC would be the next step (approximate, O(bins)). Log-loss and accuracy are
// sums reduced with one allReduce.
import type { Collective } from './collective.js';
import type { CsrData } from './dataset.js';
import { logLoss } from './log_loss.js';
import { computeMargins, penaltyValue, softplus, type LinearLayout, type Penalty } from './logistic.js';

/** AUC of `scores` against labels (> 0 is positive); ties get the average rank. NaN if a class is missing. */
export function aucLocal(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a]! - scores[b]!);
  let rankSumPos = 0;
  let pos = 0;
  let i = 0;
  while (i < n) {
    let j = i + 1;
    const s = scores[order[i]!]!;
    while (j < n && scores[order[j]!]! === s) j++;
    // Rows i..j-1 tie: each gets the average of ranks i+1..j.
    const avg = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if (labels[order[k]!]! > 0) {
        rankSumPos += avg;
        pos++;
      }
    }
    i = j;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Exact AUC over every rank's rows (see the file comment); the same value on every rank. */
export async function auc(comm: Collective, scores: Float64Array, labels: ArrayLike<number>): Promise<number> {
  if (comm.size === 1) return aucLocal(scores, labels);
  const counts = new Int32Array(comm.size);
  await comm.allGather(new Int32Array([scores.length]), counts);
  let total = 0;
  let offset = 0;
  for (let r = 0; r < comm.size; r++) {
    if (r === comm.rank) offset = total;
    total += counts[r]!;
  }
  const both = new Float64Array(2 * total);
  for (let i = 0; i < scores.length; i++) {
    both[offset + i] = scores[i]!;
    both[total + offset + i] = labels[i]! > 0 ? 1 : 0;
  }
  await comm.reduceTo(both, 0, { op: 'sum' });
  const out = new Float64Array(1);
  if (comm.rank === 0) out[0] = aucLocal(both.subarray(0, total), both.subarray(total));
  await comm.bcast(out, 0);
  return out[0]!;
}

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
