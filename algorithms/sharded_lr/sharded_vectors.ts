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

/** Attempts of a program interrupted by server losses (about 30 s of waiting in all). */
const RETRIES = 40;

/**
 * A lost server interrupted the program, or a live server has not seen a loss the client has
 * (native/psnet client.cc, server_vector.cc); not a loss that left keys without a copy.
 */
function serverLossToRetry(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e.code === 'ERR_PEER_LOST' && typeof e.message === 'string' && /during a vector program|lost server\(s\), the worker of/.test(e.message);
}

/** The one key of the bias table. */
export const BIAS_KEY = new BigUint64Array([0n]);

export class ShardedVectors {
  /** Programs run so far (each one round trip to every server). */
  programs = 0;

  private constructor(
    readonly w: PsTable,
    readonly bias: PsTable | null,
    private readonly rerunnable: boolean,
  ) {}

  /**
   * Creates (or joins) the tables `<prefix>.w` and `<prefix>.bias` with `slots` float64 slots per key.
   * `rerunnable`: the solver's programs give the same slots when run twice, so one cut short by a
   * lost server may run again; otherwise that loss fails the job.
   */
  static async open(ps: PsClient, prefix: string, slots: number, bias: boolean, rerunnable: boolean): Promise<ShardedVectors> {
    const options = { updater: { type: 'vector' as const, slots } };
    const w = await ps.table(`${prefix}.w`, options);
    const b = bias ? await ps.table(`${prefix}.bias`, options) : null;
    return new ShardedVectors(w, b, rerunnable);
  }

  /**
   * Builds the program twice (penalized: features; not: the bias) and runs both at once. A
   * program cut short by a lost server (replication >= 2) runs again, once every live server
   * has seen the loss: the solvers' programs give the same slots when run twice (slots.ts, tron_vectors.ts).
   */
  async run(build: (p: VectorProgram, penalized: boolean) => void): Promise<VectorSums> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#runOnce(build);
      } catch (err) {
        if (!this.rerunnable || !serverLossToRetry(err) || attempt >= RETRIES) throw err;
        if (attempt === 1) process.stderr.write(`[shoal] lr --servers: ${(err as Error).message.split('\n')[0]}; running the program again on the live servers\n`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 10 * 2 ** attempt)));
      }
    }
  }

  async #runOnce(build: (p: VectorProgram, penalized: boolean) => void): Promise<VectorSums> {
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
