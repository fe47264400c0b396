// The sharded BCD's feature blocks (algorithms/sharded_bcd/key_blocks.ts): a key's block
// depends on the key alone (every rank agrees without talking), the blocks are balanced both
// for consecutive small ids and for ids spread over 2^64, and a rank's grouping keeps each
// key with its local index.
import test from 'ava';

import { blockOfKeys, localBlocks } from '../../algorithms/sharded_bcd/key_blocks.js';

function counts(blocks: Uint32Array, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const b of blocks) c[b]!++;
  return c;
}

test('blocks are balanced for consecutive ids and for ids spread over 2^64', (t) => {
  const numBlocks = 16;
  const consecutive = BigUint64Array.from({ length: 32_000 }, (_, i) => BigInt(i + 1));
  // Multiples of 2^40: only the high halves differ.
  const wide = BigUint64Array.from({ length: 32_000 }, (_, i) => BigInt(i + 1) << 40n);
  for (const keys of [consecutive, wide]) {
    const c = counts(blockOfKeys(keys, numBlocks), numBlocks);
    const expected = keys.length / numBlocks;
    // A binomial count of mean 2000 has a standard deviation of about 43: 10% is over 4 sigma.
    t.true(c.every((x) => Math.abs(x - expected) < 0.1 * expected), c.join(' '));
  }
});

test("a key's block does not depend on the other keys or their order", (t) => {
  const keys = BigUint64Array.from([0n, 1n, 2n ** 32n, 2n ** 63n + 5n, 2n ** 64n - 1n, 123456789n]);
  const all = blockOfKeys(keys, 7);
  const reversed = blockOfKeys(keys.slice().reverse(), 7);
  t.deepEqual([...reversed].reverse(), [...all]);
  keys.forEach((k, i) => t.is(blockOfKeys(BigUint64Array.of(k), 7)[0], all[i]));
  t.true([...all].every((b) => b < 7));
});

test('localBlocks groups local indices with their keys, ascending, covering every key once', (t) => {
  const keys = BigUint64Array.from({ length: 1000 }, (_, i) => BigInt(i) * 2654435761n);
  const blocks = localBlocks(keys, 5);
  const of = blockOfKeys(keys, 5);
  const seen = new Uint8Array(keys.length);
  blocks.forEach((blk, b) => {
    t.is(blk.indices.length, blk.keys.length);
    blk.indices.forEach((i, a) => {
      t.is(blk.keys[a], keys[i]);
      t.is(of[i], b);
      if (a > 0) t.true(i > blk.indices[a - 1]!);
      seen[i]!++;
    });
  });
  t.true(seen.every((s) => s === 1));
});
