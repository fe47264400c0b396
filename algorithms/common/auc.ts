// Exact AUC (ties share the average rank), on one rank and over every rank's rows; the one
// AUC of every trainer (metrics.ts binaryMetrics, MART's test metric, `shoal predict`).
//
// The positive and the negative scores are sorted separately (the addon's radix sort; the
// typed-array sort if there is NaN) and merged: equal scores form one tie group whose rows
// share the average rank. The rank sum of the positives is a sum of half-integers, exact below
// 2^52, so the result is the pairwise definition (pairs ordered right + half the tied pairs,
// over pos * neg) to the last bit. The comparator sort of an index array it replaced took about
// 9x the CPU (bench/auc.ts, BENCHMARKS.md).
//
// Across ranks no histogram approximation: every rank sorts its own positives and negatives,
// the sorted runs go to rank 0 (allGather of the counts, every rank writes its runs at its
// offset of a zero-filled buffer of `total` doubles, reduceTo(sum) concatenates them: x + 0 is
// x), rank 0 merges the runs and computes, and a bcast gives every rank the same value.
// Cost: `total` doubles of memory on every rank, O(total) bytes on the wire.
//
// A class missing (no positive or no negative row, over all ranks) gives NaN: the AUC is not
// defined there, and NaN is what the progress lines and metrics files show for it. NaN scores
// (a diverged model) rank above every number and tie with each other.
import type { Collective } from './collective.js';
import { native } from '../../lib/native.js';

/** AUC of `scores` against labels (> 0 is positive); ties get the average rank. NaN if a class is missing. */
export function aucLocal(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const [ps, ns] = splitSorted(scores, labels);
  return aucOfSorted(ps, ns);
}

/** Exact AUC over every rank's rows (see the file comment); the same value on every rank. */
export async function auc(comm: Collective, scores: ArrayLike<number>, labels: ArrayLike<number>): Promise<number> {
  if (comm.size === 1) return aucLocal(scores, labels);
  const [ps, ns] = splitSorted(scores, labels);
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
  return out[0]!;
}

/** AUC from the ascending positive scores `ps` and ascending negative scores `ns`. */
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
    // +0 are one tie group (===).
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
      // NaN (never === itself): only NaN is left (sorted last); NaN scores rank above every
      // number and tie with each other.
      cp = pos - i;
      cn = neg - j;
      i = pos;
      j = neg;
    }
    // The group takes ranks placed+1 .. placed+cp+cn; each positive in it the average.
    rankSumPos += ((2 * placed + 1 + cp + cn) / 2) * cp;
    placed += cp + cn;
  }
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
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
      // NaN (sorted last in each run) goes after every number.
      while (i < mid && j < hi) dst[o++] = src[j]! < src[i]! || Number.isNaN(src[i]!) ? src[j++]! : src[i++]!;
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

/** The positive (label > 0) and the negative scores, each sorted ascending. */
function splitSorted(scores: ArrayLike<number>, labels: ArrayLike<number>): [Float64Array, Float64Array] {
  const n = scores.length;
  if (labels.length !== n) throw new RangeError(`auc: ${n} scores but ${labels.length} labels`);
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

/** Ascending: the native radix sort, or the typed-array sort (NaN last) when NaN is present (the radix sort refuses it). */
function sortScores(v: Float64Array, scratch: Float64Array): void {
  try {
    native.gbdt.sortFloat64(v, scratch);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    v.sort();
  }
}
