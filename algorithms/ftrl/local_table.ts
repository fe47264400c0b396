// The PS `ftrl` updater as an in-memory table (single-process tests and reference runs),
// beside the generic ones in algorithms/ps_trainer/kv.ts.
import { LocalTable } from '../ps_trainer/kv.js';
import { ftrlWeight, type FtrlHyper } from './ftrl.js';

/** The PS `ftrl` updater in memory (float32 state, like the servers). */
export class LocalFtrlTable extends LocalTable {
  constructor(private readonly h: FtrlHyper) {
    super(1, 2, undefined, 2);
  }
  protected override read(row: Float64Array, out: Float32Array, at: number): void {
    out[at] = ftrlWeight(row[0]!, row[1]!, this.h);
  }
  protected apply(row: Float64Array, v: Float32Array): void {
    row[0] = Math.fround(row[0]! + v[0]!);
    row[1] = Math.fround(row[1]! + v[1]!);
  }
}
