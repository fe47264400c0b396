// Speaks Shoal's wire formats from a test, to play a hostile or fuzzing peer against a real
// listener: the authentication handshake's client side (native/runtime/handshake.cc), PS
// messages (native/psnet/protocol.h) and collective frames (native/transport/frame.h).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** Reads exact byte counts from a socket, with a bounded wait. */
export class SocketReader {
  #chunks: Buffer[] = [];
  #have = 0;
  #closed = false;
  #wake: (() => void) | null = null;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.#chunks.push(d);
      this.#have += d.length;
      this.#wake?.();
    });
    const end = () => {
      this.#closed = true;
      this.#wake?.();
    };
    socket.on('close', end);
    socket.on('end', end);
    socket.on('error', end);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes received and not read yet. */
  get buffered(): number {
    return this.#have;
  }

  async read(n: number, timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.#have < n) {
      if (this.#closed) throw new Error(`connection closed after ${this.#have} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (have ${this.#have})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    const all = Buffer.concat(this.#chunks);
    this.#chunks = [all.subarray(n)];
    this.#have -= n;
    return all.subarray(0, n);
  }

  /** Everything until the peer closes (bounded wait); what arrived so far on timeout. */
  async rest(timeoutMs: number): Promise<{ bytes: Buffer; closed: boolean }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    return { bytes: Buffer.concat(this.#chunks), closed: this.#closed };
  }
}

export async function dial(port: number, timeoutMs = 10_000): Promise<{ socket: Socket; reader: SocketReader }> {
  const socket = connect(port, '127.0.0.1');
  const reader = new SocketReader(socket);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`could not connect to 127.0.0.1:${port}`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return { socket, reader };
}

export interface HandshakeIdentity {
  token: string;
  commId: number;
  fromRank: number;
  toRank: number;
  size: number;
}

const HELLO_MAGIC = 0x4f4c4548; // "HELO"
export const PROTOCOL_VERSION = 1;

/** The connector's first message: magic, version, communicator, ranks, size, a fresh nonce. */
export function hello(id: HandshakeIdentity): Buffer {
  const b = Buffer.alloc(56);
  b.writeUInt32LE(HELLO_MAGIC, 0);
  b.writeUInt16LE(PROTOCOL_VERSION, 4);
  b.writeUInt32LE(id.commId >>> 0, 8);
  b.writeInt32LE(id.fromRank, 12);
  b.writeInt32LE(id.toRank, 16);
  b.writeInt32LE(id.size, 20);
  randomBytes(32).copy(b, 24);
  return b;
}

/** Hello bytes the listener does not check: the reserved word and the nonce. */
export const HELLO_UNCHECKED_BYTES = new Set([6, 7, ...Array.from({ length: 32 }, (_, i) => 24 + i)]);

function proof(token: string, label: 'S' | 'C', helloBytes: Buffer, serverNonce: Buffer): Buffer {
  return createHmac('sha256', token).update(Buffer.from(label)).update(helloBytes).update(serverNonce).digest();
}

/** The connector's side of the handshake; throws if the listener refuses or cannot prove the token. */
export async function authenticate(socket: Socket, reader: SocketReader, id: HandshakeIdentity, timeoutMs = 10_000): Promise<void> {
  const h = hello(id);
  socket.write(h);
  const challenge = await reader.read(64, timeoutMs);
  const nonce = challenge.subarray(0, 32);
  if (!timingSafeEqual(challenge.subarray(32), proof(id.token, 'S', h, nonce))) throw new Error('the listener does not hold the token');
  socket.write(proof(id.token, 'C', h, nonce));
  const ack = await reader.read(1, timeoutMs);
  if (ack[0] !== 1) throw new Error('the listener refused our proof');
}

// --- Transport selection (native/runtime/transport_select.cc) ------------------------------

/** Offer: magic, willing, ringBytes, host id (32), segment name (64), cookie (32). */
export const TRANSPORT_OFFER_BYTES = 4 + 4 + 8 + 32 + 64 + 32;
const TRANSPORT_OFFER_MAGIC = 0x4f4d4853;  // "SHMO"
const TRANSPORT_ANSWER_MAGIC = 0x414d4853; // "SHMA"

/**
 * After the handshake a collective rank's lower-ranked peer offers a shared-memory segment;
 * as the higher rank, read that offer and answer "TCP only", as a peer on another host would.
 */
export async function declineSharedMemory(socket: Socket, reader: SocketReader, timeoutMs = 10_000): Promise<void> {
  const offer = await reader.read(TRANSPORT_OFFER_BYTES, timeoutMs);
  if (offer.readUInt32LE(0) !== TRANSPORT_OFFER_MAGIC) throw new Error('expected a transport offer after the handshake');
  const answer = Buffer.alloc(8);
  answer.writeUInt32LE(TRANSPORT_ANSWER_MAGIC, 0);
  answer.writeUInt32LE(0, 4);
  socket.write(answer);
}

// --- Host keys (native/runtime/host_topology.cc) -------------------------------------------

/** Host key message: magic "HOST", then a 32-byte key (SHA-256 of the host's identity). */
export const HOST_KEY_BYTES = 4 + 32;
const HOST_KEY_MAGIC = 0x54534f48;

/** After the transport exchange every rank sends every peer its host key: send one of another host and read the peer's. */
export async function exchangeHostKey(socket: Socket, reader: SocketReader, timeoutMs = 10_000): Promise<void> {
  const mine = Buffer.alloc(HOST_KEY_BYTES, 0x5a);
  mine.writeUInt32LE(HOST_KEY_MAGIC, 0);
  socket.write(mine);
  const theirs = await reader.read(HOST_KEY_BYTES, timeoutMs);
  if (theirs.readUInt32LE(0) !== HOST_KEY_MAGIC) throw new Error('expected a host key after the transport exchange');
}

// --- Parameter-server messages (native/psnet/protocol.h) ---------------------------------

export const PS_COMM_ID = 0x50530001;
export const PS_HANDSHAKE_SIZE = 0x10000 + (1 << 15);
export const PS_MAGIC = 0x53504853;
export const PS_HEADER_BYTES = 48;
export const PS_RESPONSE_BIT = 0x80;
export const PS_TYPE = { createTable: 1, pull: 2, push: 3, replicate: 4, clock: 5, save: 6, load: 7, stats: 8, sync: 9, syncRows: 10, syncApplied: 11, syncEnd: 12, drain: 13 } as const;
export const TABLE_SPEC_BYTES = 68;

export interface PsHeader {
  magic?: number;
  version?: number;
  type: number;
  tableId?: number;
  status?: number;
  requestId?: bigint;
  clock?: bigint;
  worker?: number;
  count?: number;
  /** Defaults to the payload's length. */
  payloadBytes?: bigint;
}

export function psMessage(h: PsHeader, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(PS_HEADER_BYTES);
  b.writeUInt32LE(h.magic ?? PS_MAGIC, 0);
  b.writeUInt16LE(h.version ?? PROTOCOL_VERSION, 4);
  b.writeUInt8(h.type, 6);
  b.writeUInt32LE(h.tableId ?? 0, 8);
  b.writeUInt32LE(h.status ?? 0, 12);
  b.writeBigUInt64LE(h.requestId ?? 1n, 16);
  b.writeBigUInt64LE(h.clock ?? 0n, 24);
  b.writeUInt32LE(h.worker ?? 0, 32);
  b.writeUInt32LE(h.count ?? 0, 36);
  b.writeBigUInt64LE(h.payloadBytes ?? BigInt(payload.length), 40);
  return Buffer.concat([b, payload]);
}

export function parsePsHeader(b: Buffer): Required<PsHeader> {
  return {
    magic: b.readUInt32LE(0),
    version: b.readUInt16LE(4),
    type: b.readUInt8(6),
    tableId: b.readUInt32LE(8),
    status: b.readUInt32LE(12),
    requestId: b.readBigUInt64LE(16),
    clock: b.readBigUInt64LE(24),
    worker: b.readUInt32LE(32),
    count: b.readUInt32LE(36),
    payloadBytes: b.readBigUInt64LE(40),
  };
}

/** Reads one whole PS message (header + payload). */
export async function readPsMessage(reader: SocketReader, timeoutMs: number): Promise<{ header: Required<PsHeader>; payload: Buffer }> {
  const header = parsePsHeader(await reader.read(PS_HEADER_BYTES, timeoutMs));
  return { header, payload: await reader.read(Number(header.payloadBytes), timeoutMs) };
}

/** A kCreateTable payload: TableSpec (dim, add updater, zeros, ASP) + name bytes. */
export function tableSpecPayload(name: string, dim = 1): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const spec = Buffer.alloc(TABLE_SPEC_BYTES);
  spec.writeUInt32LE(dim, 0);
  spec.writeUInt8(1, 4); // updater: add
  spec.writeUInt8(0, 5); // init: zeros
  spec.writeUInt8(2, 6); // consistency: asp
  spec.writeUInt32LE(nameBytes.length, 64);
  return Buffer.concat([spec, nameBytes]);
}

/** The table id every worker and server derives from a name (FNV-1a, as lib/ps/client.ts). */
export { tableIdOf } from '../../lib/ps/client.js';

/** Splits a byte stream of PS messages; `rest` is an incomplete tail. */
export function splitPsMessages(bytes: Buffer): { messages: Array<{ header: Required<PsHeader>; payload: Buffer }>; rest: number } {
  const messages: Array<{ header: Required<PsHeader>; payload: Buffer }> = [];
  let at = 0;
  while (bytes.length - at >= PS_HEADER_BYTES) {
    const header = parsePsHeader(bytes.subarray(at, at + PS_HEADER_BYTES));
    const end = at + PS_HEADER_BYTES + Number(header.payloadBytes);
    if (end > bytes.length) break;
    messages.push({ header, payload: bytes.subarray(at + PS_HEADER_BYTES, end) });
    at = end;
  }
  return { messages, rest: bytes.length - at };
}

// --- Collective frames (native/transport/frame.h) ----------------------------------------

export const FRAME_MAGIC = 0x4c4f4853; // "SHOL"
export const FRAME_HEADER_BYTES = 48;

export interface FrameHeader {
  type: number;
  opKind: number;
  dtype: number;
  reduceOp: number;
  step: number;
  root: number;
  commId: number;
  seq: bigint;
  count: bigint;
  code: number;
  payloadBytes: number;
}

export function frame(h: FrameHeader, payload: Buffer): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  b.writeUInt32LE(FRAME_MAGIC, 0);
  b.writeUInt16LE(PROTOCOL_VERSION, 4);
  b.writeUInt8(h.type, 6);
  b.writeUInt8(h.opKind, 7);
  b.writeUInt8(h.dtype, 8);
  b.writeUInt8(h.reduceOp, 9);
  b.writeUInt16LE(h.step, 10);
  b.writeInt32LE(h.root, 12);
  b.writeUInt32LE(h.commId >>> 0, 16);
  b.writeBigUInt64LE(h.seq, 20);
  b.writeBigUInt64LE(h.count, 28);
  b.writeUInt32LE(h.code, 36);
  b.writeUInt32LE(h.payloadBytes, 40);
  return Buffer.concat([b, payload]);
}

/** Header bytes a receiver does not check on a data frame: the abort code and the reserved word. */
export const FRAME_UNCHECKED_BYTES = new Set([36, 37, 38, 39, 44, 45, 46, 47]);
