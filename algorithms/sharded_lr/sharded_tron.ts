// `shoal train lr --solver tron --servers K`: the trust-region Newton method (algorithms/tron)
// with its vectors on the parameter servers (tron_vectors.ts). Rank 0 drives and broadcasts a
// command before every collective step (command_loop.ts); every rank (rank 0 too) serves it
// with its own rows (newton_rows.ts): an evaluation, a CG step's Hessian-vector product, or
// the Hessian's diagonal. The stop rule is the dense tron's (liblinear's -e, common/stopping.ts).
//
// Recovery (run_commits.ts, as L-BFGS/OWL-QN): after every outer iteration the driver commits
// its scalars (TronDriverState: the iteration, the radius, the counts) and which slot set holds
// the accepted point; that set stays untouched until the next commit (tron_vectors.ts), so a
// rolled-back driver finds it on the servers. It goes on as the dense tron resumes: evaluate
// at the committed point (which also gives every rank its rows' curvature again), the
// preconditioner, then the CG of the interrupted outer iteration from its start.
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { classBalancedTol } from '../common/stopping.js';
import type { LrParams } from '../lbfgs_lr/params.js';
import { penaltyOf } from '../lbfgs_lr/params.js';
import type { StopReason } from '../lbfgs_lr/lbfgs.js';
import { tronOn, type TronOptions, type TronResult, type TronState } from '../tron/tron.js';
import type { PsClient } from '../../lib/ps/client.js';
import { driveFromRank0 } from './command_loop.js';
import { ShardedEvaluator } from './evaluator.js';
import type { ShardedTrainResult } from './index.js';
import { ShardedNewtonRows } from './newton_rows.js';
import type { ShardedRunCommits } from './run_commits.js';
import { ShardedVectors } from './sharded_vectors.js';
import { ShardedTronVectors, TRON_SLOTS, type NewtonCommands } from './tron_vectors.js';

// Commands: [code, accept the last evaluated point first, beta].
const EVAL = 1 as const;
const PRODUCT = 2 as const;
const DIAGONAL = 3 as const;
const REASONS: StopReason[] = ['gradient', 'objective', 'max-iter', 'line-search'];
/** The dense tron's preconditioner weight (algorithms/tron/tron.ts). */
const PRECONDITION = 0.01;

/** What every rank learns at the end (rank 0 broadcasts it). */
export interface ShardedTronRun extends Omit<TronResult, 'x'> {
  modelNnz: number;
  numKeys: number;
  programs: number;
}

/** What the driver commits after each outer iteration (plain data: lib/recovery's state codec). */
export interface TronDriverState extends Omit<TronState, 'w'> {
  /** Which slot set holds the accepted point (tron_vectors.ts). */
  iterate: number;
  /** Vector programs run so far. */
  programs: number;
}

/**
 * Trains on this rank's rows (collective over `comm` and the servers behind `ps`; every rank
 * calls it with its rows, feature ids = local indices into `keys`); the model ends in slot 0
 * of the servers' table and in `localWeights` (this rank's keys). With `commits`, the driver
 * commits after every outer iteration and goes on from `commits.resume`.
 */
export async function shardedTron(
  comm: Collective,
  ps: PsClient,
  data: CsrData,
  keys: BigUint64Array,
  params: LrParams,
  onIteration?: TronOptions['onIteration'],
  commits: ShardedRunCommits<TronDriverState> | null = null,
): Promise<ShardedTrainResult> {
  const t0 = performance.now();
  const vectors = await ShardedVectors.open(ps, 'lr', TRON_SLOTS, params.bias, true);
  const evaluator = new ShardedEvaluator(comm, data, keys, vectors, params.c);
  const rows = new ShardedNewtonRows(comm, data, evaluator);
  const gradTol = await classBalancedTol(comm, data, params.eps);
  let breakdown = '';
  const serve = async (cmd: Float64Array): Promise<void> => {
    if (cmd[1]) rows.accept();
    if (cmd[0] === EVAL) await rows.evaluate();
    else if (cmd[0] === PRODUCT) await rows.product(cmd[2]!);
    else await rows.diagonal();
  };
  const out = await driveFromRank0<TronDriverState>(comm, {
    width: 11,
    commits,
    serve,
    drive: async (sender) => {
      await commits?.prepare(async () => (await vectors.run((p) => p.countRows())).w[0]!);
      const resume = commits?.resume ?? null;
      if (resume) vectors.programs = resume.programs;
      let accept = false;
      // Rank 0's wall seconds per kind of command (broadcast, pulls, native pass, pushes, allReduce).
      const spent = { [EVAL]: 0, [PRODUCT]: 0, [DIAGONAL]: 0 };
      const send = async <T>(code: typeof EVAL | typeof PRODUCT | typeof DIAGONAL, beta: number, run: () => Promise<T>): Promise<T> => {
        const t0 = performance.now();
        const acceptFirst = accept;
        accept = false;
        await sender.send(code, acceptFirst ? 1 : 0, beta);
        if (acceptFirst) rows.accept();
        const out = await run();
        spent[code] += (performance.now() - t0) / 1000;
        return out;
      };
      const commands: NewtonCommands = {
        evaluate: () => send(EVAL, 0, () => rows.evaluate()),
        product: (beta) => send(PRODUCT, beta, () => rows.product(beta)),
        diagonal: () => send(DIAGONAL, 0, () => rows.diagonal()),
        accept: () => void (accept = true),
      };
      const v = new ShardedTronVectors(vectors, commands, penaltyOf(params).l2, PRECONDITION, resume?.iterate ?? null);
      const onCommit = async (state: Omit<TronState, 'w'>): Promise<void> => {
        // The accepted point's deferred copy (pending after a final accepted step) runs before its set is committed.
        await v.flush();
        await sender.commit({ ...state, iterate: v.iterate, programs: vectors.programs });
      };
      const r = await tronOn(v, { maxIter: params.maxIter, gradTol, resume, ...(onIteration ? { onIteration } : {}), ...(commits ? { onCommit } : {}) });
      const end = await v.finish();
      breakdown =
        `rank 0: ${vectors.programs} vector programs ${v.programSeconds.toFixed(2)}s, ${r.products} products ${spent[PRODUCT].toFixed(2)}s, ` +
        `${r.evaluations} evaluations ${spent[EVAL].toFixed(2)}s, diagonals ${spent[DIAGONAL].toFixed(2)}s; its native passes ${rows.computeSeconds.toFixed(2)}s of those`;
      return [r.objective, r.gradNorm, r.iterations, r.evaluations, REASONS.indexOf(r.reason), end.nnz, vectors.programs, end.keys, r.gradNorm0, r.products, r.seconds];
    },
  });
  const run: ShardedTronRun = {
    objective: out[0]!, gradNorm: out[1]!, iterations: out[2]!, evaluations: out[3]!, reason: REASONS[out[4]!]!, modelNnz: out[5]!, programs: out[6]!, numKeys: out[7]!,
    gradNorm0: out[8]!, products: out[9]!, seconds: out[10]!,
  };
  await evaluator.pullPoint();
  return {
    ...run,
    seconds: (performance.now() - t0) / 1000,
    breakdown,
    vectors,
    localWeights: evaluator.w,
    predict: (rows: CsrData, rowKeys: BigUint64Array) => evaluator.predict(rows, rowKeys),
  };
}
