// Logistic regression with the model sharded over the parameter servers (`shoal train lr
// --servers K`, KunPeng's L-BFGS layout): w, the gradient, the direction and the L-BFGS pairs
// live on the servers by uint64 feature key, in vector tables (lib/ps/vector_program.ts);
// no process holds a dense vector over the id space. Rank 0 drives the solver
// (quasi_newton.ts) and broadcasts a command before every evaluation; every rank then pulls
// the weights of its own rows' keys, runs the native loss-and-gradient pass, pushes its sparse
// gradient and joins one scalar allReduce (evaluator.ts).
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { predictProbabilities } from '../common/logistic.js';
import type { LrParams } from '../lbfgs_lr/params.js';
import { penaltyOf } from '../lbfgs_lr/params.js';
import type { IterationInfo, QuasiNewtonResult, StopReason } from '../lbfgs_lr/lbfgs.js';
import { ShoalError } from '../../lib/errors.js';
import type { PsClient } from '../../lib/ps/client.js';
import { ShardedEvaluator } from './evaluator.js';
import { shardedQuasiNewton, type QnDriverState } from './quasi_newton.js';
import type { ShardedRunCommits } from './run_commits.js';
import { shardedTron } from './sharded_tron.js';
import { ShardedVectors } from './sharded_vectors.js';
import { MAX_SHARDED_M, slotsFor, X } from './slots.js';

export { MAX_SHARDED_M } from './slots.js';

/** Solvers that run sharded. */
export const SHARDED_SOLVERS = ['tron', 'lbfgs', 'owlqn'] as const;

const EVAL = 1;
const DONE = 2;
const FAILED = 3;
const COMMIT = 4;
const REASONS: StopReason[] = ['gradient', 'objective', 'max-iter', 'line-search'];

/** The dense quasi-Newton result's fields, without the weight vector (it stays on the servers). */
export interface ShardedTrainResult extends Omit<QuasiNewtonResult, 'x'> {
  /** Non-zero feature weights of the model (over every key). */
  modelNnz: number;
  /** Vector programs the driver ran. */
  programs: number;
  /** Distinct feature keys over every rank's rows (rows of the servers' w table). */
  numKeys: number;
  /** This rank's weights at the end, by local index of `keys` (then the bias). */
  localWeights: Float64Array;
  /** The servers' tables (slot X holds the final weights). */
  vectors: ShardedVectors;
  /** P(y = +1) of each of this rank's training rows. */
  predict(data: CsrData, keys: BigUint64Array): Promise<Float64Array>;
  /** tron: ||g|| at the start (its stop rule's reference) and the CG steps. */
  gradNorm0?: number;
  products?: number;
  /** tron, rank 0: where the time went (programs, products, evaluations, native compute). */
  breakdown?: string;
}

/**
 * Trains on this rank's rows. Collective over `comm` and the servers behind `ps`: every rank
 * calls it with its rows (feature ids = local indices into `keys`) and the same params.
 * @throws {RangeError} for a solver other than tron/lbfgs/owlqn or m above MAX_SHARDED_M.
 */
export async function trainSharded(
  comm: Collective,
  ps: PsClient,
  data: CsrData,
  keys: BigUint64Array,
  params: LrParams,
  onIteration?: (info: IterationInfo) => void,
  commits: ShardedRunCommits<QnDriverState> | null = null,
): Promise<ShardedTrainResult> {
  if (params.solver === 'tron') {
    // TRON's programs are not safe to run twice (run_commits.ts covers L-BFGS/OWL-QN only).
    if (commits) throw new RangeError('lr --servers: tron has no checkpoint or restart support yet (use lbfgs or owlqn)');
    return shardedTron(comm, ps, data, keys, params, onIteration);
  }
  if (params.solver !== 'lbfgs' && params.solver !== 'owlqn') throw new RangeError(`lr --servers: solver '${params.solver}' does not run sharded (use tron, lbfgs or owlqn)`);
  if (params.m > MAX_SHARDED_M) throw new RangeError(`lr --servers: m = ${params.m} is above ${MAX_SHARDED_M} (a vector table holds 13 + 2m slots of at most 255)`);
  const t0 = performance.now();
  const vectors = await ShardedVectors.open(ps, 'lr', slotsFor(params.m), params.bias, true);
  const evaluator = new ShardedEvaluator(comm, data, keys, vectors, params.c);
  const cmd = new Float64Array(9);
  if (comm.rank === 0) {
    const evaluate = async (): Promise<number> => {
      cmd[0] = EVAL;
      await comm.bcast(cmd, 0);
      return evaluator.evaluate();
    };
    const onCommit = async (state: QnDriverState): Promise<void> => {
      await commits!.commit(state);
      if (!commits!.replicated) return;
      cmd[0] = COMMIT;
      await comm.bcast(cmd, 0);
      await commits!.follow();
    };
    const penalty = penaltyOf(params);
    try {
      await commits?.prepare(async () => (await vectors.run((p) => p.countRows())).w[0]!);
      const r = await shardedQuasiNewton(vectors, evaluate, {
        m: params.m,
        maxIter: params.maxIter,
        tol: params.tol,
        l2: penalty.l2,
        l1: penalty.l1,
        ...(onIteration ? { onIteration } : {}),
        ...(commits ? { resume: commits.resume, onCommit } : {}),
      });
      // Slot X (what workers pull) takes the final iterate.
      const nnz = await vectors.run((p) => p.copy(X, r.w).countNonZero(r.w).countRows());
      cmd.set([DONE, r.objective, r.gradNorm, r.iterations, r.evaluations, REASONS.indexOf(r.reason), nnz.w[0]!, vectors.programs, nnz.w[1]!]);
    } catch (err) {
      // The other ranks wait for a command: tell them, then fail with the cause.
      cmd[0] = FAILED;
      await comm.bcast(cmd, 0).catch(() => undefined);
      throw err;
    }
    await comm.bcast(cmd, 0);
  } else {
    for (;;) {
      await comm.bcast(cmd, 0);
      if (cmd[0] === EVAL) await evaluator.evaluate();
      else if (cmd[0] === COMMIT) await commits!.follow();
      else break;
    }
    if (cmd[0] === FAILED) throw new ShoalError('ERR_ABORTED', 'lr --servers: rank 0 stopped the solver (see its message)', { rank: comm.rank });
  }
  await evaluator.pullPoint();
  const seconds = (performance.now() - t0) / 1000;
  const t = { objective: cmd[1]!, gradNorm: cmd[2]!, iterations: cmd[3]!, evaluations: cmd[4]!, reason: REASONS[cmd[5]!]!, modelNnz: cmd[6]!, programs: cmd[7]!, numKeys: cmd[8]! };
  return {
    ...t,
    seconds,
    vectors,
    localWeights: evaluator.w,
    predict: async (rows: CsrData, rowKeys: BigUint64Array): Promise<Float64Array> => {
      if (rowKeys === keys) return predictProbabilities(rows, evaluator.w, evaluator.layout);
      const other = new ShardedEvaluator(comm, rows, rowKeys, vectors, params.c);
      await other.pullPoint();
      return predictProbabilities(rows, other.w, other.layout);
    },
  };
}
