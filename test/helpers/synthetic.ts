// Test data built in memory: a sparse binary-classification set from a hidden linear model, and
// its libsvm text. Only tests use these (the product's generator is lib/data/datagen.ts, whose
// files the tests that need a file on disk could use too; these keep the in-memory tests' data
// and thresholds as they were measured).
import { csrFromRows, type CsrData, type Row } from '../../algorithms/common/dataset.js';
import { Rng } from '../helpers/mulberry_rng.js';
import { sigmoid } from '../../lib/sigmoid.js';

export interface SyntheticOptions {
  rows: number;
  /** Feature ids are 1..features (libsvm style). */
  features: number;
  /** Average nonzeros per row (each row has 1..2*nnzPerRow-1 distinct features). */
  nnzPerRow: number;
  seed?: number;
  /** Label noise: probability of flipping a label (default 0.05). */
  noise?: number;
}

/**
 * A sparse binary-classification set from a hidden linear model (labels 0/1, ids 1-based,
 * values in (0, 1]). Deterministic for a seed.
 */
export function syntheticBinary(opts: SyntheticOptions): CsrData {
  const rng = new Rng(opts.seed ?? 1);
  const noise = opts.noise ?? 0.05;
  const truth = new Float64Array(opts.features + 1);
  for (let j = 1; j <= opts.features; j++) truth[j] = rng.normal() * (rng.next() < 0.3 ? 2 : 0.3);
  const rows: Row[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < opts.rows; i++) {
    const k = 1 + rng.int(Math.max(1, 2 * opts.nnzPerRow - 1));
    seen.clear();
    const feats: Array<[number, number]> = [];
    let z = -0.2;
    while (feats.length < Math.min(k, opts.features)) {
      const id = 1 + rng.int(opts.features);
      if (seen.has(id)) continue;
      seen.add(id);
      const v = Math.fround(0.05 + 0.95 * rng.next());
      feats.push([id, v]);
      z += truth[id]! * v;
    }
    feats.sort((a, b) => a[0] - b[0]);
    let label = rng.next() < sigmoid(z) ? 1 : 0;
    if (rng.next() < noise) label = 1 - label;
    rows.push({ label, features: feats });
  }
  return csrFromRows(rows);
}

/** Renders `data` in libsvm text format (labels written as 1 / -1 for binary 0/1 labels when `signed`). */
export function toLibsvmText(data: CsrData, signed = true): string {
  const lines: string[] = [];
  for (let i = 0; i < data.numRows; i++) {
    const y = data.labels[i]!;
    const parts = [signed ? (y > 0 ? '+1' : '-1') : String(y)];
    for (let k = data.rowPtr[i]!; k < data.rowPtr[i + 1]!; k++) parts.push(`${data.featureIds[k]}:${data.values[k]}`);
    lines.push(parts.join(' '));
  }
  return lines.join('\n') + '\n';
}
