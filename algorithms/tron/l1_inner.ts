// What newton-l1's inner solvers (glmnet_l1.ts, l1_local_model.ts) share: the options of the
// native coordinate descent, the signature of an inner solve, the minimum-norm subgradient of
// one coordinate, and running a native solve in slices so the event loop keeps breathing.
import { native } from '../../lib/native.js';

export type CdOptions = Parameters<typeof native.linear.coordinateDescent>[10];

/**
 * Minimises the quadratic model G.d + d'(X'DX + nu I)d/2 + l1 |w + d|_1 over the `active`
 * columns from d = 0 and xd = 0 (zeroed by the caller); leaves X d of this rank's rows in xd.
 * Returns the passes made (the same number on every rank: it drives the inner tolerance).
 */
export type InnerSolve = (D: Float64Array, G: Float64Array, H: Float64Array, w: Float64Array, active: Uint32Array, d: Float64Array, xd: Float64Array, cd: CdOptions) => Promise<number>;

/** Sums a buffer over the ranks in place (allReduce; the identity at one rank). */
export type SumFn = (buf: Float64Array) => Promise<Float64Array>;

/** |minimum-norm subgradient| of F at one slot (penalized slots with the l1 term). */
export function violation(w: number, g: number, l1: number, penalized: boolean): number {
  if (!penalized) return Math.abs(g);
  if (w > 0) return Math.abs(g + l1);
  if (w < 0) return Math.abs(g - l1);
  return Math.max(0, g - l1, -g - l1);
}

/** Passes per native call: about WORK_PER_CALL multiply-adds over a model of `size` non-zeros. */
const WORK_PER_CALL = 2e7;
export const passSlice = (size: number): number => Math.max(1, Math.floor(WORK_PER_CALL / Math.max(size, 1)));

/**
 * A native inner solve from zero `state` arrays, `slice` passes per call with the event loop
 * let through in between: a long solve must not starve the heartbeats (the launcher kills a
 * rank that sends none for 10 s). Returns the passes made in all.
 */
export async function inSlices(cd: CdOptions, slice: number, run: (o: CdOptions) => number, ...state: Float64Array[]): Promise<number> {
  for (const a of state) a.fill(0);
  let total = 0;
  for (;;) {
    const passes = run({ ...cd, maxPasses: Math.min(slice, cd.maxPasses - total), seed: (cd.seed + total) % 4294967296 });
    total += passes;
    if (passes < slice || total >= cd.maxPasses) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

