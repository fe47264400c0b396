// An in-process world of `size` ranks on the narrow Collective interface (algorithms/common/
// collective.ts): every rank's call waits until all ranks made the same call, then the last one
// computes the result for all. Exact sums in rank order, so collective code paths (metrics,
// solvers) can be checked against one-rank values bit for bit without processes.
import type { Collective } from '../../algorithms/common/collective.js';

/** An in-process collective of `size` ranks (sum/max reductions, gather, bcast) for testing collective code paths. */
export function inProcessWorld(size: number): Collective[] {
  type Pending = { bufs: Array<ArrayLike<number> & { set?: unknown }>; done: Array<() => void> };
  let pending: Pending = { bufs: [], done: [] };
  const meet = (rank: number, buf: unknown, finish: (bufs: unknown[]) => void): Promise<void> =>
    new Promise((resolve) => {
      pending.bufs[rank] = buf as never;
      pending.done.push(resolve);
      if (pending.done.length === size) {
        const p = pending;
        pending = { bufs: [], done: [] };
        finish(p.bufs);
        p.done.forEach((d) => d());
      }
    });
  const reduce = (bufs: unknown[], op: string | undefined): Float64Array => {
    const all = bufs as Float64Array[];
    const out = Float64Array.from(all[0]!);
    for (const b of all.slice(1)) for (let i = 0; i < out.length; i++) out[i] = op === 'max' ? Math.max(out[i]!, b[i]!) : out[i]! + b[i]!;
    return out;
  };
  return Array.from({ length: size }, (_, rank) => ({
    rank,
    size,
    allReduce: async (buf, o) => {
      await meet(rank, buf, (bufs) => {
        const r = reduce(bufs, o?.op);
        for (const b of bufs as Float64Array[]) b.set(r);
      });
      return buf;
    },
    reduceTo: async (buf, root, o) => {
      await meet(rank, buf, (bufs) => (bufs as Float64Array[])[root]!.set(reduce(bufs, o?.op)));
      return buf;
    },
    bcast: async (buf, root) => {
      await meet(rank, buf, (bufs) => (bufs as Float64Array[]).forEach((b) => b.set((bufs as Float64Array[])[root]!)));
      return buf;
    },
    allGather: async (send, recv) => {
      const pair = { send, recv };
      await meet(rank, pair, (pairs) => {
        const ps = pairs as Array<{ send: Float64Array; recv: Float64Array }>;
        for (const p of ps) ps.forEach((q, r) => p.recv.set(q.send, r * q.send.length));
      });
      return recv;
    },
    barrier: async () => {
      await meet(rank, null, () => {});
    },
  })) as Collective[];
}
