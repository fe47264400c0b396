// newton-l1's inner solve over rows split between ranks with few exchanges (`--l1-inner local`,
// the default at np > 1 above 1024 slots; docs/logistic_regression.md). The exact distributed
// coordinate descent (glmnet_l1.ts, blockedSolver) needs one allReduce per block of columns,
// ~1000 per solve on the issue-14 set, and on a loaded machine each waits milliseconds for the
// peer to be scheduled. Here, in the spirit of DANE (Shamir, Srebro & Zhang 2014) and of the
// distributed newGLMNET variants that solve the subproblem on each machine's own rows, each
// round is:
//   1. every rank minimises, by the sequential native solver on its own rows alone (no
//      exchange), the local model
//        g.e + e'(size * X_r'D_r X_r)e/2 + l1 |w + d + e|_1,
//      g the exact model gradient at the current d (G at d = 0), over the active columns that
//      have rows on this rank (a column without any has a flat local model);
//   2. the ranks combine their points w + d + e per column, weighted by their rows' curvature
//      h_rj = (X_r'D_r X_r)_jj (one allReduce of the active columns' h_rj (w + d + e)_j; the
//      weights' sum is H_jj - nu, known): for a diagonal model this is exactly the global Newton
//      step, and a column every rank puts at 0 stays exactly 0;
//   3. (a checked solve) the model along the combined step v: X'DX v and v'X'DX v over every
//      rank's rows (one allReduce), an Armijo step t on the model (1 unless the combination
//      overshoots, as it can at np 4), then the exact model gradient at d + t v and its
//      minimum-norm subgradient 1-norm, the sequential solver's stop test; rounds until it
//      is <= tol or MAX_ROUNDS. Each round decreases the model.
// Step 3 costs two passes over the columns, a third of the solve, and on the issue-14 set at
// np 2 it always accepts t = 1 and stops after one round, so it only runs when the caller asks
// (`check`; glmnet_l1.ts: at np 2 at the first Newton step and after one whose line search took
// a step < 1, i.e. when the combination overshot; at np > 2 always: with a quarter of the rows
// per rank, unchecked steps took 20 Newton steps instead of 14); otherwise d is the combined
// point and the outer line search on F sizes the step. Every decision uses summed values, so
// every rank takes the same steps.
import { native } from '../../lib/native.js';
import type { Columns } from './columns.js';
import { inSlices, passSlice, violation, type InnerSolve, type SumFn } from './l1_inner.js';
import type { PhaseClock } from './phase_clock.js';

/** Rounds per inner solve at most. */
export const MAX_ROUNDS = 8;

export interface LocalModelOptions {
  size: number;
  /** This rank's (X_r'D_r X_r)_jj, filled by the caller at each outer iteration (before the allReduce of G and H). */
  localH: Float64Array;
  l1: number;
  penalized: number;
  clock: PhaseClock;
  /**
   * Whether this solve checks the exact model (step 3 and further rounds), asked after the first
   * combination; false: one round, d at the combined point, no third exchange.
   */
  check: () => boolean;
  /** Rounds at most (default MAX_ROUNDS). */
  maxRounds?: number;
}

export function localModelSolver(sum: SumFn, x: Columns, o: LocalModelOptions): InnerSolve {
  const { size, localH, l1, penalized, clock } = o;
  const maxRounds = o.maxRounds ?? MAX_ROUNDS;
  const dim = x.colPtr.length - 1;
  const g = new Float64Array(dim);
  const hl = new Float64Array(dim);
  const wd = new Float64Array(dim);
  const e = new Float64Array(dim);
  const v = new Float64Array(dim);
  let buf = new Float64Array(0);
  let own = new Uint32Array(0);
  let Dl = new Float64Array(0);
  let xe = new Float64Array(0);
  let u = new Float64Array(0);
  return async (D, G, H, w, active, d, xd, cd) => {
    const n = D.length;
    const m = active.length;
    if (buf.length < m + 1) buf = new Float64Array(m + 1);
    if (own.length < m) own = new Uint32Array(m);
    if (Dl.length !== n) {
      Dl = new Float64Array(n);
      xe = new Float64Array(n);
      u = new Float64Array(n);
    }
    for (let i = 0; i < n; i++) Dl[i] = size * D[i]!;
    let count = 0;
    for (let k = 0; k < m; k++) {
      const j = active[k]!;
      g[j] = G[j]!;
      hl[j] = size * localH[j]! + cd.nu;
      if (localH[j]! > 0) own[count++] = j;
    }
    const cols = own.subarray(0, count);
    let localPasses = 0;
    for (let round = 1; round <= maxRounds; round++) {
      clock.enter('inner: local solve');
      for (let k = 0; k < m; k++) wd[active[k]!] = w[active[k]!]! + d[active[k]!]!;
      const seed = (cd.seed + 7919 * round) % 4294967296;
      const local = await inSlices({ ...cd, seed }, passSlice(x.colPtr[dim]!), (c) => native.linear.coordinateDescent(x.colPtr, x.rowIdx, x.values, Dl, g, hl, wd, cols, e, xe, c), e, xe);
      clock.enter('inner: combine');
      for (let k = 0; k < m; k++) {
        const j = active[k]!;
        buf[k] = localH[j]! * (wd[j]! + e[j]!);
      }
      buf[m] = local;
      const sums = await sum(buf.subarray(0, m + 1));
      localPasses += sums[m]!;
      // v: from w + d to the combined point (no rows anywhere, e.g. an empty bias: stays).
      for (let k = 0; k < m; k++) {
        const j = active[k]!;
        const weight = H[j]! - cd.nu;
        v[j] = weight > 0 ? sums[k]! / weight - wd[j]! : 0;
      }
      if (!o.check()) {
        // Unchecked (the outer line search on F sizes the step): d at the combined point, X d.
        for (let k = 0; k < m; k++) {
          const j = active[k]!;
          d[j] = wd[j]! + v[j]! - w[j]!;
        }
        native.linear.addColumns(x.colPtr, x.rowIdx, x.values, active, v, xd);
        break;
      }
      clock.enter('inner: model along the step');
      // X'DX v and v'X'DX v over every rank's rows (one allReduce): the model along d + t v.
      u.fill(0);
      native.linear.addColumns(x.colPtr, x.rowIdx, x.values, active, v, u);
      const hv = buf.subarray(0, m + 1);
      native.linear.columnDots(x.colPtr, x.rowIdx, x.values, D, u, active, hv);
      let s = 0;
      for (let i = 0; i < n; i++) s += D[i]! * u[i]! * u[i]!;
      hv[m] = s;
      await sum(hv);
      const t = modelStep(active, w, d, g, v, hv[m]!, l1, penalized, cd.nu);
      if (t === 0) break;
      let norm1 = 0;
      for (let k = 0; k < m; k++) {
        const j = active[k]!;
        // w_j + d_j exactly 0 when the combined point is 0 and the full step is taken.
        d[j] = t === 1 ? wd[j]! + v[j]! - w[j]! : d[j]! + t * v[j]!;
        g[j] = g[j]! + t * (hv[k]! + cd.nu * v[j]!);
        norm1 += violation(w[j]! + d[j]!, g[j]!, l1, j < penalized);
      }
      for (let i = 0; i < n; i++) xd[i] = xd[i]! + t * u[i]!;
      if (norm1 <= cd.tol) break;
    }
    clock.enter('inner solve');
    // Local passes averaged over the ranks (a whole number, alike everywhere): 1 lets the tolerance tighten.
    return Math.ceil(localPasses / size);
  };
}

const SIGMA = 0.01;
const MAX_HALVINGS = 10;

/**
 * The step t in {1, 1/2, ...} along v from d with sufficient decrease of the model
 *   q(t) = t g.v + t^2 (v'X'DXv + nu |v|^2)/2 + l1 (|w + d + t v|_1 - |w + d|_1)
 * (Armijo as newGLMNET's outer search: q(t) <= SIGMA t (g.v + l1 (|w + d + v|_1 - |w + d|_1)));
 * 0 when v is not a descent direction of the model (no progress left in this solve).
 */
function modelStep(active: Uint32Array, w: Float64Array, d: Float64Array, g: Float64Array, v: Float64Array, vHv: number, l1: number, penalized: number, nu: number): number {
  let gv = 0;
  let vv = 0;
  const l1Change = (t: number): number => {
    let c = 0;
    for (const j of active) if (j < penalized) c += Math.abs(w[j]! + d[j]! + t * v[j]!) - Math.abs(w[j]! + d[j]!);
    return l1 * c;
  };
  for (const j of active) {
    gv += g[j]! * v[j]!;
    vv += v[j]! * v[j]!;
  }
  const curvature = vHv + nu * vv;
  const delta = gv + l1Change(1);
  if (!(delta < 0)) return 0;
  for (let k = 0, t = 1; k < MAX_HALVINGS; k++, t /= 2) {
    if (t * gv + (t * t * curvature) / 2 + l1Change(t) <= SIGMA * t * delta) return t;
  }
  return 0;
}
