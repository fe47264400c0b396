// The L-BFGS inverse-Hessian approximation: the last m curvature pairs (s, y) and the
// two-loop recursion (Nocedal & Wright, Algorithm 7.4) that applies H to a vector in
// O(m * dim) without forming it. Pure arithmetic on Float64Arrays; every rank holds the same
// pairs (they derive from allReduced gradients), so every rank computes the same direction.

export function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function norm2(a: Float64Array): number {
  return Math.sqrt(dot(a, a));
}

/** The last `m` (s, y) pairs in a ring. */
/** The history's pairs, oldest first: pair k is s[k*dim, (k+1)*dim), likewise y; rho = 1/(s.y). */
export interface HistorySnapshot {
  s: Float64Array;
  y: Float64Array;
  rho: number[];
}

export class LbfgsHistory {
  readonly m: number;
  readonly #s: Float64Array[] = [];
  readonly #y: Float64Array[] = [];
  readonly #rho: number[] = [];
  readonly #alpha: Float64Array;
  #start = 0;
  #count = 0;

  constructor(dim: number, m: number) {
    this.m = m;
    for (let i = 0; i < m; i++) {
      this.#s.push(new Float64Array(dim));
      this.#y.push(new Float64Array(dim));
      this.#rho.push(0);
    }
    this.#alpha = new Float64Array(m);
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
    this.#s[slot]!.set(s);
    this.#y[slot]!.set(y);
    this.#rho[slot] = 1 / sy;
    return true;
  }

  /** The stored pairs, oldest first (copies), for checkpoints. */
  snapshot(): HistorySnapshot {
    const dim = this.#s[0]?.length ?? 0;
    const s = new Float64Array(this.#count * dim);
    const y = new Float64Array(this.#count * dim);
    const rho: number[] = [];
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#start + k) % this.m;
      s.set(this.#s[i]!, k * dim);
      y.set(this.#y[i]!, k * dim);
      rho.push(this.#rho[i]!);
    }
    return { s, y, rho };
  }

  /** Replaces the pairs with a snapshot's (same dim and m), bit for bit. */
  restore(snap: HistorySnapshot): void {
    const count = snap.rho.length;
    const dim = this.#s[0]?.length ?? 0;
    if (count > this.m || snap.s.length !== count * dim || snap.y.length !== count * dim) {
      throw new RangeError(`L-BFGS history snapshot of ${count} pairs over ${snap.s.length / Math.max(count, 1)} values does not fit m=${this.m}, dim=${dim}`);
    }
    this.#start = 0;
    this.#count = count;
    for (let k = 0; k < count; k++) {
      this.#s[k]!.set(snap.s.subarray(k * dim, (k + 1) * dim));
      this.#y[k]!.set(snap.y.subarray(k * dim, (k + 1) * dim));
      this.#rho[k] = snap.rho[k]!;
    }
  }

  /** out = -H g, with H0 = (s.y / y.y) I from the newest pair (identity when empty). */
  direction(g: Float64Array, out: Float64Array): Float64Array {
    out.set(g);
    const n = this.#count;
    for (let k = n - 1; k >= 0; k--) {
      const i = (this.#start + k) % this.m;
      const a = this.#rho[i]! * dot(this.#s[i]!, out);
      this.#alpha[i] = a;
      const y = this.#y[i]!;
      for (let j = 0; j < out.length; j++) out[j]! -= a * y[j]!;
    }
    if (n > 0) {
      const i = (this.#start + n - 1) % this.m;
      const y = this.#y[i]!;
      const gamma = 1 / (this.#rho[i]! * dot(y, y));
      for (let j = 0; j < out.length; j++) out[j]! *= gamma;
    }
    for (let k = 0; k < n; k++) {
      const i = (this.#start + k) % this.m;
      const b = this.#rho[i]! * dot(this.#y[i]!, out);
      const s = this.#s[i]!;
      const a = this.#alpha[i]!;
      for (let j = 0; j < out.length; j++) out[j]! += (a - b) * s[j]!;
    }
    for (let j = 0; j < out.length; j++) out[j] = -out[j]!;
    return out;
  }
}
