// Growing one regression tree over binned rows, data-parallel and deterministic.
//
// Every rank holds its own rows (as uint8 bins, bin 0 = missing) and their gradients and
// hessians, already in FIXED POINT: integers held in doubles, scaled so that any sum over all
// rows stays below 2^53 (index.ts picks the scale each round from the global maxima). Sums of
// such values are exact, so histograms do not depend on the summation order: the same on every
// rank, for any number of ranks and any partition of the rows, and the subtraction trick
// (larger child = parent - smaller child) is exact too.
//
// Depth-wise growth. Level 0 builds the root's histogram; each later level builds, for every
// node split at the previous level, the histogram of its child with the smaller hessian sum
// (a global number, so every rank picks the same child) and derives the sibling by
// subtraction. All histograms of a level sit in ONE contiguous Float64Array and are summed with
// ONE allReduce per level (max_depth + 1 allReduces per tree, each 2 * slots * splits doubles).
// Splits are found identically on every rank from the summed histograms: the gain
//   GL^2/(HL+lambda) + GR^2/(HR+lambda) - G^2/(H+lambda)
// must exceed gamma (and 1e-6), both children need a hessian sum >= min_child_weight (and > 0);
// missing values (bin 0) are tried on both sides and the better side becomes the default.
// Ties keep the first candidate in (feature, bin, missing right before left) order.
//
// Leaf-wise growth (max_leaves > 0, XGBoost's grow_policy=lossguide, LightGBM's default):
// the open leaf whose best split has the largest gain is split next (ties: the lowest node
// id), until the tree has max_leaves leaves, no leaf has a split with enough gain, or every
// open leaf is at max_depth. Each split builds the smaller child's histogram (the larger by
// subtraction) with ONE allReduce, so a tree costs at most max_leaves - 1 allReduces of
// 2 * slots doubles. The choice depends only on the reduced (exact) histograms, so every
// rank grows the same tree, for any number of ranks. With max_leaves >= 2^max_depth it grows
// the same tree as depth-wise growth (every split with enough gain is taken either way),
// numbered in a different order.
import type { Collective } from '../common/collective.js';
import { gbdtNative } from './native.js';

/** A tree over bins (feature = slot, threshold = last bin that goes left). Node i is a leaf when left[i] < 0. */
export interface BinTree {
  left: number[];
  right: number[];
  feature: number[];
  threshold: number[];
  defaultLeft: number[];
  /** Leaf values (already multiplied by eta); 0 at inner nodes. */
  value: number[];
  /** Split gain at inner nodes, 0 at leaves. */
  gain: number[];
  /** Hessian sum of the node. */
  cover: number[];
}

export interface GrowParams {
  maxDepth: number;
  eta: number;
  lambda: number;
  gamma: number;
  minChildWeight: number;
  /** Leaf-wise growth up to this many leaves (0 or absent: depth-wise). */
  maxLeaves?: number;
}

/** The binned rows of one rank and the histogram layout shared by all ranks. */
export interface BinnedRows {
  bins: Uint8Array;
  numRows: number;
  numFeatures: number;
  /** Slot of (f, b) is binOffsets[f] + b; binOffsets[numFeatures] slots in all. */
  binOffsets: Uint32Array;
  /**
   * Optional column-major copy of `bins` (columns[f * numRows + r], see binColumns): row
   * partitioning reads one byte per row of the split feature; deep in a tree a node's rows are
   * sparse, and in row-major order each of them costs a cache miss, in a column a few bytes.
   */
  columns?: Uint8Array;
}

/** The column-major copy of `b.bins` (BinnedRows.columns). */
export function binColumns(b: BinnedRows): Uint8Array {
  const n = b.numRows;
  const nf = b.numFeatures;
  const bins = b.bins;
  const out = new Uint8Array(n * nf);
  for (let f = 0; f < nf; f++) {
    const col = f * n;
    for (let r = 0, k = f; r < n; r++, k += nf) out[col + r] = bins[k]!;
  }
  return out;
}

/** Stable partition of `rows` by the split (see gbdtNative.partitionRows); returns the count left. */
function partition(data: BinnedRows, rows: Uint32Array, s: SplitCandidate, scratch: Uint32Array): number {
  if (data.columns) {
    const n = data.numRows;
    return gbdtNative.partitionRows(data.columns.subarray(s.feature * n, (s.feature + 1) * n), 1, rows, 0, s.threshold, s.defaultLeft, scratch);
  }
  return gbdtNative.partitionRows(data.bins, data.numFeatures, rows, s.feature, s.threshold, s.defaultLeft, scratch);
}

export interface SplitCandidate {
  gain: number;
  feature: number;
  threshold: number;
  defaultLeft: boolean;
  /** Fixed-point sums of the left and right child. */
  gl: number;
  hl: number;
  gr: number;
  hr: number;
}

/**
 * Best split of a node from its summed histogram `hist` (2 doubles per slot, fixed point;
 * `invG`/`invH` turn them into real sums), over the features with featureMask[f] = 1.
 * Returns null when no split has gain > max(gamma, 1e-6).
 */
export function findSplit(
  hist: Float64Array,
  binOffsets: Uint32Array,
  featureMask: Uint8Array,
  g: number,
  h: number,
  invG: number,
  invH: number,
  p: GrowParams,
): SplitCandidate | null {
  const numFeatures = binOffsets.length - 1;
  const lambda = p.lambda;
  const parentScore = (g * invG) ** 2 / (h * invH + lambda);
  let best: SplitCandidate | null = null;
  let bestGain = Math.max(p.gamma, 1e-6);
  for (let f = 0; f < numFeatures; f++) {
    if (featureMask[f] === 0) continue;
    const base = binOffsets[f]!;
    const nb = binOffsets[f + 1]! - base - 1;
    if (nb < 1) continue;
    const gm = hist[2 * base]!;
    const hm = hist[2 * base + 1]!;
    let cg = 0;
    let ch = 0;
    for (let k = 1; k <= nb; k++) {
      cg += hist[2 * (base + k)]!;
      ch += hist[2 * (base + k) + 1]!;
      for (let side = 0; side < 2; side++) {
        const missingLeft = side === 1;
        const gl = missingLeft ? cg + gm : cg;
        const hl = missingLeft ? ch + hm : ch;
        const gr = g - gl;
        const hr = h - hl;
        const hlr = hl * invH;
        const hrr = hr * invH;
        if (hl <= 0 || hr <= 0 || hlr < p.minChildWeight || hrr < p.minChildWeight) continue;
        const glr = gl * invG;
        const grr = gr * invG;
        const gain = (glr * glr) / (hlr + lambda) + (grr * grr) / (hrr + lambda) - parentScore;
        if (gain > bestGain) {
          bestGain = gain;
          best = { gain, feature: f, threshold: k, defaultLeft: missingLeft, gl, hl, gr, hr };
        }
      }
    }
  }
  return best;
}

interface OpenNode {
  id: number;
  begin: number;
  end: number;
  g: number;
  h: number;
  hist: Float64Array | null;
}

/**
 * Grows one tree. `rows` holds the local row indices (any order; reordered in place so every
 * leaf's rows are contiguous); `gh` holds each row's fixed-point (gradient, hessian) pair at
 * gh[2r], gh[2r + 1] (see the file comment).
 * @returns the tree and, per leaf node id, the [begin, end) range of its rows in `rows`.
 */
export async function growTree(
  comm: Collective,
  data: BinnedRows,
  gh: Float64Array,
  invG: number,
  invH: number,
  rows: Uint32Array,
  scratch: Uint32Array,
  featureMask: Uint8Array,
  p: GrowParams,
  threads: number,
): Promise<{ tree: BinTree; leafRanges: Map<number, [number, number]> }> {
  const slots = data.binOffsets[data.numFeatures]!;
  const width = 2 * slots;
  const tree: BinTree = { left: [], right: [], feature: [], threshold: [], defaultLeft: [], value: [], gain: [], cover: [] };
  const addNode = (): number => {
    tree.left.push(-1);
    tree.right.push(-1);
    tree.feature.push(0);
    tree.threshold.push(0);
    tree.defaultLeft.push(0);
    tree.value.push(0);
    tree.gain.push(0);
    tree.cover.push(0);
    return tree.left.length - 1;
  };
  const leafRanges = new Map<number, [number, number]>();
  const makeLeaf = (n: OpenNode): void => {
    const gr = n.g * invG;
    const hr = n.h * invH;
    tree.value[n.id] = (-gr / (hr + p.lambda)) * p.eta;
    tree.cover[n.id] = hr;
    leafRanges.set(n.id, [n.begin, n.end]);
  };

  if ((p.maxLeaves ?? 0) > 0) {
    return growLeafWise(comm, data, gh, invG, invH, rows, scratch, featureMask, p, threads, tree, addNode, makeLeaf, leafRanges);
  }

  const rootHist = new Float64Array(width);
  gbdtNative.buildHistPairs(data.bins, data.numFeatures, rows, gh, data.binOffsets, rootHist, threads);
  await comm.allReduce(rootHist, { op: 'sum' });
  let g0 = 0;
  let h0 = 0;
  for (let s = data.binOffsets[0]!; s < data.binOffsets[1]!; s++) {
    g0 += rootHist[2 * s]!;
    h0 += rootHist[2 * s + 1]!;
  }
  let level: OpenNode[] = [{ id: addNode(), begin: 0, end: rows.length, g: g0, h: h0, hist: rootHist }];

  for (let depth = 0; level.length > 0; depth++) {
    const next: OpenNode[] = [];
    const pairs: Array<{ small: OpenNode; large: OpenNode; parent: Float64Array }> = [];
    for (const n of level) {
      const split = depth < p.maxDepth && n.hist ? findSplit(n.hist, data.binOffsets, featureMask, n.g, n.h, invG, invH, p) : null;
      if (!split) {
        makeLeaf(n);
        continue;
      }
      const nl = partition(data, rows.subarray(n.begin, n.end), split, scratch);
      const l = addNode();
      const r = addNode();
      tree.left[n.id] = l;
      tree.right[n.id] = r;
      tree.feature[n.id] = split.feature;
      tree.threshold[n.id] = split.threshold;
      tree.defaultLeft[n.id] = split.defaultLeft ? 1 : 0;
      tree.gain[n.id] = split.gain;
      tree.cover[n.id] = n.h * invH;
      const left: OpenNode = { id: l, begin: n.begin, end: n.begin + nl, g: split.gl, h: split.hl, hist: null };
      const right: OpenNode = { id: r, begin: n.begin + nl, end: n.end, g: split.gr, h: split.hr, hist: null };
      next.push(left, right);
      if (depth + 1 < p.maxDepth) {
        const leftSmaller = split.hl <= split.hr;
        pairs.push({ small: leftSmaller ? left : right, large: leftSmaller ? right : left, parent: n.hist! });
      }
    }
    if (pairs.length > 0) {
      const buf = new Float64Array(pairs.length * width);
      pairs.forEach((pr, i) => {
        const hist = buf.subarray(i * width, (i + 1) * width);
        gbdtNative.buildHistPairs(data.bins, data.numFeatures, rows.subarray(pr.small.begin, pr.small.end), gh, data.binOffsets, hist, threads);
      });
      await comm.allReduce(buf, { op: 'sum' });
      pairs.forEach((pr, i) => {
        const small = buf.subarray(i * width, (i + 1) * width);
        const large = new Float64Array(width);
        for (let s = 0; s < width; s++) large[s] = pr.parent[s]! - small[s]!;
        pr.small.hist = small;
        pr.large.hist = large;
      });
    }
    level = next;
  }
  return { tree, leafRanges };
}

interface LeafCandidate extends OpenNode {
  depth: number;
  split: SplitCandidate | null;
}

/** Leaf-wise (best-first) growth; see the file comment. */
async function growLeafWise(
  comm: Collective,
  data: BinnedRows,
  gh: Float64Array,
  invG: number,
  invH: number,
  rows: Uint32Array,
  scratch: Uint32Array,
  featureMask: Uint8Array,
  p: GrowParams,
  threads: number,
  tree: BinTree,
  addNode: () => number,
  makeLeaf: (n: OpenNode) => void,
  leafRanges: Map<number, [number, number]>,
): Promise<{ tree: BinTree; leafRanges: Map<number, [number, number]> }> {
  const width = 2 * data.binOffsets[data.numFeatures]!;
  const maxLeaves = p.maxLeaves!;
  const canSplit = (depth: number): boolean => depth < p.maxDepth;
  const withSplit = (n: OpenNode, depth: number): LeafCandidate => {
    const split = canSplit(depth) && n.hist ? findSplit(n.hist, data.binOffsets, featureMask, n.g, n.h, invG, invH, p) : null;
    if (!split) n.hist = null; // no longer needed
    return { ...n, depth, split };
  };

  const rootHist = new Float64Array(width);
  gbdtNative.buildHistPairs(data.bins, data.numFeatures, rows, gh, data.binOffsets, rootHist, threads);
  await comm.allReduce(rootHist, { op: 'sum' });
  let g0 = 0;
  let h0 = 0;
  for (let s = data.binOffsets[0]!; s < data.binOffsets[1]!; s++) {
    g0 += rootHist[2 * s]!;
    h0 += rootHist[2 * s + 1]!;
  }
  // Open leaves in node-id order; `leaves` counts every leaf of the tree so far.
  const open: LeafCandidate[] = [withSplit({ id: addNode(), begin: 0, end: rows.length, g: g0, h: h0, hist: rootHist }, 0)];
  let leaves = 1;
  while (leaves < maxLeaves) {
    let pick = -1;
    for (let i = 0; i < open.length; i++) {
      const c = open[i]!;
      if (c.split && (pick < 0 || c.split.gain > open[pick]!.split!.gain)) pick = i;
    }
    if (pick < 0) break;
    const n = open[pick]!;
    const split = n.split!;
    open.splice(pick, 1);
    const nl = partition(data, rows.subarray(n.begin, n.end), split, scratch);
    const l = addNode();
    const r = addNode();
    tree.left[n.id] = l;
    tree.right[n.id] = r;
    tree.feature[n.id] = split.feature;
    tree.threshold[n.id] = split.threshold;
    tree.defaultLeft[n.id] = split.defaultLeft ? 1 : 0;
    tree.gain[n.id] = split.gain;
    tree.cover[n.id] = n.h * invH;
    leaves++;
    const left: OpenNode = { id: l, begin: n.begin, end: n.begin + nl, g: split.gl, h: split.hl, hist: null };
    const right: OpenNode = { id: r, begin: n.begin + nl, end: n.end, g: split.gr, h: split.hr, hist: null };
    // Children's histograms only when they may still be split (below max_depth, leaves left).
    if (canSplit(n.depth + 1) && leaves < maxLeaves) {
      const leftSmaller = split.hl <= split.hr;
      const small = leftSmaller ? left : right;
      const large = leftSmaller ? right : left;
      const hist = new Float64Array(width);
      gbdtNative.buildHistPairs(data.bins, data.numFeatures, rows.subarray(small.begin, small.end), gh, data.binOffsets, hist, threads);
      await comm.allReduce(hist, { op: 'sum' });
      const parent = n.hist!;
      for (let s = 0; s < width; s++) parent[s] = parent[s]! - hist[s]!; // reuse the parent's buffer
      small.hist = hist;
      large.hist = parent;
    }
    n.hist = null;
    open.push(withSplit(left, n.depth + 1), withSplit(right, n.depth + 1));
    open.sort((a, b) => a.id - b.id);
  }
  for (const n of open) makeLeaf(n);
  return { tree, leafRanges };
}
