// Sparse regression data with strongly correlated features, the case where the dependency
// scheduler matters (tests, bench/lasso.ts, examples). Features come in groups: a row either
// has none of a group's features or all of them, each the group's latent value plus a little
// noise, so features of one group are highly correlated. The target is a sparse linear model of
// the features plus noise. Deterministic per seed.
import { Rng } from '../../lib/rng.js';
import { csrFromRows, type CsrData, type Row } from '../common/dataset.js';

export interface CorrelatedDataOptions {
  rows: number;
  /** Features, ids 1..features (libsvm is 1-based). */
  features: number;
  /** Features per correlated group (default 5). */
  groupSize?: number;
  /** Probability that a row has a group (default 0.3). */
  density?: number;
  /** Per-feature noise around the group's value (default 0.3: correlation ~0.9). */
  noise?: number;
  /** Nonzero true weights (default features / 10). */
  informative?: number;
  seed?: number;
}

/** Values rounded to 6 significant digits, so the libsvm text and the arrays hold the same numbers. */
function round6(v: number): number {
  return Number(v.toPrecision(6));
}

export function correlatedRegression(o: CorrelatedDataOptions): CsrData {
  const rng = new Rng(o.seed ?? 1);
  const g = o.groupSize ?? 5;
  const density = o.density ?? 0.3;
  const noise = o.noise ?? 0.3;
  const groups = Math.ceil(o.features / g);
  const trueW = new Float64Array(o.features + 1);
  const informative = o.informative ?? Math.max(1, Math.floor(o.features / 10));
  for (let k = 0; k < informative; k++) trueW[1 + rng.int(o.features)] = (rng.next() < 0.5 ? -1 : 1) * (0.5 + rng.next());
  const rows: Row[] = [];
  for (let i = 0; i < o.rows; i++) {
    const features: Array<[number, number]> = [];
    let y = 0;
    for (let grp = 0; grp < groups; grp++) {
      if (rng.next() >= density) continue;
      const z = rng.normal();
      for (let j = grp * g + 1; j <= Math.min(o.features, (grp + 1) * g); j++) {
        const v = round6(z + noise * rng.normal());
        features.push([j, v]);
        y += trueW[j]! * v;
      }
    }
    rows.push({ label: round6(y + 0.1 * rng.normal()), features });
  }
  return csrFromRows(rows);
}
