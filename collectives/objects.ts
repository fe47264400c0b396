// Collectives on JSON-serializable values (mpi4py's lower-case bcast/allgather): a length
// exchange, then the UTF-8 bytes with the buffer collectives. For configuration, small
// results and metadata, not for tensors.
import type { Communicator } from '../lib/communicator.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Rank `root`'s value on every rank. */
export async function bcastObject<T>(comm: Communicator, value: T, root = 0): Promise<T> {
  const bytes = comm.rank === root ? encoder.encode(JSON.stringify(value)) : new Uint8Array(0);
  const length = new Float64Array([bytes.length]);
  await comm.bcast(length, root);
  const buf = comm.rank === root ? bytes : new Uint8Array(length[0]!);
  await comm.bcast(buf, root);
  return JSON.parse(decoder.decode(buf)) as T;
}

/** Every rank's value, in rank order, on every rank. */
export async function allGatherObject<T>(comm: Communicator, value: T): Promise<T[]> {
  const bytes = encoder.encode(JSON.stringify(value));
  const lengths = new Float64Array(comm.size);
  await comm.allGather(new Float64Array([bytes.length]), lengths);
  const max = Math.max(...lengths);
  const padded = new Uint8Array(max);
  padded.set(bytes);
  const all = new Uint8Array(max * comm.size);
  await comm.allGather(padded, all);
  return Array.from(lengths, (n, r) => JSON.parse(decoder.decode(all.subarray(r * max, r * max + n))) as T);
}
