// `shoal train mart|lambdamart ...`: flag parsing (pure), and the two halves of a run: main()
// re-executes the per-rank entry (cli/ranks/{mart,lambdamart}_main.js) as -np ranks under the
// launcher; runRank() is what each rank does (read its share, train, rank 0 writes the model,
// metrics.json and an optional XGBoost export). Usage errors exit 2 naming the flag.
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { localCollective, type Collective } from '../../algorithms/common/collective.js';
import { readRankData, trainLambdaMart } from '../../algorithms/lambdamart/index.js';
import { martCheckpointMeta, saveMartModel, train, xgboostJsonText, type TrainResult } from '../../algorithms/mart/index.js';
import { martParams, type MartParams } from '../../algorithms/mart/params.js';
import { TRAINER_FLAGS, withoutNp } from '../../algorithms/common/trainer_flags.js';
import { DEFAULT_MAX_FEATURES, denseLimitHint } from '../../algorithms/common/dataset.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { flagHelp, parseFlags, usageError, type FlagTable } from '../../lib/cli_flags.js';
import { init } from '../../lib/init.js';
import { exitCodeFor } from '../../lib/launcher.js';
import { runJobForwardingSignals } from '../../lib/job_signals.js';
import { RECOVERY_FLAGS, recoveryArgs, recoveryRunOptions, stateOptions, type RecoveryArgs } from '../../lib/recovery/recovery_flags.js';

export type TreeAlgorithm = 'mart' | 'lambdamart';

/** `shoal train mart|lambdamart`'s flags: the shared trainer and recovery tables plus the trees' own. */
export const MART_FLAGS = {
  ...TRAINER_FLAGS,
  test: { kind: 'string', repeatable: true, help: 'libsvm test file: metrics per round, early stopping, metrics.json (repeatable)' },
  weights: { kind: 'string', value: 'F', help: 'per-row weights (default: FILE.weight next to the data)' },
  'test-weights': { kind: 'string', value: 'F', help: 'per-row weights of the test file' },
  query: { kind: 'string', value: 'F', help: 'lambdamart group sizes (default: FILE.query, or qid: fields)' },
  'test-query': { kind: 'string', value: 'F', help: 'lambdamart group sizes of the test file' },
  partition: { kind: 'choice', choices: ['greedy', 'reader'], help: 'lambdamart query placement (default greedy)' },
  objective: { kind: 'choice', choices: ['binary:logistic', 'reg:squarederror'], value: 'O', help: 'binary:logistic (mart default) | reg:squarederror (lambdamart: rank:ndcg)' },
  rounds: { kind: 'int', min: 0, help: 'boosting rounds (default 100)' },
  'max-depth': { kind: 'int', min: 0, value: 'D', help: 'tree depth (default 6)' },
  'max-leaves': { kind: 'int', min: 0, help: 'leaf-wise growth (best gain first) to N leaves per tree (0: depth-wise)' },
  eta: { kind: 'number', value: 'E', help: 'learning rate (default 0.3)' },
  'max-bin': { kind: 'int', min: 2, value: 'B', help: 'histogram bins per feature (default 256)' },
  lambda: { kind: 'number', value: 'L', help: 'L2 on leaf weights (default 1)' },
  gamma: { kind: 'number', value: 'G', help: 'minimum split gain (default 0)' },
  'min-child-weight': { kind: 'number', value: 'W', help: 'minimum hessian sum per leaf (default 1)' },
  subsample: { kind: 'number', value: 'F', help: 'fraction of rows per tree (default 1)' },
  colsample: { kind: 'number', value: 'F', help: 'fraction of features per tree (default 1)' },
  seed: { ...TRAINER_FLAGS.seed, help: 'seed of --subsample and --colsample (default 0)' },
  'early-stopping': { kind: 'int', min: 0, help: 'stop after N rounds without test improvement (keeps the best model)' },
  'ndcg-k': { kind: 'int', min: 1, value: 'K', help: 'lambdamart NDCG truncation (default 10)' },
  threads: { kind: 'int', min: 0, value: 'T', help: 'histogram threads per rank (0: all cores at -np 1, else 1)' },
  'sketch-size': { kind: 'int', min: 1, hidden: true, help: 'quantile sketch entries per feature' },
  'max-features': { kind: 'int', min: 1, max: 2 ** 32, help: 'refuse data whose largest feature id is N or more, before allocating\n(default 16777216 = 2^24; bins and sketches are dense over the ids)' },
  'model-out': { ...TRAINER_FLAGS['model-out'], help: 'model JSON (shoal-mart format)' },
  'export-xgboost': { kind: 'string', help: "the model in XGBoost's JSON format" },
  'metrics-out': { ...TRAINER_FLAGS['metrics-out'], help: 'test metrics, rounds, train_seconds' },
  ...RECOVERY_FLAGS,
} as const satisfies FlagTable;

export const MART_USAGE = `usage: shoal train mart|lambdamart --train FILE [options]

Gradient boosted trees (XGBoost's hist method, data-parallel) and LambdaMART (NDCG lambdas).
Fault tolerance: the trees, round and early-stopping state are committed after every round;
a recovered or resumed run ends with exactly the model of an undisturbed one.

${flagHelp(MART_FLAGS)}

example: shoal train mart --train binary.train.svm --test binary.test.svm -np 2 --rounds 100 --max-depth 6 --eta 0.1 --metrics-out metrics.json
         shoal train mart ... -np 4 --max-restarts 2 --checkpoint ckpt   (then, after a crash: ... --resume ckpt)`;

export interface MartArgs {
  algorithm: TreeAlgorithm;
  np: number;
  train: string[];
  test: string[];
  weights: string | null;
  testWeights: string | null;
  query: string | null;
  testQuery: string | null;
  partition: 'greedy' | 'reader';
  params: MartParams;
  modelOut: string | null;
  metricsOut: string | null;
  exportXgboost: string | null;
  /** Feature slots allowed (largest id + 1); DEFAULT_MAX_FEATURES unless --max-features. */
  maxFeatures: number;
  quiet: boolean;
  /** --log-every N: every N-th round line, plus the first and the last. */
  logEvery: number;
  help: boolean;
  /** --max-restarts, --checkpoint, --checkpoint-every, --resume, --inject. */
  recovery: RecoveryArgs;
}

/** Parses the arguments after `shoal train mart|lambdamart` (the algorithm is given). Pure. @throws {UsageError} naming the flag. */
export function parseMartArgs(algorithm: TreeAlgorithm, argv: readonly string[]): MartArgs {
  const command = `shoal train ${algorithm}`;
  const { values: v, help } = parseFlags(command, MART_FLAGS, argv[0] === algorithm ? argv.slice(1) : argv);
  const out: MartArgs = {
    algorithm, np: v.np ?? 1, train: v.train ?? [], test: v.test ?? [], weights: v.weights ?? null, testWeights: v['test-weights'] ?? null,
    query: v.query ?? null, testQuery: v['test-query'] ?? null, partition: v.partition ?? 'greedy',
    params: martParams(), modelOut: v['model-out'] ?? null, metricsOut: v['metrics-out'] ?? null, exportXgboost: v['export-xgboost'] ?? null,
    maxFeatures: v['max-features'] ?? DEFAULT_MAX_FEATURES, quiet: v.quiet ?? false, logEvery: v['log-every'] ?? 1, help, recovery: recoveryArgs(v),
  };
  if (help) return out;
  if (out.train.length === 0) throw usageError(command, '--train FILE is required');
  if (algorithm === 'lambdamart' && v.objective !== undefined) throw usageError(command, '--objective is fixed to rank:ndcg for lambdamart');
  const p: Partial<MartParams> = { objective: algorithm === 'lambdamart' ? 'rank:ndcg' : (v.objective ?? 'binary:logistic') };
  const params: Record<string, keyof MartParams> = {
    rounds: 'rounds', 'max-depth': 'maxDepth', 'max-leaves': 'maxLeaves', eta: 'eta', 'max-bin': 'maxBin', lambda: 'lambda', gamma: 'gamma',
    'min-child-weight': 'minChildWeight', subsample: 'subsample', colsample: 'colsampleBytree', seed: 'seed',
    'early-stopping': 'earlyStoppingRounds', threads: 'threads', 'ndcg-k': 'ndcgK', 'sketch-size': 'sketchSize',
  };
  for (const [flag, key] of Object.entries(params)) {
    const n = (v as Record<string, unknown>)[flag];
    if (n !== undefined) (p as Record<string, unknown>)[key] = n;
  }
  try {
    out.params = martParams(p);
  } catch (err) {
    throw usageError(command, (err as Error).message);
  }
  return out;
}

/** The metrics.json object of a finished run. */
export function metricsJson(r: TrainResult): Record<string, number> {
  return { ...r.testMetrics, rounds: r.rounds, best_round: r.bestRound, trees: r.model.trees.length, train_seconds: r.trainSeconds };
}

/** One rank of a run: reads its share, trains, rank 0 writes the outputs. Returns the result. */
export async function runRank(args: MartArgs, comm: Collective): Promise<TrainResult> {
  const log = args.quiet ? null : undefined;
  const logEvery = args.logEvery;
  // Rank 0 checkpoints (--checkpoint/--resume); the meta makes --resume refuse another job's file.
  const recovery = stateOptions(args.recovery, martCheckpointMeta(args.params, comm.size, args.algorithm));
  let result: TrainResult;
  // An id beyond --max-features stops the read at its line; train() refuses no rows at all
  // (inside its recovery scope: a collective out here would desynchronise a replacement rank).
  const limit = { maxFeatures: args.maxFeatures, maxFeaturesHint: denseLimitHint(args.maxFeatures, false) };
  const checks = { maxFeatures: args.maxFeatures, files: args.train };
  if (args.algorithm === 'lambdamart') {
    const opt = (q: string | null, w: string | null): { queryFile?: string; weightFile?: string; mode: 'greedy' | 'reader'; maxFeatures: number; maxFeaturesHint: string } => ({
      ...limit,
      mode: args.partition,
      ...(q ? { queryFile: q } : {}),
      ...(w ? { weightFile: w } : {}),
    });
    const tr = await readRankData(args.train, comm, opt(args.query, args.weights));
    const te = args.test.length > 0 ? await readRankData(args.test, comm, opt(args.testQuery, args.testWeights)) : null;
    result = await trainLambdaMart(comm, tr, args.params, { test: te, recovery, logEvery, ...checks, ...(log === null ? { log } : {}) });
  } else {
    const base = { rank: comm.rank, size: comm.size, ...limit };
    const tr = await readLibsvm(args.train, { ...base, ...(args.weights ? { weightFile: args.weights } : {}) });
    const te = args.test.length > 0 ? await readLibsvm(args.test, { ...base, ...(args.testWeights ? { weightFile: args.testWeights } : {}) }) : null;
    result = await train(comm, tr, args.params, { test: te, recovery, logEvery, ...checks, ...(log === null ? { log } : {}) });
  }
  if (comm.rank === 0) {
    if (args.modelOut) await saveMartModel(args.modelOut, result.model);
    if (args.exportXgboost) await writeFile(args.exportXgboost, xgboostJsonText(result.model));
    if (args.metricsOut) await writeFile(args.metricsOut, `${JSON.stringify(metricsJson(result), null, 2)}\n`);
    if (!args.quiet) console.log(`${args.algorithm}: ${JSON.stringify(metricsJson(result))}`);
  }
  return result;
}

/** The per-rank entry: `node cli/ranks/{mart,lambdamart}_main.js ARGS` inside a job (or alone). Returns the exit code. */
export async function rankMain(algorithm: TreeAlgorithm, argv: string[]): Promise<number> {
  const args = parseMartArgs(algorithm, argv);
  const inJob = process.env.SHOAL_COORDINATOR !== undefined;
  const comm = inJob ? await init() : null;
  try {
    await runRank(args, comm ?? localCollective());
    return 0;
  } finally {
    await comm?.close();
  }
}

const ENTRY: Record<TreeAlgorithm, string> = {
  mart: join(dirname(fileURLToPath(import.meta.url)), '..', 'ranks', 'mart_main.js'),
  lambdamart: join(dirname(fileURLToPath(import.meta.url)), '..', 'ranks', 'lambdamart_main.js'),
};

/** `shoal train mart|lambdamart ARGS`: validates, then runs the ranks under the launcher; the exit status. */
export async function launchTrees(algorithm: TreeAlgorithm, argv: string[]): Promise<number> {
  const args = parseMartArgs(algorithm, argv);
  if (args.help) {
    process.stdout.write(`${MART_USAGE}\n`);
    return 0;
  }
  const result = await runJobForwardingSignals({
    np: args.np,
    command: [process.execPath, ENTRY[algorithm], ...withoutNp(argv[0] === algorithm ? argv.slice(1) : argv)],
    quiet: true,
    ...recoveryRunOptions(args.recovery),
    onLine: (rank, stream, line) => {
      const text = args.np > 1 && (rank !== 0 || stream === 'stderr') ? `[${rank}] ${line}\n` : `${line}\n`;
      (stream === 'stdout' ? process.stdout : process.stderr).write(text);
    },
  });
  if (!result.ok) {
    const code = exitCodeFor(result);
    process.stderr.write(`shoal train ${algorithm}: ${result.summary}\n`);
    return code;
  }
  return 0;
}

/** `shoal train mart ARGS` (argv may start with 'mart'): exit code, 2 for usage errors. */
export function main(argv: string[]): Promise<number> {
  return launchTrees('mart', argv);
}
