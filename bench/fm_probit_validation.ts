// MCMC probit settings chosen on a validation split of a training file (never the test set):
// every 5th row by a fixed hash of its index is held out, MCMC trains in process (np 1: the same
// bits as any np) on the rest, and the held-out AUC of the averaged predictions is printed at
// the iterations of --report. A variant is alpha:burnIn:initStd[:k], alpha `fixed` (1, the
// probit model) or `sampled` (as libFM). --write-split DIR writes the two parts as libsvm files
// (FILE.tr, FILE.va) for runs of other solvers (AdaGrad) on the same split.
//
//   node dist/bench/fm_probit_validation.js [--train FILE] [--threshold T] [--variants fixed:10:0.1,...]
//        [--seeds 1,2,3] [--iterations N] [--report 50,100,200] [--write-split DIR]
import { readLibsvm } from '../lib/data/libsvm.js';
import type { CsrMatrix } from '../lib/data/csr.js';
import { localCollective } from '../algorithms/common/collective.js';
import { aucLocal } from '../algorithms/common/metrics.js';
import { trainFmCoordinate, scoreSample, type FmCoordinateOptions } from '../algorithms/fm/coordinate_solver.js';
import { FmPredictionAverage } from '../algorithms/fm/model.js';
import { binaryLabel } from '../algorithms/ps_trainer/flags.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? String(process.argv[i + 1]) : fallback;
}

function subset(m: CsrMatrix, rows: number[]): CsrMatrix {
  let nnz = 0;
  for (const r of rows) nnz += m.rowPtr[r + 1]! - m.rowPtr[r]!;
  const rowPtr = new Uint32Array(rows.length + 1);
  const featureIds = new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  const labels = new Float32Array(rows.length);
  let at = 0;
  rows.forEach((r, i) => {
    for (let e = m.rowPtr[r]!; e < m.rowPtr[r + 1]!; e++) {
      featureIds[at] = m.featureIds[e]!;
      values[at++] = m.values[e]!;
    }
    rowPtr[i + 1] = at;
    labels[i] = m.labels[r]!;
  });
  return { numRows: rows.length, rowPtr, featureIds, values, labels, weights: null, qids: null, maxFeatureId: m.maxFeatureId };
}

const file = option('train', '/work/shared/data/movielens100k/u1.base.libfm');
const thr = option('threshold', '');
const labelThreshold = thr === '' ? undefined : Number(thr);
const all = await readLibsvm(file);
// Every 5th row (by a fixed hash) is validation.
const tr: number[] = [];
const va: number[] = [];
for (let i = 0; i < all.numRows; i++) (((Math.imul(i + 1, 0x9e3779b1) >>> 0) % 5 === 0) ? va : tr).push(i);
const train = subset(all, tr);
const val = subset(all, va);
const writeDir = option('write-split', '');
if (writeDir) {
  const { readFileSync, writeFileSync } = await import('node:fs');
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const name = file.split('/').pop()!;
  writeFileSync(`${writeDir}/${name}.tr`, tr.map((i) => lines[i]).join('\n') + '\n');
  writeFileSync(`${writeDir}/${name}.va`, va.map((i) => lines[i]).join('\n') + '\n');
  process.exit(0);
}
const valLabels = Array.from(val.labels, (y) => binaryLabel(y, labelThreshold));
const iterations = Number(option('iterations', '200'));
const reportAt = option('report', '50,100,200').split(',').map(Number);
const variants = option('variants', 'fixed:10:0.1').split(',');
const seeds = option('seeds', '1,2,3').split(',').map(Number);
for (const v of variants) {
  const [alphaMode, burn, init, k] = v.split(':');
  for (const seed of seeds) {
    const o: FmCoordinateOptions = {
      solver: 'mcmc', task: 'binary', factors: Number(k ?? 8), iterations, seed, initStd: Number(init), l2w: 0, l2v: 0,
      burnIn: Number(burn), keepSamples: 1, labelThreshold, probitAlpha: alphaMode as 'fixed' | 'sampled',
    };
    let index: Map<number, number> | null = null;
    const avg = new FmPredictionAverage(val.numRows, { task: 'binary', link: 'probit', labelOffset: 0, labelMin: 0, labelMax: 1 });
    const out: string[] = [];
    const t0 = performance.now();
    await trainFmCoordinate(o, train, {
      comm: localCollective(),
      onStart: (ids) => void (index = new Map(Array.from(ids, (id, g) => [id, g]))),
      onIteration: (s, current, averaged) => {
        if (averaged) avg.add(scoreSample(current, o.factors, index!, val));
        if (reportAt.includes(s.iteration)) out.push(`${s.iteration}:${aucLocal(avg.predictions(), valLabels).toFixed(4)}`);
      },
    });
    console.log(`${file.split('/').pop()} ${v} seed ${seed}: ${out.join(' ')}  (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
  }
}
