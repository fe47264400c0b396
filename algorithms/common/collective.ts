// The narrow collective interface the bundled algorithms are written against (STYLE 9.5):
// a `Communicator` from `init()` satisfies it, and `localCollective()` is a size-1 stand-in
// that needs no native engine, so the math runs unchanged in single-process unit tests.
// This file must not import the native layer.
import type { ReduceOp } from '../../lib/communicator.js';

/** Typed arrays the algorithms exchange. */
export type AlgoBuffer = Float64Array | Int32Array | Uint8Array;

/** What an algorithm needs from a communicator. All ranks call the same ops in the same order. */
export interface Collective {
  readonly rank: number;
  readonly size: number;
  allReduce<T extends AlgoBuffer>(buf: T, options?: { op?: ReduceOp }): Promise<T>;
  reduceTo<T extends AlgoBuffer>(buf: T, root: number, options?: { op?: ReduceOp }): Promise<T>;
  bcast<T extends AlgoBuffer>(buf: T, root: number): Promise<T>;
  allGather<T extends AlgoBuffer>(send: T, recv: T): Promise<T>;
  barrier(): Promise<void>;
  /** Rebuilds the group after a lost worker was replaced (Communicator.recover; used by resilient()). */
  recover?(options?: { timeoutMs?: number }): Promise<void>;
  /** Optional dashboard hook (Communicator.report); algorithms call it when present. */
  report?(values: Record<string, number>): void;
}

/** A size-1 collective: every op is the identity (allGather copies). For unit tests and local runs. */
export function localCollective(): Collective {
  return {
    rank: 0,
    size: 1,
    allReduce: async (buf) => buf,
    reduceTo: async (buf) => buf,
    bcast: async (buf) => buf,
    allGather: async (send, recv) => {
      (recv as Float64Array).set(send as Float64Array);
      return recv;
    },
    barrier: async () => {},
  };
}
