// Bad training data through the real CLI (`shoal train lr|mart|lambdamart`, `shoal predict`):
// non-finite or float32-overflowing values and labels, labels that are not binary, signed,
// fractional, too large and beyond-uint64 feature ids, ids beyond the dense limit, empty
// input. Each must fail with exit status 2 and a message naming FILE:LINE:COLUMN (or the
// file, for empty input) instead of training a useless model. Also: --hash-bits gets large ids
// through and predict hashes them the same way, and a .gz file trains the same model as the
// plain text. Data is generated here; nothing is read from the shared data sets.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import test from 'ava';

import { localCollective } from '../../algorithms/common/collective.js';
import { csrFromRows, DEFAULT_MAX_FEATURES, globalNumFeatures } from '../../algorithms/common/dataset.js';
import { syntheticBinary, toLibsvmText } from '../helpers/synthetic.js';
import { train as trainLr } from '../../algorithms/lbfgs_lr/index.js';
import { train as trainMart } from '../../algorithms/mart/index.js';
import { ConfigError, ShoalError } from '../../lib/errors.js';
import { parseTrainArgs } from '../../cli/train_cli.js';
import { parseMartArgs } from '../../cli/trainers/mart_cli.js';
import { shoal } from '../helpers/shoal_cli.js';

const dir = mkdtempSync(join(tmpdir(), 'shoal-bad-input-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = '+1 1:0.5 2:1\n-1 2:0.25 3:1\n+1 1:1 3:0.5\n-1 3:2\n';
let n = 0;
function file(content: string | Buffer, suffix = '.svm'): string {
  const path = join(dir, `d${n++}${suffix}`);
  writeFileSync(path, content);
  return path;
}

// [what, file content, expected stderr tail after "FILE:"]
const LR_CASES: Array<[string, string, RegExp]> = [
  ['nan value', `${GOOD}+1 1:1 2:nan\n`, /:5:10: value nan of feature 2 is not a number/],
  ['inf value', `${GOOD}-1 4:inf\n`, /:5:6: value inf of feature 4 is infinite/],
  ['-inf value', `-1 4:-inf\n${GOOD}`, /:1:6: value -inf of feature 4 is infinite/],
  ['float32-overflowing value', `${GOOD}+1 3:1e39\n`, /:5:6: value 1e39 of feature 3 overflows float32/],
  ['NaN label', `${GOOD}NaN 1:1\n`, /:5:1: label NaN is not a number/],
  ['inf label', `inf 1:1\n${GOOD}`, /:1:1: label inf is infinite/],
  ['label 2 in a binary task', `${GOOD}2 1:1\n`, /:5:1: label 2 is not a binary label; expected -1, 0 or 1/],
  ['label 0.5 in a binary task', `0.5 1:1\n${GOOD}`, /:1:1: label 0\.5 is not a binary label/],
  ['negative id', `${GOOD}+1 -3:1\n`, /:5:4: feature id -3:1 is signed/],
  ['non-integer id', `${GOOD}+1 2.5:1\n`, /:5:4: feature id 2\.5:1 is not an integer/],
  ['id 3e8 (beyond the dense limit)', `${GOOD}+1 300000000:1\n`, /:5:4: feature id 300000000 is above the largest id allowed, 16777215; .*--hash-bits B/],
  ['id 2^31 + 5', `${GOOD}+1 2147483653:1\n`, /:5:4: feature id 2147483653 is above the largest id allowed, 16777215/],
  ['id 2^32', `${GOOD}+1 4294967296:1\n`, /:5:4: feature id 4294967296 is 2\^32 or more; use --hash-bits/],
  ['id beyond uint64', `${GOOD}+1 18446744073709551616:1\n`, /:5:4: feature id 18446744073709551616 does not fit in 64 bits/],
];

for (const [what, content, tail] of LR_CASES) {
  test(`shoal train lr: ${what} -> exit 2 naming FILE:LINE:COLUMN`, async (t) => {
    t.timeout(120_000);
    const path = file(content);
    const r = await shoal(['train', 'lr', '--train', path, '-q']);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${tail.source}`));
  });
}

test('shoal train lr -np 2: a bad line in the second rank\'s share fails every rank with exit 2', async (t) => {
  t.timeout(120_000);
  const path = file(`${GOOD.repeat(20)}+1 1:1e39\n`);
  const r = await shoal(['train', 'lr', '--train', path, '-np', '2', '-q']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /\[1\] shoal train: .*\.svm:81:6: value 1e39 of feature 1 overflows float32/);
});

test('shoal train lr: --skip-bad-lines skips and counts bad values, but not ids beyond --max-features', async (t) => {
  t.timeout(120_000);
  const model = join(dir, 'skip.json');
  const metrics = join(dir, 'skip.metrics.json');
  const r = await shoal(['train', 'lr', '--train', file(`${GOOD}+1 1:nan\nnan 1:1\n`), '--skip-bad-lines', '-q', '--model-out', model, '--metrics-out', metrics]);
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(readFileSync(metrics, 'utf8')) as { train_rows: number }).train_rows, 4);
  const big = await shoal(['train', 'lr', '--train', file(`${GOOD}+1 300000000:1\n`), '--skip-bad-lines', '-q']);
  t.is(big.code, 2, big.stderr);
  t.regex(big.stderr, /:5:4: feature id 300000000 is above the largest id allowed/);
  // --max-features sets the bound.
  const low = await shoal(['train', 'lr', '--train', file(GOOD), '--max-features', '3', '-q']);
  t.is(low.code, 2, low.stderr);
  t.regex(low.stderr, /:2:11: feature id 3 is above the largest id allowed, 2; .*--max-features allows 3 ids/);
});

test('shoal train lr: empty and comment-only training files (1 and 2 ranks) -> exit 2 "no rows"', async (t) => {
  t.timeout(120_000);
  for (const [content, np] of [['', '1'], ['# only\n\n  \n', '2'], ['', '2']] as const) {
    const path = file(content);
    const r = await shoal(['train', 'lr', '--train', path, '-np', np, '-q']);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, /lr: no rows in .*\.svm: the data is empty or only blank and comment lines/);
  }
  // Every line skipped: the count is part of the message.
  const r = await shoal(['train', 'lr', '--train', file('+1 1:nan\n-1 1:inf\n'), '--skip-bad-lines', '-q']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /no rows in .*; 2 malformed lines were skipped/);
});

test('shoal train mart and lambdamart: bad values, ids beyond the limit and empty input -> exit 2', async (t) => {
  t.timeout(180_000);
  const cases: Array<[string[], RegExp]> = [
    [['train', 'mart', '--train', file(`${GOOD}+1 1:nan\n`)], /\.svm:5:6: value nan of feature 1 is not a number/],
    [['train', 'mart', '--train', file(`${GOOD}+1 300000000:1\n`)], /\.svm:5:4: feature id 300000000 is above the largest id allowed, 16777215; .*renumber the ids/],
    [['train', 'mart', '--train', file('')], /mart: no rows in .*\.svm: the data is empty/],
    [['train', 'lambdamart', '--train', file('1 qid:1 1:1\n0 qid:1 2:inf\n')], /\.svm:2:11: value inf of feature 2 is infinite/],
    [['train', 'lambdamart', '--train', file('# nothing\n')], /lambdamart: no rows in .*\.svm: the data is empty/],
  ];
  for (const [args, pattern] of cases) {
    const r = await shoal([...args, '--rounds', '2', '-q']);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, pattern, args.join(' '));
  }
});

test('lambdamart: ranks with an empty share (reader partition) and no --test still train', async (t) => {
  t.timeout(120_000);
  const data = file('1 qid:1 1:1 2:0.5\n0 qid:1 1:0.2 2:1\n2 qid:2 1:1\n0 qid:2 2:1\n');
  const model = join(dir, 'rank.json');
  const r = await shoal(['train', 'lambdamart', '--train', data, '--partition', 'reader', '-np', '4', '--rounds', '2', '-q', '--model-out', model]);
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(readFileSync(model, 'utf8')) as { trees: unknown[] }).trees.length, 2);
});

test('--hash-bits trains on ids beyond the dense limit; predict hashes the same way', async (t) => {
  t.timeout(180_000);
  const data = syntheticBinary({ rows: 400, features: 30, nnzPerRow: 5, seed: 11 });
  // Spread the ids far apart: id j becomes j * 10^8 (up to 3e9, beyond 2^31).
  const wide = toLibsvmText(data).replace(/(\d+):/g, (_, id: string) => `${Number(id) * 100_000_000}:`);
  const train = file(wide);
  const model = join(dir, 'hashed.json');
  const metrics = join(dir, 'hashed.metrics.json');
  const r = await shoal(['train', 'lr', '--train', train, '--hash-bits', '16', '--model-out', model, '--metrics-out', metrics, '-q']);
  t.is(r.code, 0, r.stderr);
  const doc = JSON.parse(readFileSync(model, 'utf8')) as { hashBits: number; numFeatures: number };
  t.is(doc.hashBits, 16);
  t.true(doc.numFeatures <= 2 ** 16);
  const m = JSON.parse(readFileSync(metrics, 'utf8')) as { auc: number };
  const pm = join(dir, 'hashed.pm.json');
  const p = await shoal(['predict', '--model', model, '--data', train, '--out', join(dir, 'hashed.preds'), '--metrics-out', pm]);
  t.is(p.code, 0, p.stderr);
  const pmetrics = JSON.parse(readFileSync(pm, 'utf8')) as { auc: number };
  t.true(Math.abs(pmetrics.auc - m.auc) < 1e-12, `predict auc ${pmetrics.auc} vs train ${m.auc}`);
  t.true(m.auc > 0.7, `auc ${m.auc}`);
});

test('shoal predict: bad values and empty data -> exit 2 naming the file', async (t) => {
  t.timeout(120_000);
  const model = join(dir, 'p.json');
  const r = await shoal(['train', 'lr', '--train', file(GOOD), '--model-out', model, '-q']);
  t.is(r.code, 0, r.stderr);
  const cases: Array<[string, RegExp]> = [
    ['+1 1:1\n-1 2:-nan\n', /\.svm:2:6: value -nan of feature 2 is not a number/],
    ['', /no rows to score: the file is empty/],
    ['+1 1:1 9:1\n', /\.svm:1:8: feature id 9 is above the largest id allowed, 3; the model .* knows ids 0\.\.3/],
  ];
  for (const [content, pattern] of cases) {
    const p = await shoal(['predict', '--model', model, '--data', file(content), '--out', join(dir, 'p.out')]);
    t.is(p.code, 2, p.stderr);
    t.regex(p.stderr, pattern);
  }
});

test('a .gz training file trains the same model as the plain file (2 ranks)', async (t) => {
  t.timeout(180_000);
  const text = toLibsvmText(syntheticBinary({ rows: 3000, features: 50, nnzPerRow: 6, seed: 5 }));
  const plain = file(text);
  const gz = file(gzipSync(text), '.svm.gz');
  const models = [join(dir, 'plain.json'), join(dir, 'gz.json')];
  for (const [i, path] of [plain, gz].entries()) {
    const r = await shoal(['train', 'lr', '--train', path, '-np', '2', '--model-out', models[i]!, '-q']);
    t.is(r.code, 0, r.stderr);
  }
  const [a, b] = models.map((m) => JSON.parse(readFileSync(m, 'utf8')) as { weights: number[]; metrics: { objective: number } });
  t.deepEqual(b!.weights, a!.weights);
  t.is(b!.metrics.objective, a!.metrics.objective);
});

test('the SDK trainers refuse a dense model beyond maxFeatures before allocating it', async (t) => {
  // One row with id 2^31 + 5: without the check, lr would allocate 2^31 float64 slots (16 GiB).
  const rows = csrFromRows([{ label: 1, features: [[2 ** 31 + 5, 1]] }, { label: 0, features: [[1, 1]] }]);
  const comm = localCollective();
  await t.throwsAsync(trainLr(comm, rows, { maxIter: 1 }, { log: null }), {
    instanceOf: ShoalError,
    message: /^lr tron: the largest feature id is 2147483653, so a dense model needs 2147483654 slots; .*--max-features allows 16777216 ids/,
  });
  await t.throwsAsync(trainMart(comm, rows, { rounds: 1 }, { log: null }), { instanceOf: ShoalError, message: /^mart: the largest feature id is 2147483653/ });
  // globalNumFeatures counts ids past 2^31 (it used to wrap in an Int32).
  t.is(await globalNumFeatures(comm, rows), 2 ** 31 + 6);
});

test('--max-features and --hash-bits: parsed, defaults, and bad values are usage errors', (t) => {
  const lr = parseTrainArgs(['lr', '--train', 'a.svm']);
  t.is(lr.maxFeatures, DEFAULT_MAX_FEATURES);
  t.is(lr.hashBits, 0);
  t.like(parseTrainArgs(['lr', '--train', 'a.svm', '--max-features', '1e6', '--hash-bits', '20']), { maxFeatures: 1e6, hashBits: 20 });
  for (const bad of [['--max-features', '0'], ['--max-features', '2.5'], ['--max-features', String(2 ** 32 + 1)], ['--hash-bits', '0'], ['--hash-bits', '33']]) {
    t.throws(() => parseTrainArgs(['lr', '--train', 'a.svm', ...bad]), { instanceOf: ConfigError, message: new RegExp(`${bad[0]} needs an integer in`) }, bad.join(' '));
  }
  t.is(parseMartArgs('mart', ['--train', 'a.svm']).maxFeatures, DEFAULT_MAX_FEATURES);
  t.is(parseMartArgs('mart', ['--train', 'a.svm', '--max-features', '100']).maxFeatures, 100);
  t.throws(() => parseMartArgs('lambdamart', ['--train', 'a.svm', '--max-features', '-1']), { instanceOf: ConfigError, message: /--max-features needs an integer in \[1, 2\^32\], got "-1"/ });
});

for (const trainer of ['ftrl', 'fm'] as const) {
  test(`shoal train ${trainer}: a nan value -> exit 2 naming FILE:LINE:COLUMN, no stack trace`, async (t) => {
    t.timeout(120_000);
    const path = file(`${GOOD}+1 1:1 2:nan\n`);
    const r = await shoal(['train', trainer, '--train', path]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:10: value nan of feature 2 is not a number`));
    t.notRegex(r.stderr, /\n\s+at /, 'a data error is the user\'s to fix: its message, not a stack');
  });
}
