// The narrow collective interface that algorithms and the recovery helpers (TrainingState,
// resilient) are written against: a `Communicator` from `init()` satisfies it. It lives in lib/
// so lib/ never imports algorithms/; algorithms/common/collective.ts re-exports it.
import type { ReduceOp } from './communicator.js';

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
