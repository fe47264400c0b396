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
import { LOG_EVERY_USAGE } from '../../algorithms/common/progress.js';
import { DEFAULT_MAX_FEATURES, denseLimitHint } from '../../algorithms/common/dataset.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { ConfigError } from '../../lib/errors.js';
import { init } from '../../lib/init.js';
import { exitCodeFor } from '../../lib/launcher.js';
import { runJobForwardingSignals } from '../../lib/job_signals.js';
import { defaultRecoveryArgs, parseRecoveryFlag, RECOVERY_USAGE, recoveryRunOptions, stateOptions, type RecoveryArgs } from '../../lib/recovery/recovery_flags.js';

export type TreeAlgorithm = 'mart' | 'lambdamart';

export const MART_USAGE = `usage: shoal train mart|lambdamart --train FILE [options]

Gradient boosted trees (XGBoost's hist method, data-parallel) and LambdaMART (NDCG lambdas).

  --train FILE            libsvm training file (repeatable)
  --test FILE             libsvm test file: metrics per round, early stopping, metrics.json
  --weights F / --test-weights F   per-row weights (default: FILE.weight next to the data)
  --query F / --test-query F       lambdamart group sizes (default: FILE.query, or qid: fields)
  --partition greedy|reader        lambdamart query placement (default greedy)
  -np N                   ranks (default 1)
  --objective O           binary:logistic (mart default) | reg:squarederror
  --rounds N (100)  --max-depth D (6)  --eta E (0.3)  --max-bin B (256)  --lambda L (1)
  --max-leaves N          leaf-wise growth (best gain first) to N leaves per tree (0: depth-wise)
  --gamma G (0)  --min-child-weight W (1)  --subsample F (1)  --colsample F (1)  --seed S (0)
  --early-stopping N      stop after N rounds without test improvement (keeps the best model)
  --ndcg-k K              lambdamart NDCG truncation (10)
  --threads T             histogram threads per rank (0: all cores at -np 1, else 1)
  --max-features N        refuse data whose largest feature id is N or more, before allocating
                          (default 16777216 = 2^24; bins and sketches are dense over the ids)
  --model-out FILE        model JSON (shoal-mart format)
  --export-xgboost FILE   the model in XGBoost's JSON format
  --metrics-out FILE      test metrics, rounds, train_seconds
  -q, --quiet             no progress lines
  --log-every N           ${LOG_EVERY_USAGE};
                          the lines show elapsed time and ETA (≤ with --early-stopping)

Fault tolerance (the trees, round and early-stopping state are committed after every round;
a recovered or resumed run ends with exactly the model of an undisturbed one):
${RECOVERY_USAGE}

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

function usage(message: string): ConfigError {
  return new ConfigError('ERR_CONFIG', `shoal train: ${message}`);
}

/** Parses the arguments after `shoal train mart|lambdamart` (the algorithm is given). Pure. @throws {ConfigError} naming the flag. */
export function parseMartArgs(algorithm: TreeAlgorithm, argv: readonly string[]): MartArgs {
  const out: MartArgs = {
    algorithm, np: 1, train: [], test: [], weights: null, testWeights: null, query: null, testQuery: null, partition: 'greedy',
    params: martParams(), modelOut: null, metricsOut: null, exportXgboost: null, maxFeatures: DEFAULT_MAX_FEATURES, quiet: false, logEvery: 1, help: false,
    recovery: defaultRecoveryArgs(),
  };
  const p: Partial<MartParams> = { objective: algorithm === 'lambdamart' ? 'rank:ndcg' : 'binary:logistic' };
  const nums: Record<string, keyof MartParams> = {
    '--rounds': 'rounds', '--max-depth': 'maxDepth', '--max-leaves': 'maxLeaves', '--eta': 'eta', '--max-bin': 'maxBin', '--lambda': 'lambda', '--gamma': 'gamma',
    '--min-child-weight': 'minChildWeight', '--subsample': 'subsample', '--colsample': 'colsampleBytree', '--seed': 'seed',
    '--early-stopping': 'earlyStoppingRounds', '--threads': 'threads', '--ndcg-k': 'ndcgK', '--sketch-size': 'sketchSize',
  };
  const args = argv[0] === algorithm ? argv.slice(1) : argv;
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (flag === '-h' || flag === '--help') {
      out.help = true;
      continue;
    }
    if (flag === '-q' || flag === '--quiet') {
      out.quiet = true;
      continue;
    }
    const takeValue = (): string => {
      const x = args[++i];
      if (x === undefined) throw usage(`${flag} needs a value`);
      return x;
    };
    if (parseRecoveryFlag('shoal train', flag, takeValue, out.recovery)) continue;
    const v = args[i + 1];
    if (v === undefined) throw usage(`${flag} needs a value`);
    i++;
    const key = nums[flag];
    if (key !== undefined) {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw usage(`${flag} expects a number, got ${JSON.stringify(v)}`);
      (p as Record<string, number>)[key] = n;
      continue;
    }
    switch (flag) {
      case '-np': case '-n': case '--np': {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw usage(`${flag} expects an integer >= 1, got ${JSON.stringify(v)}`);
        out.np = n;
        break;
      }
      case '--log-every': {
        const n = Number(v);
        if (v.trim() === '' || !Number.isInteger(n) || n < 1) throw usage(`${flag} expects an integer >= 1, got ${JSON.stringify(v)}`);
        out.logEvery = n;
        break;
      }
      case '--train': out.train.push(v); break;
      case '--test': out.test.push(v); break;
      case '--weights': out.weights = v; break;
      case '--test-weights': out.testWeights = v; break;
      case '--query': out.query = v; break;
      case '--test-query': out.testQuery = v; break;
      case '--model-out': out.modelOut = v; break;
      case '--metrics-out': out.metricsOut = v; break;
      case '--export-xgboost': out.exportXgboost = v; break;
      case '--max-features': {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw usage(`${flag} expects an integer in [1, 2^32], got ${JSON.stringify(v)}`);
        out.maxFeatures = n;
        break;
      }
      case '--objective':
        if (algorithm === 'lambdamart') throw usage('--objective is fixed to rank:ndcg for lambdamart');
        p.objective = v as MartParams['objective'];
        break;
      case '--partition':
        if (v !== 'greedy' && v !== 'reader') throw usage(`--partition expects greedy or reader, got ${JSON.stringify(v)}`);
        out.partition = v;
        break;
      default:
        throw usage(`unknown option ${JSON.stringify(flag)} (see shoal train ${algorithm} --help)`);
    }
  }
  if (out.help) return out;
  if (out.train.length === 0) throw usage('--train FILE is required');
  try {
    out.params = martParams(p);
  } catch (err) {
    throw usage((err as Error).message);
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

/** Drops -np N from argv. */
function withoutNp(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-np' || a === '-n' || a === '--np') i++;
    else out.push(a);
  }
  return out;
}

export async function launchTrees(algorithm: TreeAlgorithm, argv: string[]): Promise<number> {
  let args: MartArgs;
  try {
    args = parseMartArgs(algorithm, argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
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
