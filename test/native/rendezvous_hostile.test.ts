// A rank's listener against strangers during rendezvous, and a seeded fuzz of the collective
// frame decoder: this test authenticates as rank 1 of a real engine (rank 0, in this process,
// its own comm thread, loopback TCP) and sends mutated and random frames during an allReduce.
import type { Socket } from 'node:net';

import test from 'ava';

import { Rng } from '../../lib/rng.js';
import { native, OP_KIND, REDUCE_OP } from '../../lib/native.js';
import { authenticate, declineSharedMemory, dial, exchangeHostKey, frame, FRAME_HEADER_BYTES, FRAME_UNCHECKED_BYTES, hello, HELLO_UNCHECKED_BYTES } from '../helpers/shoal_wire.js';

const TOKEN = 'rendezvous-test-token';
const COMM_ID = 7;
const DTYPE_FLOAT64 = 1;

interface Engine {
  readonly port: number;
  connect(peers: Array<{ host: string; port: number }>, timeoutMs: number): Promise<void>;
  collective(kind: number, buf: Float64Array, recv: null, op: number, root: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

function engine(rank: number, size: number): Engine {
  return new native.NativeComm({ rank, size, commId: COMM_ID, token: TOKEN }) as unknown as Engine;
}

// Before, each silent stranger held rank 0's rendezvous for 2 s, one after the other.
test.serial('silent and garbage-sending strangers on a rank port do not hold up the rendezvous', async (t) => {
  t.timeout(90_000);
  const ranks = [engine(0, 3), engine(1, 3), engine(2, 3)];
  const peers = ranks.map((r) => ({ host: '127.0.0.1', port: r.port }));
  const strangers: Socket[] = [];
  try {
    for (const target of [ranks[0]!, ranks[1]!]) {
      for (let i = 0; i < 30; i++) {
        const { socket } = await dial(target.port);
        if (i % 3 === 2) socket.write(Buffer.alloc(20, 0x5a)); // part of a hello, then silence
        strangers.push(socket);
      }
    }
    // Old cost: 60 x 2 s. Generous bound: the connect's own 30 s timeout.
    const started = Date.now();
    await Promise.all(ranks.map((r) => r.connect(peers, 30_000)));
    const connectMs = Date.now() - started;
    const bufs = ranks.map((_, i) => new Float64Array([i, 10 * i]));
    await Promise.all(ranks.map((r, i) => r.collective(OP_KIND.allReduce, bufs[i]!, null, REDUCE_OP.sum, -1, 30_000)));
    for (const b of bufs) t.deepEqual(Array.from(b), [3, 30]);
    t.log(`3-rank rendezvous with ${strangers.length} silent strangers on ranks 0 and 1: ${connectMs} ms`);
  } finally {
    for (const s of strangers) s.destroy();
    await Promise.all(ranks.map((r) => r.close()));
  }
});

test.serial('handshake decoder: seeded fuzz of mutated hellos on a rank listener; only valid ones get a challenge, then the real rank connects', async (t) => {
  t.timeout(300_000);
  const rng = new Rng(99);
  const [a, b] = [engine(0, 2), engine(1, 2)];
  const peers = [a, b].map((r) => ({ host: '127.0.0.1', port: r.port }));
  try {
    const connecting = a.connect(peers, 240_000);
    const problems: string[] = [];
    let challenged = 0;
    const CASES = 1000;
    for (let first = 0; first < CASES; first += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, k) => {
          const i = first + k;
          const valid = hello({ token: TOKEN, commId: COMM_ID, fromRank: 1, toRank: 0, size: 2 });
          const bytes = Buffer.from(valid);
          for (let n = 1 + (rng.nextUint32() % 3); n > 0; n--) {
            const at = rng.nextUint32() % bytes.length;
            bytes[at] = bytes[at]! ^ (1 + (rng.nextUint32() % 255));
          }
          const mustRefuse = [...bytes.keys()].some((at) => bytes[at] !== valid[at] && !HELLO_UNCHECKED_BYTES.has(at));
          const { socket, reader } = await dial(a.port);
          try {
            socket.write(bytes);
            const challenge = await reader.read(64, 20_000).then(
              () => true,
              () => false,
            );
            if (challenge) challenged++;
            if (challenge && mustRefuse) problems.push(`case ${i}: a hello with a changed checked field got a challenge`);
            if (!challenge && !mustRefuse) problems.push(`case ${i}: a valid hello (changed nonce or reserved bytes) got no challenge`);
          } finally {
            socket.destroy();
          }
        }),
      );
    }
    t.deepEqual(problems, []);
    t.log(`${CASES} mutated hellos: ${challenged} got a challenge (valid apart from nonce/reserved), ${CASES - challenged} were dropped`);
    // The real rank 1 still gets through, and the pair works.
    await Promise.all([connecting, b.connect(peers, 60_000)]);
    const x = new Float64Array([1]);
    const y = new Float64Array([2]);
    await Promise.all([a.collective(OP_KIND.allReduce, x, null, REDUCE_OP.sum, -1, 30_000), b.collective(OP_KIND.allReduce, y, null, REDUCE_OP.sum, -1, 30_000)]);
    t.deepEqual([x[0], y[0]], [3, 3]);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

/** The frame rank 1 sends in a 2-rank allReduce of 3 float64 (recursive doubling: its step 1). */
function validFrame(values: number[]): Buffer {
  const payload = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => payload.writeDoubleLE(v, 8 * i));
  return frame(
    { type: 1, opKind: OP_KIND.allReduce, dtype: DTYPE_FLOAT64, reduceOp: REDUCE_OP.sum, step: 1, root: -1, commId: COMM_ID, seq: 0n, count: BigInt(values.length), code: 0, payloadBytes: payload.length },
    payload,
  );
}

/** Rank 0 in a real engine, this test as an authenticated rank 1 sending `bytes` during an allReduce. */
async function deliver(bytes: Buffer, closeAfter: boolean): Promise<{ ok: boolean; code?: string; message?: string; values: number[] }> {
  const a = engine(0, 2);
  const connecting = a.connect([{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: 1 }], 20_000);
  const { socket, reader } = await dial(a.port);
  try {
    await authenticate(socket, reader, { token: TOKEN, commId: COMM_ID, fromRank: 1, toRank: 0, size: 2 });
    await declineSharedMemory(socket, reader);
    await exchangeHostKey(socket, reader);
    await connecting;
    const x = new Float64Array([1, 2, 3]);
    const op = a.collective(OP_KIND.allReduce, x, null, REDUCE_OP.sum, -1, 20_000);
    socket.write(bytes);
    if (closeAfter) socket.end();
    const outcome = await op.then(
      () => ({ ok: true }),
      (err: Error & { code?: string }) => ({ ok: false, code: err.code, message: err.message }),
    );
    return { ...outcome, values: Array.from(x) };
  } finally {
    socket.destroy();
    await a.close();
  }
}

test.serial('collective frame decoder: seeded fuzz of mutated, random and truncated frames; the process survives and honest ranks still work', async (t) => {
  t.timeout(600_000);
  const rng = new Rng(2024);
  const byte = () => rng.nextUint32() & 0xff;
  const valid = validFrame([10, 20, 30]);
  // The unmutated frame is accepted: the checks below test the decoder, not a wrong template.
  const base = await deliver(valid, false);
  t.true(base.ok, JSON.stringify(base));
  t.deepEqual(base.values, [11, 22, 33]);

  const counts = { headerMutation: 0, payloadMutation: 0, random: 0, truncated: 0, multi: 0 };
  const codes = new Map<string, number>();
  const problems: string[] = [];
  const CASES = 3000;
  for (let i = 0; i < CASES; i++) {
    const kind = i % 5;
    const bytes = Buffer.from(valid);
    let mustRefuse = true;
    let closeAfter = false;
    let label: string;
    if (kind === 0) {
      // One header byte changed: refused unless it is a byte the decoder ignores on data frames.
      const at = rng.nextUint32() % FRAME_HEADER_BYTES;
      bytes[at] = bytes[at]! ^ (1 + (byte() % 255));
      mustRefuse = !FRAME_UNCHECKED_BYTES.has(at);
      label = `header byte ${at}`;
      counts.headerMutation++;
    } else if (kind === 1) {
      // Payload bytes are data: any value is a valid float64 pattern, the op completes.
      const at = FRAME_HEADER_BYTES + (rng.nextUint32() % (bytes.length - FRAME_HEADER_BYTES));
      bytes[at] = bytes[at]! ^ (1 + (byte() % 255));
      mustRefuse = false;
      label = 'payload byte';
      counts.payloadMutation++;
    } else if (kind === 2) {
      for (let k = 0; k < bytes.length; k++) bytes[k] = byte();
      label = 'random frame';
      counts.random++;
    } else if (kind === 3) {
      closeAfter = true;
      label = 'truncated frame';
      counts.truncated++;
    } else {
      const n = 2 + (rng.nextUint32() % 6);
      const hit: number[] = [];
      for (let k = 0; k < n; k++) {
        const at = rng.nextUint32() % FRAME_HEADER_BYTES;
        bytes[at] = bytes[at]! ^ (1 + (byte() % 255));
        hit.push(at);
      }
      // Two flips of one byte can cancel out; judge by the final bytes.
      mustRefuse = hit.some((at) => !FRAME_UNCHECKED_BYTES.has(at) && bytes[at] !== valid[at]);
      label = `header bytes ${hit.join(',')}`;
      counts.multi++;
    }
    const sent = kind === 3 ? bytes.subarray(0, rng.nextUint32() % bytes.length) : bytes;
    const r = await deliver(sent, closeAfter);
    if (!r.ok) codes.set(r.code ?? 'none', (codes.get(r.code ?? 'none') ?? 0) + 1);
    if (mustRefuse && r.ok) problems.push(`case ${i} (${label}) was accepted`);
    if (!mustRefuse && !r.ok) problems.push(`case ${i} (${label}) was refused with ${r.code}`);
    if (!r.ok && !/^ERR_[A-Z_]+$/.test(r.code ?? '')) problems.push(`case ${i} (${label}) failed without a Shoal error code`);
  }
  t.deepEqual(problems, []);
  t.log(`cases: ${JSON.stringify(counts)}; refusals by code: ${JSON.stringify(Object.fromEntries(codes))}`);
  // Honest ranks afterwards.
  const honest = await deliver(validFrame([1, 1, 1]), false);
  t.true(honest.ok);
  t.deepEqual(honest.values, [2, 3, 4]);
});
