// `shoal train NAME ...` looks NAME up in TRAINERS (below; `shoal train --help` lists them).
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
import { TRAINER_FLAGS, withoutNp } from '../algorithms/common/trainer_flags.js';
import { LR_DEFAULTS, lrParams, type LrParams, type LrPenaltyKind } from '../algorithms/lbfgs_lr/params.js';
import { MAX_SHARDED_M } from '../algorithms/sharded_lr/slots.js';
import { definedOnly, didYouMean, flagHelp, orList, parseFlags, usageError, type FlagTable, type UsageError } from '../lib/cli_flags.js';
import { runJobForwardingSignals } from '../lib/job_signals.js';
import { REPORT_USAGE } from '../lib/monitor/report_flag.js';
import { jobExitCode, rankLinePrinter } from './rank_output.js';
import { RECOVERY_FLAGS, recoveryArgs, recoveryRunOptions, type RecoveryArgs } from '../lib/recovery/recovery_flags.js';

/** `shoal train lr`'s flags: the shared trainer and recovery tables plus the solver's own. */
export const LR_FLAGS = {
  solver: { kind: 'choice', choices: ['lbfgs', 'tron', 'owlqn', 'newton-l1', 'bcd'], help: 'trust-region Newton (L2), L-BFGS (L2), newGLMNET (L1),\nOWL-QN (L1), block coordinate descent (either); default tron' },
  ...TRAINER_FLAGS,
  test: { kind: 'string', repeatable: true, help: 'libsvm test file for the metrics (repeatable; default: metrics on the training set)' },
  c: { kind: 'number', positive: true, value: 'C', aliases: ['-c'], help: 'weight of the loss term (default 1)' },
  l1: { kind: 'number', positive: true, value: 'L', help: 'L1 weight (default 1; owlqn, newton-l1, and bcd with --penalty l1)' },
  penalty: { kind: 'choice', choices: ['l2', 'l1'], help: 'bcd only (default l2, or l1 when --l1 is given)' },
  bias: { kind: 'bool', help: 'learn an unpenalised intercept' },
  'max-iter': { kind: 'int', min: 0, help: 'iterations (Newton steps for tron/newton-l1, passes over the blocks for bcd); default 500' },
  tol: { kind: 'number', min: 0, value: 'T', help: 'lbfgs, owlqn, bcd: stop when the relative objective decrease (over 3 iterations) is below T (default 1e-9)' },
  eps: { kind: 'number', positive: true, value: 'E', help: "tron, newton-l1: liblinear's -e, stop when ||g|| <= E * max(min(#pos,#neg),1)/#rows * ||g(0)||\n(newton-l1: 1-norm of the minimum-norm subgradient, as -s 6); default 1e-5,\ntighter than liblinear's 0.01: a9a's L1 optimum within 1e-6 needs it" },
  m: { kind: 'int', min: 1, value: 'M', help: 'L-BFGS/OWL-QN history (default 10)' },
  'block-size': { kind: 'int', min: 1, value: 'B', help: 'bcd features per block (default min(features, 256); dim/16 with diagonal)' },
  'bcd-hessian': { kind: 'choice', choices: ['block', 'diagonal'], help: 'bcd block statistics (default block)' },
  'bcd-blocks': { kind: 'int', min: 1, max: 4096, value: 'N', help: 'bcd --servers: feature blocks, ranges of the hashed key space (default 16)' },
  'bcd-parallel': { kind: 'int', min: 1, value: 'P', help: 'bcd --servers: blocks updated together per round, one line-searched step (default 1)' },
  'l1-inner': { kind: 'choice', choices: ['local', 'blocked'], help: "newton-l1 at np > 1: each rank solves the model on its own rows, ranks combine\n(local, default: 2 allReduces per round) or exact blocks of columns (blocked:\none allReduce per block); docs/logistic_regression.md" },
  'skip-bad-lines': { kind: 'bool', help: 'skip malformed lines instead of failing (counted; ids above --max-features still fail)' },
  'max-features': { kind: 'int', min: 1, max: 2 ** 32, help: 'refuse data whose largest feature id is N or more, before allocating\nthe dense model (default 16777216 = 2^24: 128 MiB per float64 vector)' },
  'hash-bits': { kind: 'int', min: 1, max: 32, value: 'B', help: 'hash feature ids into [0, 2^B) (the model records B for predict)' },
  seed: { ...TRAINER_FLAGS.seed, help: 'bcd block order seed (default 1)' },
  servers: { kind: 'int', min: 1, max: 256, value: 'K', help: "sharded model (tron, the default; lbfgs, owlqn, bcd): w and the solver's vectors\nlive on K parameter servers by uint64 feature id (any id up to 2^64-1; no dense\nvector anywhere); only scalars cross the network for the solver's steps.\n--model-out (not bcd) writes the weights by key; docs/logistic_regression.md" },
  replication: { kind: 'int', min: 1, value: 'R', help: 'copies of each key with --servers (default 1; a lost server fails the job)' },
  ...RECOVERY_FLAGS,
} as const satisfies FlagTable;

export const TRAIN_USAGE = `usage: shoal train lr --train FILE [options]

Logistic regression (liblinear's objective: 0.5*||w||^2 + C*sum logloss, or l1*||w||_1 + C*sum logloss).
Fault tolerance: every solver continues from the last completed iteration (L-BFGS/OWL-QN bit
for bit, history included; bcd recomputes its per-rank margins from w, so its last bits may differ).

${flagHelp(LR_FLAGS)}

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

const COMMAND = 'shoal train lr';

function usage(message: string): UsageError {
  return usageError(COMMAND, message);
}

/**
 * Parses the arguments after `shoal train` (starting with 'lr'). Pure: touches no files.
 * @throws {UsageError} (a ConfigError) with a `shoal train lr: …` message naming the flag.
 * @example parseTrainArgs(['lr', '--train', 'a9a', '--c', '2']).params.c // 2
 */
export function parseTrainArgs(argv: readonly string[]): TrainArgs {
  const rest = argv[0] === 'lr' ? argv.slice(1) : argv;
  const { values: v, help } = parseFlags(COMMAND, LR_FLAGS, rest);
  const out: TrainArgs = {
    algorithm: 'lr', np: v.np ?? 1, train: v.train ?? [], test: v.test ?? [], modelOut: v['model-out'] ?? null, metricsOut: v['metrics-out'] ?? null,
    params: lrParams(), skipBadLines: v['skip-bad-lines'] ?? false, maxFeatures: v['max-features'] ?? DEFAULT_MAX_FEATURES, hashBits: v['hash-bits'] ?? 0,
    servers: v.servers ?? 0, replication: v.replication ?? 1, timeoutMs: v['timeout-ms'] ?? null, quiet: v.quiet ?? false, logEvery: v['log-every'] ?? 1, help, recovery: recoveryArgs(v),
  };
  if (help) return out;
  if (out.train.length === 0) throw usage('--train FILE is required');
  const p: Partial<LrParams> = definedOnly({
    solver: v.solver,
    c: v.c,
    l1: v.l1,
    bias: v.bias,
    maxIter: v['max-iter'],
    tol: v.tol,
    eps: v.eps,
    m: v.m,
    seed: v.seed,
    blockSize: v['block-size'],
    bcdHessian: v['bcd-hessian'],
    bcdBlocks: v['bcd-blocks'],
    bcdParallel: v['bcd-parallel'],
    l1Inner: v['l1-inner'],
  });
  const penalty: LrPenaltyKind | undefined = v.penalty;
  const l1Given = v.l1 !== undefined;
  const solver = p.solver ?? 'tron';
  if (penalty === 'l1' && (solver === 'lbfgs' || solver === 'tron')) throw usage(`--penalty l1 needs --solver newton-l1, owlqn or bcd (${solver} is L2 only)`);
  if (penalty === 'l2' && (solver === 'owlqn' || solver === 'newton-l1')) throw usage(`--penalty l2 needs --solver lbfgs, tron or bcd (${solver} is L1 only)`);
  if (l1Given && (solver === 'lbfgs' || solver === 'tron')) throw usage(`--l1 needs --solver newton-l1, owlqn or bcd (${solver} minimises the L2 objective)`);
  p.penalty = penalty ?? (solver === 'owlqn' || solver === 'newton-l1' || (solver === 'bcd' && l1Given) ? 'l1' : 'l2');
  const blocks = p.bcdBlocks ?? LR_DEFAULTS.bcdBlocks;
  if (p.bcdParallel !== undefined && p.bcdParallel > blocks + 1) throw usage(`--bcd-parallel ${p.bcdParallel} is more than the ${blocks + 1} blocks a round can take (--bcd-blocks ${blocks} and the bias)`);
  try {
    out.params = lrParams(p);
  } catch (err) {
    throw usage((err as Error).message);
  }
  if (out.servers > 0) checkShardedArgs(out, v);
  else if (v.replication !== undefined) throw usage('--replication needs --servers K (the dense model has no servers)');
  else if (v['bcd-blocks'] !== undefined || v['bcd-parallel'] !== undefined) throw usage(`--${v['bcd-blocks'] !== undefined ? 'bcd-blocks' : 'bcd-parallel'} needs --solver bcd --servers K (the dense bcd takes --block-size)`);
  return out;
}

// The sharded model (--servers) runs TRON, L-BFGS, OWL-QN and BCD and keeps ids as 64-bit keys;
// BCD has no checkpoints, restarts or model file yet: refuse what each would otherwise ignore.
function checkShardedArgs(
  out: TrainArgs,
  v: { 'model-out'?: unknown; 'hash-bits'?: unknown; 'max-features'?: unknown; 'block-size'?: unknown; 'bcd-hessian'?: unknown; 'bcd-blocks'?: unknown; 'bcd-parallel'?: unknown },
): void {
  const solver = out.params.solver;
  if (solver !== 'tron' && solver !== 'lbfgs' && solver !== 'owlqn' && solver !== 'bcd') throw usage(`--servers needs --solver tron, lbfgs, owlqn or bcd (${solver} keeps a dense model on every rank)`);
  if (solver === 'bcd') checkShardedBcdArgs(v);
  else if (v['bcd-blocks'] !== undefined || v['bcd-parallel'] !== undefined) throw usage(`--${v['bcd-blocks'] !== undefined ? 'bcd-blocks' : 'bcd-parallel'} needs --solver bcd`);
  if ((solver === 'lbfgs' || solver === 'owlqn') && out.params.m > MAX_SHARDED_M) throw usage(`--m ${out.params.m} is above ${MAX_SHARDED_M} with --servers (a vector table holds 13 + 2m slots of at most 255)`);
  for (const flag of ['hash-bits', 'max-features'] as const) {
    if (v[flag] !== undefined) throw usage(`--${flag} does not apply with --servers (ids are kept as 64-bit keys)`);
  }
  if (out.replication > out.servers) throw usage(`--replication ${out.replication} is more than --servers ${out.servers}`);
  const rec = out.recovery;
  const recoveryFlag = rec.backupInstances > 0 ? '--backup-instances' : rec.stragglerFactor !== null ? '--straggler-factor' : null;
  if (recoveryFlag) throw usage(`${recoveryFlag} does not apply with --servers yet (--max-restarts, --checkpoint and --resume do)`);
}

// Sharded BCD blocks are hash ranges of the key space, with the per-key (diagonal) Newton step.
function checkShardedBcdArgs(v: { 'model-out'?: unknown; 'block-size'?: unknown; 'bcd-hessian'?: unknown }): void {
  if (v['model-out'] !== undefined) throw usage('--model-out does not apply with --solver bcd --servers yet (the model stays on the servers; use --metrics-out, or --solver lbfgs/owlqn for a keyed model file)');
  if (v['block-size'] !== undefined) throw usage('--block-size does not apply with --servers (blocks are ranges of the hashed key space: use --bcd-blocks N)');
  if (v['bcd-hessian'] === 'block') throw usage('--bcd-hessian block does not apply with --servers (the step is per key, from the Hessian diagonal, computed on the servers)');
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

/** The bundled trainers: `shoal train NAME ...` runs main with the arguments after NAME. */
export const TRAINERS: Record<string, { summary: string; main: () => Promise<(argv: string[]) => Promise<number>> }> = {
  lr: { summary: 'logistic regression: tron, lbfgs (L2), newton-l1, owlqn (L1), bcd (either)', main: async () => lrMain },
  mart: { summary: 'gradient boosted trees (XGBoost hist), data-parallel', main: async () => (await import('./trainers/mart_cli.js')).main },
  lambdamart: { summary: 'LambdaMART ranking trees (NDCG)', main: async () => (await import('./trainers/lambdamart_cli.js')).main },
  ftrl: { summary: 'FTRL-Proximal logistic regression on the parameter server', main: async () => (await import('./trainers/ftrl_cli.js')).main },
  fm: { summary: 'factorization machine: AdaGrad on the parameter server, or ALS / MCMC (--solver)', main: async () => (await import('./trainers/fm_cli.js')).main },
  lasso: { summary: 'model-parallel Lasso by scheduled coordinate descent (Petuum STRADS)', main: async () => (await import('./trainers/lasso_cli.js')).main },
};

export const TRAINERS_USAGE = `usage: shoal train TRAINER --train FILE [-np N] [options]   (shoal train TRAINER --help)

trainers:
${Object.entries(TRAINERS).map(([name, t]) => `  ${name.padEnd(12)}${t.summary}`).join('\n')}

Every trainer takes --train FILE (repeat it to concatenate files), -np N, --test FILE, --seed S,
-q/--quiet, --log-every N, --model-out FILE, --metrics-out FILE and the fault-tolerance flags
(--max-restarts K, --checkpoint DIR, --resume DIR, --inject SPEC); see docs/cli.md.
${REPORT_USAGE}`;

/** `shoal train ...`: the trainer named by argv[0], or the list of trainers. */
export async function trainMain(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) throw usageError('shoal train', `which trainer?\n${TRAINERS_USAGE}`);
  if (name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${TRAINERS_USAGE}\n`);
    return 0;
  }
  const trainer = Object.hasOwn(TRAINERS, name) ? TRAINERS[name] : undefined;
  if (trainer === undefined) {
    const near = didYouMean(name, Object.keys(TRAINERS));
    throw usageError('shoal train', `unknown trainer ${JSON.stringify(name)}${near ? `; did you mean ${near}?` : ''} (available: ${orList(Object.keys(TRAINERS))})`);
  }
  return (await trainer.main())(rest);
}

/** `shoal train lr ARGS` (argv: after 'lr'): the exit status (2 for usage errors, the failing rank's status otherwise). */
export async function lrMain(argv: string[]): Promise<number> {
  const args = parseTrainArgs(argv);
  if (args.help) {
    process.stdout.write(`${TRAIN_USAGE}\n`);
    return 0;
  }
  await checkTrainFiles(args);
  const result = await runJobForwardingSignals({
    np: args.np,
    // Vector programs change the servers' rows in place; a replacement's copy would miss some.
    ...(args.servers > 0 ? { servers: args.servers, replication: args.replication, noDashboard: args.quiet, replaceServers: false } : {}),
    command: [process.execPath, LR_ENTRY, ...withoutNp(argv)],
    quiet: true,
    ...recoveryRunOptions(args.recovery),
    ...(args.timeoutMs !== null ? { timeoutMs: args.timeoutMs } : {}),
    onLine: rankLinePrinter(args.np),
  });
  return jobExitCode(COMMAND, result);
}
