// A run's `zn` table in memory (single-process tests and reference runs): float32 (z, n) rows
// merged by `add`, like the servers', and the weights they imply.
import { LocalAddTable } from '../ps_trainer/kv.js';
import { ftrlWeightsOfRows, type FtrlHyper } from './ftrl.js';
import type { FtrlTables } from './index.js';

export class LocalFtrlTables implements FtrlTables {
  readonly zn = new LocalAddTable(2);
  constructor(private readonly h: FtrlHyper) {}
  async clock(): Promise<void> {}
  /** The model's weights of `keys` (what a saved model would hold). */
  async weights(keys: BigUint64Array): Promise<Float32Array> {
    return ftrlWeightsOfRows(await this.zn.pull(keys), this.h);
  }
}
