// Logistic regression with the model sharded over the parameter servers (`shoal train lr
// --servers K`, KunPeng's L-BFGS layout): w, the gradient, the direction and the L-BFGS pairs
// live on the servers by uint64 feature key, in vector tables (lib/ps/vector_program.ts);
// no process holds a dense vector over the id space. Rank 0 drives the solver
// (quasi_newton.ts) and broadcasts a command before every evaluation (command_loop.ts); every rank then pulls
// the weights of its own rows' keys, runs the native loss-and-gradient pass, pushes its sparse
// gradient and joins one scalar allReduce (evaluator.ts).
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import type { LrParams } from '../lbfgs_lr/params.js';
import { penaltyOf } from '../lbfgs_lr/params.js';
import type { IterationInfo, QuasiNewtonResult, StopReason } from '../lbfgs_lr/lbfgs.js';
import type { PsClient } from '../../lib/ps/client.js';
import type { BcdDriverState } from '../sharded_bcd/index.js';
import { ShardedEvaluator } from './evaluator.js';
import { shardedQuasiNewton, type QnDriverState } from './quasi_newton.js';
import type { ShardedRunCommits } from './run_commits.js';
import { driveFromRank0 } from './command_loop.js';
import { shardedTron, type TronDriverState } from './sharded_tron.js';
import { ShardedVectors } from './sharded_vectors.js';
import { MAX_SHARDED_M, slotsFor, X } from './slots.js';

export { MAX_SHARDED_M } from './slots.js';

/** Solvers that run sharded. */
export const SHARDED_SOLVERS = ['tron', 'lbfgs', 'owlqn'] as const;

const EVAL = 1;
const REASONS: StopReason[] = ['gradient', 'objective', 'max-iter', 'line-search'];

/** What a sharded solver's driver commits (run_commits.ts). */
export type ShardedDriverState = QnDriverState | TronDriverState | BcdDriverState;

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
  commits: ShardedRunCommits<ShardedDriverState> | null = null,
): Promise<ShardedTrainResult> {
  if (params.solver === 'tron') return shardedTron(comm, ps, data, keys, params, onIteration, commits as ShardedRunCommits<TronDriverState> | null);
  if (params.solver !== 'lbfgs' && params.solver !== 'owlqn') throw new RangeError(`lr --servers: solver '${params.solver}' does not run sharded (use tron, lbfgs or owlqn)`);
  if (params.m > MAX_SHARDED_M) throw new RangeError(`lr --servers: m = ${params.m} is above ${MAX_SHARDED_M} (a vector table holds 13 + 2m slots of at most 255)`);
  const t0 = performance.now();
  const vectors = await ShardedVectors.open(ps, 'lr', slotsFor(params.m), params.bias, true);
  const evaluator = new ShardedEvaluator(comm, data, keys, vectors, params.c);
  const qnCommits = commits as ShardedRunCommits<QnDriverState> | null;
  const penalty = penaltyOf(params);
  const out = await driveFromRank0(comm, {
    width: 8,
    commits: qnCommits,
    serve: async () => void (await evaluator.evaluate()),
    drive: async (sender) => {
      await qnCommits?.prepare(async () => (await vectors.run((p) => p.countRows())).w[0]!);
      const evaluate = async (): Promise<number> => {
        await sender.send(EVAL);
        return evaluator.evaluate();
      };
      const r = await shardedQuasiNewton(vectors, evaluate, {
        m: params.m,
        maxIter: params.maxIter,
        tol: params.tol,
        l2: penalty.l2,
        l1: penalty.l1,
        ...(onIteration ? { onIteration } : {}),
        ...(qnCommits ? { resume: qnCommits.resume, onCommit: (state: QnDriverState) => sender.commit(state) } : {}),
      });
      // Slot X (what workers pull) takes the final iterate.
      const nnz = await vectors.run((p) => p.copy(X, r.w).countNonZero(r.w).countRows());
      return [r.objective, r.gradNorm, r.iterations, r.evaluations, REASONS.indexOf(r.reason), nnz.w[0]!, vectors.programs, nnz.w[1]!];
    },
  });
  await evaluator.pullPoint();
  const seconds = (performance.now() - t0) / 1000;
  const t = { objective: out[0]!, gradNorm: out[1]!, iterations: out[2]!, evaluations: out[3]!, reason: REASONS[out[4]!]!, modelNnz: out[5]!, programs: out[6]!, numKeys: out[7]! };
  return {
    ...t,
    seconds,
    vectors,
    localWeights: evaluator.w,
    predict: (rows: CsrData, rowKeys: BigUint64Array) => evaluator.predict(rows, rowKeys),
  };
}
