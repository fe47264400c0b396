// FTRL-Proximal per-coordinate math (McMahan et al. 2013), shared by the distributed trainer,
// the unit tests and the single-process reference. Pure functions over plain numbers: no I/O,
// no parameter server.
//
// State per coordinate i: z_i and n_i. With gradient g_i of the loss at the current w_i:
//   sigma_i = (sqrt(n_i + g_i^2) - sqrt(n_i)) / alpha
//   z_i    += g_i - sigma_i * w_i
//   n_i    += g_i^2
//   w_i     = 0                                                   if |z_i| <= l1
//           = -(z_i - sign(z_i) * l1) / ((beta + sqrt(n_i)) / alpha + l2)   otherwise
// The trainer keeps (z, n) in one `add` table of dim 2 and derives w itself (what the
// parameter server's `ftrl` updater would derive on a pull), so a worker pushing (dz, dn) and
// pulling (z, n) reproduces single-process FTRL when it is the only writer.
//
// Trust region (projection mode): after an update, |w_i| is kept <= R by clipping z_i to
// |z_i| <= R * d_i + l1, d_i = (beta + sqrt(n_i)) / alpha + l2 (w is monotone in z).

/** FTRL-Proximal hyper-parameters. */
export interface FtrlHyper {
  alpha: number;
  beta: number;
  l1: number;
  l2: number;
}

/** The per-coordinate denominator (beta + sqrt(n)) / alpha + l2. */
export function ftrlDenominator(n: number, h: FtrlHyper): number {
  return (h.beta + Math.sqrt(Math.max(n, 0))) / h.alpha + h.l2;
}

/** The closed-form weight from z and n (0 when |z| <= l1). */
export function ftrlWeight(z: number, n: number, h: FtrlHyper): number {
  if (Math.abs(z) <= h.l1) return 0;
  return -(z - Math.sign(z) * h.l1) / ftrlDenominator(n, h);
}

/**
 * Weights (float32, as a model file stores them) of pulled (z, n) pairs: the rows of the
 * `ftrl.zn` table, two floats per key.
 */
export function ftrlWeightsOfRows(zn: Float32Array, h: FtrlHyper): Float32Array {
  const w = new Float32Array(zn.length / 2);
  for (let i = 0; i < w.length; i++) w[i] = ftrlWeight(zn[2 * i]!, Math.max(zn[2 * i + 1]!, 0), h);
  return w;
}

/**
 * The z a server holding n and answering w must have: exact when w != 0; when w == 0 the
 * server's z is only known to lie in [-l1, l1], and `guess` (the worker's own estimate) is
 * clamped into that interval.
 */
export function ftrlZFromWeight(w: number, n: number, h: FtrlHyper, guess: number): number {
  if (w === 0) return Math.min(h.l1, Math.max(-h.l1, guess));
  return -w * ftrlDenominator(n, h) - Math.sign(w) * h.l1;
}

/** Result of one coordinate's update. */
export interface FtrlDelta {
  dz: number;
  dn: number;
  /** The new weight. */
  w: number;
  /** The trust region clipped this update. */
  clipped: boolean;
}

/**
 * One FTRL-Proximal step of one coordinate with gradient `g` at weight `w` (= ftrlWeight(z, n)).
 * `trustRegion` (> 0, Infinity = off) bounds |w| after the step by clipping the z delta.
 */
export function ftrlStep(z: number, n: number, g: number, h: FtrlHyper, trustRegion = Infinity): FtrlDelta {
  // ftrlWeight(z, n), the sigma and ftrlWeight(z2, n2) written out so that each square root is
  // taken once (the same operations in the same order: the results are bit for bit those of the
  // composed functions); this is the trainer's innermost call.
  const rn = Math.sqrt(n);
  const w = Math.abs(z) <= h.l1 ? 0 : -(z - Math.sign(z) * h.l1) / ((h.beta + (rn >= 0 ? rn : 0)) / h.alpha + h.l2);
  const n2 = n + g * g;
  const rn2 = Math.sqrt(n2);
  const sigma = (rn2 - rn) / h.alpha;
  let z2 = z + g - sigma * w;
  const d2 = (h.beta + (rn2 >= 0 ? rn2 : 0)) / h.alpha + h.l2;
  let clipped = false;
  if (trustRegion !== Infinity) {
    const bound = trustRegion * d2 + h.l1;
    if (z2 > bound) {
      z2 = bound;
      clipped = true;
    } else if (z2 < -bound) {
      z2 = -bound;
      clipped = true;
    }
  }
  return { dz: z2 - z, dn: g * g, w: Math.abs(z2) <= h.l1 ? 0 : -(z2 - Math.sign(z2) * h.l1) / d2, clipped };
}
