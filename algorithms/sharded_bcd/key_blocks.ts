// The feature blocks of the sharded BCD: block b holds the keys whose 32-bit hash falls in the
// b-th of `numBlocks` equal ranges of the hash space. Hashing balances the blocks for any id
// layout (consecutive small ids, or ids spread over 2^64), and every rank puts a key in the
// same block without a word exchanged. A block's keys live wherever the servers' ring puts
// them (one table per block, block_tables.ts), so each server holds its share of every block.
import { fmix32 } from '../../lib/rng.js';

/** The block of each key (uint64, read as two little-endian 32-bit halves: no BigInt arithmetic). */
export function blockOfKeys(keys: BigUint64Array, numBlocks: number): Uint32Array {
  const halves = new Uint32Array(keys.buffer, keys.byteOffset, 2 * keys.length);
  const out = new Uint32Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const h = fmix32(halves[2 * i]! ^ fmix32(halves[2 * i + 1]! ^ 0x9e3779b9));
    out[i] = Math.floor((h / 2 ** 32) * numBlocks);
  }
  return out;
}

/** One rank's keys grouped by block: the local indices (ascending) and their keys. */
export interface LocalBlock {
  indices: Uint32Array;
  keys: BigUint64Array;
}

/** Groups this rank's keys (local index i has key keys[i]) into `numBlocks` blocks. */
export function localBlocks(keys: BigUint64Array, numBlocks: number): LocalBlock[] {
  const of = blockOfKeys(keys, numBlocks);
  const counts = new Uint32Array(numBlocks);
  for (const b of of) counts[b]!++;
  const blocks = Array.from(counts, (n) => ({ indices: new Uint32Array(n), keys: new BigUint64Array(n) }));
  const fill = new Uint32Array(numBlocks);
  for (let i = 0; i < keys.length; i++) {
    const b = of[i]!;
    const at = fill[b]!++;
    blocks[b]!.indices[at] = i;
    blocks[b]!.keys[at] = keys[i]!;
  }
  return blocks;
}
