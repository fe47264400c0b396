// generateDataset and `shoal datagen` (lib/data/datagen.ts, cli/datagen_cli.ts): same seed,
// same bytes; every task's shape as readLibsvm sees it; the planted model is learnable (AUC
// for the classifiers, relevance order for rank, RMSE for ratings); the train/test split; and
// the command line.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { aucLocal as auc } from '../../algorithms/common/auc.js';
import { main } from '../../cli/cli.js';
import { parseDatagenArgs } from '../../cli/datagen_cli.js';
import { csrNnz } from '../../lib/data/csr.js';
import { generateDataset, plantedModel, type DatagenOptions } from '../../lib/data/datagen.js';
import { readLibsvm, type ReadResult } from '../../lib/data/libsvm.js';
import { ConfigError } from '../../lib/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'shoal-datagen-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
let fileNo = 0;
const out = (name = 'd'): string => join(tmp, `${name}${fileNo++}.svm`);

function scores(opts: Pick<DatagenOptions, 'task' | 'seed' | 'features' | 'nnz' | 'users' | 'items'>, m: ReadResult): Float64Array {
  const model = plantedModel(opts);
  const s = new Float64Array(m.numRows);
  for (let i = 0; i < m.numRows; i++) s[i] = model.score(m.featureIds, m.values, m.rowPtr[i] as number, m.rowPtr[i + 1] as number);
  return s;
}

test('same seed, same bytes; another seed, other bytes', async (t) => {
  for (const task of ['binary', 'dense', 'rank', 'ratings'] as const) {
    const shape = { task, rows: 500, features: 200, nnz: 10, queries: 20, users: 50, items: 40, testFraction: 0.3 };
    const a = out();
    const b = out();
    const c = out();
    await generateDataset({ ...shape, seed: 5, out: a });
    await generateDataset({ ...shape, seed: 5, out: b });
    await generateDataset({ ...shape, seed: 6, out: c });
    t.deepEqual(readFileSync(a), readFileSync(b), task);
    t.deepEqual(readFileSync(`${a}.test`), readFileSync(`${b}.test`), task);
    t.notDeepEqual(readFileSync(a), readFileSync(c), task);
    if (task === 'rank') t.deepEqual(readFileSync(`${a}.query`), readFileSync(`${b}.query`));
  }
});

test('binary: sparse power-law rows with about nnz ids, and the planted weights rank them well (AUC)', async (t) => {
  const opts = { task: 'binary', rows: 4000, features: 5000, nnz: 20, seed: 3 } as const;
  const path = out();
  const res = await generateDataset({ ...opts, out: path });
  t.deepEqual(res.files, [path]);
  t.is(res.trainRows, 4000);
  t.is(res.testRows, 0);
  const m = await readLibsvm(path);
  t.is(m.numRows, 4000);
  t.true(m.labels.every((l) => l === 0 || l === 1));
  t.true(m.values.every((v) => v === 1));
  t.true(m.maxFeatureId <= 5000 && m.featureIds.every((id) => id >= 1));
  const avg = csrNnz(m) / m.numRows;
  t.true(avg > 10 && avg <= 20, `mean nnz ${avg}`);
  // Power law: the 1% most frequent ids (the lowest) hold far more than 1% of the entries.
  const low = m.featureIds.filter((id) => id <= 50).length;
  t.true(low / csrNnz(m) > 0.3, `share of ids <= 50: ${low / csrNnz(m)}`);
  const pos = m.labels.filter((l) => l === 1).length / m.numRows;
  t.true(pos > 0.1 && pos < 0.6, `positive rate ${pos}`);
  const a = auc(scores(opts, m), m.labels);
  t.true(a > 0.8, `AUC of the planted model ${a}`);
});

test('dense: every feature written, labels learnable from the planted model', async (t) => {
  const opts = { task: 'dense', rows: 3000, features: 28, seed: 4 } as const;
  const path = out();
  await generateDataset({ ...opts, out: path });
  const m = await readLibsvm(path);
  t.is(m.numRows, 3000);
  t.is(csrNnz(m), 3000 * 28);
  t.deepEqual([...m.featureIds.subarray(0, 28)], Array.from({ length: 28 }, (_, j) => j + 1));
  t.is(m.maxFeatureId, 28);
  const a = auc(scores(opts, m), m.labels);
  t.true(a > 0.75, `AUC of the planted model ${a}`);
});

test('rank: qid runs match the .query file, relevance 0..4 follows the planted score', async (t) => {
  const opts = { task: 'rank', queries: 60, features: 30, seed: 8 } as const;
  const path = out();
  const res = await generateDataset({ ...opts, out: path, testOut: `${path}.t`, testFraction: 0.25 });
  t.deepEqual(res.files, [path, `${path}.t`, `${path}.query`, `${path}.t.query`]);
  t.is(res.trainQueries + res.testQueries, 60);
  t.true(res.testQueries > 0 && res.trainQueries > res.testQueries);
  const m = await readLibsvm(path, { queryFile: false });
  const groups = readFileSync(`${path}.query`, 'utf8').trim().split('\n').map(Number);
  t.is(groups.length, res.trainQueries);
  t.is(
    groups.reduce((a, b) => a + b, 0),
    m.numRows,
  );
  t.true(groups.every((g) => g >= 5 && g <= 40));
  // qid runs in the file are exactly the .query groups.
  const runs: number[] = [];
  for (let i = 0; i < m.numRows; i++) {
    if (i > 0 && m.qids?.[i] === m.qids?.[i - 1]) runs[runs.length - 1]!++;
    else runs.push(1);
  }
  t.deepEqual(runs, groups);
  t.true(m.labels.every((l) => Number.isInteger(l) && l >= 0 && l <= 4));
  const s = scores(opts, m);
  const meanOf = (rel: number): number => {
    let sum = 0;
    let n = 0;
    m.labels.forEach((l, i) => {
      if (l === rel) {
        sum += s[i] as number;
        n++;
      }
    });
    return sum / n;
  };
  t.true(meanOf(0) < meanOf(1) && meanOf(1) < meanOf(2) && meanOf(2) < meanOf(4), 'relevance grows with the planted score');
  // With the .query file (default) qids are group numbers; --no-qid writes only the .query file.
  const viaQuery = await readLibsvm(path);
  t.is(viaQuery.qids?.[m.numRows - 1], groups.length - 1);
  const bare = out();
  await generateDataset({ ...opts, out: bare, qid: false });
  t.false(readFileSync(bare, 'utf8').includes('qid:'));
  const b = await readLibsvm(bare);
  t.deepEqual([...(b.qids ?? [])].filter((q, i, a) => i === 0 || q !== a[i - 1]).length, groups.length + res.testQueries);
});

test('ratings: one-hot user + item rows, ratings 1..5, planted model beats the mean', async (t) => {
  const opts = { task: 'ratings', rows: 5000, users: 300, items: 200, seed: 9 } as const;
  const path = out();
  await generateDataset({ ...opts, out: path });
  const m = await readLibsvm(path);
  t.is(m.numRows, 5000);
  for (let i = 0; i < m.numRows; i++) {
    const a = m.rowPtr[i] as number;
    t.is((m.rowPtr[i + 1] as number) - a, 2);
    const u = m.featureIds[a] as number;
    const it = m.featureIds[a + 1] as number;
    if (!(u >= 1 && u <= 300 && it > 300 && it <= 500)) t.fail(`row ${i}: ids ${u}, ${it}`);
  }
  t.true(m.labels.every((l) => Number.isInteger(l) && l >= 1 && l <= 5));
  const s = scores(opts, m);
  const mean = m.labels.reduce((a, b) => a + b, 0) / m.numRows;
  let sePlanted = 0;
  let seMean = 0;
  m.labels.forEach((l, i) => {
    sePlanted += (l - (s[i] as number)) ** 2;
    seMean += (l - mean) ** 2;
  });
  const rmse = Math.sqrt(sePlanted / m.numRows);
  const sd = Math.sqrt(seMean / m.numRows);
  t.true(rmse < 0.75 * sd, `RMSE ${rmse} vs sd ${sd}`);
});

test('train/test split: the union is the same data whatever the fraction', async (t) => {
  const shape = { task: 'binary', rows: 2000, features: 300, nnz: 8, seed: 12 } as const;
  const whole = out();
  await generateDataset({ ...shape, out: whole });
  const train = out();
  const res = await generateDataset({ ...shape, out: train, testFraction: 0.2 });
  t.is(res.trainRows + res.testRows, 2000);
  t.true(res.testRows > 300 && res.testRows < 500, `test rows ${res.testRows}`);
  const lines = (p: string): string[] => readFileSync(p, 'utf8').split('\n').filter((l) => l !== '');
  t.deepEqual([...lines(train), ...lines(`${train}.test`)].sort(), lines(whole).sort());
  const none = out();
  const r0 = await generateDataset({ ...shape, out: none, testOut: `${none}.t`, testFraction: 0 });
  t.is(r0.testRows, 0);
  t.deepEqual(readFileSync(none), readFileSync(whole));
});

test('bad options are TypeError/RangeError with ERR_INVALID_ARGUMENT', async (t) => {
  await t.throwsAsync(generateDataset({ task: 'nope' as never, out: out() }), { instanceOf: TypeError, message: /task/ });
  await t.throwsAsync(generateDataset({ task: 'binary', rows: -1, out: out() }), { instanceOf: RangeError, message: /rows/ });
  await t.throwsAsync(generateDataset({ task: 'dense', rows: 1, testFraction: 2, out: out() }), { instanceOf: RangeError, message: /testFraction/ });
  await t.throwsAsync(generateDataset({ task: 'binary', rows: 1, out: '' }), { instanceOf: TypeError, message: /out/ });
});

test('shoal datagen: argument parsing and a run', async (t) => {
  const a = parseDatagenArgs(['--task', 'binary', '--rows', '1e3', '--features=1e4', '--nnz', '5', '--out', 'x.svm', '--test-fraction', '0.1', '--seed', '3', '-q']);
  t.like(a, { task: 'binary', rows: 1000, features: 10000, nnz: 5, out: 'x.svm', testFraction: 0.1, seed: 3, quiet: true });
  t.like(parseDatagenArgs(['--task', 'rank', '--queries', '10', '--no-qid', '--out', 'r']), { task: 'rank', queries: 10, qid: false });
  t.throws(() => parseDatagenArgs(['--out', 'x']), { instanceOf: ConfigError, message: /--task is required/ });
  t.throws(() => parseDatagenArgs(['--task', 'dense']), { instanceOf: ConfigError, message: /--out FILE is required/ });
  t.throws(() => parseDatagenArgs(['--task', 'tree', '--out', 'x']), { instanceOf: ConfigError, message: /--task needs binary, dense, rank or ratings, got "tree"/ });
  t.throws(() => parseDatagenArgs(['--task', 'dense', '--rows', '1.5', '--out', 'x']), { instanceOf: ConfigError, message: /--rows needs an integer/ });
  t.throws(() => parseDatagenArgs(['--task', 'dense', '--out', 'x', '--bogus']), { instanceOf: ConfigError, message: /unknown option/ });
  const path = out();
  const code = await main(['datagen', '--task', 'ratings', '--rows', '300', '--users', '20', '--items', '10', '--out', path, '--test-out', `${path}.t`, '--quiet']);
  t.is(code, 0);
  t.true(existsSync(path) && existsSync(`${path}.t`));
  const m = await readLibsvm([path, `${path}.t`]);
  t.is(m.numRows, 300);
  t.is(await main(['datagen', '--task', 'ratings']), 2);
});
