// Counter-based random streams for the FM coordinate solvers (ALS / MCMC): every random number
// is a pure function of (seed, kind, iteration, index, counter), so a coordinate's draw does
// not depend on which rank draws it, in what order, or how many ranks there are. This is what
// makes `--solver mcmc` give the same samples at np 1, 2, 4.
//
// The hash is a 32-bit multiply-xorshift mix (murmur3's finaliser) over the key words; two
// outputs make one 53-bit uniform. Not cryptographic; statistically fine for Gibbs sampling.

/** What a stream is for: its draws never collide with another kind's. */
export const STREAM = { init: 1, w0: 2, w: 3, v: 4, hyper: 5, target: 6 } as const;

function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const TWO32 = 4294967296;

const ZIGGURAT_R = 3.442619855899;
const ZIGGURAT_V = 9.91256303526217e-3;
let ziggurat: { x: Float64Array; ratio: Float64Array } | null = null;

/** The ziggurat's 128 layers (native/fm/coordinate_stream.h ZigguratTables: the same formulas). */
function zigguratTables(): { x: Float64Array; ratio: Float64Array } {
  if (ziggurat) return ziggurat;
  const x = new Float64Array(129);
  x[0] = ZIGGURAT_V / Math.exp(-0.5 * ZIGGURAT_R * ZIGGURAT_R);
  x[1] = ZIGGURAT_R;
  for (let i = 2; i < 128; i++) x[i] = Math.sqrt(-2 * Math.log(ZIGGURAT_V / x[i - 1]! + Math.exp(-0.5 * x[i - 1]! * x[i - 1]!)));
  x[128] = 0;
  const ratio = Float64Array.from({ length: 128 }, (_, i) => x[i + 1]! / x[i]!);
  return (ziggurat = { x, ratio });
}

/** A random stream keyed by (seed, kind, iteration, index); reset() re-keys it without allocating. */
export class CoordinateStream {
  #key = 0;
  #counter = 0;
  /** 7 bits of the last uniform's words that it does not use (the ziggurat's layer). */
  #low = 0;
  readonly #seed: number;

  constructor(seed: number) {
    this.#seed = seed >>> 0;
  }

  /** Starts the stream of `index` (an integer below 2^53) of `kind` in `iteration`. */
  reset(kind: number, iteration: number, index: number): this {
    let h = fmix(this.#seed ^ 0x9e3779b9);
    h = fmix(h ^ Math.imul(kind, 0x27d4eb2d));
    h = fmix(h ^ (iteration >>> 0));
    h = fmix(h ^ (index >>> 0));
    h = fmix(h ^ (Math.floor(index / TWO32) >>> 0));
    this.#key = h;
    this.#counter = 0;
    return this;
  }

  /** Continues the stream at `counter` (even): sub-streams of one key, as native drawBlock's per-coordinate draws. */
  seek(counter: number): this {
    this.#counter = counter >>> 0;
    return this;
  }

  /** Uniform in (0, 1). */
  uniform(): number {
    const c = this.#counter;
    this.#counter = (c + 2) >>> 0;
    const a = fmix(this.#key ^ Math.imul(c + 1, 0x9e3779b1));
    const b = fmix(a ^ Math.imul(c + 2, 0x85ebca77));
    this.#low = (a & 31) | ((b & 3) << 5);
    return ((a >>> 5) * 67108864 + (b >>> 6) + 0.5) / 9007199254740992;
  }

  /**
   * Standard normal by the ziggurat (Marsaglia and Tsang in Doornik's ZIGNOR form, 128
   * layers): the same draws as native/fm/coordinate_stream.h normalZiggurat(), which MCMC's
   * per-coordinate draws use (no log or cos 99% of the time). The layer comes from 7 bits of the
   * uniform's words that uniform() drops.
   */
  normalZiggurat(): number {
    const { x, ratio } = zigguratTables();
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const i = this.#low;
      if (Math.abs(u) < ratio[i]!) return u * x[i]!;
      if (i === 0) {
        let tx: number;
        let ty: number;
        do {
          tx = Math.log(this.uniform()) / ZIGGURAT_R;
          ty = Math.log(this.uniform());
        } while (-2 * ty < tx * tx);
        return u < 0 ? tx - ZIGGURAT_R : ZIGGURAT_R - tx;
      }
      const xv = u * x[i]!;
      const f0 = Math.exp(-0.5 * (x[i]! * x[i]! - xv * xv));
      const f1 = Math.exp(-0.5 * (x[i + 1]! * x[i + 1]! - xv * xv));
      if (f1 + this.uniform() * (f0 - f1) < 1) return xv;
    }
  }

  /** Standard normal (Box-Muller, one of the pair). */
  normal(): number {
    const u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Gamma(shape, rate) (Marsaglia-Tsang; shape < 1 boosted by U^(1/shape)). */
  gamma(shape: number, rate: number): number {
    if (shape < 1) return this.gamma(shape + 1, rate) * Math.pow(this.uniform(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return (d * v) / rate;
    }
  }

  /** Standard normal conditioned on being > a (Robert 1995: plain rejection below 0.5, else exponential proposals). */
  normalAbove(a: number): number {
    if (a < 0.5) {
      for (;;) {
        const z = this.normal();
        if (z > a) return z;
      }
    }
    const lambda = (a + Math.sqrt(a * a + 4)) / 2;
    for (;;) {
      const z = a - Math.log(this.uniform()) / lambda;
      if (this.uniform() <= Math.exp(-0.5 * (z - lambda) * (z - lambda))) return z;
    }
  }
}

/** Standard normal CDF (erfc by the Numerical Recipes Chebyshev fit, relative error < 1.2e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const erfc =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - 0.5 * erfc : 0.5 * erfc;
}

/** E[z | z > 0] for z ~ N(m, 1) (the probit target of a positive row in ALS): m + phi(m) / Phi(m). */
export function truncatedMeanAbove(m: number): number {
  if (m < -30) return -1 / m; // Mills ratio asymptote; Phi underflows below here
  return m + Math.exp(-0.5 * m * m) / Math.sqrt(2 * Math.PI) / normalCdf(m);
}
