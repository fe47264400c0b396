// `shoal datagen`: parses its arguments (pure, unit-testable) and runs generateDataset with
// progress on stderr. The generators and the formats are in lib/data/datagen.ts.

import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

import { formatSeconds } from '../algorithms/common/progress.js';
import { definedOnly, flagHelp, parseFlags, usageError, type FlagTable, type UsageError } from '../lib/cli_flags.js';
import type { IdSpaceBits } from '../lib/data/id_space.js';
import { DATAGEN_DEFAULTS, generateDataset, type DatagenOptions, type DatagenTask } from '../lib/data/datagen.js';

const TASKS: readonly DatagenTask[] = ['binary', 'dense', 'rank', 'ratings'];

/** `shoal datagen`'s flags (lib/cli_flags.ts). */
export const DATAGEN_FLAGS = {
  task: {
    kind: 'choice', choices: TASKS, help: `the kind of data:
  binary   sparse CTR-like 0/1 labels, power-law feature frequencies, values 1
  dense    dense 0/1 classification with interactions (all features written)
  rank     relevance 0..4, "rel qid:Q id:v ..." plus FILE.query group sizes
  ratings  libFM style "rating u:1 (users+i):1", ratings 1..5`,
  },
  out: { kind: 'string', aliases: ['-o'], help: 'data file to write (the train file when a test file is asked for)' },
  'test-out': { kind: 'string', help: 'also write a test file (default fraction 0.2)' },
  'test-fraction': { kind: 'number', min: 0, max: 1, value: 'F', help: 'share of rows (queries for rank) in the test file\n(default test file: FILE.test)' },
  seed: { kind: 'int', min: 0, value: 'S', help: 'seed (default 1)' },
  rows: { kind: 'int', min: 0, help: `binary/dense/ratings rows (default ${DATAGEN_DEFAULTS.binary.rows})` },
  features: { kind: 'int', min: 1, help: `binary ${DATAGEN_DEFAULTS.binary.features}, dense ${DATAGEN_DEFAULTS.dense.features}, rank ${DATAGEN_DEFAULTS.rank.features} by default` },
  nnz: { kind: 'int', min: 1, help: `binary: mean non-zeros per row (default ${DATAGEN_DEFAULTS.binary.nnz})` },
  queries: { kind: 'int', min: 0, help: `rank: queries of 5..40 documents (default ${DATAGEN_DEFAULTS.rank.queries})` },
  users: { kind: 'int', min: 1, help: `ratings (default ${DATAGEN_DEFAULTS.ratings.users})` },
  items: { kind: 'int', min: 1, help: `ratings (default ${DATAGEN_DEFAULTS.ratings.items})` },
  'id-space': {
    kind: 'choice', choices: ['40', '64'], help: `binary/ratings: write each feature id hashed into [1, 2^40) or
[1, 2^64) (a bijective mix of the planted index, so distinct
features keep distinct ids; fields sorted by id) instead of
1..features; read such files with --hash-bits, or keep the ids
with the sharded model: shoal train lr --servers K`,
  },
  qid: { kind: 'bool', negatable: true, help: 'rank: --no-qid writes only the .query file, no qid: fields' },
  quiet: { kind: 'bool', aliases: ['-q'], help: 'no progress on stderr' },
} as const satisfies FlagTable;

export const DATAGEN_USAGE = `usage: shoal datagen --task T --out FILE [options]

Writes a synthetic libsvm data set with a planted model (same seed, same bytes).
Numbers may be written like 1e6.

${flagHelp(DATAGEN_FLAGS)}`;

function usage(message: string): UsageError {
  return usageError('shoal datagen', message);
}

/** Parsed `shoal datagen` arguments. */
export interface DatagenArgs extends DatagenOptions {
  quiet: boolean;
  help: boolean;
}

/**
 * Parses the arguments after `shoal datagen`. Pure: touches no files.
 * @throws {UsageError} (a ConfigError) with a `shoal datagen: …` message on a usage error.
 * @example parseDatagenArgs(['--task', 'dense', '--rows', '1e4', '--out', 'd.svm']) // { task: 'dense', rows: 10000, ... }
 */
export function parseDatagenArgs(argv: readonly string[]): DatagenArgs {
  const { values: v, help } = parseFlags('shoal datagen', DATAGEN_FLAGS, argv);
  const out: Partial<DatagenArgs> = { quiet: v.quiet ?? false, help };
  if (help) return out as DatagenArgs;
  if (v.task === undefined) throw usage(`--task is required\n${DATAGEN_USAGE}`);
  if (v.out === undefined) throw usage('--out FILE is required');
  return {
    ...out,
    task: v.task,
    out: v.out,
    ...definedOnly({
      testOut: v['test-out'],
      testFraction: v['test-fraction'],
      seed: v.seed,
      rows: v.rows,
      features: v.features,
      nnz: v.nnz,
      queries: v.queries,
      users: v.users,
      items: v.items,
      idSpace: v['id-space'] === undefined ? undefined : (Number(v['id-space']) as IdSpaceBits),
      qid: v.qid,
    }),
  } as DatagenArgs;
}

/** The directory of each output file must exist and be writable: else exit 2 naming the flag. */
async function checkOutputs(args: DatagenArgs): Promise<void> {
  for (const [flag, file] of [['--out', args.out], ['--test-out', args.testOut]] as const) {
    if (file === undefined) continue;
    const dir = dirname(file);
    try {
      if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
      await access(dir, constants.W_OK);
    } catch (err) {
      throw usage(`cannot write ${flag} ${JSON.stringify(file)}: directory ${JSON.stringify(dir)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
}

/** Runs `shoal datagen` and returns the exit status. */
export async function datagenMain(argv: string[]): Promise<number> {
  const args = parseDatagenArgs(argv);
  if (args.help) {
    process.stdout.write(`${DATAGEN_USAGE}\n`);
    return 0;
  }
  await checkOutputs(args);
  const { quiet, help: _help, ...options } = args;
  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  let lastReport = 0;
  if (!quiet) {
    options.onProgress = (done, total) => {
      // A terminal gets a live line; a log gets a line every 10 s (and at the end).
      const now = Date.now();
      const unit = options.task === 'rank' ? 'queries' : 'rows';
      const secs = Math.max(1e-3, (now - started) / 1000);
      const rate = `${Math.round(done / secs)} ${unit}/s  ETA ${formatSeconds(((total - done) * secs) / Math.max(1, done))}`;
      if (tty) process.stderr.write(`\rdatagen: ${Math.floor((100 * done) / total)}% (${done}/${total})  ${rate}\x1b[K`);
      else if (now - lastReport >= 10_000 || done === total) {
        lastReport = now;
        process.stderr.write(`datagen: ${done}/${total} ${unit}  ${rate}\n`);
      }
    };
  }
  const result = await generateDataset(options);
  if (!quiet) {
    if (tty) process.stderr.write('\n');
    const secs = (Date.now() - started) / 1000;
    const rows = options.task === 'rank' ? `${result.trainQueries}+${result.testQueries} queries, ` : '';
    process.stderr.write(
      `datagen: wrote ${result.files.join(', ')} (${rows}${result.trainRows}+${result.testRows} rows, ${(result.bytes / 1e6).toFixed(1)} MB) in ${secs.toFixed(1)} s\n`,
    );
  }
  return 0;
}
