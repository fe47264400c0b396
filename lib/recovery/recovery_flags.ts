// The fault-tolerance flags every `shoal train` algorithm takes, parsed in one place:
//   --max-restarts K, --checkpoint DIR, --checkpoint-every N, --resume DIR, --inject SPEC.
// The launcher half (recoveryRunOptions) goes to startJob; the rank half (stateOptions) to the
// trainer's TrainingState. Ranks re-parse the same argv, so both halves see the same values.
import { parseInjectSpec } from '../fault_injection.js';
import { jobSecret } from '../file_mac.js';
import type { RunOptions } from '../launcher.js';
import { parseInteger, parseNumber, usageError } from '../cli_flags.js';
import type { CheckpointMeta, TrainingStateOptions } from './training_state.js';

export interface RecoveryArgs {
  maxRestarts: number;
  backupInstances: number;
  stragglerFactor: number | null;
  slowRank: number | null;
  slowMs: number | null;
  checkpoint: string | null;
  checkpointEvery: number;
  resume: string | null;
  inject: string | null;
}

export const RECOVERY_USAGE = `  --max-restarts K        replace a rank that dies, up to K times; training goes on from the last iteration
  --checkpoint DIR        rank 0 writes the training state to DIR/checkpoint.bin (atomically)
  --checkpoint-every N    ... every N iterations (default 1)
  --resume DIR            continue from DIR's checkpoint (same data and parameters; keeps checkpointing there)
  --inject SPEC           fault injection, e.g. 'kill:rank=1:op=allReduce:seq=40' (docs/fault_injection.md)
  --backup-instances N    retire a straggler and start a fresh rank in its place, up to N times
  --straggler-factor F    a straggler computes F x longer per op than the others' median (default 2)
  --slow-rank R --slow-ms M   stand-in straggler: rank R sleeps M ms before every op (first life only)`;

export function defaultRecoveryArgs(): RecoveryArgs {
  return { maxRestarts: 0, backupInstances: 0, stragglerFactor: null, slowRank: null, slowMs: null, checkpoint: null, checkpointEvery: 1, resume: null, inject: null };
}

/**
 * Handles `flag` if it is a recovery flag (taking its value with `takeValue`); returns false otherwise.
 * @throws {UsageError} naming the flag for a bad value.
 */
export function parseRecoveryFlag(command: string, flag: string, takeValue: () => string, out: RecoveryArgs): boolean {
  switch (flag) {
    case '--max-restarts':
      out.maxRestarts = parseInteger(command, flag, takeValue(), 0);
      return true;
    case '--backup-instances':
      out.backupInstances = parseInteger(command, flag, takeValue(), 0);
      return true;
    case '--straggler-factor':
      out.stragglerFactor = parseNumber(command, flag, takeValue(), (n) => n > 1, 'a number > 1');
      return true;
    case '--slow-rank':
      out.slowRank = parseInteger(command, flag, takeValue(), 0);
      return true;
    case '--slow-ms':
      out.slowMs = parseInteger(command, flag, takeValue(), 1);
      return true;
    case '--checkpoint':
      out.checkpoint = nonEmpty(command, flag, takeValue());
      return true;
    case '--checkpoint-every':
      out.checkpointEvery = parseInteger(command, flag, takeValue(), 1);
      return true;
    case '--resume':
      out.resume = nonEmpty(command, flag, takeValue());
      return true;
    case '--inject': {
      const spec = takeValue();
      try {
        parseInjectSpec(spec);
      } catch (err) {
        throw usageError(command, `--inject: ${(err as Error).message}`);
      }
      out.inject = out.inject === null ? spec : `${out.inject};${spec}`;
      return true;
    }
    default:
      return false;
  }
}

function nonEmpty(command: string, flag: string, v: string): string {
  if (v.trim() === '') throw usageError(command, `${flag} needs a directory, got ""`);
  return v;
}

/**
 * What the launcher needs from the flags. Called once by each `shoal train` launcher, so it
 * is also where a --checkpoint that a later --resume could not verify is pointed out.
 */
export function recoveryRunOptions(a: RecoveryArgs, env: NodeJS.ProcessEnv = process.env): Pick<RunOptions, 'maxRestarts' | 'inject' | 'backupInstances' | 'stragglerFactor'> {
  if ((a.slowRank === null) !== (a.slowMs === null)) throw usageError('shoal train', '--slow-rank R and --slow-ms M go together');
  const note = checkpointSecretNote(a, env);
  if (note) process.stderr.write(`${note}\n`);
  // The stand-in straggler is a fault-injection delay on every op of rank R (replacements run clean).
  const slow = a.slowRank === null ? null : `delay:rank=${a.slowRank}:ms=${a.slowMs}`;
  const inject = [a.inject, slow].filter((x) => x !== null).join(';');
  return {
    ...(a.maxRestarts > 0 ? { maxRestarts: a.maxRestarts } : {}),
    ...(a.backupInstances > 0 ? { backupInstances: a.backupInstances } : {}),
    ...(a.stragglerFactor !== null ? { stragglerFactor: a.stragglerFactor } : {}),
    ...(inject !== '' ? { inject } : {}),
  };
}

/**
 * Checkpoints (and PS snapshots) are MACed with the job secret; without SHOAL_TOKEN the
 * launcher makes a random one, which a later --resume does not have.
 */
export function checkpointSecretNote(a: RecoveryArgs, env: NodeJS.ProcessEnv = process.env): string | null {
  if ((a.checkpoint === null && a.resume === null) || jobSecret(env) !== null) return null;
  return '[shoal] checkpoints are signed with the job secret, and SHOAL_TOKEN is not set: this job gets a random one, so a ' +
    'later --resume cannot verify its checkpoints, nor can it verify an earlier job\'s. Set the same SHOAL_TOKEN for both runs (e.g. export SHOAL_TOKEN=$(openssl rand -hex 32)); ' +
    "this job's secret is also the token= of its dashboard URL.";
}

/** What a rank's TrainingState needs; `meta` identifies the job so --resume refuses another job's file. */
export function stateOptions(a: RecoveryArgs, meta: CheckpointMeta): TrainingStateOptions {
  return { dir: a.checkpoint ?? a.resume, every: a.checkpointEvery, resume: a.resume, meta };
}
