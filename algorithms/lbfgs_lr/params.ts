// Parameters of the logistic-regression trainers (L-BFGS, OWL-QN, BCD, TRON, Newton-L1): defaults, validation
// and the penalty each solver minimises. Validation errors are RangeErrors naming the field.

export type LrSolver = 'lbfgs' | 'owlqn' | 'bcd' | 'tron' | 'newton-l1';
export type LrPenaltyKind = 'l2' | 'l1';

export interface LrParams {
  solver: LrSolver;
  /** Weight of the data term (liblinear's C). */
  c: number;
  /** 'l2': 0.5*||w||^2; 'l1': l1*||w||_1. lbfgs and tron are L2 only, owlqn and newton-l1 L1 only, bcd either. */
  penalty: LrPenaltyKind;
  /** L1 weight when penalty is 'l1'. */
  l1: number;
  /** Learn an unpenalised bias (intercept). */
  bias: boolean;
  /** Iterations (L-BFGS/OWL-QN) or passes over the blocks (BCD). */
  maxIter: number;
  /** Relative objective decrease under which to stop (lbfgs, owlqn, bcd). */
  tol: number;
  /**
   * liblinear's -e (tron, newton-l1): stop when ||g|| <= eps * max(min(#pos, #neg), 1) / #rows * ||g(0)||
   * (newton-l1: the 1-norm of the minimum-norm subgradient, as liblinear -s 6).
   */
  eps: number;
  /** L-BFGS history size. */
  m: number;
  /** Seed of the BCD block order (the quasi-Newton solvers are deterministic). */
  seed: number;
  /** Features per BCD block; 0 picks min(dim, 256) (the block Hessian has blockSize^2/2 entries). */
  blockSize: number;
  /** BCD statistics: full block Hessian (exact block Newton step) or its diagonal. */
  bcdHessian: 'block' | 'diagonal';
  /** BCD with --servers: feature blocks, each a range of the hashed key space. */
  bcdBlocks: number;
  /** BCD with --servers: blocks updated together in one round (one joint, line-searched step). */
  bcdParallel: number;
  /** newton-l1's inner solve at np > 1 above 1024 slots: on each rank's rows, combined ('local'), or by exact blocks of columns ('blocked'). */
  l1Inner: 'local' | 'blocked';
}

export const LR_DEFAULTS: Readonly<LrParams> = Object.freeze({
  // tron: 6x fewer seconds than lbfgs at a better objective on the issue-14 set (BENCHMARKS.md).
  solver: 'tron',
  c: 1,
  penalty: 'l2',
  l1: 1,
  bias: false,
  maxIter: 500,
  tol: 1e-9,
  eps: 1e-5,
  m: 10,
  seed: 1,
  blockSize: 0,
  bcdHessian: 'block',
  bcdBlocks: 16,
  bcdParallel: 1,
  l1Inner: 'local',
});

function check(ok: boolean, name: string, expected: string, value: unknown): void {
  if (!ok) throw new RangeError(`lr: expected ${expected} for '${name}' but received ${JSON.stringify(value)}`);
}

/** Fills defaults and validates; owlqn implies penalty 'l1'. @throws {RangeError} naming the field. */
export function lrParams(partial: Partial<LrParams> = {}): LrParams {
  const l1Only = partial.solver === 'owlqn' || partial.solver === 'newton-l1';
  const p: LrParams = { ...LR_DEFAULTS, ...(l1Only && partial.penalty === undefined ? { penalty: 'l1' } : {}), ...partial };
  check(['lbfgs', 'owlqn', 'bcd', 'tron', 'newton-l1'].includes(p.solver), 'solver', "'lbfgs' | 'owlqn' | 'bcd' | 'tron' | 'newton-l1'", p.solver);
  check(p.penalty === 'l2' || p.penalty === 'l1', 'penalty', "'l2' | 'l1'", p.penalty);
  check(!((p.solver === 'lbfgs' || p.solver === 'tron') && p.penalty === 'l1'), 'penalty', `'l2' with solver ${p.solver} (use owlqn or bcd for L1)`, p.penalty);
  check(!((p.solver === 'owlqn' || p.solver === 'newton-l1') && p.penalty === 'l2'), 'penalty', `'l1' with solver ${p.solver} (use lbfgs, tron or bcd for L2)`, p.penalty);
  check(Number.isFinite(p.c) && p.c > 0, 'c', 'a number > 0', p.c);
  check(Number.isFinite(p.l1) && p.l1 > 0, 'l1', 'a number > 0', p.l1);
  check(typeof p.bias === 'boolean', 'bias', 'a boolean', p.bias);
  check(Number.isInteger(p.maxIter) && p.maxIter >= 0, 'maxIter', 'an integer >= 0', p.maxIter);
  check(Number.isFinite(p.tol) && p.tol >= 0, 'tol', 'a number >= 0', p.tol);
  check(Number.isFinite(p.eps) && p.eps > 0, 'eps', 'a number > 0', p.eps);
  check(Number.isInteger(p.m) && p.m >= 1 && p.m <= 1000, 'm', 'an integer in 1..1000', p.m);
  check(Number.isInteger(p.seed), 'seed', 'an integer', p.seed);
  check(Number.isInteger(p.blockSize) && p.blockSize >= 0, 'blockSize', 'an integer >= 0', p.blockSize);
  check(p.bcdHessian === 'block' || p.bcdHessian === 'diagonal', 'bcdHessian', "'block' | 'diagonal'", p.bcdHessian);
  check(Number.isInteger(p.bcdBlocks) && p.bcdBlocks >= 1 && p.bcdBlocks <= 4096, 'bcdBlocks', 'an integer in 1..4096', p.bcdBlocks);
  check(Number.isInteger(p.bcdParallel) && p.bcdParallel >= 1 && p.bcdParallel <= p.bcdBlocks + 1, 'bcdParallel', `an integer in 1..bcdBlocks + 1 (${p.bcdBlocks + 1})`, p.bcdParallel);
  check(p.l1Inner === 'local' || p.l1Inner === 'blocked', 'l1Inner', "'local' | 'blocked'", p.l1Inner);
  return p;
}

/** The penalty the solver minimises: { l2: 1, l1: 0 } or { l2: 0, l1: L }. */
export function penaltyOf(p: LrParams): { l2: number; l1: number } {
  return p.penalty === 'l1' ? { l2: 0, l1: p.l1 } : { l2: 1, l1: 0 };
}
