// The narrow collective interface the bundled algorithms are written against (STYLE 9.5):
// a `Communicator` from `init()` satisfies it, and `localCollective()` is a size-1 stand-in
// that needs no native engine, so the math runs unchanged in single-process unit tests.
// This file must not import the native layer.
export type { AlgoBuffer, Collective } from '../../lib/collective.js';
import type { Collective } from '../../lib/collective.js';

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
