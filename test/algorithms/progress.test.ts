// `--log-every N` and the elapsed/ETA columns of the trainers' progress lines (issue 18): the
// pacer on its own, then real `shoal train lr|mart|ftrl` runs with a known number of steps
// print exactly the first, every N-th and the last line; a bad N is a usage error (exit 2);
// `shoal datagen` shows its rate and ETA.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { syntheticBinary, toLibsvmText } from '../helpers/synthetic.js';
import { formatSeconds, progressPacer } from '../../algorithms/common/progress.js';
import { shoal } from '../helpers/shoal_cli.js';

// Generated here: the tests never depend on the shared data sets.
const dataDir = mkdtempSync(join(tmpdir(), 'shoal-progress-'));
test.after.always(() => rmSync(dataDir, { recursive: true, force: true }));
const TRAIN = join(dataDir, 'train.svm');
writeFileSync(TRAIN, toLibsvmText(syntheticBinary({ rows: 4000, features: 60, nnzPerRow: 8, seed: 3 })) + '\n');

/** The step numbers of the progress lines matched by `re` (group 1). */
function steps(out: string, re: RegExp): number[] {
  return [...out.matchAll(re)].map((m) => Number(m[1]));
}

test('the pacer prints the first, every N-th and the held last step, with elapsed and ETA', (t) => {
  const lines: string[] = [];
  const pacer = progressPacer((l) => lines.push(l), { every: 5, planned: 20, mayStopEarly: true });
  for (let i = 1; i <= 12; i++) pacer.step(i, `s ${i}`);
  t.deepEqual(lines.map((l) => l.split('  ')[0]), ['s 1', 's 5', 's 10']);
  pacer.finish(); // stopped early at 12: its line is printed now, once
  pacer.finish();
  t.deepEqual(lines.map((l) => l.split('  ')[0]), ['s 1', 's 5', 's 10', 's 12']);
  for (const l of lines) t.regex(l, /  elapsed \d+\.\ds  ETA ≤ \S+$/);

  const fixed: string[] = [];
  const p2 = progressPacer((l) => fixed.push(l), { every: 4, planned: 6 });
  for (let i = 3; i <= 6; i++) p2.step(i, `e ${i}`); // a resumed run starting at step 3
  p2.finish();
  t.deepEqual(fixed.map((l) => l.split('  ')[0]), ['e 3', 'e 4', 'e 6']);
  t.regex(fixed.at(-1)!, /ETA 0\.0s$/, 'no ≤ without early stopping; nothing left at the last step');
  t.is(formatSeconds(75), '1m15s');
  t.is(formatSeconds(3 * 3600 + 120), '3h02m');
});

test('shoal train lr --log-every 5 over 12 iterations prints iterations 0 (the start), 5, 10, 12', async (t) => {
  t.timeout(120_000);
  const r = await shoal(['train', 'lr', '--solver', 'lbfgs', '--train', TRAIN, '--max-iter', '12', '--tol', '0', '--log-every', '5']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(steps(r.stdout, /^lbfgs iter +(\d+) /gm), [0, 5, 10, 12], r.stdout);
  t.regex(r.stdout, /after 12 iterations/);
  for (const line of r.stdout.split('\n').filter((l) => l.startsWith('lbfgs iter'))) t.regex(line, /  elapsed \d+\.\ds  ETA (≤ )?\S+$/);
});

test('shoal train mart --log-every 5 over 12 rounds prints rounds 1, 5, 10, 12', async (t) => {
  t.timeout(120_000);
  const r = await shoal(['train', 'mart', '--train', TRAIN, '--rounds', '12', '--max-depth', '3', '--log-every', '5']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(steps(r.stdout, /^mart round +(\d+) /gm), [1, 5, 10, 12], r.stdout);
  const last = r.stdout.split('\n').find((l) => /^mart round +12 /.test(l))!;
  t.regex(last, /  elapsed \d+\.\ds  ETA 0\.0s$/);
});

test('shoal train ftrl --log-every 5 over 7 epochs prints epochs 1, 5, 7', async (t) => {
  t.timeout(120_000);
  const r = await shoal(['train', 'ftrl', '--train', TRAIN, '--epochs', '7', '--log-every', '5']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(steps(r.stdout, /^(?:\[0\] )?ftrl epoch (\d+)\/7 /gm), [1, 5, 7], r.stdout);
  for (const line of r.stdout.split('\n').filter((l) => /^(\[0\] )?ftrl epoch/.test(l))) t.regex(line, /  elapsed \d+\.\ds  ETA \S+$/);
});

test('--log-every 0 or abc is a usage error (exit 2) for every trainer', async (t) => {
  t.timeout(120_000);
  for (const algo of ['lr', 'mart', 'lambdamart', 'ftrl', 'fm']) {
    for (const bad of ['0', 'abc']) {
      const r = await shoal(['train', algo, '--train', TRAIN, '--log-every', bad], 30_000);
      t.is(r.code, 2, `${algo} --log-every ${bad}: ${r.stderr}`);
      t.regex(r.stderr, new RegExp(`--log-every .*${bad}`), `${algo} ${bad}`);
    }
    const h = await shoal(['train', algo, '--help'], 30_000);
    t.regex(h.stdout + h.stderr, /--log-every N/, `${algo} --help documents --log-every`);
  }
});

test('shoal datagen progress lines show the rows/s rate and the ETA', async (t) => {
  t.timeout(60_000);
  const out = join(dataDir, 'd.svm');
  const r = await shoal(['datagen', '--task', 'binary', '--rows', '2000', '--features', '1000', '--out', out], 60_000);
  t.is(r.code, 0, r.stderr);
  // stderr is a pipe here: the periodic line form, always printed at the end.
  t.regex(r.stderr, /^datagen: 2000\/2000 rows  \d+ rows\/s  ETA 0\.0s$/m, r.stderr);
});
