// Feature bucketing for MART: a weighted quantile sketch computed per rank and merged across
// ranks, so every rank derives the same cut points without moving rows.
//
// Algorithm. Weights are first rounded to fixed point (multiples of 2^-20; a missing weight
// is 1), so every mass below is an integer held exactly in a double and sums of masses do not
// depend on their order. Per feature, each rank sorts its present (non-missing) values, merges
// equal values, and keeps a summary of at most K entries (value, mass): all distinct values
// when there are at most K, otherwise the value where the cumulative mass first reaches
// j*W_r/K for j = 1..K, each kept entry carrying the mass since the previous kept entry. The
// summaries (K pairs per feature, NaN-padded) are exchanged with ONE allGather; every rank
// merges them in rank order (a merge of sorted lists, masses of equal values added) and picks
// cuts from the merged distribution: every distinct value when there are at most maxBin - 1,
// else the values at cumulative mass j*W/(maxBin-1), deduplicated, plus the largest value.
//
// Error bound. A summary moves mass only forward, to the next kept value, and by construction
// less than W_r/K + w_max of mass lies strictly between two kept values, so the merged
// distribution's rank (cumulative mass) of any value is within sum_r (W_r/K + w_max) =
// W/K + size*w_max of the exact one: with K = 4096 and unit weights, cut ranks are off by at
// most 0.025% of the rows plus one row per rank. When every rank has at most K distinct
// values per feature (K is raised up to a memory budget to make this common), the summaries
// are exact, the merged distribution is the exact global one, and the cuts are independent
// of the number of ranks and of the partition of the rows.
//
// Cost: sorting the local values (O(nnz log nnz)); F*K*2 doubles sent per rank by allGather
// (F*K*2*size received); the merge is O(size * F * K).
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { gbdtNative } from './native.js';

/** Per-feature ascending cut points: feature f's cuts are cuts[cutPtr[f] .. cutPtr[f+1]). */
export interface FeatureCuts {
  numFeatures: number;
  cutPtr: Uint32Array;
  /** Upper bounds: a value v falls in bucket k (1-based) when cuts[k-2] < v <= cuts[k-1]; values above the last cut join the last bucket. */
  cuts: Float32Array;
}

/** Fixed-point unit of weights in the sketch (2^20). */
export const WEIGHT_UNIT = 1 << 20;
/** Default budget of summary entries per rank (features * K). */
const ENTRY_BUDGET = 1 << 20;

/** A weighted distribution of distinct ascending values (masses are integers). */
export interface Summary {
  values: Float64Array;
  masses: Float64Array;
}

/** Summary of at most k entries of sorted distinct `values` with integer `masses` (see the file comment). */
export function summarize(values: Float64Array, masses: Float64Array, k: number): Summary {
  const m = values.length;
  if (m <= k) return { values, masses };
  let total = 0;
  for (let i = 0; i < m; i++) total += masses[i]!;
  const outV: number[] = [];
  const outM: number[] = [];
  let cum = 0;
  let keptCum = 0;
  let j = 1;
  for (let i = 0; i < m; i++) {
    cum += masses[i]!;
    const target = (j * total) / k;
    if (cum >= target || i === m - 1) {
      outV.push(values[i]!);
      outM.push(cum - keptCum);
      keptCum = cum;
      while (j <= k && (j * total) / k <= cum) j++;
    }
  }
  return { values: Float64Array.from(outV), masses: Float64Array.from(outM) };
}

/** Merges sorted summaries (in the given order), adding the masses of equal values. */
export function mergeSummaries(parts: readonly Summary[]): Summary {
  let acc: Summary = { values: new Float64Array(0), masses: new Float64Array(0) };
  for (const p of parts) {
    const a = acc;
    const nv = new Float64Array(a.values.length + p.values.length);
    const nm = new Float64Array(nv.length);
    let i = 0;
    let j = 0;
    let n = 0;
    while (i < a.values.length || j < p.values.length) {
      const av = i < a.values.length ? a.values[i]! : Infinity;
      const pv = j < p.values.length ? p.values[j]! : Infinity;
      if (i < a.values.length && (j >= p.values.length || av < pv)) {
        nv[n] = av;
        nm[n++] = a.masses[i++]!;
      } else if (j < p.values.length && (i >= a.values.length || pv < av)) {
        nv[n] = pv;
        nm[n++] = p.masses[j++]!;
      } else {
        nv[n] = av;
        nm[n++] = a.masses[i++]! + p.masses[j++]!;
      }
    }
    acc = { values: nv.subarray(0, n), masses: nm.subarray(0, n) };
  }
  return acc;
}

/** Cut points (at most maxBin - 1 of them) from a merged distribution. */
export function cutsFromSummary(s: Summary, maxBin: number): number[] {
  const m = s.values.length;
  const nb = maxBin - 1;
  if (m <= nb) return Array.from(s.values);
  let total = 0;
  for (let i = 0; i < m; i++) total += s.masses[i]!;
  const out: number[] = [];
  let cum = 0;
  let j = 1;
  for (let i = 0; i < m && j < nb; i++) {
    cum += s.masses[i]!;
    if (cum >= (j * total) / nb) {
      out.push(s.values[i]!);
      while (j < nb && (j * total) / nb <= cum) j++;
    }
  }
  const last = s.values[m - 1]!;
  if (out.length === 0 || out[out.length - 1]! < last) out.push(last);
  return out;
}

/** Sorted distinct local values and integer masses of every feature (ids >= numFeatures and NaN skipped). */
export function localDistributions(data: CsrData, numFeatures: number): Summary[] {
  if (!data.weights) {
    // Unweighted: gathered, radix-sorted and merged natively (the same distributions as below).
    const stored = (data.rowPtr[data.numRows] ?? 0) - (data.rowPtr[0] ?? 0);
    const offsets = new Uint32Array(numFeatures + 1);
    const distinct = new Uint32Array(numFeatures);
    const vals = new Float32Array(stored);
    const mult = new Uint32Array(stored);
    gbdtNative.featureDistinct(data.rowPtr, data.featureIds, data.values, numFeatures, offsets, distinct, vals, mult);
    const out: Summary[] = [];
    for (let f = 0; f < numFeatures; f++) {
      const lo = offsets[f]!;
      const n = distinct[f]!;
      const masses = new Float64Array(n);
      for (let i = 0; i < n; i++) masses[i] = mult[lo + i]! * WEIGHT_UNIT;
      out.push({ values: Float64Array.from(vals.subarray(lo, lo + n)), masses });
    }
    return out;
  }
  const counts = new Uint32Array(numFeatures + 1);
  const nnz = data.rowPtr[data.numRows] ?? 0;
  for (let k = 0; k < nnz; k++) {
    const id = data.featureIds[k]!;
    if (id < numFeatures && !Number.isNaN(data.values[k]!)) (counts[id + 1] = counts[id + 1]! + 1);
  }
  for (let f = 0; f < numFeatures; f++) counts[f + 1] = counts[f + 1]! + counts[f]!;
  const fill = counts.slice(0, numFeatures);
  const vals = new Float32Array(counts[numFeatures]!);
  const w = data.weights;
  const idx = w ? new Uint32Array(vals.length) : null;
  for (let r = 0; r < data.numRows; r++) {
    for (let k = data.rowPtr[r]!; k < data.rowPtr[r + 1]!; k++) {
      const id = data.featureIds[k]!;
      const v = data.values[k]!;
      if (id >= numFeatures || Number.isNaN(v)) continue;
      const at = fill[id]!++;
      vals[at] = v;
      if (idx) idx[at] = r;
    }
  }
  const out: Summary[] = [];
  for (let f = 0; f < numFeatures; f++) {
    const lo = counts[f]!;
    const hi = counts[f + 1]!;
    let sortedV: Float32Array;
    let sortedM: Float64Array;
    if (!w || !idx) {
      sortedV = vals.subarray(lo, hi).sort();
      sortedM = new Float64Array(hi - lo).fill(WEIGHT_UNIT);
    } else {
      const order = Array.from({ length: hi - lo }, (_, i) => lo + i);
      order.sort((a, b) => vals[a]! - vals[b]!);
      sortedV = new Float32Array(order.length);
      sortedM = new Float64Array(order.length);
      order.forEach((at, i) => {
        sortedV[i] = vals[at]!;
        sortedM[i] = Math.round(w[idx[at]!]! * WEIGHT_UNIT);
      });
    }
    // Merge equal values.
    const dv = new Float64Array(sortedV.length);
    const dm = new Float64Array(sortedV.length);
    let n = 0;
    for (let i = 0; i < sortedV.length; i++) {
      if (n > 0 && dv[n - 1] === sortedV[i]) dm[n - 1] = dm[n - 1]! + sortedM[i]!;
      else {
        dv[n] = sortedV[i]!;
        dm[n++] = sortedM[i]!;
      }
    }
    out.push({ values: dv.subarray(0, n), masses: dm.subarray(0, n) });
  }
  return out;
}

/**
 * Cut points of every feature from all ranks' rows (one allReduce of the summary size, one
 * allGather of the summaries). Every rank returns the same cuts.
 * @param numFeatures feature slots (max feature id + 1 over all ranks).
 * @param sketchSize entries per feature and rank (0: up to a budget of 2^20 entries per rank).
 */
export async function buildCuts(comm: Collective, data: CsrData, numFeatures: number, maxBin: number, sketchSize = 0): Promise<FeatureCuts> {
  const local = localDistributions(data, numFeatures);
  let k = sketchSize;
  if (k === 0) {
    let maxDistinct = 1;
    for (const s of local) maxDistinct = Math.max(maxDistinct, s.values.length);
    const buf = new Float64Array([maxDistinct]);
    await comm.allReduce(buf, { op: 'max' });
    const cap = Math.max(16 * maxBin, Math.floor(ENTRY_BUDGET / Math.max(1, numFeatures)));
    k = Math.min(buf[0]!, cap);
  }
  const stride = 2 * k;
  const send = new Float64Array(numFeatures * stride).fill(Number.NaN);
  local.forEach((dist, f) => {
    const s = summarize(dist.values, dist.masses, k);
    for (let i = 0; i < s.values.length; i++) {
      send[f * stride + 2 * i] = s.values[i]!;
      send[f * stride + 2 * i + 1] = s.masses[i]!;
    }
  });
  const all = comm.size === 1 ? send : await comm.allGather(send, new Float64Array(send.length * comm.size));
  const cutPtr = new Uint32Array(numFeatures + 1);
  const cutList: number[][] = [];
  for (let f = 0; f < numFeatures; f++) {
    const parts: Summary[] = [];
    for (let r = 0; r < comm.size; r++) {
      const base = r * send.length + f * stride;
      let n = 0;
      while (n < k && !Number.isNaN(all[base + 2 * n]!)) n++;
      const v = new Float64Array(n);
      const m = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        v[i] = all[base + 2 * i]!;
        m[i] = all[base + 2 * i + 1]!;
      }
      parts.push({ values: v, masses: m });
    }
    const c = cutsFromSummary(mergeSummaries(parts), maxBin);
    cutList.push(c);
    cutPtr[f + 1] = cutPtr[f]! + c.length;
  }
  const cuts = new Float32Array(cutPtr[numFeatures]!);
  cutList.forEach((c, f) => cuts.set(c, cutPtr[f]!));
  return { numFeatures, cutPtr, cuts };
}
