// The transport option of the binding, in one process: two engines on this host pick shared
// memory by default, TCP when told, validate the option, and leave no segment name behind.
import { readdirSync } from 'node:fs';

import test from 'ava';

import { init } from '../../lib/index.js';
import { native, OP_KIND } from '../../lib/native.js';
import type { NativeCommOptions } from '../../lib/native.js';

async function pair(extra: Partial<NativeCommOptions>) {
  const a = new native.NativeComm({ rank: 0, size: 2, commId: 9, token: 'secret', ...extra });
  const b = new native.NativeComm({ rank: 1, size: 2, commId: 9, token: 'secret', ...extra });
  const peers = [
    { host: '127.0.0.1', port: a.port },
    { host: '127.0.0.1', port: b.port },
  ];
  await Promise.all([a.connect(peers, 10_000), b.connect(peers, 10_000)]);
  return { a, b };
}

function ourSegments(): string[] {
  return readdirSync('/dev/shm').filter((f) => f.startsWith(`shoal-${process.pid}-`));
}

for (const [option, kind] of [[undefined, 'shm'], ['auto', 'shm'], ['shm', 'shm'], ['tcp', 'tcp']] as const) {
  test.serial(`transport ${option ?? '(default)'}: both engines report ${kind} and a 1 MiB allReduce through 4 KiB rings is exact`, async (t) => {
    const { a, b } = await pair({ transport: option, shmRingBytes: 4096 });
    t.deepEqual(a.transports, ['self', kind]);
    t.deepEqual(b.transports, [kind, 'self']);
    t.deepEqual(ourSegments(), [], 'segment names must be unlinked once both sides mapped them');
    const n = 1 << 18;
    const x = new Int32Array(n).map((_, i) => i);
    const y = new Int32Array(n).map((_, i) => 3 * i);
    await Promise.all([a.collective(OP_KIND.allReduce, x, null, 0, -1, 20_000), b.collective(OP_KIND.allReduce, y, null, 0, -1, 20_000)]);
    let bad = 0;
    for (let i = 0; i < n; i++) if (x[i] !== 4 * i || y[i] !== 4 * i) bad++;
    t.is(bad, 0);
    await Promise.all([a.close(), b.close()]);
  });
}

test.serial('a peer with the wrong token is refused before any segment exists', async (t) => {
  const a = new native.NativeComm({ rank: 0, size: 2, commId: 9, token: 'secret', transport: 'shm' });
  const b = new native.NativeComm({ rank: 1, size: 2, commId: 9, token: 'guess', transport: 'shm' });
  const peers = [
    { host: '127.0.0.1', port: a.port },
    { host: '127.0.0.1', port: b.port },
  ];
  let sawSegment = false;
  const watch = setInterval(() => (sawSegment ||= ourSegments().length > 0), 5);
  const [ra, rb] = await Promise.allSettled([a.connect(peers, 3000), b.connect(peers, 3000)]);
  clearInterval(watch);
  t.is(ra.status, 'rejected');
  t.is(rb.status, 'rejected');
  t.is(((rb as PromiseRejectedResult).reason as { code: string }).code, 'ERR_AUTH');
  t.false(sawSegment, 'a segment was created for an unauthenticated peer');
  t.deepEqual(a.transports, []);
  await Promise.all([a.close(), b.close()]);
});

test('the binding rejects a bad transport or ring size', (t) => {
  const base = { rank: 0, size: 2, commId: 1, token: 'x' };
  t.throws(() => new native.NativeComm({ ...base, transport: 'udp' as never }), { instanceOf: TypeError, message: /transport must be 'auto', 'tcp' or 'shm'/ });
  t.throws(() => new native.NativeComm({ ...base, transport: 3 as never }), { instanceOf: TypeError });
  t.throws(() => new native.NativeComm({ ...base, shmRingBytes: 5000 }), { instanceOf: RangeError, message: /multiple of 4096/ });
  t.throws(() => new native.NativeComm({ ...base, shmRingBytes: 1024 }), { message: /shmRingBytes/ });
});

test('init() rejects a bad SHOAL_TRANSPORT or ring size by name', async (t) => {
  await t.throwsAsync(init({ env: { SHOAL_TRANSPORT: 'udp' } }), { message: /SHOAL_TRANSPORT=udp must be auto, tcp or shm/ });
  await t.throwsAsync(init({ env: { SHOAL_SHM_RING_BYTES: '100' } }), { message: /SHOAL_SHM_RING_BYTES=100 must be a number >= 4096/ });
  const comm = await init({ env: { SHOAL_TRANSPORT: 'tcp' } });
  t.deepEqual(comm.transports, ['self']);
  await comm.close();
});

test('a size-1 communicator reports only itself', (t) => {
  const c = new native.NativeComm({ rank: 0, size: 1, commId: 1, token: 'x' });
  t.deepEqual(c.transports, ['self']);
  void c.close();
});

async function trio(extra: Array<Partial<NativeCommOptions>>) {
  const comms = extra.map((e, rank) => new native.NativeComm({ rank, size: 3, commId: 11, token: 'secret', ...e }));
  const peers = comms.map((c) => ({ host: '127.0.0.1', port: c.port }));
  await Promise.all(comms.map((c) => c.connect(peers, 10_000)));
  return comms;
}

// Three engines of one process are three ranks on one host: they read each other's memory
// (their own pid) the way separate processes do.
test.serial('direct reads: three engines on one host agree on them and an uneven float64 allReduce through them is exact', async (t) => {
  const comms = await trio([0, 1, 2].map(() => ({ directMinSliceBytes: 0, segmentBytes: 4096 })));
  t.deepEqual(comms.map((c) => c.directReads), [true, true, true]);
  const n = 100_003;
  const bufs = comms.map((_, r) => new Float64Array(n).map((_, i) => i * (r + 1)));
  await Promise.all(comms.map((c, r) => c.collective(OP_KIND.allReduce, bufs[r]!, null, 0, -1, 20_000)));
  let bad = 0;
  for (const b of bufs) for (let i = 0; i < n; i++) if (b[i] !== 6 * i) bad++;
  t.is(bad, 0);
  await Promise.all(comms.map((c) => c.close()));
});

test.serial('direct reads: one engine created with directReads false turns them off for all three; allReduce still exact', async (t) => {
  const comms = await trio([{}, { directReads: false }, {}].map((e) => ({ ...e, directMinSliceBytes: 0 })));
  t.deepEqual(comms.map((c) => c.directReads), [false, false, false]);
  const n = 100_003;
  const bufs = comms.map((_, r) => new Int32Array(n).fill(r + 1));
  await Promise.all(comms.map((c, r) => c.collective(OP_KIND.allReduce, bufs[r]!, null, 0, -1, 20_000)));
  t.true(bufs.every((b) => b.every((v) => v === 6)));
  await Promise.all(comms.map((c) => c.close()));
});

test('direct reads: over TCP they are off, and bad options are rejected by name', async (t) => {
  const comms = await trio([0, 1, 2].map(() => ({ transport: 'tcp' as const })));
  t.deepEqual(comms.map((c) => c.directReads), [false, false, false]);
  await Promise.all(comms.map((c) => c.close()));
  const base = { rank: 0, size: 2, commId: 1, token: 'x' };
  t.throws(() => new native.NativeComm({ ...base, directReads: 1 as never }), { instanceOf: TypeError, message: /'directReads' must be a boolean/ });
  t.throws(() => new native.NativeComm({ ...base, directMinSliceBytes: -1 }), { message: /directMinSliceBytes/ });
  t.throws(() => new native.NativeComm({ ...base, smallRootedBytes: -1 }), { message: /smallRootedBytes/ });
  t.throws(() => new native.NativeComm({ ...base, smallAllReduceBytes: 'big' as never }), { message: /smallAllReduceBytes/ });
  await t.throwsAsync(init({ env: { SHOAL_SMALL_ROOTED_BYTES: 'lots' } }), { message: /SHOAL_SMALL_ROOTED_BYTES/ });
  await t.throwsAsync(init({ env: { SHOAL_DIRECT_READS: 'yes' } }), { message: /SHOAL_DIRECT_READS=yes must be 0 or 1/ });
});

// A rank's buffer is read by its peers during a direct-read allReduce. Whatever happens to
// one rank's op, no rank may succeed with bytes read after their owner gave its buffer back
// (all_reduce_direct.cc: lending). Every rank sums i * (rank + 1); a rank that succeeds must
// hold 6 * i everywhere.
const LENT_N = 3 * (1 << 20) + 7;  // float32: 4 MiB slices (two 256 KiB-segment passes), uneven
async function lendingRound(t: import('ava').ExecutionContext, opts: Array<Partial<NativeCommOptions>>, timeouts: number[]) {
  const comms = await trio(opts.map((o) => ({ directMinSliceBytes: 0, ...o })));
  t.deepEqual(comms.map((c) => c.directReads), [true, true, true]);
  const bufs = comms.map((_, r) => new Float32Array(LENT_N).map((_, i) => (i % 1000) * (r + 1)));
  const outcomes = await Promise.allSettled(
    comms.map(async (c, r) => {
      try {
        await c.collective(OP_KIND.allReduce, bufs[r]!, null, 0, -1, timeouts[r]!);
      } catch (e) {
        bufs[r]!.fill(-1e9);  // the caller reuses its buffer the moment the op fails
        throw e;
      }
    }),
  );
  const wrong = bufs.map((b) => {
    let bad = 0;
    for (let i = 0; i < LENT_N; i++) if (b[i] !== 6 * (i % 1000)) bad++;
    return bad;
  });
  await Promise.all(comms.map((c) => c.close().catch(() => undefined)));
  return { outcomes, wrong };
}

for (const step of [0, 1, 2]) {
  test.serial(`direct reads: a rank failing after step ${step} lets no peer succeed with bytes it gave back`, async (t) => {
    t.timeout(60_000);
    // Rank 2 fails after the step and then overwrites its buffer and result slot; rank 0 reads
    // its peers' memory a second late in each phase (a starved process).
    const { outcomes, wrong } = await lendingRound(t, [{ testDirectReadDelayMs: 1000 }, {}, { testDirectFailAfterStep: step }], [30_000, 30_000, 30_000]);
    // Rank 2 overwrites its buffer as soon as its op fails; a peer that succeeds must still hold
    // the exact sum (how long rank 2 waits is a matter for bench/, not for this test).
    t.is(outcomes[2]!.status, 'rejected');
    t.regex(String((outcomes[2] as PromiseRejectedResult).reason), /injected fault after step/);
    for (const r of [0, 1]) {
      if (outcomes[r]!.status === 'fulfilled') t.is(wrong[r], 0, `rank ${r} succeeded with wrong bytes`);
    }
    // Before step 2 completes nobody can finish: every rank fails.
    if (step < 2) t.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected']);
  });
}

test.serial('direct reads: a rank that times out waits for a starved peer to stop reading before its caller gets the buffer back', async (t) => {
  t.timeout(60_000);
  // Rank 0 gives up after 300 ms in step 1, waiting for rank 1, which reads a second and a
  // half late; rank 0's caller then overwrites its buffer. Rank 1 must not succeed with those bytes.
  const { outcomes, wrong } = await lendingRound(t, [{}, { testDirectReadDelayMs: 1500 }, {}], [300, 30_000, 30_000]);
  t.is(outcomes[0]!.status, 'rejected');
  t.is(((outcomes[0] as PromiseRejectedResult).reason as { code: string }).code, 'ERR_TIMEOUT');
  for (const r of [1, 2]) {
    if (outcomes[r]!.status === 'fulfilled') t.is(wrong[r], 0, `rank ${r} succeeded with wrong bytes`);
  }
  t.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected']);
});
