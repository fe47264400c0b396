// `shoal train lasso ...` on the launcher side: parses the flags (pure, shared with the rank
// entry cli/ranks/lasso_main.ts), checks the files, then runs -np ranks beside --servers
// parameter servers. Bad flags and unreadable files exit 2 with a message naming them.
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LassoParams } from '../../algorithms/lasso/index.js';
import { TRAINER_FLAGS } from '../../algorithms/common/trainer_flags.js';
import { flagHelp, parseFlags, usageError, type FlagTable } from '../../lib/cli_flags.js';
import { jobExitCode, rankLinePrinter } from '../rank_output.js';
import { runJobForwardingSignals } from '../../lib/job_signals.js';
import type { SchedulePolicy } from '../../lib/schedule/param_scheduler.js';

const COMMAND = 'shoal train lasso';

/** `shoal train lasso`'s flags: the shared trainer table plus the scheduler's own. */
export const LASSO_FLAGS = {
  ...TRAINER_FLAGS,
  lambda: { kind: 'number', positive: true, value: 'L', help: "L1 weight (> 0), sklearn's alpha (required)" },
  scheduler: { kind: 'choice', choices: ['dependency', 'random', 'cyclic'], help: 'dependency (priority sampling + correlation check, default), random\n(Shotgun) or cyclic' },
  parallel: { kind: 'int', min: 1, value: 'P', help: 'coordinates per round (default 8)' },
  candidates: { kind: 'int', min: 1, value: 'C', help: 'dependency: candidates drawn per round (default 2*P)' },
  threshold: { kind: 'number', min: 0, max: 1, value: 'T', help: 'dependency: max |correlation| of two coordinates in one round (default 0.1)' },
  eta: { kind: 'number', min: 0, value: 'E', help: 'dependency: priority floor, fraction of the mean priority (default 0.05)' },
  seed: { ...TRAINER_FLAGS.seed, help: 'schedule seed (default 1)' },
  'max-passes': { kind: 'number', positive: true, value: 'N', help: 'stop after N*features coordinate updates (default 200)' },
  tol: { kind: 'number', min: 0, value: 'T', help: 'stop when a pass lowers the objective by less than T, relative (default 1e-10)' },
  servers: { kind: 'int', min: 0, max: 256, value: 'K', help: 'parameter servers holding the model (default 0: the ranks hold it)' },
  'metrics-out': { ...TRAINER_FLAGS['metrics-out'], help: 'objective, history [{updates, objective}], updates, rounds, nnz, seconds' },
  'model-out': { ...TRAINER_FLAGS['model-out'], help: 'the weights as JSON (index = feature id)' },
} as const satisfies FlagTable;

export const LASSO_USAGE = `usage: shoal train lasso --train FILE --lambda L [options]

Lasso by model-parallel coordinate descent (Petuum STRADS): minimises
(1/(2n))||y - Xw||^2 + lambda*||w||_1, no intercept (sklearn's Lasso with fit_intercept=False).
Rows are split over the ranks; each round updates up to --parallel coordinates at once.

${flagHelp(LASSO_FLAGS)}

example: shoal train lasso --train data.svm --lambda 0.01 --scheduler dependency -np 2 --servers 1 --metrics-out m.json`;

export interface LassoArgs {
  train: string[];
  np: number;
  servers: number;
  params: LassoParams;
  metricsOut: string | null;
  modelOut: string | null;
  timeoutMs: number | null;
  quiet: boolean;
  help: boolean;
}

/**
 * Parses the arguments after `shoal train lasso`. Pure: touches no files.
 * @throws {UsageError} `shoal train lasso: …` naming the flag.
 */
export function parseLassoArgs(argv: readonly string[]): LassoArgs {
  const { values: v, help } = parseFlags(COMMAND, LASSO_FLAGS, argv);
  const out: LassoArgs = {
    train: v.train ?? [], np: v.np ?? 1, servers: v.servers ?? 0, metricsOut: v['metrics-out'] ?? null, modelOut: v['model-out'] ?? null,
    timeoutMs: v['timeout-ms'] ?? null, quiet: v.quiet ?? false, help,
    params: {
      lambda: v.lambda ?? NaN, scheduler: (v.scheduler ?? 'dependency') as SchedulePolicy, parallel: v.parallel ?? 8, threshold: v.threshold ?? 0.1,
      eta: v.eta ?? 0.05, seed: v.seed ?? 1, maxPasses: v['max-passes'] ?? 200, tol: v.tol ?? 1e-10,
      ...(v.candidates !== undefined ? { candidates: v.candidates } : {}),
    },
  };
  if (help) return out;
  const p = out.params;
  if (out.train.length === 0) throw usageError(COMMAND, '--train FILE is required');
  if (Number.isNaN(p.lambda)) throw usageError(COMMAND, "--lambda L is required (the L1 weight, sklearn's alpha)");
  if (p.candidates !== undefined && p.candidates < p.parallel) throw usageError(COMMAND, `--candidates ${p.candidates} is below --parallel ${p.parallel}`);
  return out;
}

function checkReadable(file: string): void {
  try {
    if (!statSync(file).isFile()) throw new Error('not a regular file');
    accessSync(file, fsConstants.R_OK);
  } catch (err) {
    throw usageError(COMMAND, `cannot read --train ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The compiled per-rank entry. */
const ENTRY = fileURLToPath(new URL('../ranks/lasso_main.js', import.meta.url));

/**
 * `shoal train lasso` (argv: the arguments after `lasso`).
 * @returns the exit code: 0, 2 for bad flags or unreadable files, else the job's.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const args = parseLassoArgs(argv);
  if (args.help) {
    process.stdout.write(`${LASSO_USAGE}\n`);
    return 0;
  }
  args.train.forEach(checkReadable);
  const result = await runJobForwardingSignals({
    np: args.np,
    ...(args.servers > 0 ? { servers: args.servers } : {}),
    command: [process.execPath, ENTRY, ...argv],
    quiet: true,
    noDashboard: true,
    ...(args.timeoutMs !== null ? { timeoutMs: args.timeoutMs } : {}),
    onLine: rankLinePrinter(args.np),
  });
  return jobExitCode(COMMAND, result);
}
