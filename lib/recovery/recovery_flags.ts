// The fault-tolerance flags every `shoal train` algorithm takes, parsed in one place:
//   --max-restarts K, --checkpoint DIR, --checkpoint-every N, --resume DIR, --inject SPEC.
// The launcher half (recoveryRunOptions) goes to startJob; the rank half (stateOptions) to the
// trainer's TrainingState. Ranks re-parse the same argv, so both halves see the same values.
import { parseInjectSpec } from '../fault_injection.js';
import { jobSecret } from '../file_mac.js';
import type { RunOptions } from '../launcher.js';
import { flagHelp, usageError, type FlagTable, type FlagValues } from '../cli_flags.js';
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

/** `--inject SPEC`'s check (the same grammar as `shoal run --inject`). */
export function checkInjectSpec(spec: string): string {
  try {
    parseInjectSpec(spec);
  } catch (err) {
    throw new Error(`: ${(err as Error).message}`);
  }
  return spec;
}

/** `--straggler-factor F`: above 1, else every rank is a straggler. */
export function stragglerFactor(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !(n > 1) || !Number.isFinite(n)) throw new Error(`needs a number > 1, got ${JSON.stringify(raw)}`);
  return n;
}

const directory = (raw: string): string => {
  if (raw.trim() === '') throw new Error('needs a directory, got ""');
  return raw;
};

/** The fault-tolerance flags as a flag table (lib/cli_flags.ts); every trainer spreads it into its own. */
export const RECOVERY_FLAGS = {
  'max-restarts': { kind: 'int', min: 0, value: 'K', help: 'replace a rank that dies, up to K times; training goes on from the last iteration' },
  checkpoint: { kind: 'string', value: 'DIR', parse: directory, help: 'rank 0 writes the training state to DIR/checkpoint.bin (atomically)' },
  'checkpoint-every': { kind: 'int', min: 1, help: '... every N iterations (default 1)' },
  resume: { kind: 'string', value: 'DIR', parse: directory, help: "continue from DIR's checkpoint (same data and parameters; keeps checkpointing there)" },
  inject: { kind: 'string', value: 'SPEC', repeatable: true, parse: checkInjectSpec, help: "fault injection, e.g. 'kill:rank=1:op=allReduce:seq=40' (docs/fault_injection.md)" },
  'backup-instances': { kind: 'int', min: 0, help: 'retire a straggler and start a fresh rank in its place, up to N times' },
  'straggler-factor': { kind: 'string', value: 'F', parse: stragglerFactor, help: "a straggler computes F x longer per op than the others' median (default 2)" },
  'slow-rank': { kind: 'int', min: 0, value: 'R', help: 'stand-in straggler: rank R sleeps --slow-ms M ms before every op (first life only)' },
  'slow-ms': { kind: 'int', min: 1, value: 'M', help: 'with --slow-rank' },
} as const satisfies FlagTable;

export const RECOVERY_USAGE = flagHelp(RECOVERY_FLAGS);

export function defaultRecoveryArgs(): RecoveryArgs {
  return { maxRestarts: 0, backupInstances: 0, stragglerFactor: null, slowRank: null, slowMs: null, checkpoint: null, checkpointEvery: 1, resume: null, inject: null };
}

/** RecoveryArgs from the parsed values of a table that spreads RECOVERY_FLAGS (absent flags: defaults). */
export function recoveryArgs(v: FlagValues<typeof RECOVERY_FLAGS>): RecoveryArgs {
  const d = defaultRecoveryArgs();
  return {
    maxRestarts: v['max-restarts'] ?? d.maxRestarts,
    backupInstances: v['backup-instances'] ?? d.backupInstances,
    stragglerFactor: v['straggler-factor'] ?? d.stragglerFactor,
    slowRank: v['slow-rank'] ?? d.slowRank,
    slowMs: v['slow-ms'] ?? d.slowMs,
    checkpoint: v.checkpoint ?? d.checkpoint,
    checkpointEvery: v['checkpoint-every'] ?? d.checkpointEvery,
    resume: v.resume ?? d.resume,
    inject: v.inject && v.inject.length > 0 ? v.inject.join(';') : d.inject,
  };
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
