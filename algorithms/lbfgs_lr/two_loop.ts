// The L-BFGS inverse-Hessian approximation: the last m curvature pairs (s, y) and the
// two-loop recursion (Nocedal & Wright, Algorithm 7.4) that applies H to a vector in
// O(m * dim) without forming it. Pure arithmetic on Float64Arrays; every rank holds the same
// pairs (they derive from allReduced gradients), so every rank computes the same direction.
import { native } from '../../lib/native.js';

export function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function norm2(a: Float64Array): number {
  return Math.sqrt(dot(a, a));
}

/** The history's pairs, oldest first: pair k is s[k*dim, (k+1)*dim), likewise y; rho = 1/(s.y). */
export interface HistorySnapshot {
  s: Float64Array;
  y: Float64Array;
  rho: number[];
}

/**
 * The last `m` (s, y) pairs in a ring. A stored pair is never written again (push stores a
 * fresh copy, restore fresh arrays), so a snapshot can keep references to the pairs and build
 * its contiguous arrays only when read: a commit nobody encodes costs O(m), not 2*m*dim copies.
 */
export class LbfgsHistory {
  readonly m: number;
  readonly #dim: number;
  readonly #s: Float64Array[] = [];
  readonly #y: Float64Array[] = [];
  readonly #rho: number[] = [];
  #start = 0;
  #count = 0;

  constructor(dim: number, m: number) {
    this.m = m;
    this.#dim = dim;
    for (let i = 0; i < m; i++) {
      this.#s.push(new Float64Array(0));
      this.#y.push(new Float64Array(0));
      this.#rho.push(0);
    }
  }

  get count(): number {
    return this.#count;
  }

  clear(): void {
    this.#start = 0;
    this.#count = 0;
  }

  /**
   * Stores s = x_new - x_old, y = g_new - g_old (copied). Pairs without positive curvature
   * (s.y <= 1e-10 * y.y) would break positive definiteness and are skipped: returns false.
   */
  push(s: Float64Array, y: Float64Array): boolean {
    const sy = dot(s, y);
    const yy = dot(y, y);
    if (!(sy > 1e-10 * yy) || yy === 0) return false;
    const slot = (this.#start + this.#count) % this.m;
    if (this.#count === this.m) this.#start = (this.#start + 1) % this.m;
    else this.#count++;
    this.#s[slot] = s.slice();
    this.#y[slot] = y.slice();
    this.#rho[slot] = 1 / sy;
    return true;
  }

  /**
   * The stored pairs, oldest first, for checkpoints. `s` and `y` are built on first read (and
   * then kept) from the pairs as they are now: later pushes do not change them.
   */
  snapshot(): HistorySnapshot {
    const dim = this.#dim;
    const ss: Float64Array[] = [];
    const ys: Float64Array[] = [];
    const rho: number[] = [];
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#start + k) % this.m;
      ss.push(this.#s[i]!);
      ys.push(this.#y[i]!);
      rho.push(this.#rho[i]!);
    }
    const concat = (parts: Float64Array[]): Float64Array => {
      const out = new Float64Array(parts.length * dim);
      parts.forEach((p, k) => out.set(p, k * dim));
      return out;
    };
    let s: Float64Array | null = null;
    let y: Float64Array | null = null;
    return {
      get s(): Float64Array {
        return (s ??= concat(ss));
      },
      set s(v: Float64Array) {
        s = v;
      },
      get y(): Float64Array {
        return (y ??= concat(ys));
      },
      set y(v: Float64Array) {
        y = v;
      },
      rho,
    };
  }

  /** Replaces the pairs with a snapshot's (same dim and m), bit for bit. */
  restore(snap: HistorySnapshot): void {
    const count = snap.rho.length;
    const dim = this.#dim;
    if (count > this.m || snap.s.length !== count * dim || snap.y.length !== count * dim) {
      throw new RangeError(`L-BFGS history snapshot of ${count} pairs over ${snap.s.length / Math.max(count, 1)} values does not fit m=${this.m}, dim=${dim}`);
    }
    this.#start = 0;
    this.#count = count;
    for (let k = 0; k < count; k++) {
      this.#s[k] = snap.s.slice(k * dim, (k + 1) * dim);
      this.#y[k] = snap.y.slice(k * dim, (k + 1) * dim);
      this.#rho[k] = snap.rho[k]!;
    }
  }

  /**
   * out = -H g, with H0 = (s.y / y.y) I from the newest pair (identity when empty). Native
   * (native/linear/two_loop.h): the same operations in the same order as the textbook passes
   * (each dot product one sequential sum), so the same bits, without the JS loop overhead.
   */
  direction(g: Float64Array, out: Float64Array): Float64Array {
    const n = this.#count;
    const s: Float64Array[] = [];
    const y: Float64Array[] = [];
    const rho = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const i = (this.#start + k) % this.m;
      s.push(this.#s[i]!);
      y.push(this.#y[i]!);
      rho[k] = this.#rho[i]!;
    }
    native.linear.twoLoop(s, y, rho, g, out);
    return out;
  }
}
