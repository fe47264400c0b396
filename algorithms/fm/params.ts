// FM trainer parameters: flags, defaults, validation.
import { usageError, type FlagTable } from '../../lib/cli_flags.js';
import { COMMON_FLAGS, flagHelp, parseCommon, type CommonParams } from '../ps_trainer/flags.js';
import { pipelineBounds } from '../ps_trainer/step_pipeline.js';

export type FmTask = 'regression' | 'binary';
/** adagrad: minibatches through the parameter servers; als / mcmc: closed-form coordinate updates over collectives (coordinate_solver.ts). */
export type FmSolverName = 'adagrad' | 'als' | 'mcmc';

export interface FmParams extends CommonParams {
  solver: FmSolverName;
  task: FmTask;
  factors: number;
  /** AdaGrad step size (server-side updater). */
  lr: number;
  eps: number;
  l2w: number;
  l2v: number;
  initStd: number;
  /** MCMC: iterations whose samples are neither averaged nor kept. */
  burnIn: number;
  /** MCMC: samples kept in the saved model (thinned evenly). */
  keepSamples: number;
}

export const FM_DEFAULTS = {
  task: 'regression' as FmTask,
  factors: 8,
  lr: 0.05,
  eps: 1e-8,
  l2w: 0.1,
  l2v: 0.1,
  /** L2 default of --task binary (logistic gradients are smaller than squared-loss ones). */
  binaryL2: 0.05,
  initStd: 0.01,
  epochs: 20,
  batch: 128,
  staleness: Infinity,
  solver: 'adagrad' as FmSolverName,
  /** ALS / MCMC: iterations (--epochs), libFM's init_stdev, ALS L2 (chosen on MovieLens u1, BENCHMARKS.md "FM solvers"). */
  mcmcIterations: 200,
  alsIterations: 50,
  coordinateInitStd: 0.1,
  /**
   * MCMC --task binary: the probit chain started at 0.1 stays near V = 0 for about 100
   * iterations on MovieLens; chosen on validation splits of the training files (BENCHMARKS.md,
   * "FM solvers", bench/fm_probit_validation.ts).
   */
  mcmcBinaryInitStd: 0.2,
  alsL2w: 5,
  alsL2v: 10,
  /** MCMC: measured on u1 (BENCHMARKS.md): averaging from iteration 11 on beats averaging all (libFM's default). */
  burnIn: 10,
  keepSamples: 50,
};

/** Flags that only the AdaGrad solver reads; given with --solver als|mcmc they are an error. */
const ADAGRAD_ONLY = ['lr', 'eps', 'batch', 'staleness', 'slow-rank', 'slow-ms', 'prefetch', 'pipeline'] as const;
/** Flags that only MCMC reads. */
const MCMC_ONLY = ['burn-in', 'keep-samples'] as const;

export const FM_FLAGS = {
  ...COMMON_FLAGS,
  solver: { kind: 'choice', choices: ['adagrad', 'als', 'mcmc'], help: `adagrad (parameter servers), als or mcmc (coordinate updates over collectives, no servers) (default ${FM_DEFAULTS.solver})` },
  task: { kind: 'choice', choices: ['regression', 'binary'], help: 'squared loss (RMSE) or logistic loss (AUC) (default regression)' },
  factors: { kind: 'int', min: 1, max: 4096, help: `factors k per feature (default ${FM_DEFAULTS.factors})` },
  lr: { kind: 'number', positive: true, help: `AdaGrad learning rate on the servers (default ${FM_DEFAULTS.lr})` },
  eps: { kind: 'number', positive: true, help: `AdaGrad epsilon (default ${FM_DEFAULTS.eps})` },
  l2: { kind: 'number', min: 0, help: 'L2 on both w and v (per occurrence)' },
  'l2-w': { kind: 'number', min: 0, help: `L2 on w (default ${FM_DEFAULTS.l2w}; binary ${FM_DEFAULTS.binaryL2}; als ${FM_DEFAULTS.alsL2w})` },
  'l2-v': { kind: 'number', min: 0, help: `L2 on v (default ${FM_DEFAULTS.l2v}; binary ${FM_DEFAULTS.binaryL2}; als ${FM_DEFAULTS.alsL2v})` },
  'init-std': { kind: 'number', min: 0, help: `std of the normal initialisation (default ${FM_DEFAULTS.initStd}; als/mcmc ${FM_DEFAULTS.coordinateInitStd}; mcmc binary ${FM_DEFAULTS.mcmcBinaryInitStd})` },
  'burn-in': { kind: 'int', min: 0, help: `mcmc: samples of the first N iterations are not averaged (default ${FM_DEFAULTS.burnIn})` },
  'keep-samples': { kind: 'int', min: 1, max: 100000, help: `mcmc: samples saved in the model, thinned evenly (default ${FM_DEFAULTS.keepSamples})` },
} as const satisfies FlagTable;

export const FM_USAGE = `usage: shoal train fm --train FILE [--test FILE] [--task regression|binary] [--factors K] [-np N] [--servers K] [options]

Order-2 factorization machine. --solver adagrad (default) trains on the parameter servers,
asynchronous (ASP) by default, SSP with --staleness S. --solver als | mcmc update one
coordinate at a time in closed form (libFM's ALS and Bayesian MCMC) with the rows split over
the workers and statistics combined by allReduce; --epochs counts their iterations (default
mcmc ${FM_DEFAULTS.mcmcIterations}, als ${FM_DEFAULTS.alsIterations}); mcmc needs no regularisation or learning rate. Same
result for every -np given --seed (docs/fm.md). For als/mcmc, --checkpoint writes the
training state (DIR/checkpoint.bin) every --checkpoint-every N iterations (default 10), and
--max-restarts replaces lost workers from it.

${flagHelp(FM_FLAGS)}`;

/** Parses `shoal train fm` flags. @throws {UsageError} */
export function parseFmArgs(argv: readonly string[]): FmParams {
  const cmd = 'shoal train fm';
  const { f, common } = parseCommon(cmd, argv, FM_FLAGS, FM_USAGE, FM_DEFAULTS);
  const l2 = f['l2'];
  const task = (f['task'] ?? FM_DEFAULTS.task) as FmTask;
  const solver = (f['solver'] ?? FM_DEFAULTS.solver) as FmSolverName;
  const coordinate = solver !== 'adagrad';
  const misplaced = coordinate ? ADAGRAD_ONLY.find((name) => f[name] !== undefined) : MCMC_ONLY.find((name) => f[name] !== undefined);
  if (misplaced !== undefined) throw usageError(cmd, `--${misplaced} does not apply to --solver ${solver}`);
  if (solver === 'als' && MCMC_ONLY.some((name) => f[name] !== undefined)) throw usageError(cmd, '--burn-in and --keep-samples apply to --solver mcmc only');
  if (coordinate) {
    // No parameter servers: the coordinate solvers use collectives only.
    common.servers = 0;
    if (f['epochs'] === undefined) common.epochs = solver === 'als' ? FM_DEFAULTS.alsIterations : FM_DEFAULTS.mcmcIterations;
    const burnIn = f['burn-in'];
    if (burnIn !== undefined && burnIn >= common.epochs) throw usageError(cmd, `--burn-in ${burnIn} leaves no samples of ${common.epochs} iterations`);
  }
  // --prefetch: the pull of minibatch t + 1 goes out at clock t: validated here, applied by the worker.
  pipelineBounds(cmd, common, 1);
  const l2Default = (adagrad: number, als: number): number => (solver === 'als' ? als : adagrad);
  return {
    ...common,
    solver,
    task,
    factors: f['factors'] ?? FM_DEFAULTS.factors,
    lr: f['lr'] ?? FM_DEFAULTS.lr,
    eps: f['eps'] ?? FM_DEFAULTS.eps,
    l2w: f['l2-w'] ?? l2 ?? l2Default(task === 'binary' ? FM_DEFAULTS.binaryL2 : FM_DEFAULTS.l2w, FM_DEFAULTS.alsL2w),
    l2v: f['l2-v'] ?? l2 ?? l2Default(task === 'binary' ? FM_DEFAULTS.binaryL2 : FM_DEFAULTS.l2v, FM_DEFAULTS.alsL2v),
    initStd: f['init-std'] ?? (!coordinate ? FM_DEFAULTS.initStd : solver === 'mcmc' && task === 'binary' ? FM_DEFAULTS.mcmcBinaryInitStd : FM_DEFAULTS.coordinateInitStd),
    burnIn: f['burn-in'] ?? FM_DEFAULTS.burnIn,
    keepSamples: f['keep-samples'] ?? FM_DEFAULTS.keepSamples,
  };
}
