// `shoal train lr ...`: parses the flags (pure, unit-testable), checks that the files can be
// read, and re-executes the trainer entry (cli/ranks/lr_main.js) as -np ranks under the
// launcher, so one command runs the whole distributed job. Inside the job every rank reads its
// share of the files, trains, and rank 0 writes the model and the metrics. Usage errors and
// unreadable files exit 2 with a message naming the flag or the file.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEFAULT_MAX_FEATURES } from '../algorithms/common/dataset.js';
import { LOG_EVERY_USAGE } from '../algorithms/common/progress.js';
import { lrParams, type LrParams, type LrPenaltyKind, type LrSolver } from '../algorithms/lbfgs_lr/params.js';
import { MAX_SHARDED_M } from '../algorithms/sharded_lr/slots.js';
import { FlagReader, usageError, type UsageError } from '../lib/cli_flags.js';
import { jobExitCode, rankLinePrinter } from './rank_output.js';
import { runJobForwardingSignals } from '../lib/job_signals.js';
import { REPORT_USAGE } from '../lib/monitor/report_flag.js';
import { defaultRecoveryArgs, parseRecoveryFlag, RECOVERY_USAGE, recoveryRunOptions, type RecoveryArgs } from '../lib/recovery/recovery_flags.js';

export const TRAIN_USAGE = `usage: shoal train lr --train FILE [options]

Logistic regression (liblinear's objective: 0.5*||w||^2 + C*sum logloss, or l1*||w||_1 + C*sum logloss).

  --solver tron|lbfgs|newton-l1|owlqn|bcd  trust-region Newton (L2), L-BFGS (L2), newGLMNET
                            (L1), OWL-QN (L1), block coordinate descent (either); default tron
  --train FILE              libsvm training file (repeatable: files are concatenated)
  --test FILE               libsvm test file for the metrics (default: metrics on the training set)
  -np N, --np N             ranks (default 1)
  --c C                     weight of the loss term (default 1)
  --l1 L                    L1 weight (default 1; owlqn, newton-l1, and bcd with --penalty l1)
  --penalty l2|l1           bcd only (default l2, or l1 when --l1 is given)
  --bias                    learn an unpenalised intercept
  --max-iter N              iterations (Newton steps for tron/newton-l1, passes over the blocks for bcd); default 500
  --tol T                   lbfgs, owlqn, bcd: stop when the relative objective decrease (over 3 iterations) is below T (default 1e-9)
  --eps E                   tron, newton-l1: liblinear's -e, stop when ||g|| <= E * max(min(#pos,#neg),1)/#rows * ||g(0)||
                            (newton-l1: 1-norm of the minimum-norm subgradient, as -s 6); default 1e-5,
                            tighter than liblinear's 0.01: a9a's L1 optimum within 1e-6 needs it
  --m M                     L-BFGS/OWL-QN history (default 10)
  --block-size B            bcd features per block (default min(features, 256); dim/16 with diagonal)
  --bcd-hessian block|diagonal  bcd block statistics (default block)
  --seed S                  bcd block order seed (default 1)
  --model-out FILE          write the model (JSON; FILE.bin sidecar above 1e5 weights)
  --metrics-out FILE        write objective, auc, logloss, accuracy, iterations, train_seconds, nnz
  --skip-bad-lines          skip malformed lines instead of failing (counted; ids above --max-features still fail)
  --max-features N          refuse data whose largest feature id is N or more, before allocating
                            the dense model (default 16777216 = 2^24: 128 MiB per float64 vector)
  --hash-bits B             hash feature ids into [0, 2^B) (1..32; the model records B for predict)
  --servers K               sharded model (lbfgs, owlqn): w, the gradient and the L-BFGS history live on
                            K parameter servers by uint64 feature id (any id up to 2^64-1; no dense
                            vector anywhere); only scalars cross the network for the solver's steps.
                            Metrics only (no --model-out yet); docs/logistic_regression.md
  --replication R           copies of each key with --servers (default 1; a lost server fails the job)
  --timeout-ms T            collective and rendezvous timeout of the ranks
  -q, --quiet               no progress lines
  --log-every N             ${LOG_EVERY_USAGE};
                            the lines show elapsed time and ETA (≤: the solver may stop before --max-iter)
${RECOVERY_USAGE}
${REPORT_USAGE} (every algorithm)
  (every solver continues from the last completed iteration: L-BFGS/OWL-QN bit for bit, history
  included; bcd recomputes its per-rank margins from w, so its last bits may differ)

example: shoal train lr --solver lbfgs --train a9a --test a9a.t -np 4 --model-out m.json --metrics-out metrics.json`;

/** Parsed `shoal train` arguments. */
export interface TrainArgs {
  algorithm: 'lr';
  np: number;
  train: string[];
  test: string[];
  modelOut: string | null;
  metricsOut: string | null;
  params: LrParams;
  skipBadLines: boolean;
  /** Feature slots allowed (largest id + 1); DEFAULT_MAX_FEATURES unless --max-features. */
  maxFeatures: number;
  /** 0: ids as written. */
  hashBits: number;
  /** --servers K: the sharded model on K parameter servers (0: the dense model). */
  servers: number;
  /** --replication R (with --servers). */
  replication: number;
  timeoutMs: number | null;
  quiet: boolean;
  /** --log-every N: every N-th iteration line, plus the first and the last. */
  logEvery: number;
  help: boolean;
  recovery: RecoveryArgs;
}

function usage(message: string): UsageError {
  return usageError('shoal train', message);
}

/**
 * Parses the arguments after `shoal train`. Pure: touches no files.
 * @throws {UsageError} (a ConfigError) with a `shoal train: …` message naming the flag.
 * @example parseTrainArgs(['lr', '--train', 'a9a', '--c', '2']).params.c // 2
 */
export function parseTrainArgs(argv: readonly string[]): TrainArgs {
  if (argv.includes('-h') || argv.includes('--help')) {
    return { algorithm: 'lr', np: 1, train: [], test: [], modelOut: null, metricsOut: null, params: lrParams(), skipBadLines: false, maxFeatures: DEFAULT_MAX_FEATURES, hashBits: 0, servers: 0, replication: 1, timeoutMs: null, quiet: false, logEvery: 1, help: true, recovery: defaultRecoveryArgs() };
  }
  const [algorithm, ...rest] = argv;
  if (algorithm === undefined) throw usage(`which algorithm? (available: lr, mart, lambdamart, ftrl, fm, lasso)\n${TRAIN_USAGE}`);
  if (algorithm !== 'lr') throw usage(`unknown algorithm ${JSON.stringify(algorithm)} (available: lr, mart, lambdamart, ftrl, fm, lasso)`);
  const out: TrainArgs = {
    algorithm: 'lr', np: 1, train: [], test: [], modelOut: null, metricsOut: null,
    params: lrParams(), skipBadLines: false, maxFeatures: DEFAULT_MAX_FEATURES, hashBits: 0, servers: 0, replication: 1, timeoutMs: null, quiet: false, logEvery: 1, help: false, recovery: defaultRecoveryArgs(),
  };
  const p: Partial<LrParams> = {};
  let penalty: LrPenaltyKind | undefined;
  let l1Given = false;
  const r = new FlagReader('shoal train', rest);
  while (r.next()) {
    switch (r.flag) {
      case '--solver': p.solver = r.oneOf<LrSolver>(['lbfgs', 'tron', 'owlqn', 'newton-l1', 'bcd']); break;
      case '--train': out.train.push(r.takeValue()); break;
      case '--test': out.test.push(r.takeValue()); break;
      case '-np': case '-n': case '--np': out.np = r.int(1); break;
      case '--c': case '-c': p.c = r.num((n) => n > 0, 'a number > 0'); break;
      case '--l1': p.l1 = r.num((n) => n > 0, 'a number > 0'); l1Given = true; break;
      case '--penalty': penalty = r.oneOf<LrPenaltyKind>(['l1', 'l2']); break;
      case '--bias': r.noValue(); p.bias = true; break;
      case '--max-iter': p.maxIter = r.int(0); break;
      case '--tol': p.tol = r.num((n) => n >= 0, 'a number >= 0'); break;
      case '--eps': p.eps = r.num((n) => n > 0, 'a number > 0'); break;
      case '--m': p.m = r.int(1); break;
      case '--seed': p.seed = r.int(0); break;
      case '--block-size': p.blockSize = r.int(1); break;
      case '--bcd-hessian': p.bcdHessian = r.oneOf<LrParams['bcdHessian']>(['block', 'diagonal']); break;
      case '--model-out': out.modelOut = r.takeValue(); break;
      case '--metrics-out': out.metricsOut = r.takeValue(); break;
      case '--timeout-ms': out.timeoutMs = r.int(1); break;
      case '--skip-bad-lines': r.noValue(); out.skipBadLines = true; break;
      case '--max-features': out.maxFeatures = r.num((n) => Number.isInteger(n) && n >= 1 && n <= 2 ** 32, 'an integer in [1, 2^32]'); break;
      case '--hash-bits': out.hashBits = r.num((n) => Number.isInteger(n) && n >= 1 && n <= 32, 'an integer in [1, 32]'); break;
      case '--servers': out.servers = r.int(1); break;
      case '--replication': out.replication = r.int(1); break;
      case '-q': case '--quiet': r.noValue(); out.quiet = true; break;
      case '--log-every': out.logEvery = r.int(1); break;
      default:
        if (parseRecoveryFlag('shoal train', r.flag, () => r.takeValue(), out.recovery)) break;
        throw usage(`unknown option ${JSON.stringify(r.arg)} (see shoal train --help)`);
    }
  }
  if (out.train.length === 0) throw usage('--train FILE is required');
  const solver = p.solver ?? 'tron';
  if (penalty === 'l1' && (solver === 'lbfgs' || solver === 'tron')) throw usage(`--penalty l1 needs --solver newton-l1, owlqn or bcd (${solver} is L2 only)`);
  if (penalty === 'l2' && (solver === 'owlqn' || solver === 'newton-l1')) throw usage(`--penalty l2 needs --solver lbfgs, tron or bcd (${solver} is L1 only)`);
  if (l1Given && (solver === 'lbfgs' || solver === 'tron')) throw usage(`--l1 needs --solver newton-l1, owlqn or bcd (${solver} minimises the L2 objective)`);
  p.penalty = penalty ?? (solver === 'owlqn' || solver === 'newton-l1' || (solver === 'bcd' && l1Given) ? 'l1' : 'l2');
  try {
    out.params = lrParams(p);
  } catch (err) {
    throw usage((err as Error).message);
  }
  if (out.servers > 0) checkShardedArgs(out, argv);
  else if (argv.includes('--replication')) throw usage('--replication needs --servers K (the dense model has no servers)');
  return out;
}

// The sharded model (--servers) runs L-BFGS and OWL-QN only, keeps ids as 64-bit keys and
// has no model file yet: refuse what it would otherwise ignore.
function checkShardedArgs(out: TrainArgs, argv: readonly string[]): void {
  const solver = out.params.solver;
  if (solver !== 'lbfgs' && solver !== 'owlqn') throw usage(`--servers needs --solver lbfgs or owlqn (${solver} keeps a dense model on every rank)`);
  if (out.params.m > MAX_SHARDED_M) throw usage(`--m ${out.params.m} is above ${MAX_SHARDED_M} with --servers (a vector table holds 10 + 2m slots of at most 255)`);
  for (const flag of ['--model-out', '--hash-bits', '--max-features']) {
    if (argv.includes(flag)) throw usage(`${flag} does not apply with --servers (${flag === '--model-out' ? 'the sharded model stays on the servers; use --metrics-out' : 'ids are kept as 64-bit keys'})`);
  }
  if (out.replication > out.servers) throw usage(`--replication ${out.replication} is more than --servers ${out.servers}`);
  const rec = out.recovery;
  const recoveryFlag = rec.maxRestarts > 0 ? '--max-restarts' : rec.checkpoint ? '--checkpoint' : rec.resume ? '--resume' : rec.backupInstances > 0 ? '--backup-instances' : rec.stragglerFactor !== null ? '--straggler-factor' : null;
  if (recoveryFlag) throw usage(`${recoveryFlag} does not apply with --servers yet (the sharded model has no checkpoint or recovery; a lost rank or server fails the job)`);
}

async function checkReadable(flag: string, file: string): Promise<void> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new Error('not a regular file');
    await access(file, constants.R_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw usage(`cannot read ${flag} file ${JSON.stringify(file)}: ${e.code ?? e.message}`);
  }
}

async function checkWritableDir(flag: string, file: string): Promise<void> {
  const dir = dirname(file);
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new Error('not a directory');
    await access(dir, constants.W_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw usage(`cannot write ${flag} file ${JSON.stringify(file)}: directory ${JSON.stringify(dir)}: ${e.code ?? e.message}`);
  }
}

/** Checks that every input can be read and every output directory written. @throws {ConfigError} naming flag and file. */
export async function checkTrainFiles(args: TrainArgs): Promise<void> {
  for (const f of args.train) await checkReadable('--train', f);
  for (const f of args.test) await checkReadable('--test', f);
  if (args.modelOut) await checkWritableDir('--model-out', args.modelOut);
  if (args.metricsOut) await checkWritableDir('--metrics-out', args.metricsOut);
}

/** The compiled per-rank entry of `shoal train lr`. */
export const LR_ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'ranks', 'lr_main.js');

/** Drops -np/--np N from argv (the ranks get the rest unchanged). */
export function withoutNp(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-np' || a === '-n' || a === '--np') {
      i++;
      continue;
    }
    if (a.startsWith('--np=')) continue;
    out.push(a);
  }
  return out;
}

/** `shoal train` main: returns the exit status (2 for usage errors, the failing rank's status otherwise). */
export async function trainMain(argv: string[]): Promise<number> {
  const args = parseTrainArgs(argv);
  if (args.help) {
    process.stdout.write(`${TRAIN_USAGE}\n`);
    return 0;
  }
  await checkTrainFiles(args);
  const result = await runJobForwardingSignals({
    np: args.np,
    ...(args.servers > 0 ? { servers: args.servers, replication: args.replication, noDashboard: args.quiet } : {}),
    command: [process.execPath, LR_ENTRY, ...withoutNp(argv)],
    quiet: true,
    ...recoveryRunOptions(args.recovery),
    ...(args.timeoutMs !== null ? { timeoutMs: args.timeoutMs } : {}),
    onLine: rankLinePrinter(args.np),
  });
  return jobExitCode('shoal train', result);
}
