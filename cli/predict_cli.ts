// `shoal predict --model M --data FILE --out PREDS [--metrics-out J]`: one process loads a
// model (algorithms/model.ts), reads the whole data file, writes one probability per line and, if
// asked, the metrics against the file's labels. Bad flags, unreadable files and data with
// feature ids the model does not know exit 2 with a message naming the flag or file.
import { writeFile } from 'node:fs/promises';

import { localCollective } from '../algorithms/common/collective.js';
import { binaryMetrics } from '../algorithms/common/metrics.js';
import { readLibsvm } from '../lib/data/libsvm.js';
import { FlagReader, usageError, type UsageError } from '../lib/cli_flags.js';
import { ShoalError } from '../lib/errors.js';
import { loadModel } from '../algorithms/model.js';

export const PREDICT_USAGE = `usage: shoal predict --model FILE --data FILE --out FILE [--metrics-out FILE]

  --model FILE        model written by shoal train (--model-out)
  --data FILE         libsvm rows to score (labels are used only for the metrics)
  --out FILE          one probability P(y = +1) per line, in row order
  --metrics-out FILE  also write { auc, logloss, accuracy, rows } against the labels
  --skip-bad-lines    skip malformed lines instead of failing`;

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
  const out: Partial<PredictArgs> = { metricsOut: null, skipBadLines: false, help: false };
  if (argv.includes('-h') || argv.includes('--help')) return { model: '', data: '', out: '', metricsOut: null, skipBadLines: false, help: true };
  const r = new FlagReader('shoal predict', argv);
  while (r.next()) {
    switch (r.flag) {
      case '--model': out.model = r.takeValue(); break;
      case '--data': out.data = r.takeValue(); break;
      case '--out': out.out = r.takeValue(); break;
      case '--metrics-out': out.metricsOut = r.takeValue(); break;
      case '--skip-bad-lines': r.noValue(); out.skipBadLines = true; break;
      default:
        throw usage(`unknown option ${JSON.stringify(r.arg)}\n${PREDICT_USAGE}`);
    }
  }
  for (const [key, flag] of [['model', '--model'], ['data', '--data'], ['out', '--out']] as const) {
    if (!out[key]) throw usage(`${flag} FILE is required`);
  }
  return out as PredictArgs;
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
    const known =
      model.algorithm === 'lr'
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
