// The PS trainers' local slots (algorithms/ps_trainer/kv.ts buildSlots): first-seen order, the
// bias slot, and keys for every id up to 2^32 - 1 (the index grows past its first capacity).
import test from 'ava';
import { BIAS_KEY, buildSlots } from '../../algorithms/ps_trainer/kv.js';
import type { CsrMatrix } from '../../lib/data/csr.js';

function csr(rows: number[][]): CsrMatrix {
  const rowPtr = new Uint32Array(rows.length + 1);
  rows.forEach((r, i) => (rowPtr[i + 1] = rowPtr[i]! + r.length));
  const featureIds = Uint32Array.from(rows.flat());
  return { numRows: rows.length, rowPtr, featureIds, values: new Float32Array(featureIds.length).fill(1), labels: new Float32Array(rows.length), weights: null, qids: null, maxFeatureId: Math.max(-1, ...featureIds) };
}

test('slots in first-seen order, the bias first, keys and ids of every slot', (t) => {
  const data = csr([[7, 0xffff_fffe, 3], [3, 7], [0, 0xffff_ffff]]);
  const s = buildSlots(data, true);
  t.is(s.biasSlot, 0);
  t.deepEqual([...s.slotOf], [1, 2, 3, 3, 1, 4, 5]);
  t.deepEqual([...s.ids], [-1, 7, 0xffff_fffe, 3, 0, 0xffff_ffff]);
  t.deepEqual([...s.keys], [BIAS_KEY, 7n, 0xffff_fffen, 3n, 0n, 0xffff_ffffn]);
  t.is(s.numSlots, 6);
  const nb = buildSlots(data, false);
  t.is(nb.biasSlot, -1);
  t.deepEqual([...nb.slotOf], [0, 1, 2, 2, 0, 3, 4]);
  t.deepEqual([...nb.keys], [7n, 0xffff_fffen, 3n, 0n, 0xffff_ffffn]);
});

test('many distinct ids: each id one slot, the same as a Map would number them', (t) => {
  let seed = 11;
  const rnd = () => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
  const rows = Array.from({ length: 2000 }, () => Array.from({ length: 20 }, () => rnd() % 30000));
  const s = buildSlots(csr(rows), false);
  const ref = new Map<number, number>();
  rows.flat().forEach((id, k) => {
    if (!ref.has(id)) ref.set(id, ref.size);
    if (s.slotOf[k] !== ref.get(id)) t.fail(`entry ${k}: slot ${s.slotOf[k]} vs ${ref.get(id)}`);
  });
  t.is(s.numSlots, ref.size);
  t.true(ref.size > 10000, `${ref.size} distinct ids`);
  t.deepEqual([...s.keys], [...ref.keys()].map(BigInt));
});
