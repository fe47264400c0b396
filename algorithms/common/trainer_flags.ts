// The flags every `shoal train ALGO` takes, with one meaning and one parse rule each; a trainer
// spreads this table into its own (changing only the help text where its default differs):
//   --train FILE   repeatable: the files are concatenated, in order (the same in every trainer)
//   -np N          ranks (workers for the PS trainers)
//   --seed S       seed of the trainer's random choices, an integer >= 0
//   -q/--quiet     no progress lines; --log-every N every N-th line plus the first and last.
import type { FlagTable } from '../../lib/cli_flags.js';
import { LOG_EVERY_USAGE } from './progress.js';

export const TRAINER_FLAGS = {
  train: { kind: 'string', repeatable: true, help: 'libsvm training file, plain or .gz (required; repeat the flag to concatenate files)' },
  np: { kind: 'int', min: 1, max: 1024, aliases: ['-np', '-n'], help: 'ranks (default 1)' },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1, value: 'S', help: "seed of the trainer's random choices" },
  'model-out': { kind: 'string', help: 'write the model (JSON) here' },
  'metrics-out': { kind: 'string', help: 'write the metrics (JSON) here' },
  'timeout-ms': { kind: 'int', min: 1, value: 'T', help: 'collective and rendezvous timeout of the ranks (SHOAL_TIMEOUT_MS)' },
  quiet: { kind: 'bool', aliases: ['-q'], help: 'no progress lines' },
  'log-every': { kind: 'int', min: 1, help: `${LOG_EVERY_USAGE};\nthe lines show elapsed time and ETA` },
} as const satisfies FlagTable;

/** The -np spellings, for launchers that pass a trainer's argv on to its ranks without them. */
const NP_SPELLINGS = ['--np', ...TRAINER_FLAGS.np.aliases];

/** argv without -np/--np N (the launcher starts the ranks; they get the rest unchanged). */
export function withoutNp(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (NP_SPELLINGS.includes(a)) i++;
    else if (!a.startsWith('--np=')) out.push(a);
  }
  return out;
}
