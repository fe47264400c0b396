// A seeded fuzz of the parameter server's message decoder (native/psnet/connection.h and the
// request handlers behind it): each case authenticates as worker 0 on a fresh connection to
// a real server (this process, its own I/O thread, loopback TCP), sends one mutated or random
// message, half-closes and reads what comes back. kSave and kLoad (a worker-chosen directory
// written or read by design) are left out so the fuzz cannot write files.
import test from 'ava';

import { Rng } from '../../lib/rng.js';
import { connectWorker, roundTrip, startServer, TOKEN } from '../helpers/ps_inprocess.js';
import {
  authenticate,
  dial,
  PS_COMM_ID,
  PS_HANDSHAKE_SIZE,
  PS_HEADER_BYTES,
  PS_MAGIC,
  PS_RESPONSE_BIT,
  PS_TYPE,
  psMessage,
  splitPsMessages,
  tableIdOf,
  tableSpecPayload,
} from '../helpers/shoal_wire.js';

const MAX_MESSAGE_BYTES = 1 << 20;
const FILE_TYPES = new Set<number>([PS_TYPE.save, PS_TYPE.load]);

type Expect = 'any' | 'refused' | 'silent';
interface Case {
  label: string;
  bytes: Buffer;
  expect: Expect;
}

function keys(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(8 * n);
  for (let i = 0; i < n; i++) b.writeBigUInt64LE(BigInt(rng.nextUint32() % 1000), 8 * i);
  return b;
}

/** Valid requests of worker 0 to table 'fuzz' (dim 2, add), the mutation templates. */
function templates(rng: Rng): Buffer[] {
  const id = tableIdOf('fuzz');
  const n = 1 + (rng.nextUint32() % 8);
  const values = Buffer.alloc(4 * 2 * n);
  for (let i = 0; i < 2 * n; i++) values.writeFloatLE(1, 4 * i);
  return [
    psMessage({ type: PS_TYPE.pull, tableId: id, count: n }, keys(rng, n)),
    psMessage({ type: PS_TYPE.push, tableId: id, count: n, clock: BigInt(rng.nextUint32()) }, Buffer.concat([keys(rng, n), values])),
    psMessage({ type: PS_TYPE.clock, clock: BigInt(rng.nextUint32() % 4) }),
    psMessage({ type: PS_TYPE.createTable, tableId: tableIdOf('fuzz'), requestId: 9n }, tableSpecPayload('fuzz', 2)),
    psMessage({ type: PS_TYPE.stats }),
  ];
}

function nextCase(rng: Rng, i: number): Case {
  const byte = () => rng.nextUint32() & 0xff;
  const pick = <T>(xs: T[]): T => xs[rng.nextUint32() % xs.length]!;
  const base = pick(templates(rng));
  const bytes = Buffer.from(base);
  switch (i % 8) {
    case 0: {
      // A few bytes anywhere flipped (a save/load type is put back: no files).
      for (let k = 1 + (rng.nextUint32() % 4); k > 0; k--) {
        const at = rng.nextUint32() % bytes.length;
        bytes[at] = bytes[at]! ^ (1 + (byte() % 255));
      }
      if (FILE_TYPES.has(bytes[6]!)) bytes[6] = base[6]!;
      return { label: 'flipped bytes', bytes, expect: 'any' };
    }
    case 1: {
      // Announced length changed: shorter leaves trailing junk, longer waits for bytes that never come.
      const announced = BigInt(Math.max(0, bytes.length - PS_HEADER_BYTES + (rng.nextUint32() % 64) - 32));
      bytes.writeBigUInt64LE(announced, 40);
      return { label: `announced ${announced}`, bytes, expect: 'any' };
    }
    case 2: {
      bytes.writeBigUInt64LE(BigInt(MAX_MESSAGE_BYTES + 1 + (rng.nextUint32() % 1000)) * BigInt(1 + (rng.nextUint32() % 1000)), 40);
      return { label: 'announced over the limit', bytes, expect: 'silent' };
    }
    case 3: {
      const t = 14 + (rng.nextUint32() % (PS_RESPONSE_BIT - 14));
      bytes[6] = t;
      return { label: `unknown type ${t}`, bytes, expect: 'refused' };
    }
    case 4: {
      bytes.writeUInt32LE(1 + (rng.nextUint32() % 1000), 32);
      return { label: 'another worker', bytes, expect: 'refused' };
    }
    case 5: {
      const n = rng.nextUint32() % 300;
      const junk = Buffer.from(Array.from({ length: n }, byte));
      return { label: 'random bytes', bytes: junk, expect: 'silent' };
    }
    case 6: {
      // A valid header of a random request type with a random payload.
      let type = 1 + (rng.nextUint32() % 13);
      if (FILE_TYPES.has(type)) type = PS_TYPE.pull;
      const payload = Buffer.from(Array.from({ length: rng.nextUint32() % 200 }, byte));
      const m = psMessage({ type, tableId: rng.nextUint32() % 2 ? tableIdOf('fuzz') : rng.nextUint32(), count: rng.nextUint32() % 40, clock: BigInt(rng.nextUint32()) }, payload);
      return { label: `type ${type}, random payload`, bytes: m, expect: 'any' };
    }
    default: {
      // A pull whose count disagrees with its payload.
      const n = 1 + (rng.nextUint32() % 8);
      const m = psMessage({ type: PS_TYPE.pull, tableId: tableIdOf('fuzz'), count: n + 1 + (rng.nextUint32() % 5) }, keys(rng, n));
      return { label: 'pull count mismatch', bytes: m, expect: 'refused' };
    }
  }
}

test.serial('PS message decoder: seeded fuzz over authenticated connections; every case is answered well-formed or closed, the server keeps serving', async (t) => {
  t.timeout(600_000);
  const server = startServer({ maxMessageBytes: MAX_MESSAGE_BYTES });
  const rng = new Rng(7);
  try {
    const client = await connectWorker(server, 30_000);
    try {
      await client.table('fuzz', { dim: 2 });
      const CASES = 4000;
      const BATCH = 16;
      const problems: string[] = [];
      const outcomes = new Map<string, number>();
      for (let first = 0; first < CASES; first += BATCH) {
        const batch = Array.from({ length: BATCH }, (_, k) => nextCase(rng, first + k));
        await Promise.all(
          batch.map(async (c, k) => {
            const { socket, reader } = await dial(server.port);
            try {
              await authenticate(socket, reader, { token: TOKEN, commId: PS_COMM_ID, fromRank: 0, toRank: 0, size: PS_HANDSHAKE_SIZE });
              socket.end(c.bytes);
              const { bytes, closed } = await reader.rest(30_000);
              const { messages, rest } = splitPsMessages(bytes);
              const where = `case ${first + k} (${c.label})`;
              if (!closed) problems.push(`${where}: the server did not close after our end of stream`);
              if (rest !== 0) problems.push(`${where}: ${rest} trailing bytes that are no whole message`);
              for (const m of messages) {
                if (m.header.magic !== PS_MAGIC || !(m.header.type & PS_RESPONSE_BIT)) problems.push(`${where}: malformed answer ${JSON.stringify(m.header, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
              }
              const ok = messages.some((m) => m.header.status === 0);
              if (c.expect === 'silent' && messages.length > 0) problems.push(`${where}: answered ${messages.length} message(s)`);
              if (c.expect === 'refused' && (ok || messages.length === 0)) problems.push(`${where}: ${ok ? 'accepted' : 'closed without an error answer'}`);
              const outcome = messages.length === 0 ? 'closed' : ok ? 'ok' : 'error';
              outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
            } finally {
              socket.destroy();
            }
          }),
        );
      }
      t.deepEqual(problems, []);
      t.log(`${CASES} cases: ${JSON.stringify(Object.fromEntries(outcomes))}`);
      // The server still serves its worker, and its stats are JSON with only valid table names.
      t.true(await roundTrip(client, 'after_fuzz', 200));
      t.notThrows(() => JSON.parse(server.stats()));
      const stats = (await client.stats()) as Array<{ tables: Array<{ name: string }> }>;
      const names = stats[0]!.tables.map((x) => x.name);
      t.deepEqual(names.filter((n) => !/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/.test(n)), [], JSON.stringify(names));
    } finally {
      await client.close();
    }
  } finally {
    server.stop();
  }
});
