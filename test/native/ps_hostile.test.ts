// Hostile and broken clients against a real parameter server (native server and worker in
// this process, real loopback TCP): strangers that connect and stay silent or send garbage,
// authenticated clients that announce huge payloads, and table names that used to break the
// servers' stats JSON. The server must keep serving its honest worker throughout.
import type { Socket } from 'node:net';

import test from 'ava';

import { native } from '../../lib/native.js';
import { connectWorker, roundTrip, startServer, TOKEN, type NativeServer } from '../helpers/ps_inprocess.js';
import {
  authenticate,
  dial,
  PS_COMM_ID,
  PS_HANDSHAKE_SIZE,
  PS_TYPE,
  psMessage,
  readPsMessage,
  tableIdOf,
  tableSpecPayload,
  type SocketReader,
} from '../helpers/shoal_wire.js';

async function authenticated(server: NativeServer): Promise<{ socket: Socket; reader: SocketReader }> {
  const c = await dial(server.port);
  await authenticate(c.socket, c.reader, { token: TOKEN, commId: PS_COMM_ID, fromRank: 0, toRank: 0, size: PS_HANDSHAKE_SIZE });
  return c;
}

async function withServer(fn: (server: NativeServer) => Promise<void>, options: { maxMessageBytes?: number } = {}): Promise<void> {
  const server = startServer(options);
  try {
    await fn(server);
  } finally {
    server.stop();
  }
}

// Before, each silent stranger held the server's only I/O thread for its 5 s handshake timeout.
test.serial('silent and garbage-sending strangers on the PS port delay neither the handshake nor pulls', async (t) => {
  t.timeout(90_000);
  await withServer(async (server) => {
    const strangers: Socket[] = [];
    try {
      // More than the 64 pending handshakes the server keeps: the oldest are evicted.
      for (let i = 0; i < 80; i++) {
        const { socket } = await dial(server.port);
        if (i % 4 === 3) socket.write(Buffer.alloc(30, 0x41)); // a partial, garbage hello
        strangers.push(socket);
      }
      // Old cost: 80 x 5 s before this worker's handshake was even read. Generous bound: 30 s.
      const started = Date.now();
      const client = await connectWorker(server, 30_000);
      try {
        // Strangers arriving while the worker is served.
        for (let i = 0; i < 20; i++) strangers.push((await dial(server.port)).socket);
        t.true(await roundTrip(client, 'silent_test', 500));
        t.log(`connect + table + 2 pushes + pull with ${strangers.length} silent strangers: ${Date.now() - started} ms`);
      } finally {
        await client.close();
      }
    } finally {
      for (const s of strangers) s.destroy();
    }
  });
});

test.serial('random bytes to the PS port are dropped before any allocation; honest workers still connect', async (t) => {
  t.timeout(90_000);
  const { Rng } = await import('../../lib/rng.js');
  const rng = new Rng(12);
  await withServer(async (server) => {
    let closedByServer = 0;
    const cases = 200;
    for (let batch = 0; batch < cases; batch += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const { socket, reader } = await dial(server.port);
          const len = 1 + (rng.nextUint32() % 200);
          socket.write(Buffer.from(Array.from({ length: len }, () => rng.nextUint32() & 0xff)));
          socket.end();
          const { bytes, closed } = await reader.rest(20_000);
          // A random hello cannot carry the magic and the right ids: no challenge is sent.
          if (closed && bytes.length === 0) closedByServer++;
          socket.destroy();
        }),
      );
    }
    t.is(closedByServer, cases);
    const client = await connectWorker(server, 30_000);
    try {
      t.true(await roundTrip(client, 'after_garbage', 100));
    } finally {
      await client.close();
    }
  });
});

test.serial('an announced payload above the limit closes that connection only; a large announced one allocates as bytes arrive', async (t) => {
  t.timeout(90_000);
  await withServer(
    async (server) => {
      const client = await connectWorker(server, 30_000);
      try {
        // Over the limit: the connection is dropped at the header.
        const over = await authenticated(server);
        over.socket.write(psMessage({ type: PS_TYPE.pull, tableId: 1, count: 1, payloadBytes: 1n << 40n }));
        const overEnd = await over.reader.rest(20_000);
        t.true(overEnd.closed, 'the server closes a connection announcing 1 TiB');
        t.is(overEnd.bytes.length, 0);
        // Under the limit (256 MiB), sending 100 bytes: before, the server zero-filled the whole
        // announced size at once. Now it holds what arrived.
        const rssBefore = process.memoryUsage().rss;
        const big = await Promise.all(Array.from({ length: 3 }, () => authenticated(server)));
        for (const c of big) c.socket.write(psMessage({ type: PS_TYPE.push, tableId: 1, count: 1, payloadBytes: 256n << 20n }, Buffer.alloc(100, 7)));
        t.true(await roundTrip(client, 'during_big', 100), 'the worker is served while three connections announce 256 MiB each');
        const grown = process.memoryUsage().rss - rssBefore;
        t.log(`RSS growth with 3 connections announcing 256 MiB and sending 100 B: ${(grown / 2 ** 20).toFixed(1)} MiB`);
        t.true(grown < 200 * 2 ** 20, `RSS grew by ${grown} bytes`);
        for (const c of big) c.socket.destroy();
        t.true(await roundTrip(client, 'after_big', 100));
      } finally {
        await client.close();
      }
    },
    { maxMessageBytes: 512 * 2 ** 20 },
  );
});

test.serial('a worker that sends pulls but never reads the answers is throttled: bounded server memory, others served', async (t) => {
  t.timeout(90_000);
  const limit = 8 * 2 ** 20;
  await withServer(
    async (server) => {
      const client = await connectWorker(server, 30_000);
      try {
        const dim = 256;
        const n = 8000; // 8000 keys x 256 floats: an 8.2 MB answer, just under the limit
        const wide = await client.table('wide', { dim });
        const keyBytes = Buffer.alloc(8 * n);
        for (let i = 0; i < n; i++) keyBytes.writeBigUInt64LE(BigInt(i), 8 * i);
        await wide.pull(new BigUint64Array(keyBytes.buffer, keyBytes.byteOffset, n)); // rows exist before we measure
        const c = await authenticated(server);
        c.socket.pause(); // read nothing from now on
        const rssBefore = process.memoryUsage().rss;
        // 64 pulls: 4 MB of requests asking for 524 MB of answers.
        for (let i = 0; i < 64; i++) c.socket.write(psMessage({ type: PS_TYPE.pull, tableId: tableIdOf('wide'), count: n, requestId: BigInt(i + 1) }, keyBytes));
        await new Promise((resolve) => setTimeout(resolve, 1500));
        t.true(await roundTrip(client, 'while_throttled', 100), 'another worker is served meanwhile');
        const grown = process.memoryUsage().rss - rssBefore;
        t.log(`RSS growth with 64 unread 8.2 MB answers requested (limit ${limit} B): ${(grown / 2 ** 20).toFixed(1)} MiB`);
        t.true(grown < 150 * 2 ** 20, `RSS grew by ${grown} bytes`);
        c.socket.destroy();
        t.true(await roundTrip(client, 'after_throttled', 100));
      } finally {
        await client.close();
      }
    },
    { maxMessageBytes: limit },
  );
});

test.serial('pulls parked for a clock nobody reached are bounded per connection; the excess is refused', async (t) => {
  t.timeout(90_000);
  await withServer(async (server) => {
    const client = await connectWorker(server, 30_000);
    try {
      const bsp = await client.table('bsp', { dim: 1, consistency: { mode: 'bsp' } });
      const c = await authenticated(server);
      const key = Buffer.alloc(8);
      const total = 1100;
      for (let i = 0; i < total; i++) c.socket.write(psMessage({ type: PS_TYPE.pull, tableId: tableIdOf('bsp'), count: 1, clock: 1000n, requestId: BigInt(i + 1) }, key));
      // 1024 wait for clock 1000; each one past that is answered with an error at once.
      const refused = total - 1024;
      for (let i = 0; i < refused; i++) {
        const answer = await readPsMessage(c.reader, 20_000);
        t.not(answer.header.status, 0);
        if (i === 0) t.regex(answer.payload.toString(), /1024 pulls of this worker already wait for slower workers/);
      }
      // The honest worker (clock 0) is not held up by them.
      t.deepEqual(Array.from(await bsp.pull(new BigUint64Array([3n]))), [0]);
      c.socket.destroy();
    } finally {
      await client.close();
    }
  });
});

test.serial("table names: 'a\"b' and other bad names are refused by the SDK, the binding and the server; stats stay JSON", async (t) => {
  t.timeout(90_000);
  await withServer(async (server) => {
    const client = await connectWorker(server, 30_000);
    try {
      for (const bad of ['a"b', '', 'x'.repeat(129), 'a b', 'a/b', '../etc', '.hidden', 'a\\b', 'ünï', 'a\nb', '-x']) {
        const e = await t.throwsAsync(client.table(bad));
        t.regex(e!.message, /ps\.table: expected a table name of 1\.\.128 characters of \[A-Za-z0-9_.:-\]/, bad);
        t.is((e as Error & { code?: string }).code, 'ERR_INVALID_ARGUMENT');
      }
      // The native binding checks too (a caller that bypasses lib/ps).
      type RawClient = { createTable(name: string, spec: object, timeoutMs: number): Promise<void>; close(): Promise<void> };
      const { NativePsClient } = native as unknown as { NativePsClient: new (o: object) => RawClient };
      const raw = new NativePsClient({ workerRank: 0, numWorkers: 1, numServers: 1, token: TOKEN });
      t.throws(() => raw.createTable('a"b', { dim: 1, updater: 1, init: 0, consistency: 2, staleness: 0 }, 1000), {
        message: /createTable: invalid table name "a\\"b" \(3 bytes\): a table name is 1\.\.128 characters/,
      });
      await raw.close();
      // And the server, for a client that speaks the wire protocol itself.
      const c = await authenticated(server);
      const names = ['a"b', 'a\u0000b', '{"x":1}', '\\'];
      for (const [i, name] of names.entries()) {
        c.socket.write(psMessage({ type: PS_TYPE.createTable, tableId: tableIdOf(name), requestId: BigInt(i + 1) }, tableSpecPayload(name)));
      }
      for (let i = 0; i < names.length; i++) {
        const answer = await readPsMessage(c.reader, 20_000);
        t.not(answer.header.status, 0);
        t.regex(answer.payload.toString('utf8'), /invalid table name .* a table name is 1\.\.128 characters/);
      }
      c.socket.destroy();
      // Every allowed character class works, and the stats (the heartbeat's JSON) parse.
      t.true(await roundTrip(client, 'Aa0_.:-z', 10));
      t.notThrows(() => JSON.parse(server.stats()));
      const viaClient = (await client.stats()) as Array<{ tables: Array<{ name: string }> }>;
      const tableNames = viaClient[0]!.tables.map((x) => x.name);
      t.deepEqual(tableNames.filter((n) => !/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/.test(n)), [], JSON.stringify(tableNames));
      t.true(viaClient[0]!.tables.some((x) => x.name === 'Aa0_.:-z'));
    } finally {
      await client.close();
    }
  });
});

test.serial('a worker cannot speak for another worker or forward pushes as a server', async (t) => {
  t.timeout(60_000);
  await withServer(async (server) => {
    const client = await connectWorker(server, 30_000);
    try {
      const own = await client.table('own', { dim: 1 });
      const c = await authenticated(server);
      const payload = Buffer.alloc(12);
      payload.writeBigUInt64LE(5n, 0);
      payload.writeFloatLE(1, 8);
      c.socket.write(psMessage({ type: PS_TYPE.push, tableId: tableIdOf('own'), count: 1, worker: 7, requestId: 1n }, payload));
      c.socket.write(psMessage({ type: PS_TYPE.replicate, tableId: tableIdOf('own'), count: 1, worker: 0, requestId: 2n }, payload));
      const impersonated = await readPsMessage(c.reader, 20_000);
      const forwarded = await readPsMessage(c.reader, 20_000);
      t.not(impersonated.header.status, 0);
      t.regex(impersonated.payload.toString(), /request names worker 7 on the connection of worker 0/);
      t.not(forwarded.header.status, 0);
      t.regex(forwarded.payload.toString(), /replicate: only a parameter server may forward pushes/);
      c.socket.destroy();
      t.deepEqual(Array.from(await own.pull(new BigUint64Array([5n]))), [0], 'neither push was applied');
    } finally {
      await client.close();
    }
  });
});
