// Vector tables and vector programs (native/ps/vector_program.h, lib/ps/vector_program.ts) on
// a real in-process server: float64 pushes sum exactly, programs give the dense arithmetic's
// values, keys nobody pulled or pushed take no row, and bad programs get errors naming the
// instruction and slot (the server keeps serving) instead of aborting; after a server loss
// (replication 2) the live server sums every row once, and refuses while it has not seen the
// loss the worker reports.
import test from 'ava';

import { native } from '../../lib/native.js';
import { PsClient } from '../../lib/ps/client.js';
import { VectorProgram } from '../../lib/ps/vector_program.js';
import { connectWorker, startServer, TOKEN, type NativeServer } from '../helpers/ps_inprocess.js';

const keys = BigUint64Array.from([1n, 2n ** 63n + 5n, 2n ** 64n - 1n, 0n]);

function f32(values: number[]): Float32Array {
  return new Float32Array(Float64Array.from(values).buffer);
}

test.serial('float64 pushes sum in slot 1; programs compute lincomb, dot, |.|_1 and OWL-QN steps exactly; pull reads slot 0', async (t) => {
  t.timeout(60_000);
  const server = startServer();
  const client = await connectWorker(server, 30_000);
  try {
    const v = await client.table('vec', { updater: { type: 'vector', slots: 6 } });
    t.is(v.slots, 6);
    const g1 = [0.1, -2.5, 1e-300, 3];
    const g2 = [0.2, 0.5, -1, 0];
    await v.push(keys, f32(g1));
    await v.push(keys, f32(g2));
    const g = g1.map((x, i) => x + g2[i]!);
    // slot 2 = 2*g - 1*g = g; slot 3 = 0.5 * g; results: g.g, |g|_1, count, rows.
    const p = new VectorProgram().lincomb(2, 2, 1, -1, 1).lincomb(3, 0.5, 2).dot(1, 1).absSum(3).countNonZero(3).countRows();
    const r = await v.run(p.bytes());
    t.is(r.length, 4);
    // The server sums rows in its table's order: equal up to the order of the additions.
    const gg = g.reduce((s, x) => s + x * x, 0);
    t.true(Math.abs(r[0]! - gg) <= 1e-15 * gg, `dot of the pushed sums: ${r[0]} vs ${gg}`);
    t.true(Math.abs(r[1]! - g.reduce((s, x) => s + Math.abs(0.5 * x), 0)) < 1e-12);
    t.is(r[2], 4);
    t.is(r[3], 4, 'only the 4 keys pushed have rows');
    // Pull returns slot 0: copy slot 3 there.
    await v.run(new VectorProgram().copy(0, 3).bytes());
    const out = new Float64Array(keys.length);
    await v.pull(keys, new Float32Array(out.buffer));
    t.deepEqual([...out], g.map((x) => 0.5 * x));
    // OWL-QN: pg of x = slot 3 (0.5 g), grad = slot 1 (g), l1 = 1; then project x + 1*d onto x's orthant.
    await v.run(new VectorProgram().pseudoGradient(4, 3, 1, 1).lincomb(5, -1, 4).project(0, 3, 1, 5, 4, true).bytes());
    await v.pull(keys, new Float32Array(out.buffer));
    const expected = g.map((gj) => {
      const x = 0.5 * gj;
      const pg = x > 0 ? gj + 1 : x < 0 ? gj - 1 : gj + 1 < 0 ? gj + 1 : gj - 1 > 0 ? gj - 1 : 0;
      const xv = x - pg;
      const orthant = x !== 0 ? Math.sign(x) : Math.sign(-pg);
      return Math.sign(xv) !== orthant ? 0 : xv;
    });
    t.deepEqual([...out], expected);
  } finally {
    await client.close();
    server.stop();
  }
});

test.serial('width 2: a push adds into slots 2 and 3, a pull returns slots 0 and 1; newtonStep is the soft-thresholded coordinate step', async (t) => {
  t.timeout(60_000);
  const server = startServer();
  const client = await connectWorker(server, 30_000);
  try {
    // Slots: 0 w, 1 step, 2 gradient, 3 Hessian diagonal (what --solver bcd --servers uses).
    const v = await client.table('bcd', { updater: { type: 'vector', slots: 5, width: 2 } });
    t.is(v.dim, 4);
    const g = [0.5, -3, 0.25, 1];
    const h = [2, 1, 0, 1];
    // Two pushes of half the values each: the servers sum them into slots 2 and 3.
    const half = f32(g.flatMap((gj, i) => [gj / 2, h[i]! / 2]));
    await v.push(keys, half);
    await v.push(keys, half);
    // L2 at w = 0 (slot 0 starts at zero): step = -g/(h + l2).
    const l2 = 1;
    await v.run(new VectorProgram().newtonStep(1, 2, 3, 0, 0, l2).bytes());
    const out = new Float64Array(2 * keys.length);
    await v.pull(keys, new Float32Array(out.buffer));
    t.deepEqual(
      [...out],
      g.flatMap((gj, i) => [0, -gj / (h[i]! + l2)]),
      'w stays 0; step = -g/(h + l2) at w = 0',
    );
    // L1 = 1 with w = 0.5 * h in slot 0 (set by a program, so it is known exactly).
    await v.run(new VectorProgram().lincomb(0, 0.5, 3).newtonStep(1, 2, 3, 0, 1, 0).bytes());
    await v.pull(keys, new Float32Array(out.buffer));
    const expected = g.flatMap((gj, i) => {
      const hj = h[i]!;
      const wj = 0.5 * hj;
      let z = 0;
      if (hj > 1e-12) z = gj + 1 <= hj * wj ? -(gj + 1) / hj : gj - 1 >= hj * wj ? -(gj - 1) / hj : -wj;
      return [wj, z];
    });
    t.deepEqual([...out], expected);
    // Key 2 has h = 0: no step; key 3 (g 1, h 1, w 0.5) is inside the threshold: the step moves w to 0.
    t.is(out[5], 0);
    t.is(out[7], -0.5);
    await t.throwsAsync(client.table('bcd2', { updater: { type: 'vector', slots: 3, width: 2 } }), { message: /updater\.width/ });
    t.throws(() => new VectorProgram().newtonStep(1, 2, 3, 0, -1, 0), { message: /l1\/l2/ });
  } finally {
    await client.close();
    server.stop();
  }
});

test.serial('bad programs and bad vector tables are refused with the instruction and slot named; the server keeps serving', async (t) => {
  t.timeout(60_000);
  const server = startServer();
  const client = await connectWorker(server, 30_000);
  try {
    const v = await client.table('vec2', { updater: { type: 'vector', slots: 4 } });
    await v.push(keys.subarray(0, 1), f32([1]));
    const outOfRange = await t.throwsAsync(v.run(new VectorProgram().dot(1, 1).lincomb(9, 1, 0).bytes()));
    t.regex(outOfRange!.message, /table 'vec2': vector program instruction 1: slot c = 9 is out of range \(the table has 4 slots\)/);
    // A raw program with an unknown op (what a client bypassing the builder could send).
    const raw = new Uint8Array(24);
    raw[0] = 99;
    const badOp = await t.throwsAsync(v.run(raw));
    t.regex(badOp!.message, /instruction 0: unknown op 99/);
    await t.throwsAsync(v.run(new Uint8Array(10)), { message: /'program' must hold 1\.\.1024 instructions of 24 bytes \(got 10 bytes\)/ });
    const plain = await client.table('plain', { dim: 1 });
    await t.throwsAsync(plain.run(new VectorProgram().dot(0, 0).bytes()), { message: /a vector table/ });
    t.throws(() => new VectorProgram().dot(0, 300), { message: /slot b/ });
    await t.throwsAsync(client.table('vec3', { updater: { type: 'vector', slots: 1 } }), { message: /updater\.slots/ });
    await t.throwsAsync(client.table('vec4', { dim: 3, updater: { type: 'vector', slots: 4 } }), { message: /'dim'/ });
    // Still serving: the sum is there.
    const r = await v.run(new VectorProgram().dot(1, 1).bytes());
    t.deepEqual(r, [1]);
  } finally {
    await client.close();
    server.stop();
  }
});

test.serial('after a server loss (replication 2) programs sum every row once on the live servers; a server that has not seen the loss refuses', async (t) => {
  t.timeout(60_000);
  const { NativePsServer } = native as unknown as { NativePsServer: new (o: object) => NativeServer };
  const servers = [0, 1].map((rank) => new NativePsServer({ rank, numServers: 2, numWorkers: 1, token: TOKEN, replication: 2 }));
  const addrs = servers.map((s) => ({ host: '127.0.0.1', port: s.port }));
  for (const s of servers) s.start(addrs);
  const client = await PsClient.connect(addrs, { workerRank: 0, numWorkers: 1, token: TOKEN, replication: 2 }, { timeoutMs: 30_000 });
  let stopped = false;
  try {
    const v = await client.table('vf', { updater: { type: 'vector', slots: 2 } });
    const k = BigUint64Array.from({ length: 300 }, (_, i) => BigInt(i) * 0x9e3779b97f4a7c15n);
    const g = Array.from({ length: k.length }, (_, i) => (i % 7) - 3.25);
    await v.push(k, f32(g));
    const gg = g.reduce((s, x) => s + x * x, 0);
    const sumOf = async (): Promise<number> => (await v.run(new VectorProgram().dot(1, 1).countRows().bytes()))[0]!;
    t.is(await sumOf(), gg, 'both servers hold every key; each sums its primaries');
    // The worker hears of server 1's loss before server 0 does: server 0 must not sum over a ring with server 1 on it.
    client.serverLost(1, 'test: lost');
    const early = await t.throwsAsync(sumOf());
    t.regex(early!.message, /parameter server 0 knows of 0 lost server\(s\), the worker of 1/);
    t.is((early as Error & { code?: string }).code, 'ERR_PEER_LOST');
    servers[1]!.stop();
    stopped = true;
    // Once server 0 has seen the link drop, it sums every row (it is now every key's primary).
    let sum: number | null = null;
    for (const end = Date.now() + 20_000; sum === null && Date.now() < end; ) {
      sum = await sumOf().catch(() => null);
      if (sum === null) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    t.is(sum, gg);
  } finally {
    await client.close();
    servers[0]!.stop();
    if (!stopped) servers[1]!.stop();
  }
});

test.serial("TRON's instructions: divide, affine and dot3 give the element loops' values; their slots are checked", async (t) => {
  t.timeout(60_000);
  const server = startServer();
  const client = await connectWorker(server, 30_000);
  try {
    const v = await client.table('vec-tron', { updater: { type: 'vector', slots: 5 } });
    const a = [0.3, -7, 2.5e-3, 11];
    const b = [2, 0.25, -3, 1e5];
    await v.push(keys, f32(a));
    // slot 2 = 0.01*a + 0.99 (affine), slot 3 = a (copy), then a into slot 1 again: slot 1 = 2a.
    await v.run(new VectorProgram().affine(2, 0.01, 1, 0.99).copy(3, 1).bytes());
    await v.push(keys, f32(b));
    // slot 1 = a + b; slot 4 = (a + b) / (0.01a + 0.99); dot3(4, 3, 2) = sum (a+b)/m * a * m.
    const r = await v.run(new VectorProgram().divide(4, 1, 2).copy(0, 4).dot3(4, 3, 2).dot3(1, 1, 1).bytes());
    const m = a.map((x) => 0.01 * x + 0.99);
    const z = a.map((x, i) => (x + b[i]!) / m[i]!);
    const out = new Float64Array(keys.length);
    await v.pull(keys, new Float32Array(out.buffer));
    t.deepEqual([...out], z, 'divide and affine are the element loop bit for bit');
    const want = z.reduce((s, x, i) => s + x * a[i]! * m[i]!, 0);
    t.true(Math.abs(r[0]! - want) <= 1e-14 * Math.abs(want), `dot3 ${r[0]} vs ${want}`);
    const cube = a.reduce((s, x, i) => s + (x + b[i]!) ** 3, 0);
    t.true(Math.abs(r[1]! - cube) <= 1e-14 * Math.abs(cube), `dot3 of one slot: ${r[1]} vs ${cube}`);
    const bad = await t.throwsAsync(v.run(new VectorProgram().dot(1, 1).dot3(1, 2, 7).bytes()));
    t.regex(bad!.message, /vector program instruction 1: slot c = 7 is out of range \(the table has 5 slots\)/);
    const badDiv = await t.throwsAsync(v.run(new VectorProgram().divide(3, 1, 5).bytes()));
    t.regex(badDiv!.message, /instruction 0: slot b = 5 is out of range/);
    t.throws(() => new VectorProgram().affine(0, 1, 1, Number.NaN), { message: /alpha\/beta/ });
  } finally {
    await client.close();
    server.stop();
  }
});
