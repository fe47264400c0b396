// XGBoost export: a Shoal MART model written by xgboostJsonText (what `shoal train mart
// --export-xgboost` writes) is loaded by XGBoost itself (test/fixtures/xgb_score.py, Debian's
// python3-xgboost) and scores the same rows as Shoal does, within 1e-5. Covers binary:logistic
// on a9a (0/1 features, missing = absent), and synthetic real-valued data with negative
// values, explicit zeros, thresholds between close float32 values and missing values in
// both directions, for binary:logistic and reg:squarederror (a base score away from 0), and
// leaf-wise (max_leaves) trees.
//
// Needs a python3 that can `import xgboost`: without one the tests are skipped with the reason
// in their title, except in CI (CI set), where they fail, so CI proves the export.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { localCollective } from '../../algorithms/common/collective.js';
import { Rng } from '../helpers/mulberry_rng.js';
import { tempDir } from '../helpers/temp_dir.js';
import { predict, predictMargins, train, xgboostJsonText, type MartModel, type MartParams } from '../../algorithms/mart/index.js';
import { readLibsvm } from '../../lib/data/libsvm.js';

const SCORER = fileURLToPath(new URL('../../../test/fixtures/xgb_score.py', import.meta.url));
const A9A = '/work/shared/data/a9a';
const TOL = 1e-5;

/** The first interpreter that imports xgboost: $SHOAL_PYTHON, python3 on PATH, Debian's /usr/bin/python3. */
function findPython(): { python: string | null; why: string } {
  const candidates = [process.env.SHOAL_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  const tried: string[] = [];
  for (const py of [...new Set(candidates)]) {
    const r = spawnSync(py, ['-c', 'import xgboost'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python: py, why: '' };
    tried.push(`${py}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  return { python: null, why: `no python3 with xgboost (${tried.join('; ')}); apt-get install python3-xgboost` };
}

const { python, why } = findPython();
const inCi = !!process.env.CI;

/** test(), or test.skip with the reason in the title when a prerequisite is missing (a failure in CI for xgboost). */
function xgbTest(title: string, needs: { file?: string }, body: (t: ExecutionContext, py: string) => Promise<void>): void {
  if (needs.file !== undefined && !existsSync(needs.file)) {
    test.skip(`${title} (skipped: ${needs.file} not present)`, () => {});
    return;
  }
  if (python === null) {
    if (inCi) test(title, (t) => t.fail(`CI must check the XGBoost export: ${why}`));
    else test.skip(`${title} (skipped: ${why})`, () => {});
    return;
  }
  const py = python;
  test(title, (t) => body(t, py));
}

/** XGBoost's predictions (probabilities, or margins) of the libsvm file for the exported model. */
function xgbScore(py: string, modelFile: string, dataFile: string, margin: boolean): Float64Array {
  const r = spawnSync(py, [SCORER, modelFile, dataFile, ...(margin ? ['--margin'] : [])], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`xgb_score.py failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr.slice(-4000)}`);
  const lines = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  return Float64Array.from(lines, Number);
}

/** Largest |a - b| and where, or a length mismatch. */
function compare(shoal: Float64Array, xgb: Float64Array): { worst: number; at: number } {
  if (shoal.length !== xgb.length) throw new Error(`row counts differ: shoal ${shoal.length}, xgboost ${xgb.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < shoal.length; i++) {
    const d = Math.abs(shoal[i]! - xgb[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  return { worst, at };
}

/** Trains on `trainFile`, exports, and checks XGBoost's margins (and probabilities) on `testFile`. */
async function checkExport(t: ExecutionContext, py: string, trainFile: string, testFile: string, params: Partial<MartParams>): Promise<MartModel> {
  const tr = await readLibsvm(trainFile);
  const te = await readLibsvm(testFile);
  const { model } = await train(localCollective(), tr, params, { log: null });
  const dir = tempDir(t, 'xgb-export-');
  const file = join(dir, 'model.xgb.json');
  writeFileSync(file, xgboostJsonText(model));
  const margins = predictMargins(model, te);
  const m = compare(margins, xgbScore(py, file, testFile, true));
  t.true(m.worst <= TOL, `margins differ by ${m.worst} at row ${m.at + 1} (shoal ${margins[m.at]})`);
  if (model.objective === 'binary:logistic') {
    const probs = predict(model, te);
    const p = compare(probs, xgbScore(py, file, testFile, false));
    t.true(p.worst <= TOL, `probabilities differ by ${p.worst} at row ${p.at + 1} (shoal ${probs[p.at]})`);
  }
  t.log(`${model.trees.length} trees, ${te.numRows} rows: max |margin diff| ${m.worst.toExponential(2)}`);
  return model;
}

/**
 * A libsvm file of real values on a 1/64 grid (exact in decimal and in float32, so both
 * readers get the same floats): negatives, explicit zeros, runs of close values, and features
 * missing with a probability that depends on the label (so learned default directions differ).
 */
function writeRealValued(file: string, rows: number, seed: number, regression: boolean): void {
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const x = Array.from({ length: 8 }, () => Math.round(rng.normal() * 64) / 64);
    x[3] = Math.round(rng.normal() * 4) / 64; // many ties and exact zeros
    x[5] = 1000 + Math.round(rng.normal() * 8) / 64; // close large values: float32 steps matter
    const z = 1.5 * x[0]! - x[1]! * x[2]! + 8 * x[3]! + (x[5]! - 1000) * 4 + (rng.next() < 0.5 ? 0.5 : -0.5);
    const label = regression ? Math.round(z * 64) / 64 + 3 : z > 0 ? 1 : 0;
    const feats: string[] = [];
    for (let j = 0; j < x.length; j++) {
      const missing = rng.next() < (j === 2 ? (label > 0 ? 0.5 : 0.1) : 0.15);
      if (!missing) feats.push(`${j + 1}:${x[j]}`);
    }
    if (i % 7 === 0) feats.push('9:0'); // a feature present only as explicit zeros
    lines.push(`${label} ${feats.join(' ')}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

xgbTest('XGBoost scores an exported a9a model (binary:logistic, 10 rounds) as Shoal does', { file: `${A9A}/a9a.t` }, async (t, py) => {
  await checkExport(t, py, `${A9A}/a9a`, `${A9A}/a9a.t`, { rounds: 10, maxDepth: 6, eta: 0.3 });
});

xgbTest('XGBoost scores real-valued models (negatives, zeros, missing both ways; logistic and squared error) as Shoal does', {}, async (t, py) => {
  const dir = tempDir(t, 'xgb-real-');
  for (const regression of [false, true]) {
    const trainFile = join(dir, `${regression ? 'reg' : 'bin'}.train`);
    const testFile = join(dir, `${regression ? 'reg' : 'bin'}.test`);
    writeRealValued(trainFile, 4000, regression ? 21 : 7, regression);
    writeRealValued(testFile, 1500, regression ? 22 : 8, regression);
    const model = await checkExport(t, py, trainFile, testFile, {
      objective: regression ? 'reg:squarederror' : 'binary:logistic',
      rounds: 10,
      maxDepth: 5,
      eta: 0.3,
      maxBin: regression ? 256 : 32,
    });
    // The data must exercise both default directions and negative / zero thresholds.
    const inner = model.trees.flatMap((tr) => tr.left.map((l, i) => ({ l, i, tr })).filter((n) => n.l >= 0));
    t.true(inner.some((n) => n.tr.defaultLeft[n.i] === 1) && inner.some((n) => n.tr.defaultLeft[n.i] === 0), 'both default directions');
    t.true(inner.some((n) => n.tr.threshold[n.i]! < 0), 'a negative threshold');
    t.true(inner.some((n) => n.tr.threshold[n.i] === 0), 'a threshold at 0 (explicit zeros go left)');
    if (regression) t.not(model.baseMargin, 0);
  }
  // Leaf-wise trees (nodes numbered in split order, unbalanced) load and score the same too.
  await checkExport(t, py, join(dir, 'bin.train'), join(dir, 'bin.test'), { rounds: 6, maxDepth: 10, maxLeaves: 12, eta: 0.3 });
});
