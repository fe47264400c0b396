// `shoal predict --model M --data FILE --out PREDS [--metrics-out J]`: one process loads a
// model (algorithms/model.ts), reads the whole data file, writes one probability per line and, if
// asked, the metrics against the file's labels. Bad flags, unreadable files and data with
// feature ids the model does not know exit 2 with a message naming the flag or file.
import { writeFile } from 'node:fs/promises';

import { localCollective } from '../algorithms/common/collective.js';
import { binaryMetrics } from '../algorithms/common/metrics.js';
import { readLibsvm } from '../lib/data/libsvm.js';
import { flagHelp, parseFlags, usageError, type FlagTable, type UsageError } from '../lib/cli_flags.js';
import { ShoalError } from '../lib/errors.js';
import { loadModel } from '../algorithms/model.js';

/** `shoal predict`'s flags (lib/cli_flags.ts). */
export const PREDICT_FLAGS = {
  model: { kind: 'string', help: 'model written by shoal train (--model-out)' },
  data: { kind: 'string', help: 'libsvm rows to score (labels are used only for the metrics)' },
  out: { kind: 'string', help: 'one probability P(y = +1) per line, in row order' },
  'metrics-out': { kind: 'string', help: 'also write { auc, logloss, accuracy, rows } against the labels' },
  'skip-bad-lines': { kind: 'bool', help: 'skip malformed lines instead of failing' },
} as const satisfies FlagTable;

export const PREDICT_USAGE = `usage: shoal predict --model FILE --data FILE --out FILE [--metrics-out FILE]

${flagHelp(PREDICT_FLAGS)}`;

export interface PredictArgs {
  model: string;
  data: string;
  out: string;
  metricsOut: string | null;
  skipBadLines: boolean;
  help: boolean;
}

function usage(message: string): UsageError {
  return usageError('shoal predict', message);
}

/** Parses the arguments after `shoal predict`. Pure. @throws {UsageError} naming the flag. */
export function parsePredictArgs(argv: readonly string[]): PredictArgs {
  const { values: v, help } = parseFlags('shoal predict', PREDICT_FLAGS, argv);
  const out: PredictArgs = { model: v.model ?? '', data: v.data ?? '', out: v.out ?? '', metricsOut: v['metrics-out'] ?? null, skipBadLines: v['skip-bad-lines'] ?? false, help };
  if (help) return out;
  for (const key of ['model', 'data', 'out'] as const) {
    if (!out[key]) throw usage(`--${key} FILE is required`);
  }
  return out;
}

/** `shoal predict` main: returns the exit status. */
export async function predictMain(argv: string[]): Promise<number> {
  const args = parsePredictArgs(argv);
  if (args.help) {
    process.stdout.write(`${PREDICT_USAGE}\n`);
    return 0;
  }
  let model;
  try {
    model = await loadModel(args.model);
  } catch (err) {
    throw usage(`--model ${(err as Error).message}`);
  }
  let data;
  try {
    const hashBits = 'hashBits' in model && model.hashBits !== undefined && model.hashBits > 0 ? { hashBits: model.hashBits } : {};
    // Trees simply never split on features they did not see; a linear model must know them
    // all, so the reader stops at the first line with an id the model does not have.
    // A keyed model (lr --servers) takes any uint64 id: the rows keep theirs as keys.
    const known =
      'keyed' in model
        ? { keyIds: true }
        : model.algorithm === 'lr'
        ? { maxFeatures: Math.max(1, model.numFeatures), maxFeaturesHint: `the model ${JSON.stringify(args.model)} knows ids 0..${model.numFeatures - 1} (numFeatures ${model.numFeatures}); was it trained on other data?` }
        : {};
    data = await readLibsvm(args.data, { skipBadLines: args.skipBadLines, ...hashBits, ...known });
  } catch (err) {
    if (err instanceof ShoalError || (err as { code?: string }).code === 'ERR_INVALID_ARGUMENT') throw usage(`--data ${JSON.stringify(args.data)}: ${(err as Error).message}`);
    throw err;
  }
  if (data.numRows === 0) {
    const skipped = data.skippedLines > 0 ? ` (${data.skippedLines} malformed lines skipped)` : '';
    throw usage(`--data ${JSON.stringify(args.data)}: no rows to score: the file is empty or only blank and comment lines${skipped}`);
  }
  const probs = model.predict(data);
  const lines: string[] = new Array<string>(probs.length);
  for (let i = 0; i < probs.length; i++) lines[i] = String(probs[i]);
  try {
    await writeFile(args.out, lines.join('\n') + (lines.length ? '\n' : ''));
  } catch (err) {
    throw usage(`cannot write --out ${JSON.stringify(args.out)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (args.metricsOut) {
    const m = await binaryMetrics(localCollective(), probs, data.labels);
    const doc = { auc: m.auc, logloss: m.logloss, accuracy: m.accuracy, rows: m.count, model: args.model, data: args.data };
    try {
      await writeFile(args.metricsOut, JSON.stringify(doc, null, 2) + '\n');
    } catch (err) {
      throw usage(`cannot write --metrics-out ${JSON.stringify(args.metricsOut)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  process.stderr.write(`shoal predict: ${probs.length} rows -> ${args.out}\n`);
  return 0;
}
