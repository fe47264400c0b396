// `npm start` / `shoal demo`: the main job on data the project makes itself. Generates a
// synthetic sparse binary data set with a planted model (`shoal datagen`), trains L-BFGS
// logistic regression on local ranks (`shoal train lr`), and prints progress and test AUC.
// `shoal demo collectives` runs the collectives bandwidth demo instead (cli/demo.ts).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { TRAINER_FLAGS } from '../algorithms/common/trainer_flags.js';
import { flagHelp, parseFlags, type FlagTable } from '../lib/cli_flags.js';
import { datagenMain } from './datagen_cli.js';
import { trainMain } from './train_cli.js';

const DEMO_FLAGS = {
  np: { ...TRAINER_FLAGS.np, help: 'ranks (default 2)' },
  rows: { kind: 'int', min: 1, help: 'synthetic rows (default 200000)' },
} as const satisfies FlagTable;

export const DEMO_USAGE = `usage: shoal demo [--np N] [--rows N]
       shoal demo collectives [--np N] [--timeout-ms T] [-q]   (shoal demo collectives --help)

Generates a synthetic sparse binary data set with a planted model and trains logistic
regression on it on local ranks, printing progress and the test AUC.

${flagHelp(DEMO_FLAGS)}`;

export async function demoTrainMain(argv: string[]): Promise<number> {
  const { values, help } = parseFlags('shoal demo', DEMO_FLAGS, argv, { helpHint: 'shoal demo --help' });
  if (help) {
    process.stdout.write(`${DEMO_USAGE}\n`);
    return 0;
  }
  const np = values.np ?? 2;
  const rows = values.rows ?? 200_000;
  const dir = mkdtempSync(join(tmpdir(), 'shoal-demo-'));
  const train = join(dir, 'train.svm');
  const test = join(dir, 'test.svm');
  process.stdout.write(`Shoal demo: ${rows} synthetic rows (sparse, CTR-like, planted model), logistic regression (trust-region Newton, the default L2 solver) on ${np} local ranks\n`);
  process.stdout.write(`1. shoal datagen --task binary --rows ${rows} --features 100000 --nnz 20 --out ${train} --test-out ${test}\n`);
  let code = await datagenMain(['--task', 'binary', '--rows', String(rows), '--features', '100000', '--nnz', '20', '--seed', '7', '--out', train, '--test-out', test, '--quiet']);
  if (code !== 0) return code;
  const metrics = join(dir, 'metrics.json');
  const model = join(dir, 'model.json');
  process.stdout.write(`2. shoal train lr --train ${train} --test ${test} -np ${np} --max-iter 100 --tol 1e-7 --model-out ${model} --metrics-out ${metrics}\n`);
  code = await trainMain(['lr', '--train', train, '--test', test, '-np', String(np), '--max-iter', '100', '--tol', '1e-7', '--model-out', model, '--metrics-out', metrics]);
  if (code !== 0) return code;
  const m = JSON.parse(readFileSync(metrics, 'utf8')) as Record<string, number>;
  process.stdout.write(
    `Done: test AUC ${m['auc']?.toFixed(4)}, logloss ${m['logloss']?.toFixed(4)}, objective ${m['objective']?.toFixed(3)} after ${m['iterations']} iterations ` +
      `in ${m['train_seconds']?.toFixed(2)} s. Model and metrics: ${dir}\n`,
  );
  return 0;
}
