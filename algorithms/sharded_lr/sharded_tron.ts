// `shoal train lr --solver tron --servers K`: the trust-region Newton method (algorithms/tron)
// with its vectors on the parameter servers (tron_vectors.ts). Rank 0 drives and broadcasts a
// command before every collective step; every rank (rank 0 too) serves it with its own rows
// (newton_rows.ts): an evaluation, a CG step's Hessian-vector product, or the Hessian's
// diagonal. The stop rule is the dense tron's (liblinear's -e, common/stopping.ts).
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { classBalancedTol } from '../common/stopping.js';
import type { LrParams } from '../lbfgs_lr/params.js';
import { penaltyOf } from '../lbfgs_lr/params.js';
import type { StopReason } from '../lbfgs_lr/lbfgs.js';
import { predictProbabilities } from '../common/logistic.js';
import { tronOn, type TronOptions, type TronResult } from '../tron/tron.js';
import { ShoalError } from '../../lib/errors.js';
import type { PsClient } from '../../lib/ps/client.js';
import { ShardedEvaluator } from './evaluator.js';
import type { ShardedTrainResult } from './index.js';
import { ShardedNewtonRows } from './newton_rows.js';
import { ShardedVectors } from './sharded_vectors.js';
import { ShardedTronVectors, TRON_SLOTS, type NewtonCommands } from './tron_vectors.js';

const EVAL = 1 as const;
const PRODUCT = 2 as const;
const DIAGONAL = 3 as const;
const DONE = 4;
const FAILED = 5;
const REASONS: StopReason[] = ['gradient', 'objective', 'max-iter', 'line-search'];
/** The dense tron's preconditioner weight (algorithms/tron/tron.ts). */
const PRECONDITION = 0.01;

/** What every rank learns at the end (rank 0 broadcasts it). */
export interface ShardedTronRun extends Omit<TronResult, 'x'> {
  modelNnz: number;
  numKeys: number;
  programs: number;
}

/**
 * Trains on this rank's rows (collective over `comm` and the servers behind `ps`; every rank
 * calls it with its rows, feature ids = local indices into `keys`); the model ends in slot 0
 * of the servers' table and in `localWeights` (this rank's keys).
 */
export async function shardedTron(
  comm: Collective,
  ps: PsClient,
  data: CsrData,
  keys: BigUint64Array,
  params: LrParams,
  onIteration?: TronOptions['onIteration'],
): Promise<ShardedTrainResult> {
  const t0 = performance.now();
  const vectors = await ShardedVectors.open(ps, 'lr', TRON_SLOTS, params.bias, false);
  const evaluator = new ShardedEvaluator(comm, data, keys, vectors, params.c);
  const rows = new ShardedNewtonRows(comm, data, evaluator);
  const gradTol = await classBalancedTol(comm, data, params.eps);
  // [code, accept the last evaluated point first, beta]; DONE: [code, the run's numbers...].
  const cmd = new Float64Array(12);
  let breakdown = '';
  if (comm.rank === 0) {
    let accept = false;
    // Rank 0's wall seconds per kind of command (broadcast, pulls, native pass, pushes, allReduce).
    const spent = { [EVAL]: 0, [PRODUCT]: 0, [DIAGONAL]: 0 };
    const send = async <T>(code: typeof EVAL | typeof PRODUCT | typeof DIAGONAL, beta: number, serve: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      cmd.set([code, accept ? 1 : 0, beta]);
      accept = false;
      await comm.bcast(cmd, 0);
      if (cmd[1]) rows.accept();
      const out = await serve();
      spent[code] += (performance.now() - t0) / 1000;
      return out;
    };
    const commands: NewtonCommands = {
      evaluate: () => send(EVAL, 0, () => rows.evaluate()),
      product: (beta) => send(PRODUCT, beta, () => rows.product(beta)),
      diagonal: () => send(DIAGONAL, 0, () => rows.diagonal()),
      accept: () => void (accept = true),
    };
    const v = new ShardedTronVectors(vectors, commands, penaltyOf(params).l2, PRECONDITION);
    try {
      const r = await tronOn(v, { maxIter: params.maxIter, gradTol, ...(onIteration ? { onIteration } : {}) });
      const end = await v.finish();
      breakdown =
        `rank 0: ${vectors.programs} vector programs ${v.programSeconds.toFixed(2)}s, ${r.products} products ${spent[PRODUCT].toFixed(2)}s, ` +
        `${r.evaluations} evaluations ${spent[EVAL].toFixed(2)}s, diagonals ${spent[DIAGONAL].toFixed(2)}s; its native passes ${rows.computeSeconds.toFixed(2)}s of those`;
      cmd.set([DONE, r.objective, r.gradNorm, r.iterations, r.evaluations, REASONS.indexOf(r.reason), end.nnz, vectors.programs, end.keys, r.gradNorm0, r.products, r.seconds]);
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
      if (cmd[0] === DONE || cmd[0] === FAILED) break;
      if (cmd[1]) rows.accept();
      if (cmd[0] === EVAL) await rows.evaluate();
      else if (cmd[0] === PRODUCT) await rows.product(cmd[2]!);
      else await rows.diagonal();
    }
    if (cmd[0] === FAILED) throw new ShoalError('ERR_ABORTED', 'lr --servers: rank 0 stopped the solver (see its message)', { rank: comm.rank });
  }
  const run: ShardedTronRun = {
    objective: cmd[1]!, gradNorm: cmd[2]!, iterations: cmd[3]!, evaluations: cmd[4]!, reason: REASONS[cmd[5]!]!, modelNnz: cmd[6]!, programs: cmd[7]!, numKeys: cmd[8]!,
    gradNorm0: cmd[9]!, products: cmd[10]!, seconds: cmd[11]!,
  };
  await evaluator.pullPoint();
  return {
    ...run,
    seconds: (performance.now() - t0) / 1000,
    breakdown,
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
