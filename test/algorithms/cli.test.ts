// `shoal train lr` and `shoal predict` end to end: one command trains on 2 ranks and writes
// the model and metrics; predict reproduces the metrics from the model; bad flags, unreadable
// files and unknown feature ids exit 2 with a message naming the flag or the file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';
import { shoal } from '../helpers/shoal_cli.js';

const A9A = '/work/shared/data/a9a/a9a';
const A9A_T = '/work/shared/data/a9a/a9a.t';


const dir = mkdtempSync(join(tmpdir(), 'shoal-train-cli-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test.serial('shoal train lr -np 2 writes model and metrics; shoal predict reproduces them', async (t) => {
  t.timeout(120_000);
  const model = join(dir, 'model.json');
  const metricsPath = join(dir, 'metrics.json');
  const r = await shoal(['train', 'lr', '--solver', 'lbfgs', '--train', A9A, '--test', A9A_T, '-np', '2', '--model-out', model, '--metrics-out', metricsPath]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /lbfgs iter +1 +objective/);
  t.notRegex(r.stdout, /^\[1\]/m, 'only rank 0 prints progress');
  const metrics = JSON.parse(readFileSync(metricsPath, 'utf8')) as Record<string, number>;
  for (const key of ['objective', 'auc', 'logloss', 'accuracy', 'iterations', 'train_seconds', 'nnz']) t.is(typeof metrics[key], 'number', key);
  t.true(Math.abs(metrics.objective! - 10529.563) / 10529.563 < 1e-6);
  t.is(metrics.nnz, 451592);
  const doc = JSON.parse(readFileSync(model, 'utf8')) as Record<string, unknown>;
  t.like(doc, { format: 'shoal-model', version: 1, algorithm: 'lr', solver: 'lbfgs', numFeatures: 124, bias: 0 });
  t.is((doc.weights as number[]).length, 124);

  const preds = join(dir, 'preds.txt');
  const pm = join(dir, 'pm.json');
  const p = await shoal(['predict', '--model', model, '--data', A9A_T, '--out', preds, '--metrics-out', pm]);
  t.is(p.code, 0, p.stderr);
  t.is(readFileSync(preds, 'utf8').trim().split('\n').length, 16281);
  const pmetrics = JSON.parse(readFileSync(pm, 'utf8')) as Record<string, number>;
  t.true(Math.abs(pmetrics.auc! - metrics.auc!) < 1e-12, `predict auc ${pmetrics.auc} vs train ${metrics.auc}`);
  t.true(Math.abs(pmetrics.logloss! - metrics.logloss!) < 1e-9);

  // A test file with feature ids the model has never seen.
  const wide = join(dir, 'wide.svm');
  writeFileSync(wide, '+1 3:1 500:1\n-1 1:1\n');
  const w = await shoal(['predict', '--model', model, '--data', wide, '--out', join(dir, 'w.txt')]);
  t.is(w.code, 2);
  t.regex(w.stderr, /--data ".*wide\.svm": .*wide\.svm:1:8: feature id 500 is above the largest id allowed, 123; the model .* knows ids 0\.\.123 \(numFeatures 124\)/);
});

test('usage errors exit 2 and name the flag or the file', async (t) => {
  t.timeout(60_000);
  const cases: Array<[string[], RegExp]> = [
    [['train', 'lr', '--train', A9A, '--c', 'abc'], /--c needs a number > 0, got "abc"/],
    [['train', 'lr', '--train', join(dir, 'nope.svm')], /cannot read --train file ".*nope\.svm": ENOENT/],
    [['train', 'lr', '--train', A9A, '--test', '/nonexistent/t.svm'], /cannot read --test file "\/nonexistent\/t\.svm"/],
    [['train', 'lr', '--train', A9A, '--model-out', '/nonexistent/dir/m.json'], /cannot write --model-out file/],
    [['train', 'lr', '--solver', 'newton', '--train', A9A], /--solver needs lbfgs, tron, owlqn, newton-l1 or bcd/],
    [['predict', '--model', join(dir, 'none.json'), '--data', A9A_T, '--out', join(dir, 'x')], /--model cannot read model/],
    [['predict', '--data', A9A_T], /--model FILE is required/],
  ];
  for (const [args, pattern] of cases) {
    const r = await shoal(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, pattern, args.join(' '));
  }
});

test('a malformed training file fails the job with exit 2 and the file:line', async (t) => {
  t.timeout(60_000);
  const bad = join(dir, 'bad.svm');
  writeFileSync(bad, '+1 1:1 2:1\n-1 3:x\n');
  const r = await shoal(['train', 'lr', '--train', bad, '-np', '2']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /bad\.svm:2/);
});
