// `shoal datagen`: parses its arguments (pure, unit-testable) and runs generateDataset with
// progress on stderr. The generators and the formats are in lib/data/datagen.ts.

import { formatSeconds } from '../algorithms/common/progress.js';
import { FlagReader, usageError, type UsageError } from '../lib/cli_flags.js';
import type { IdSpaceBits } from '../lib/data/id_space.js';
import { DATAGEN_DEFAULTS, generateDataset, type DatagenOptions, type DatagenTask } from '../lib/data/datagen.js';

export const DATAGEN_USAGE = `usage: shoal datagen --task T --out FILE [options]

Writes a synthetic libsvm data set with a planted model (same seed, same bytes).

  --task binary|dense|rank|ratings
        binary   sparse CTR-like 0/1 labels, power-law feature frequencies, values 1
        dense    dense 0/1 classification with interactions (all features written)
        rank     relevance 0..4, "rel qid:Q id:v ..." plus FILE.query group sizes
        ratings  libFM style "rating u:1 (users+i):1", ratings 1..5
  --out FILE              data file to write (the train file when a test file is asked for)
  --test-out FILE         also write a test file (default fraction 0.2)
  --test-fraction F       share of rows (queries for rank) in the test file
                          (default test file: FILE.test)
  --seed S                seed (default 1)
  --rows N                binary/dense/ratings rows (default ${DATAGEN_DEFAULTS.binary.rows})
  --features N            binary ${DATAGEN_DEFAULTS.binary.features}, dense ${DATAGEN_DEFAULTS.dense.features}, rank ${DATAGEN_DEFAULTS.rank.features} by default
  --nnz N                 binary: mean non-zeros per row (default ${DATAGEN_DEFAULTS.binary.nnz})
  --queries N             rank: queries of 5..40 documents (default ${DATAGEN_DEFAULTS.rank.queries})
  --users N, --items N    ratings (default ${DATAGEN_DEFAULTS.ratings.users} and ${DATAGEN_DEFAULTS.ratings.items})
  --id-space 40|64        binary/ratings: write each feature id hashed into [1, 2^40) or
                          [1, 2^64) (a bijective mix of the planted index, so distinct
                          features keep distinct ids; fields sorted by id) instead of
                          1..features; read such files with --hash-bits, or keep the ids
                          with the sharded model: shoal train lr --servers K
  --no-qid                rank: write only the .query file, no qid: fields
  -q, --quiet             no progress on stderr
Numbers may be written like 1e6.`;

function usage(message: string): UsageError {
  return usageError('shoal datagen', message);
}

const TASKS: readonly DatagenTask[] = ['binary', 'dense', 'rank', 'ratings'];

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
  const out: Partial<DatagenArgs> = { quiet: false, help: false };
  const r = new FlagReader('shoal datagen', argv);
  while (r.next()) {
    switch (r.flag) {
      case '--task': {
        const v = r.takeValue();
        if (!TASKS.includes(v as DatagenTask)) throw usage(`--task must be one of ${TASKS.join(', ')}, got ${JSON.stringify(v)}`);
        out.task = v as DatagenTask;
        break;
      }
      case '--out': case '-o': out.out = r.takeValue(); break;
      case '--test-out': out.testOut = r.takeValue(); break;
      case '--test-fraction': out.testFraction = r.num((f) => f >= 0 && f <= 1, 'a number in [0, 1]'); break;
      case '--seed': out.seed = r.int(0); break;
      case '--rows': out.rows = r.int(0); break;
      case '--features': out.features = r.int(1); break;
      case '--nnz': out.nnz = r.int(1); break;
      case '--queries': out.queries = r.int(0); break;
      case '--users': out.users = r.int(1); break;
      case '--items': out.items = r.int(1); break;
      case '--id-space': {
        const v = r.takeValue();
        if (v !== '40' && v !== '64') throw usage(`--id-space must be 40 or 64, got ${JSON.stringify(v)}`);
        out.idSpace = Number(v) as IdSpaceBits;
        break;
      }
      case '--no-qid': r.noValue(); out.qid = false; break;
      case '-q': case '--quiet': r.noValue(); out.quiet = true; break;
      case '-h': case '--help': r.noValue(); out.help = true; break;
      default:
        throw usage(`unknown option ${JSON.stringify(r.arg)}\n${DATAGEN_USAGE}`);
    }
  }
  if (out.help) return out as DatagenArgs;
  if (out.task === undefined) throw usage(`--task is required\n${DATAGEN_USAGE}`);
  if (out.out === undefined || out.out === '') throw usage('--out FILE is required');
  return out as DatagenArgs;
}

/** Runs `shoal datagen` and returns the exit status. */
export async function datagenMain(argv: string[]): Promise<number> {
  const args = parseDatagenArgs(argv);
  if (args.help) {
    process.stdout.write(`${DATAGEN_USAGE}\n`);
    return 0;
  }
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
