// The binding in one process: argument validation, the authentication handshake, and
// strangers on the listening port. Two NativeComms in one process are two real engines
// talking over loopback TCP.
import { connect as tcpConnect } from 'node:net';

import test from 'ava';

import { init } from '../../lib/index.js';
import { native, OP_KIND } from '../../lib/native.js';

function pair(tokens: [string, string]) {
  const a = new native.NativeComm({ rank: 0, size: 2, commId: 7, token: tokens[0] });
  const b = new native.NativeComm({ rank: 1, size: 2, commId: 7, token: tokens[1] });
  const peers = [
    { host: '127.0.0.1', port: a.port },
    { host: '127.0.0.1', port: b.port },
  ];
  return { a, b, peers };
}

test('two engines with the same token connect and all-reduce', async (t) => {
  const { a, b, peers } = pair(['secret', 'secret']);
  await Promise.all([a.connect(peers, 5000), b.connect(peers, 5000)]);
  const x = new Float64Array([1, 2, 3]);
  const y = new Float64Array([10, 20, 30]);
  await Promise.all([a.collective(OP_KIND.allReduce, x, null, 0, -1, 5000), b.collective(OP_KIND.allReduce, y, null, 0, -1, 5000)]);
  t.deepEqual(Array.from(x), [11, 22, 33]);
  t.deepEqual(Array.from(y), [11, 22, 33]);
  await Promise.all([a.close(), b.close()]);
});

test('a peer with the wrong token is refused on both sides with ERR_AUTH', async (t) => {
  const { a, b, peers } = pair(['secret', 'not-the-secret']);
  const [ra, rb] = await Promise.allSettled([a.connect(peers, 3000), b.connect(peers, 3000)]);
  t.is(ra.status, 'rejected');
  t.is(rb.status, 'rejected');
  const ea = (ra as PromiseRejectedResult).reason as Error & { code: string };
  const eb = (rb as PromiseRejectedResult).reason as Error & { code: string };
  t.is(ea.code, 'ERR_AUTH', ea.message);
  t.regex(ea.message, /rank 1 did not connect.*SHOAL_TOKEN/);
  t.is(eb.code, 'ERR_AUTH', eb.message);
  t.regex(eb.message, /SHOAL_TOKEN/);
  await Promise.all([a.close(), b.close()]);
});

test('a stranger sending garbage to the listening port is dropped and the real peer still connects', async (t) => {
  const { a, b, peers } = pair(['secret', 'secret']);
  const stranger = tcpConnect(a.port, '127.0.0.1');
  stranger.on('error', () => undefined); // the engine hangs up on it: that is the point
  await new Promise<void>((resolve) => stranger.on('connect', () => resolve()));
  stranger.write(Buffer.alloc(64, 0x41));
  const connecting = a.connect(peers, 5000);
  await new Promise((r) => setTimeout(r, 100));
  await Promise.all([connecting, b.connect(peers, 5000)]);
  const x = new Int32Array([5]);
  const y = new Int32Array([6]);
  await Promise.all([a.collective(OP_KIND.allReduce, x, null, 3, -1, 5000), b.collective(OP_KIND.allReduce, y, null, 3, -1, 5000)]);
  t.is(x[0], 5);
  t.is(y[0], 5);
  stranger.destroy();
  await Promise.all([a.close(), b.close()]);
});

test('the binding rejects bad arguments before anything is sent', (t) => {
  const c = new native.NativeComm({ rank: 0, size: 1, commId: 1, token: 'x' });
  t.throws(() => c.collective(OP_KIND.allReduce, new Uint16Array(3) as never, null, 0, -1, 0), { message: /Uint16Array/ });
  t.throws(() => c.collective(OP_KIND.allReduce, new Float32Array(3), null, 9, -1, 0), { message: /unknown reduce op/ });
  t.throws(() => c.collective(OP_KIND.bcast, new Float32Array(3), null, 0, 1, 0), { message: /root must be an integer in \[0, 1\)/ });
  t.throws(() => c.collective(42, new Float32Array(3), null, 0, 0, 0), { message: /unknown op kind/ });
  t.throws(() => new native.NativeComm({ rank: 2, size: 2, commId: 1, token: 'x' }), { message: /'rank' must be an integer in \[0, 1\]/ });
  t.throws(() => new native.NativeComm({ rank: 0, size: 2, commId: 1, token: 'x', bindHost: '203.0.113.0.1' }), { message: /cannot (resolve|listen)/ });
  t.throws(() => new native.NativeComm({ rank: 0, size: 1, commId: 1, token: 'x', hierarchical: 'streamed' as never }), { instanceOf: TypeError, message: /'hierarchical' must be a boolean or "phased"/ });
  t.throws(() => new native.NativeComm({ rank: 0, size: 1, commId: 1, token: 'x', hierarchical: 1 as never }), { instanceOf: TypeError, message: /'hierarchical' must be a boolean or "phased"/ });
  t.throws(() => new native.NativeComm({ rank: 0, size: 1, commId: 1, token: 'x', yieldUs: 200_000 }), { message: /'yieldUs' must be an integer in \[0, 100000\]/ });

  void c.close();
});

test('init() takes SHOAL_HIERARCHICAL=0, 1 or phased and names the variable otherwise', async (t) => {
  await t.throwsAsync(init({ env: { SHOAL_HIERARCHICAL: 'yes' } }), { message: /SHOAL_HIERARCHICAL=yes must be 0, 1 or phased/ });
  const phased = await init({ env: { SHOAL_HIERARCHICAL: 'phased' } });
  t.is(phased.size, 1);
  await phased.close();
});

test('Communicator validates arguments with TypeError/RangeError naming the op and parameter', async (t) => {
  const comm = await init({ env: {} });
  t.is(comm.size, 1);
  await t.throwsAsync(comm.allReduce([1, 2, 3] as never), { instanceOf: TypeError, message: "allReduce: expected a Float32Array|Float64Array|Int32Array|BigInt64Array|Uint8Array for 'buf' but received Array(3)" });
  await t.throwsAsync(comm.allReduce(new Float32Array(2), { op: 'avg' as never }), { instanceOf: TypeError, message: /'options.op'/ });
  await t.throwsAsync(comm.bcast(new Float32Array(2), 1), { instanceOf: RangeError, message: /bcast: expected an integer rank in \[0, 1\) for 'root' but received number 1/ });
  await t.throwsAsync(comm.reduceTo(new Float32Array(2), -1), { instanceOf: RangeError });
  await t.throwsAsync(comm.allGather(new Float32Array(2), new Float32Array(3)), { instanceOf: RangeError, message: /send.length \* size = 2/ });
  await t.throwsAsync(comm.allGather(new Float32Array(2), new Float64Array(2) as never), { instanceOf: TypeError });
  await t.throwsAsync(comm.allReduce(new Float32Array(2), { timeoutMs: -5 }), { instanceOf: RangeError });
  const err = await t.throwsAsync(comm.allReduce(new Float32Array(2), { timeoutMs: -5 }));
  t.is((err as Error & { code: string }).code, 'ERR_INVALID_ARGUMENT');
  // A size-1 communicator still runs every op (identity), in place.
  const buf = new Float32Array([1, -2]);
  t.is(await comm.allReduce(buf, { op: 'max' }), buf);
  t.deepEqual(Array.from(buf), [1, -2]);
  const recv = new Float32Array(2);
  await comm.allGather(buf, recv);
  t.deepEqual(Array.from(recv), [1, -2]);
  await comm.barrier();
  const sub = await comm.split(0);
  t.is(sub?.size, 1);
  t.is(await comm.split(-1), null);
  await comm.close();
  await t.throwsAsync(comm.barrier(), { message: /communicator is closed/ });
});

test('a detached buffer is rejected', async (t) => {
  const comm = await init({ env: {} });
  const buf = new Float32Array(4);
  structuredClone(buf.buffer, { transfer: [buf.buffer] });
  const err = await comm.allReduce(buf).then(
    () => null,
    (e: Error) => e,
  );
  t.truthy(err, 'allReduce on a detached buffer resolved');
  t.regex(err!.message, /detached/);
  await comm.close();
});
