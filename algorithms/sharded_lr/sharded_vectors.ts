// The sharded solver's vectors: one vector table for the feature keys and, with a bias, a
// one-key table for it (so the bias can never collide with a feature id: ids may be any
// uint64). Every program runs on both tables; penalties are the caller's to leave out of the
// bias table's copy (`penalized` is false there), and penalty sums are read from `w` alone.
import type { PsClient, PsTable } from '../../lib/ps/client.js';
import { VectorProgram } from '../../lib/ps/vector_program.js';

/** What one program returned: totals over every key (bias included) and over the features only. */
export interface VectorSums {
  all: number[];
  w: number[];
}

/** The one key of the bias table. */
export const BIAS_KEY = new BigUint64Array([0n]);

export class ShardedVectors {
  /** Programs run so far (each one round trip to every server). */
  programs = 0;

  private constructor(
    readonly w: PsTable,
    readonly bias: PsTable | null,
  ) {}

  /** Creates (or joins) the tables `<prefix>.w` and `<prefix>.bias` with `slots` float64 slots per key. */
  static async open(ps: PsClient, prefix: string, slots: number, bias: boolean): Promise<ShardedVectors> {
    const options = { updater: { type: 'vector' as const, slots } };
    const w = await ps.table(`${prefix}.w`, options);
    const b = bias ? await ps.table(`${prefix}.bias`, options) : null;
    return new ShardedVectors(w, b);
  }

  /** Builds the program twice (penalized: features; not: the bias) and runs both at once. */
  async run(build: (p: VectorProgram, penalized: boolean) => void): Promise<VectorSums> {
    const pw = new VectorProgram();
    build(pw, true);
    const runs = [this.w.run(pw.bytes())];
    if (this.bias) {
      const pb = new VectorProgram();
      build(pb, false);
      runs.push(this.bias.run(pb.bytes()));
    }
    const [w, b] = await Promise.all(runs);
    this.programs++;
    return { all: w!.map((v, i) => v + (b?.[i] ?? 0)), w: w! };
  }
}
