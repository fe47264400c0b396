// What MART must keep to continue a run bit-identically after a lost worker or from a
// checkpoint (a TrainingState value, lib/recovery): the setup every rank agreed on (feature
// slots, rows per rank, base margin, cut points), the trees grown so far in BIN form, the
// round counter, the early-stopping bookkeeping and the per-round history. Everything else a
// rank holds (binned rows, train/test margins) is rebuilt from it by index.ts.
//
// Commit cost: TrainingState.commit() encodes the whole value each round, so the trees are not
// a list of per-tree objects (a JSON header growing with every round) but one packed forest:
// per-node typed arrays holding every tree's nodes back to back, and nodePtr (tree t is nodes
// [nodePtr[t], nodePtr[t+1])). The encoded header is then constant-size and a commit is one
// memcpy of the node arrays (about 40 bytes per node). The arrays grow by doubling: the state
// holds views of exactly the used length (what encodeState copies) over larger buffers.
import type { FeatureCuts } from './sketch.js';
import type { BinTree } from './tree.js';

/** Agreed once per job (collectively) and kept in the state, so a replacement needs no collective to bin its rows. */
export interface MartSetup {
  numFeatures: number;
  /** Training rows of every rank (checked on resume: the data must be the same). */
  rowCounts: Float64Array;
  baseMargin: number;
  cutPtr: Uint32Array;
  cuts: Float32Array;
}

/** Every tree's nodes back to back; tree t is nodes [nodePtr[t], nodePtr[t + 1]). Thresholds are bins. */
export interface PackedForest {
  nodePtr: Uint32Array;
  left: Int32Array;
  right: Int32Array;
  feature: Int32Array;
  threshold: Int32Array;
  defaultLeft: Uint8Array;
  value: Float64Array;
  gain: Float64Array;
  cover: Float64Array;
}

export interface MartState {
  setup: MartSetup | null;
  /** Completed (committed) rounds. */
  round: number;
  /** Early stopping fired at the last committed round: a resumed run stops there too. */
  stopped: boolean;
  /** Best test metric so far, its 1-based round and all its metrics. */
  best: number;
  bestRound: number;
  bestMetrics: Record<string, number>;
  forest: PackedForest;
  /** Column names of `history` (fixed by the first round: round, seconds, train-..., test-...). */
  historyKeys: string[];
  /** round x historyKeys.length values, row-major. */
  history: Float64Array;
}

export function initialMartState(maximize: boolean): MartState {
  return {
    setup: null,
    round: 0,
    stopped: false,
    best: maximize ? -Infinity : Infinity,
    bestRound: 0,
    bestMetrics: {},
    forest: {
      nodePtr: new Uint32Array(1),
      left: new Int32Array(0),
      right: new Int32Array(0),
      feature: new Int32Array(0),
      threshold: new Int32Array(0),
      defaultLeft: new Uint8Array(0),
      value: new Float64Array(0),
      gain: new Float64Array(0),
      cover: new Float64Array(0),
    },
    historyKeys: [],
    history: new Float64Array(0),
  };
}

type Growable = Uint32Array | Int32Array | Uint8Array | Float64Array;

/**
 * `arr` followed by `items`: a longer view over the same buffer when it has room past the
 * view, else a view over a new buffer of twice the size. The old view keeps its contents.
 */
export function appendTo<A extends Growable>(arr: A, items: ArrayLike<number>): A {
  const n = arr.length;
  const total = n + items.length;
  const Ctor = arr.constructor as new (...args: unknown[]) => A;
  const room = (arr.buffer.byteLength - arr.byteOffset) / arr.BYTES_PER_ELEMENT;
  let out: A;
  if (total <= room) out = new Ctor(arr.buffer, arr.byteOffset, total);
  else {
    const grown = new Ctor(Math.max(64, 2 * total));
    grown.set(arr);
    out = grown.subarray(0, total) as A;
  }
  out.set(items, n);
  return out;
}

/** Appends one tree to the forest (in place on `f`). */
export function pushTree(f: PackedForest, t: BinTree): void {
  f.left = appendTo(f.left, t.left);
  f.right = appendTo(f.right, t.right);
  f.feature = appendTo(f.feature, t.feature);
  f.threshold = appendTo(f.threshold, t.threshold);
  f.defaultLeft = appendTo(f.defaultLeft, t.defaultLeft);
  f.value = appendTo(f.value, t.value);
  f.gain = appendTo(f.gain, t.gain);
  f.cover = appendTo(f.cover, t.cover);
  f.nodePtr = appendTo(f.nodePtr, [f.left.length]);
}

export function forestSize(f: PackedForest): number {
  return f.nodePtr.length - 1;
}

/** Tree t's node arrays as views (no copy), in the shape gbdt addTreeBins takes. */
export function flatTree(f: PackedForest, t: number): { left: Int32Array; right: Int32Array; feature: Int32Array; threshold: Int32Array; defaultLeft: Uint8Array; value: Float64Array } {
  const b = f.nodePtr[t]!;
  const e = f.nodePtr[t + 1]!;
  return {
    left: f.left.subarray(b, e),
    right: f.right.subarray(b, e),
    feature: f.feature.subarray(b, e),
    threshold: f.threshold.subarray(b, e),
    defaultLeft: f.defaultLeft.subarray(b, e),
    value: f.value.subarray(b, e),
  };
}

/** Tree t as a BinTree (plain number arrays, as growTree returned it). */
export function binTree(f: PackedForest, t: number): BinTree {
  const b = f.nodePtr[t]!;
  const e = f.nodePtr[t + 1]!;
  const arr = (a: Growable): number[] => Array.from(a.subarray(b, e));
  return {
    left: arr(f.left),
    right: arr(f.right),
    feature: arr(f.feature),
    threshold: arr(f.threshold),
    defaultLeft: arr(f.defaultLeft),
    value: arr(f.value),
    gain: arr(f.gain),
    cover: arr(f.cover),
  };
}

export function setupCuts(s: MartSetup): FeatureCuts {
  return { numFeatures: s.numFeatures, cutPtr: s.cutPtr, cuts: s.cuts };
}
