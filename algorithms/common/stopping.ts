// liblinear's gradient stopping rule for logistic regression (-e EPS): a solver stops when
//   ||g(w)|| <= eps * max(min(#pos, #neg), 1) / #rows * ||g(w0)||
// (the 2-norm for the L2 primal, -s 0; the 1-norm of the minimum-norm subgradient for L1,
// -s 6). Scaling by the minority class share makes eps mean about the same on balanced and
// skewed data. The class counts are global: one allReduce of 2 doubles.
import type { Collective } from './collective.js';
import type { CsrData } from './dataset.js';

/** eps * max(min(pos, neg), 1) / rows over every rank's rows (collective). */
export async function classBalancedTol(comm: Collective, data: CsrData, eps: number): Promise<number> {
  let pos = 0;
  for (let i = 0; i < data.numRows; i++) if (data.labels[i]! > 0) pos++;
  const counts = new Float64Array([pos, data.numRows - pos]);
  await comm.allReduce(counts, { op: 'sum' });
  const rows = counts[0]! + counts[1]!;
  return (eps * Math.max(Math.min(counts[0]!, counts[1]!), 1)) / Math.max(rows, 1);
}
