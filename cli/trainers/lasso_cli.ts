// `shoal train lasso ...` on the launcher side: parses the flags (pure, shared with the rank
// entry cli/ranks/lasso_main.ts), checks the files, then runs -np ranks beside --servers
// parameter servers. Bad flags and unreadable files exit 2 with a message naming them.
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LassoParams } from '../../algorithms/lasso/index.js';
import { FlagReader, USAGE_EXIT_CODE, UsageError, usageError } from '../../lib/cli_flags.js';
import { jobExitCode, rankLinePrinter } from '../rank_output.js';
import { runJobForwardingSignals } from '../../lib/job_signals.js';
import type { SchedulePolicy } from '../../lib/schedule/param_scheduler.js';

const COMMAND = 'shoal train lasso';

export const LASSO_USAGE = `usage: shoal train lasso --train FILE --lambda L [options]

Lasso by model-parallel coordinate descent (Petuum STRADS): minimises
(1/(2n))||y - Xw||^2 + lambda*||w||_1, no intercept (sklearn's Lasso with fit_intercept=False).
Rows are split over the ranks; each round updates up to --parallel coordinates at once.

  --train FILE          libsvm file, labels are the targets (repeatable: files are concatenated)
  --lambda L            L1 weight (> 0), sklearn's alpha
  --scheduler S         dependency (priority sampling + correlation check, default), random
                        (Shotgun) or cyclic
  --parallel P          coordinates per round (default 8)
  --candidates C        dependency: candidates drawn per round (default 2*P)
  --threshold T         dependency: max |correlation| of two coordinates in one round (default 0.1)
  --eta E               dependency: priority floor, fraction of the mean priority (default 0.05)
  --seed S              schedule seed (default 1)
  --max-passes N        stop after N*features coordinate updates (default 200)
  --tol T               stop when a pass lowers the objective by less than T, relative (default 1e-10)
  -np N, --np N         ranks (default 1)
  --servers K           parameter servers holding the model (default 0: the ranks hold it)
  --metrics-out FILE    objective, history [{updates, objective}], updates, rounds, nnz, seconds
  --model-out FILE      the weights as JSON (index = feature id)
  --timeout-ms T        collective and rendezvous timeout
  -q, --quiet           no progress lines

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
  const out: LassoArgs = {
    train: [], np: 1, servers: 0, metricsOut: null, modelOut: null, timeoutMs: null, quiet: false, help: false,
    params: { lambda: NaN, scheduler: 'dependency', parallel: 8, threshold: 0.1, eta: 0.05, seed: 1, maxPasses: 200, tol: 1e-10 },
  };
  const p = out.params;
  const r = new FlagReader(COMMAND, argv);
  while (r.next()) {
    switch (r.flag) {
      case '-h': case '--help': out.help = true; break;
      case '--train': out.train.push(r.takeValue()); break;
      case '--lambda': p.lambda = r.num((n) => n > 0, 'a number > 0'); break;
      case '--scheduler': p.scheduler = r.oneOf<SchedulePolicy>(['dependency', 'random', 'cyclic']); break;
      case '--parallel': p.parallel = r.int(1); break;
      case '--candidates': p.candidates = r.int(1); break;
      case '--threshold': p.threshold = r.num((n) => n >= 0 && n <= 1, 'a number in [0, 1]'); break;
      case '--eta': p.eta = r.num((n) => n >= 0, 'a number >= 0'); break;
      case '--seed': p.seed = r.int(0); break;
      case '--max-passes': p.maxPasses = r.num((n) => n > 0, 'a number > 0'); break;
      case '--tol': p.tol = r.num((n) => n >= 0, 'a number >= 0'); break;
      case '-np': case '-n': case '--np': out.np = r.int(1); break;
      case '--servers': out.servers = r.int(0); break;
      case '--metrics-out': out.metricsOut = r.takeValue(); break;
      case '--model-out': out.modelOut = r.takeValue(); break;
      case '--timeout-ms': out.timeoutMs = r.int(1); break;
      case '-q': case '--quiet': r.noValue(); out.quiet = true; break;
      default: throw r.error(`unknown option ${JSON.stringify(r.arg)} (see ${COMMAND} --help)`);
    }
  }
  if (out.help) return out;
  if (out.train.length === 0) throw r.error('--train FILE is required');
  if (Number.isNaN(p.lambda)) throw r.error('--lambda L is required (the L1 weight, sklearn\'s alpha)');
  if (p.candidates !== undefined && p.candidates < p.parallel) throw r.error(`--candidates ${p.candidates} is below --parallel ${p.parallel}`);
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
  let args: LassoArgs;
  try {
    args = parseLassoArgs(argv);
    if (args.help) {
      process.stdout.write(`${LASSO_USAGE}\n`);
      return 0;
    }
    args.train.forEach(checkReadable);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      return USAGE_EXIT_CODE;
    }
    throw err;
  }
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
