// The SSP client cache (lib/ps/ssp_cache.ts): which reads it serves locally, what a served row
// holds, that pushes leave once per clock and before the clock, that a window fetch makes the
// window's reads local, and the same against a real
// native parameter server.
import test from 'ava';
import { SspClientCache, type CacheableTable } from '../../lib/ps/ssp_cache.js';
import { U64Index } from '../../lib/ps/u64_index.js';
import { connectWorker, startServer } from '../helpers/ps_inprocess.js';

/** An additive in-memory table that records every request. */
function recordingTable(dim: number): CacheableTable & { rows: Map<bigint, Float32Array>; log: string[] } {
  const rows = new Map<bigint, Float32Array>();
  const log: string[] = [];
  const row = (k: bigint): Float32Array => {
    let r = rows.get(k);
    if (!r) rows.set(k, (r = new Float32Array(dim)));
    return r;
  };
  return {
    name: 'rec',
    dim,
    pushFloats: dim,
    rows,
    log,
    async pull(keys: BigUint64Array) {
      log.push(`pull ${Array.from(keys).join(',')}`);
      const out = new Float32Array(keys.length * dim);
      keys.forEach((k, i) => out.set(row(k), i * dim));
      return out;
    },
    async push(keys: BigUint64Array, values: Float32Array) {
      log.push(`push ${Array.from(keys).join(',')}`);
      keys.forEach((k, i) => {
        const r = row(k);
        for (let c = 0; c < dim; c++) r[c]! += values[i * dim + c]!;
      });
    },
  };
}

const K = (...ks: Array<number | bigint>): BigUint64Array => BigUint64Array.from(ks, (k) => BigInt(k));

test('reads within the staleness bound are served locally; older rows are fetched again', async (t) => {
  const table = recordingTable(1);
  table.rows.set(7n, Float32Array.of(1));
  const cache = new SspClientCache(async () => table.log.push('clock') as unknown as void, { staleness: 1 });
  const c = cache.table(table);
  t.deepEqual(Array.from(await c.pull(K(7, 7))), [1, 1]);
  table.rows.set(7n, Float32Array.of(5)); // another worker's update
  t.deepEqual(Array.from(await c.pull(K(7))), [1], 'same clock: the cached row');
  await cache.clock();
  t.deepEqual(Array.from(await c.pull(K(7))), [1], 'one clock later: still within staleness 1');
  await cache.clock();
  t.deepEqual(Array.from(await c.pull(K(7))), [5], 'two clocks later: fetched again');
  t.deepEqual(table.log, ['pull 7', 'clock', 'clock', 'pull 7']);
  // The repeated key of the first pull is fetched once, not served locally.
  t.like(cache.stats, { keysRead: 5, keysServedLocally: 2, keysFetched: 2, pullRequests: 2, clocks: 2 });
});

test('pushes are summed per key and sent once per clock, before the clock; additive rows see them', async (t) => {
  const table = recordingTable(2);
  const cache = new SspClientCache(async () => void table.log.push('clock'), { staleness: 3 });
  const c = cache.table(table, { additive: true });
  await c.pull(K(1, 2));
  await c.push(K(1, 1), Float32Array.of(1, 2, 10, 20));
  await c.push(K(2, 0xffff_ffff_ffff_ffffn), Float32Array.of(3, 4, 5, 6));
  t.deepEqual(table.log, ['pull 1,2'], 'nothing sent before the clock');
  // Read-my-writes: the pending sums are added to the cached rows.
  t.deepEqual(Array.from(await c.pull(K(2, 1))), [3, 4, 11, 22]);
  await cache.clock();
  t.deepEqual(table.log, ['pull 1,2', `push 1,2,${0xffff_ffff_ffff_ffffn}`, 'clock']);
  t.deepEqual(Array.from(table.rows.get(0xffff_ffff_ffff_ffffn)!), [5, 6]);
  // After the flush the cached rows include the pushes (and are still fresh): no fetch.
  t.deepEqual(Array.from(await c.pull(K(1))), [11, 22]);
  t.is(table.log.length, 3);
  t.like(cache.stats, { keysPushed: 4, keysSent: 3, pushRequests: 1 });
});

test('a non-additive table serves the row as fetched; bad arguments are refused with context', async (t) => {
  const table = recordingTable(1);
  const cache = new SspClientCache(async () => {}, { staleness: 0 });
  const c = cache.table(table);
  await c.pull(K(3));
  await c.push(K(3), Float32Array.of(4));
  t.deepEqual(Array.from(await c.pull(K(3))), [0]);
  // This clock's pushes leave as one push, summed per key.
  await c.push(K(5, 3), Float32Array.of(1, 2));
  await cache.clock();
  t.deepEqual(table.log, ['pull 3', 'push 3,5']);
  t.deepEqual([table.rows.get(3n)![0], table.rows.get(5n)![0]], [6, 1]);
  t.like(cache.stats, { keysPushed: 3, keysSent: 2, pushRequests: 1 });
  await t.throwsAsync(c.push(K(3), Float32Array.of(1, 2)), { message: /rec\.push.*keys\.length \* 1 = 1 floats/ });
  await t.throwsAsync(c.pull([1n] as unknown as BigUint64Array), { message: /rec\.pull.*BigUint64Array/ });
  t.throws(() => new SspClientCache(async () => {}, { staleness: -1 }), { message: /staleness/ });
  t.throws(() => cache.table({ ...table, pushFloats: 2 }, { additive: true }), { message: /pushFloats 2 != dim 1/ });
});

test('U64Index: many keys, both words, clear', (t) => {
  const idx = new U64Index(4);
  for (let i = 0; i < 5000; i++) idx.add(i * 2654435761 >>> 0, i % 7, i);
  for (let i = 0; i < 5000; i++) t.is(idx.get(i * 2654435761 >>> 0, i % 7), i);
  t.is(idx.get(1, 99), -1);
  idx.clear();
  t.is(idx.get(0, 0), -1);
  t.is(idx.size, 0);
});

test('against a real parameter server: cached pushes arrive once per clock and sum correctly', async (t) => {
  const server = startServer();
  const client = await connectWorker(server, 20_000);
  try {
    const raw = await client.table('cache.sum', { dim: 2, updater: { type: 'add' } });
    const cache = new SspClientCache(() => client.clock(), { staleness: 2 });
    const c = cache.table(raw, { additive: true });
    const keys = K(1, 2, 3, 2 ** 40);
    for (let step = 0; step < 5; step++) {
      await c.pull(keys);
      await c.push(keys, Float32Array.from({ length: 8 }, (_, i) => i + 1));
      await cache.clock();
    }
    t.deepEqual(Array.from(await raw.pull(keys)), Array.from({ length: 8 }, (_, i) => 5 * (i + 1)));
    t.deepEqual(Array.from(await c.pull(keys)), Array.from({ length: 8 }, (_, i) => 5 * (i + 1)), 'cached rows include own flushed pushes');
    t.like(cache.stats, { pushRequests: 5, keysSent: 20 });
    t.true(cache.stats.keysFetched < cache.stats.keysRead, JSON.stringify(cache.stats));
  } finally {
    await client.close();
    server.stop();
  }
});

test('slot-addressed calls: the same answers, requests and counters as keyed calls on a random workload', async (t) => {
  // Slots 0..n-1 stand for scattered keys (the bias key among them); both caches run the same
  // pulls, pushes and clocks against their own recording table, in additive and plain mode.
  const n = 40;
  const slotKeys = BigUint64Array.from({ length: n }, (_, i) => (i === 0 ? 0xffff_ffff_ffff_ffffn : BigInt(i * 1_000_003 + 5) << 20n));
  for (const additive of [false, true]) {
    const [ta, tb] = [recordingTable(2), recordingTable(2)];
    const ca = new SspClientCache(async () => void ta.log.push('clock'), { staleness: 2 });
    const cb = new SspClientCache(async () => void tb.log.push('clock'), { staleness: 2 });
    const hashed = ca.table(ta, { additive });
    const slotted = cb.slotTable(tb, slotKeys, { additive });
    let seed = 7;
    const rnd = (m: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % m;
    for (let step = 0; step < 60; step++) {
      const slots = Uint32Array.from({ length: 1 + rnd(12) }, () => rnd(n));
      const keys = BigUint64Array.from(slots, (s) => slotKeys[s]!);
      // Another worker's update, seen only by fetches.
      const other = slotKeys[rnd(n)]!;
      for (const tbl of [ta, tb]) tbl.rows.set(other, Float32Array.of(step, -step));
      t.deepEqual(Array.from(await slotted.pullSlots(slots)), Array.from(await hashed.pull(keys)), `step ${step} pull`);
      const values = Float32Array.from({ length: 2 * slots.length }, () => rnd(100) / 10);
      await hashed.push(keys, values);
      await slotted.pushSlots(slots, values);
      if (rnd(3) === 0) {
        await ca.clock();
        await cb.clock();
      }
    }
    // Pushes may leave in a different key order: compare the sets per request.
    const norm = (log: string[]) => log.map((l) => l.split(' ')[0] + ' ' + (l.split(' ')[1] ?? '').split(',').sort().join(','));
    t.deepEqual(norm(tb.log), norm(ta.log), `additive ${additive}: requests`);
    t.deepEqual(cb.stats, ca.stats, `additive ${additive}: counters`);
    t.true(ca.stats.keysServedLocally > 0 && ca.stats.keysFetched > 0);
  }
});

test('slot-addressed cache: bad slots and sizes are refused with the table named', async (t) => {
  const table = recordingTable(1);
  const cache = new SspClientCache(async () => {}, { staleness: 1 });
  const c = cache.slotTable(table, K(5, 6));
  await t.throwsAsync(c.pullSlots(Uint32Array.of(0, 2)), { message: /rec\.pullSlots: expected a slot < 2 for 'slots\[1\]'/ });
  await t.throwsAsync(c.pushSlots(Uint32Array.of(1), Float32Array.of(1, 2)), { message: /rec\.pushSlots.*slots\.length \* 1 = 1 floats/ });
  await t.throwsAsync(c.pullSlots([0] as unknown as Uint32Array), { message: /rec\.pullSlots.*Uint32Array/ });
  await t.throwsAsync(c.fetchSlots(Uint32Array.of(1), 2), { message: /rec\.fetchSlots.*staleness 1/ });
  t.throws(() => cache.slotTable(table, K(5, 5)), { message: /slotKeys\[1\]/ });
  t.throws(() => cache.slotTable(table, [5n] as unknown as BigUint64Array), { message: /slotKeys/ });
});

test('fetchSlots: one pull makes a window of staleness + 1 clocks local; keyed and slot calls share rows', async (t) => {
  const table = recordingTable(1);
  const cache = new SspClientCache(async () => void table.log.push('clock'), { staleness: 2 });
  const c = cache.slotTable(table, K(10, 11, 12, 13));
  await c.pullSlots(Uint32Array.of(3)); // fetched at clock 0: fresh only through clock 2
  await cache.clock();
  // At clock 1 the window is clocks 1..3: slot 3 (fetched at 0) would expire, so it is fetched again with 0..2.
  t.is(await c.fetchSlots(Uint32Array.of(0, 1, 2, 3, 1), 2), 4);
  t.is(await c.fetchSlots(Uint32Array.of(0, 3), 2), 0, 'already fresh through the window');
  table.rows.set(11n, Float32Array.of(9)); // another worker's update, not seen until the next fetch
  for (let clock = 1; clock <= 3; clock++) {
    t.deepEqual(Array.from(await c.pullSlots(Uint32Array.of(1, 2))), [0, 0], `clock ${clock}: served locally`);
    t.deepEqual(Array.from(await c.pull(K(11))), [0], `clock ${clock}: the keyed call finds the same row`);
    await cache.clock();
  }
  t.deepEqual(Array.from(await c.pullSlots(Uint32Array.of(1))), [9], 'clock 4: fetched again');
  t.deepEqual(table.log, ['pull 13', 'clock', 'pull 10,11,12,13', 'clock', 'clock', 'clock', 'pull 11']);
  t.like(cache.stats, { keysRead: 11, keysServedLocally: 9, keysFetched: 6, pullRequests: 3 });
  // A key the slots did not name gets the next slot.
  await c.pull(K(99));
  t.is(c.numSlots, 5);
});
