// Vector programs for vector tables (native/ps/vector_program.h): a solver whose vectors live
// on the parameter servers, one float64 slot per vector and key, describes the arithmetic
// of a step as a few instructions; every server runs them over its rows in one pass and
// answers only the reductions' partial sums. Slots are numbers 0..slots-1: slot 0 is what
// workers pull, slot 1 sums what they push.
import { invalidArgument } from '../errors.js';

const OPS = { lincomb: 0, dot: 1, absSum: 2, pseudoGrad: 3, maskSameSign: 4, project: 5, dotDiff: 6, countNonZero: 7, countRows: 8, newtonStep: 9, divide: 10, affine: 11, dot3: 12 } as const;
const NO_SLOT = 255;
const INSTR_BYTES = 24;
/** Most instructions in one program (native kMaxVectorInstrs). */
export const MAX_VECTOR_INSTRUCTIONS = 1024;

/** Builds one program; the reductions' results come back in the order they were added. */
export class VectorProgram {
  readonly #instrs: Array<{ op: number; a: number; b: number; c: number; d: number; alpha: number; beta: number }> = [];
  #reductions = 0;

  /** c = alpha*a + beta*b (b omitted: c = alpha*a). */
  lincomb(c: number, alpha: number, a: number, beta = 0, b: number | null = null): this {
    return this.#add(OPS.lincomb, a, b ?? NO_SLOT, c, 0, alpha, b === null ? 0 : beta);
  }

  /** c = a (bit for bit). */
  copy(c: number, a: number): this {
    return this.lincomb(c, 1, a);
  }

  /** Reduction: sum of a*b. */
  dot(a: number, b: number): this {
    return this.#reduce(OPS.dot, a, b, 0);
  }

  /** Reduction: sum of a*b*c (a dot product weighted by a third slot, e.g. a diagonal M). */
  dot3(a: number, b: number, c: number): this {
    return this.#reduce(OPS.dot3, a, b, c);
  }

  /** c = a / b, element by element. */
  divide(c: number, a: number, b: number): this {
    return this.#add(OPS.divide, a, b, c, 0, 0, 0);
  }

  /** c = alpha*a + beta, beta a constant. */
  affine(c: number, alpha: number, a: number, beta: number): this {
    return this.#add(OPS.affine, a, 0, c, 0, alpha, beta);
  }

  /** Reduction: sum of |a|. */
  absSum(a: number): this {
    return this.#reduce(OPS.absSum, a, 0, 0);
  }

  /** Reduction: sum of a*(b - c). */
  dotDiff(a: number, b: number, c: number): this {
    return this.#reduce(OPS.dotDiff, a, b, c);
  }

  /** Reduction: how many a_j are not 0. */
  countNonZero(a: number): this {
    return this.#reduce(OPS.countNonZero, a, 0, 0);
  }

  /** Reduction: how many keys there are (rows of the table). */
  countRows(): this {
    return this.#reduce(OPS.countRows, 0, 0, 0);
  }

  /** c = the OWL-QN pseudo-gradient at x = a with smooth gradient g = b and L1 weight l1 (0: c = b). */
  pseudoGradient(c: number, x: number, g: number, l1: number): this {
    return this.#add(OPS.pseudoGrad, x, g, c, 0, l1, 0);
  }

  /** c_j = 0 where c_j * a_j >= 0 (OWL-QN keeps only direction entries that oppose pg). */
  maskSameSign(c: number, a: number): this {
    return this.#add(OPS.maskSameSign, a, 0, c, 0, 0, 0);
  }

  /**
   * c = x + alpha*dir; when `project`, c_j = 0 where its sign leaves x's orthant (sign(x_j),
   * or sign(-pg_j) where x_j = 0): OWL-QN's trial point.
   */
  project(c: number, x: number, alpha: number, dir: number, pg: number, project: boolean): this {
    return this.#add(OPS.project, x, dir, c, pg, alpha, project ? 1 : 0);
  }

  /**
   * c = argmin_z g*z + (h + l2)*z^2/2 + l1*|w + z| (0 where h + l2 <= 1e-12): coordinate
   * descent's soft-thresholded Newton step per key, g the gradient (l2*w included), h the
   * Hessian diagonal.
   */
  newtonStep(c: number, g: number, h: number, w: number, l1: number, l2: number): this {
    if (!(l1 >= 0) || !(l2 >= 0)) throw invalidArgument('VectorProgram.newtonStep', 'l1/l2', 'numbers >= 0', [l1, l2], true);
    return this.#add(OPS.newtonStep, g, h, c, w, l1, l2);
  }

  get length(): number {
    return this.#instrs.length;
  }

  get reductions(): number {
    return this.#reductions;
  }

  /** The wire form: 24 bytes per instruction (op, a, b, c, d, 3 reserved, alpha, beta). */
  bytes(): Uint8Array {
    const n = this.#instrs.length;
    if (n === 0 || n > MAX_VECTOR_INSTRUCTIONS) throw invalidArgument('VectorProgram', 'length', `1..${MAX_VECTOR_INSTRUCTIONS} instructions`, n, true);
    const out = new Uint8Array(n * INSTR_BYTES);
    const view = new DataView(out.buffer);
    this.#instrs.forEach((x, i) => {
      const o = i * INSTR_BYTES;
      out[o] = x.op;
      out[o + 1] = x.a;
      out[o + 2] = x.b;
      out[o + 3] = x.c;
      out[o + 4] = x.d;
      view.setFloat64(o + 8, x.alpha, true);
      view.setFloat64(o + 16, x.beta, true);
    });
    return out;
  }

  #reduce(op: number, a: number, b: number, c: number): this {
    this.#reductions++;
    return this.#add(op, a, b, c, 0, 0, 0);
  }

  #add(op: number, a: number, b: number, c: number, d: number, alpha: number, beta: number): this {
    for (const [name, s] of [['a', a], ['b', b], ['c', c], ['d', d]] as const) {
      if (!Number.isInteger(s) || s < 0 || s > NO_SLOT) throw invalidArgument('VectorProgram', `slot ${name}`, 'an integer in [0, 254]', s, true);
    }
    if (!Number.isFinite(alpha) || !Number.isFinite(beta)) throw invalidArgument('VectorProgram', 'alpha/beta', 'finite numbers', [alpha, beta], true);
    this.#instrs.push({ op, a, b, c, d, alpha, beta });
    return this;
  }
}
