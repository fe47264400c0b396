// The fault-tolerance flags every `shoal train` algorithm takes, parsed in one place:
//   --max-restarts K, --checkpoint DIR, --checkpoint-every N, --resume DIR, --inject SPEC.
// The launcher half (recoveryRunOptions) goes to startJob; the rank half (stateOptions) to the
// trainer's TrainingState. Ranks re-parse the same argv, so both halves see the same values.
import { parseInjectSpec } from '../fault_injection.js';
import type { RunOptions } from '../launcher.js';
import { parseInteger, usageError } from '../cli_flags.js';
import type { CheckpointMeta, TrainingStateOptions } from './training_state.js';

export interface RecoveryArgs {
  maxRestarts: number;
  checkpoint: string | null;
  checkpointEvery: number;
  resume: string | null;
  inject: string | null;
}

export const RECOVERY_USAGE = `  --max-restarts K        replace a rank that dies, up to K times; training goes on from the last iteration
  --checkpoint DIR        rank 0 writes the training state to DIR/checkpoint.bin (atomically)
  --checkpoint-every N    ... every N iterations (default 1)
  --resume DIR            continue from DIR's checkpoint (same data and parameters; keeps checkpointing there)
  --inject SPEC           fault injection, e.g. 'kill:rank=1:op=allReduce:seq=40' (docs/fault_injection.md)`;

export function defaultRecoveryArgs(): RecoveryArgs {
  return { maxRestarts: 0, checkpoint: null, checkpointEvery: 1, resume: null, inject: null };
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

/** What the launcher needs from the flags. */
export function recoveryRunOptions(a: RecoveryArgs): Pick<RunOptions, 'maxRestarts' | 'inject'> {
  return { ...(a.maxRestarts > 0 ? { maxRestarts: a.maxRestarts } : {}), ...(a.inject !== null ? { inject: a.inject } : {}) };
}

/** What a rank's TrainingState needs; `meta` identifies the job so --resume refuses another job's file. */
export function stateOptions(a: RecoveryArgs, meta: CheckpointMeta): TrainingStateOptions {
  return { dir: a.checkpoint ?? a.resume, every: a.checkpointEvery, resume: a.resume, meta };
}
