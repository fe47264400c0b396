// MART's default per-round test metrics for binary:logistic: the values of
// common/metrics.ts binaryMetrics (auc, logloss), bit for bit, at a fraction of its cost.
//
// binaryMetrics ranks the scores with a comparator sort of an index array (about 70 ms for
// 200k rows, every round). Here the positive and the negative scores are sorted separately
// (gbdt.sortFloat64, a radix sort; the typed-array sort if there is NaN) and merged: equal scores form one tie
// group whose rows share the average rank, as in aucLocal. The rank sum of the positives is a
// sum of half-integers, exact below 2^52, so adding one group at a time (avg * count) gives
// the same double as aucLocal's per-row additions; the final formula is aucLocal's. Log-loss
// is binaryMetrics' loop unchanged. Across ranks, every rank sorts its own positives and
// negatives; the sorted runs go to rank 0 as in metrics.ts auc() (allGather of counts, reduceTo
// of a zero-filled buffer, total doubles instead of 2 * total), rank 0 merges the runs and
// computes, and a bcast gives every rank the same value.
import type { Collective } from '../common/collective.js';
import { gbdtNative } from './native.js';
import { lossAccuracySums } from '../common/metrics.js';

/** The positive and the negative scores, each sorted ascending (typed-array sort). */
function splitSorted(scores: ArrayLike<number>, labels: ArrayLike<number>): [Float64Array, Float64Array] {
  const n = scores.length;
  let pos = 0;
  for (let i = 0; i < n; i++) if (labels[i]! > 0) pos++;
  const ps = new Float64Array(pos);
  const ns = new Float64Array(n - pos);
  let a = 0;
  let b = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i]! > 0) ps[a++] = scores[i]!;
    else ns[b++] = scores[i]!;
  }
  const scratch = new Float64Array(Math.max(pos, n - pos));
  sortScores(ps, scratch);
  sortScores(ns, scratch);
  return [ps, ns];
}

/** Ascending: the native radix sort, or the typed-array sort when NaN is present (it throws then). */
function sortScores(v: Float64Array, scratch: Float64Array): void {
  try {
    gbdtNative.sortFloat64(v, scratch);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    v.sort(); // NaN scores: the typed-array sort puts them last
  }
}

/** aucLocal(scores, labels) of common/metrics.ts (ties share the average rank; NaN if a class is missing). */
export function aucBySort(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const [ps, ns] = splitSorted(scores, labels);
  return aucOfSorted(ps, ns);
}

/** AUC from the sorted positive scores `ps` and sorted negative scores `ns` (see the file comment). */
export function aucOfSorted(ps: Float64Array, ns: Float64Array): number {
  const pos = ps.length;
  const neg = ns.length;
  if (pos === 0 || neg === 0) return Number.NaN;
  let rankSumPos = 0;
  let placed = 0;
  let i = 0;
  let j = 0;
  while (i < pos || j < neg) {
    // The smallest remaining score (NaN, sorted last, only when nothing else remains); -0 and
    // +0 are one tie group (=== as in aucLocal).
    const pv = i < pos ? ps[i]! : Number.NaN;
    const nv = j < neg ? ns[j]! : Number.NaN;
    const s = nv < pv || Number.isNaN(pv) ? nv : pv;
    let cp = 0;
    while (i < pos && ps[i] === s) {
      i++;
      cp++;
    }
    let cn = 0;
    while (j < neg && ns[j] === s) {
      j++;
      cn++;
    }
    if (cp + cn === 0) {
      // NaN scores (never equal to themselves): aucLocal's comparator order is unspecified
      // for them; count each as its own group.
      if (i < pos) {
        cp = 1;
        i++;
      } else {
        cn = 1;
        j++;
      }
    }
    rankSumPos += ((2 * placed + 1 + cp + cn) / 2) * cp;
    placed += cp + cn;
  }
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** binaryMetrics(comm, probs, labels).auc and .logloss (common/metrics.ts), the same values on every rank. */
export async function aucLogloss(comm: Collective, probs: Float64Array, labels: ArrayLike<number>): Promise<{ auc: number; logloss: number }> {
  const sums = lossAccuracySums(probs, labels);
  await comm.allReduce(sums, { op: 'sum' });
  let auc: number;
  if (comm.size === 1) auc = aucBySort(probs, labels);
  else {
    // Every rank sorts its own positives and negatives; rank 0 merges the sorted runs.
    const [ps, ns] = splitSorted(probs, labels);
    const counts = new Int32Array(2 * comm.size);
    await comm.allGather(new Int32Array([ps.length, ns.length]), counts);
    let totalPos = 0;
    let totalNeg = 0;
    let posAt = 0;
    let negAt = 0;
    const posRuns: number[] = [0];
    const negRuns: number[] = [0];
    for (let r = 0; r < comm.size; r++) {
      if (r === comm.rank) {
        posAt = totalPos;
        negAt = totalNeg;
      }
      totalPos += counts[2 * r]!;
      totalNeg += counts[2 * r + 1]!;
      posRuns.push(totalPos);
      negRuns.push(totalNeg);
    }
    // Zero-filled and summed onto rank 0: x + 0 is x (a -0 score becomes +0, the same tie group).
    const both = new Float64Array(totalPos + totalNeg);
    both.set(ps, posAt);
    both.set(ns, totalPos + negAt);
    await comm.reduceTo(both, 0, { op: 'sum' });
    const out = new Float64Array(1);
    if (comm.rank === 0) out[0] = aucOfSorted(mergeRuns(both.subarray(0, totalPos), posRuns), mergeRuns(both.subarray(totalPos), negRuns));
    await comm.bcast(out, 0);
    auc = out[0]!;
  }
  const count = sums[2]!;
  return { auc, logloss: count > 0 ? sums[0]! / count : Number.NaN };
}

/** One sorted array from the sorted runs a[runs[k] .. runs[k + 1]) (pairwise merge passes). */
export function mergeRuns(a: Float64Array, runs: readonly number[]): Float64Array {
  let src: Float64Array = a;
  let spare: Float64Array | null = null;
  let bounds = runs;
  while (bounds.length > 2) {
    const dst: Float64Array = spare ?? new Float64Array(a.length);
    const next: number[] = [0];
    for (let k = 0; k + 1 < bounds.length; k += 2) {
      const lo = bounds[k]!;
      const mid = bounds[k + 1]!;
      const hi = k + 2 < bounds.length ? bounds[k + 2]! : mid;
      let i = lo;
      let j = mid;
      let o = lo;
      while (i < mid && j < hi) dst[o++] = src[j]! < src[i]! ? src[j++]! : src[i++]!;
      while (i < mid) dst[o++] = src[i++]!;
      while (j < hi) dst[o++] = src[j++]!;
      next.push(hi);
    }
    spare = src === a ? null : src;
    src = dst;
    bounds = next;
  }
  return src;
}
