// `shoal train ftrl ...` and `shoal train fm ...` on the launcher side: validate the flags and
// the input files (exit code 2 with a clear message), then run the compiled worker entry
// (dist/algorithms/<algo>/worker.js) as -np workers beside --servers parameter servers under
// runJob, with the fault-tolerance flags (--max-restarts, --inject) passed to the launcher.
// The training itself lives in algorithms/ftrl and algorithms/fm.
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommonParams } from '../../algorithms/ps_trainer/flags.js';
import { parseFtrlArgs } from '../../algorithms/ftrl/params.js';
import { usageError } from '../../lib/cli_flags.js';
import { exitCodeFor } from '../../lib/launcher.js';
import { runJobForwardingSignals } from '../../lib/job_signals.js';
import { recoveryRunOptions } from '../../lib/recovery/recovery_flags.js';
import { currentSnapshotDir } from '../../lib/ps/snapshot_dir.js';
import { CHECKPOINT_FILE } from '../../lib/recovery/training_state.js';

/** Checks every input file is a readable regular file. @throws {UsageError} */
export function checkInputs(command: string, p: CommonParams): void {
  const files = [...p.train.map((f) => ['--train', f] as const), ...(p.test ? [['--test', p.test] as const] : [])];
  for (const [flag, f] of files) {
    try {
      if (!statSync(f).isFile()) throw new Error('not a regular file');
      accessSync(f, fsConstants.R_OK);
    } catch (err) {
      throw usageError(command, `cannot read ${flag} ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (p.slowRank >= p.np) throw usageError(command, `--slow-rank ${p.slowRank} is not a worker rank (np ${p.np})`);
  const resume = p.recovery.resume;
  // A job without servers (fm --solver als|mcmc) checkpoints a TrainingState file instead of a PS snapshot.
  if (resume !== null && p.servers === 0) {
    const file = join(resume, CHECKPOINT_FILE);
    try {
      accessSync(file, fsConstants.R_OK);
    } catch (err) {
      throw usageError(command, `--resume ${resume}: no checkpoint there (${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  } else if (resume !== null) {
    let manifest = join(resume, 'manifest.json');
    try {
      manifest = join(currentSnapshotDir(resume), 'manifest.json');
      accessSync(manifest, fsConstants.R_OK);
    } catch (err) {
      throw usageError(command, `--resume ${resume}: no parameter-server snapshot there (${manifest}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
}

/**
 * Parses, validates and launches a PS trainer job; returns the exit code (0 ok, else the job's
 * failure code). @throws {UsageError} for bad flags or unreadable files (the CLI exits 2).
 */
export async function launchPsTrainer(
  command: string,
  algo: 'ftrl' | 'fm',
  argv: readonly string[],
  parse: (argv: readonly string[]) => CommonParams,
): Promise<number> {
  const p = parse(argv);
  checkInputs(command, p);
  const worker = fileURLToPath(new URL(`../../algorithms/${algo}/worker.js`, import.meta.url));
  const result = await runJobForwardingSignals({
    np: p.np,
    servers: p.servers,
    command: [process.execPath, worker, ...argv],
    quiet: true,
    noDashboard: p.quiet,
    ...(p.timeoutMs !== undefined ? { timeoutMs: p.timeoutMs } : {}),
    // --max-restarts K replaces lost workers (and servers); the workers recover through the
    // progress table on the servers (algorithms/ftrl/recovery.ts). --inject goes to the ranks.
    ...recoveryRunOptions(p.recovery),
  });
  if (!result.ok) process.stderr.write(`${command}: ${result.summary}\n`);
  return exitCodeFor(result);
}

/**
 * `shoal train ftrl` (argv: the arguments after `ftrl`).
 * @returns the process exit code: 0, 2 for bad flags or unreadable files, else the job's.
 * @example process.exitCode = await main(['--train', 'a9a', '--test', 'a9a.t', '-np', '2']);
 */
export async function main(argv: readonly string[]): Promise<number> {
  return launchPsTrainer('shoal train ftrl', 'ftrl', argv, parseFtrlArgs);
}
