// MART hyper-parameters: names and defaults follow XGBoost's (eta, max_depth, lambda, gamma,
// min_child_weight, subsample, colsample_bytree, max_bin) so results can be compared with the
// same settings. Pure; validation errors are RangeErrors naming the parameter.
import { invalidArgument } from '../../lib/errors.js';

export type MartObjective = 'binary:logistic' | 'reg:squarederror' | 'rank:ndcg';

export interface MartParams {
  objective: MartObjective;
  /** Boosting rounds (trees). */
  rounds: number;
  maxDepth: number;
  /** Leaf-wise growth (XGBoost's lossguide) to at most this many leaves per tree, within maxDepth; 0: depth-wise. */
  maxLeaves: number;
  /** Learning rate (shrinkage of every leaf). */
  eta: number;
  /** At most this many bins per feature, including the missing-value bin; 2..256 (uint8 bins). */
  maxBin: number;
  /** L2 penalty on leaf weights. */
  lambda: number;
  /** Minimum loss reduction to split (XGBoost's min_split_loss). */
  gamma: number;
  /** Minimum hessian sum of each child. */
  minChildWeight: number;
  /** Fraction of rows drawn (by a hash of seed, round and global row index) per tree. */
  subsample: number;
  /** Fraction of the usable features drawn per tree. */
  colsampleBytree: number;
  seed: number;
  /** Stop when the test metric has not improved for this many rounds (0: never). */
  earlyStoppingRounds: number;
  /** Initial prediction (probability for binary:logistic); null: 0.5 for logistic, the weighted label mean for squared error, 0 for ranking. */
  baseScore: number | null;
  /** Threads of the histogram kernel (0: all cores when alone, 1 per rank otherwise). */
  threads: number;
  /** Entries per feature of each rank's quantile summary (0: automatic, see sketch.ts). */
  sketchSize: number;
  /** LambdaMART: NDCG truncation k of the lambda gradients. */
  ndcgK: number;
}

export const MART_DEFAULTS: Readonly<MartParams> = Object.freeze({
  objective: 'binary:logistic',
  rounds: 100,
  maxDepth: 6,
  maxLeaves: 0,
  eta: 0.3,
  maxBin: 256,
  lambda: 1,
  gamma: 0,
  minChildWeight: 1,
  subsample: 1,
  colsampleBytree: 1,
  seed: 0,
  earlyStoppingRounds: 0,
  baseScore: null,
  threads: 0,
  sketchSize: 0,
  ndcgK: 10,
});

const OP = 'mart';

/** Defaults merged with `p`, validated. @throws {RangeError|TypeError} naming the parameter. */
export function martParams(p: Partial<MartParams> = {}): MartParams {
  const out: MartParams = { ...MART_DEFAULTS, ...p };
  const int = (k: keyof MartParams, lo: number, hi: number): void => {
    const v = out[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw invalidArgument(OP, k, `an integer in [${lo}, ${hi}]`, v, true);
  };
  const real = (k: keyof MartParams, lo: number, hi: number, openLo = false): void => {
    const v = out[k];
    if (typeof v !== 'number' || !(openLo ? v > lo : v >= lo) || !(v <= hi)) throw invalidArgument(OP, k, `a number in ${openLo ? '(' : '['}${lo}, ${hi}]`, v, true);
  };
  if (!['binary:logistic', 'reg:squarederror', 'rank:ndcg'].includes(out.objective)) {
    throw invalidArgument(OP, 'objective', "'binary:logistic' | 'reg:squarederror' | 'rank:ndcg'", out.objective);
  }
  int('rounds', 0, 1e6);
  int('maxDepth', 1, 16);
  int('maxLeaves', 0, 65536);
  if (out.maxLeaves === 1) throw invalidArgument(OP, 'maxLeaves', '0 (depth-wise) or an integer in [2, 65536]', out.maxLeaves, true);
  real('eta', 0, 1e6, true);
  int('maxBin', 2, 256);
  real('lambda', 0, Infinity);
  real('gamma', 0, Infinity);
  real('minChildWeight', 0, Infinity);
  real('subsample', 0, 1, true);
  real('colsampleBytree', 0, 1, true);
  int('seed', 0, 2 ** 32 - 1);
  int('earlyStoppingRounds', 0, 1e6);
  int('threads', 0, 1024);
  int('sketchSize', 0, 1 << 24);
  int('ndcgK', 1, 1e6);
  if (out.baseScore !== null) {
    if (out.objective === 'binary:logistic') real('baseScore', 0, 1, true);
    else if (typeof out.baseScore !== 'number' || !Number.isFinite(out.baseScore)) throw invalidArgument(OP, 'baseScore', 'a finite number', out.baseScore, true);
    if (out.objective === 'binary:logistic' && out.baseScore >= 1) throw invalidArgument(OP, 'baseScore', 'a number in (0, 1)', out.baseScore, true);
  }
  return out;
}
