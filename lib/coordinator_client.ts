// A rank's link to the coordinator: connect (with retries, since under mpirun the coordinator in
// rank 0 may start after the other ranks), prove the job token, register data endpoints and get
// each group's peer table, heartbeat, and hear about lost peers. It holds no collective state;
// the communicator decides what a lost peer means for its ops.
//
// Process lifetime: an idle link must not keep a finished process alive (a script that forgot
// close() must still exit), but a rank awaiting a table must stay alive. So the socket is ref'd
// only while a register() is pending and the heartbeat timer is always unref'd, the same rule
// the native engine follows for in-flight ops.

import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { RendezvousError, ShoalError, ConfigError, errorForCode, type ErrorCode } from './errors.js';
import { coordinatorProof } from './hmac_auth.js';
import { formatAddress, type CoordinatorAddress } from './env.js';
import {
  COORDINATOR_WS_PATH,
  HEARTBEAT_INTERVAL_MS,
  MAX_MESSAGE_BYTES,
  isIntIn,
  parseMessage,
  type ClientMessage,
  type PeerEndpoint,
} from './coordinator_protocol.js';

export type { PeerEndpoint } from './coordinator_protocol.js';

export interface CoordinatorClientOptions {
  token: string;
  rank: number;
  size: number;
  /** Give up connecting after this long. */
  timeoutMs: number;
  /** Heartbeat period; default 1000. Tests raise it to simulate a hung rank. */
  heartbeatIntervalMs?: number;
  /** Delay between connection attempts; default 100. */
  retryDelayMs?: number;
  /** Parameter servers join as 'server' (their own rank space); default 'worker'. */
  role?: 'worker' | 'server';
  /**
   * When the link drops, keep reconnecting for this long (the launcher restarts a crashed
   * coordinator on the same port) and re-send what was pending; default 0: give up at once.
   */
  reconnectMs?: number;
}

export interface PeerLostEvent {
  rank: number;
  /** 'server' when a parameter server died; worker ranks otherwise. */
  role: 'worker' | 'server';
  reason: string;
}
export interface DisconnectedEvent {
  reason: string;
}

export interface PeerJoinedEvent {
  group: string;
  rank: number;
  role: 'worker' | 'server';
  host: string;
  port: number;
}

export interface CoordinatorClientEvents {
  /** The link dropped and came back (a restarted coordinator); pending requests were re-sent. */
  reconnected: [{ downMs: number }];
  peerLost: [PeerLostEvent];
  /** A replacement took over a slot of a completed group (a restarted parameter server), or a new member took a new slot. */
  peerJoined: [PeerJoinedEvent];
  /** A member left a completed group for good (a drained parameter server). */
  peerLeft: [{ group: string; rank: number; role: 'worker' | 'server' }];
  /** That process said goodbye: it finished its part of the job. */
  peerDone: [{ rank: number; role: 'worker' | 'server' }];
  disconnected: [DisconnectedEvent];
}

interface PendingRegister {
  group: string;
  /** Method syntax: one map holds tables (register, lookup, rejoin) and epochs (waitEpoch). */
  resolve(value: unknown): void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** Re-sent after a reconnect: a restarted coordinator has never seen it. */
  message: ClientMessage;
}

/** Extra time the client waits beyond a register's timeout for the coordinator's own verdict. */
const REGISTER_GRACE_MS = 2000;

/**
 * One rank's connection to the coordinator. Events: 'peerLost' ({rank, reason}) when another rank
 * died; 'disconnected' ({reason}) when the link dropped without close().
 *
 * @example
 *   const client = await CoordinatorClient.connect({ host: '127.0.0.1', port }, { token, rank, size, timeoutMs: 60000 });
 *   const peers = await client.register('world', size, rank, { host: '127.0.0.1', port: myPort }, 60000);
 *   await client.close();
 */
export class CoordinatorClient extends EventEmitter<CoordinatorClientEvents> {
  readonly rank: number;
  readonly size: number;
  readonly address: CoordinatorAddress;
  /** The job's epoch when this process joined (0 unless it replaces a lost worker). */
  readonly epoch: number;

  private ws: WebSocket;
  private readonly opts: CoordinatorClientOptions;
  private reconnecting = false;
  private readonly pending = new Map<number, PendingRegister>();
  private nextId = 1;
  private heartbeat: NodeJS.Timeout | null = null;
  private metricsSource: (() => unknown) | null = null;
  /** The coordinator's last stall diagnosis that concerns this job, if any. */
  lastStall: string | null = null;
  private closing: Promise<void> | null = null;
  private closedReason: string | null = null;

  private constructor(ws: WebSocket, address: CoordinatorAddress, opts: CoordinatorClientOptions, epoch: number) {
    super();
    this.ws = ws;
    this.opts = opts;
    this.epoch = epoch;
    this.address = address;
    this.rank = opts.rank;
    this.size = opts.size;
    this.attach(ws);
    // Each heartbeat carries this process's metrics when a source is set (setMetricsSource).
    this.heartbeat = setInterval(() => {
      if (this.metricsSource) this.post({ type: 'metrics', data: this.metricsSource() });
      else this.post({ type: 'heartbeat' });
    }, opts.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS);
    this.heartbeat.unref();
    this.updateRef();
  }

  private attach(ws: WebSocket): void {
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', () => this.onLinkDown('the coordinator closed the connection'));
    ws.on('error', (err) => this.onLinkDown(`connection error: ${err.message}`));
  }

  /** The link dropped: reconnect if allowed (the coordinator may be restarting), else give up. */
  private onLinkDown(reason: string): void {
    if (this.closing || this.closedReason !== null || this.reconnecting) return;
    const budget = this.opts.reconnectMs ?? 0;
    if (budget <= 0) {
      this.onClose(reason);
      return;
    }
    this.reconnecting = true;
    this.ws.removeAllListeners();
    this.ws.on('error', () => {});
    void this.reconnect(reason, Date.now(), budget);
  }

  private async reconnect(reason: string, since: number, budget: number): Promise<void> {
    const deadline = since + budget;
    while (!this.closing && Date.now() < deadline) {
      const attempt = await handshake(this.address, this.opts, Math.max(1, deadline - Date.now()));
      if (attempt.ok) {
        this.reconnecting = false;
        if (this.closing) {
          attempt.ws.terminate();
          return;
        }
        this.ws = attempt.ws;
        this.attach(attempt.ws);
        this.updateRef();
        for (const p of this.pending.values()) this.post(p.message);
        this.emit('reconnected', { downMs: Date.now() - since });
        return;
      }
      if (attempt.fatal) break;
      await new Promise((r) => setTimeout(r, this.opts.retryDelayMs ?? 100));
    }
    this.reconnecting = false;
    this.onClose(`${reason}; no coordinator came back within ${budget} ms`);
  }

  /**
   * Connects and authenticates, retrying until `opts.timeoutMs`.
   * @throws {RendezvousError} ERR_RENDEZVOUS when the coordinator cannot be reached in time.
   * @throws {ShoalError} ERR_AUTH when the coordinator rejects the token.
   * @throws {ConfigError} ERR_CONFIG when the coordinator rejects this rank (size disagreement, duplicate rank).
   */
  static async connect(addr: CoordinatorAddress, opts: CoordinatorClientOptions): Promise<CoordinatorClient> {
    const deadline = Date.now() + opts.timeoutMs;
    const where = formatAddress(addr);
    let lastError = '';
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const attempt = await handshake(addr, opts, remaining);
      if (attempt.ok) return new CoordinatorClient(attempt.ws, addr, opts, attempt.epoch);
      if (attempt.fatal) throw attempt.fatal;
      lastError = attempt.reason;
      const wait = Math.min(opts.retryDelayMs ?? 100, deadline - Date.now());
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    throw new RendezvousError(
      'ERR_RENDEZVOUS',
      `could not reach the Shoal coordinator at ${where} within ${opts.timeoutMs} ms (SHOAL_COORDINATOR); is rank 0 / shoal run up?` +
        (lastError ? ` Last error: ${lastError}` : ''),
      { rank: opts.rank },
    );
  }

  /**
   * Publishes this rank's data endpoint for `group` and waits for every member's.
   * @returns the group's endpoints sorted by group rank.
   * @throws {RendezvousError} ERR_RENDEZVOUS on timeout (the message names the missing ranks) or a lost link.
   * @throws {PeerLostError} ERR_PEER_LOST when a member died before the group completed.
   * @throws {MismatchError} ERR_MISMATCH when members disagree on the group's size or ranks.
   */
  register(group: string, groupSize: number, groupRank: number, endpoint: { host: string; port: number }, timeoutMs: number): Promise<PeerEndpoint[]> {
    if (this.closedReason !== null || this.closing) {
      return Promise.reject(new RendezvousError('ERR_RENDEZVOUS', `cannot register group "${group}": ${this.closedReason ?? 'the coordinator client is closed'}`, { rank: this.rank }));
    }
    const id = this.nextId++;
    return new Promise<PeerEndpoint[]>((resolve, reject) => {
      // Safety net in case the coordinator itself hangs or dies silently; normally its own
      // timeout (with the missing ranks) arrives first.
      const timer = setTimeout(() => {
        this.settle(id, new RendezvousError('ERR_RENDEZVOUS', `rendezvous for group "${group}" timed out after ${timeoutMs} ms: no answer from the coordinator at ${formatAddress(this.address)}`, { rank: this.rank }));
      }, timeoutMs + REGISTER_GRACE_MS);
      const message: ClientMessage = { type: 'register', id, group, groupSize, groupRank, host: endpoint.host, port: endpoint.port, timeoutMs };
      this.pending.set(id, { group, resolve, reject, timer, message });
      this.updateRef();
      this.post(message);
    });
  }

  /**
   * Waits for another group's table without joining it (workers find the parameter servers).
   * @throws {RendezvousError} ERR_RENDEZVOUS when the group does not complete in time.
   */
  lookup(group: string, timeoutMs: number): Promise<PeerEndpoint[]> {
    if (this.closedReason !== null || this.closing) {
      return Promise.reject(new RendezvousError('ERR_RENDEZVOUS', `cannot look up group "${group}": ${this.closedReason ?? 'the coordinator client is closed'}`, { rank: this.rank }));
    }
    const id = this.nextId++;
    return new Promise<PeerEndpoint[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(id, new RendezvousError('ERR_RENDEZVOUS', `lookup of group "${group}" timed out after ${timeoutMs} ms: no answer from the coordinator at ${formatAddress(this.address)}`, { rank: this.rank }));
      }, timeoutMs + REGISTER_GRACE_MS);
      const message: ClientMessage = { type: 'lookup', id, group, timeoutMs };
      this.pending.set(id, { group, resolve, reject, timer, message });
      this.updateRef();
      this.post(message);
    });
  }

  /**
   * Resolves with the job's epoch once it is past `after` (a lost worker moved the job on).
   * @throws {RendezvousError} ERR_RENDEZVOUS when no worker is lost and replaced in time.
   */
  waitEpoch(after: number, timeoutMs: number): Promise<number> {
    return this.request('epoch change', timeoutMs, (id) => ({ type: 'waitEpoch', id, after, timeoutMs }));
  }

  /**
   * Takes over slot `groupRank` of a completed group with a new endpoint (a replacement
   * parameter server); the others get a 'peerJoined' event.
   * @returns the group's updated table.
   */
  rejoin(group: string, groupRank: number, endpoint: { host: string; port: number }, timeoutMs: number): Promise<PeerEndpoint[]> {
    return this.request(`group "${group}"`, timeoutMs, (id) => ({ type: 'rejoin', id, group, groupRank, host: endpoint.host, port: endpoint.port }));
  }

  /**
   * Joins a completed group as a new member (an added parameter server): the new slot is the
   * highest rank + 1; the others get a 'peerJoined' event.
   * @returns the group's updated table (the caller's rank is the last entry's).
   */
  extend(group: string, endpoint: { host: string; port: number }, timeoutMs: number): Promise<PeerEndpoint[]> {
    return this.request(`group "${group}"`, timeoutMs, (id) => ({ type: 'extend', id, group, host: endpoint.host, port: endpoint.port }));
  }

  /** Leaves a completed group for good (a drained server); the others get a 'peerLeft' event. @returns the table without it. */
  leave(group: string, groupRank: number, timeoutMs: number): Promise<PeerEndpoint[]> {
    return this.request(`group "${group}"`, timeoutMs, (id) => ({ type: 'leave', id, group, groupRank }));
  }

  private request<T>(what: string, timeoutMs: number, message: (id: number) => ClientMessage): Promise<T> {
    if (this.closedReason !== null || this.closing) {
      return Promise.reject(new RendezvousError('ERR_RENDEZVOUS', `cannot wait for ${what}: ${this.closedReason ?? 'the coordinator client is closed'}`, { rank: this.rank }));
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(id, new RendezvousError('ERR_RENDEZVOUS', `waiting for ${what} timed out after ${timeoutMs} ms: no answer from the coordinator at ${formatAddress(this.address)}`, { rank: this.rank }));
      }, timeoutMs + REGISTER_GRACE_MS);
      const msg = message(id);
      this.pending.set(id, { group: what, resolve, reject, timer, message: msg });
      this.updateRef();
      this.post(msg);
    });
  }

  /** Heartbeats then carry `source()` (the rank's metrics) to the coordinator's dashboard. */
  setMetricsSource(source: () => unknown): void {
    this.metricsSource = source;
  }

  /** Says goodbye (so no one is told this rank was lost) and closes. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      this.stopHeartbeat();
      // The last reports and counters since the previous heartbeat: a short job's whole curve.
      if (this.metricsSource) this.post({ type: 'metrics', data: this.metricsSource() });
      this.post({ type: 'bye' });
      this.failPending('the coordinator client was closed');
      if (this.ws.readyState === WebSocket.CLOSED) {
        resolve();
        return;
      }
      const force = setTimeout(() => this.ws.terminate(), 1000);
      force.unref();
      this.ws.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      this.ws.close(1000, 'bye');
    });
    return this.closing;
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    const msg = isBinary ? null : parseMessage(rawToString(data));
    if (msg === null) return;
    switch (msg.type) {
      case 'table': {
        const peers = parsePeers(msg['peers']);
        if (isIntIn(msg['id'], 0, Number.MAX_SAFE_INTEGER)) {
          this.settle(msg['id'], peers ?? new RendezvousError('ERR_RENDEZVOUS', 'the coordinator sent a malformed peer table', { rank: this.rank }));
        }
        return;
      }
      case 'registerError':
        if (isIntIn(msg['id'], 0, Number.MAX_SAFE_INTEGER)) {
          this.settle(msg['id'], errorForCode(asCode(msg['code']), String(msg['message']), { rank: this.rank }));
        }
        return;
      case 'epoch':
        if (isIntIn(msg['id'], 0, Number.MAX_SAFE_INTEGER) && isIntIn(msg['epoch'], 0, Number.MAX_SAFE_INTEGER)) this.settle(msg['id'], msg['epoch']);
        return;
      case 'peerJoined': {
        const { group, rank, host, port } = msg;
        if (typeof group === 'string' && isIntIn(rank, 0, Number.MAX_SAFE_INTEGER) && typeof host === 'string' && isIntIn(port, 1, 65535)) {
          this.emit('peerJoined', { group, rank, role: msg['role'] === 'server' ? 'server' : 'worker', host, port });
        }
        return;
      }
      case 'peerLeft': {
        const { group, rank } = msg;
        if (typeof group === 'string' && isIntIn(rank, 0, Number.MAX_SAFE_INTEGER)) this.emit('peerLeft', { group, rank, role: msg['role'] === 'server' ? 'server' : 'worker' });
        return;
      }
      case 'peerDone':
        if (isIntIn(msg['rank'], 0, Number.MAX_SAFE_INTEGER)) this.emit('peerDone', { rank: msg['rank'], role: msg['role'] === 'server' ? 'server' : 'worker' });
        return;
      case 'stall':
        this.lastStall = typeof msg['message'] === 'string' ? msg['message'] : null;
        return;
      case 'peerLost':
        if (isIntIn(msg['rank'], 0, Number.MAX_SAFE_INTEGER)) {
          this.emit('peerLost', { rank: msg['rank'], role: msg['role'] === 'server' ? 'server' : 'worker', reason: String(msg['reason'] ?? 'unknown reason') });
        }
        return;
      default:
        return;
    }
  }

  private onClose(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.stopHeartbeat();
    this.failPending(`lost the connection to the Shoal coordinator at ${formatAddress(this.address)} (${reason})`);
    if (!this.closing) this.emit('disconnected', { reason });
  }

  private settle(id: number, outcome: PeerEndpoint[] | number | Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    this.updateRef();
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  private failPending(reason: string): void {
    for (const [id, p] of [...this.pending]) {
      this.settle(id, new RendezvousError('ERR_RENDEZVOUS', `rendezvous for group "${p.group}" failed: ${reason}`, { rank: this.rank }));
    }
  }

  private post(msg: ClientMessage): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  /** Ref the socket only while someone awaits a table (see the file comment). */
  private updateRef(): void {
    // `_socket` is ws's underlying net.Socket; ws has no public ref/unref.
    const socket = (this.ws as unknown as { _socket?: Socket | null })._socket;
    if (!socket) return;
    if (this.pending.size > 0) socket.ref();
    else socket.unref();
  }
}

type Handshake = { ok: true; ws: WebSocket; epoch: number } | { ok: false; fatal: Error | null; reason: string };

/** One connection attempt: open, answer the challenge, wait for welcome. Never throws. */
function handshake(addr: CoordinatorAddress, opts: CoordinatorClientOptions, budgetMs: number): Promise<Handshake> {
  return new Promise((resolve) => {
    const url = `ws://${formatAddress(addr)}${COORDINATOR_WS_PATH}`;
    const ws = new WebSocket(url, { handshakeTimeout: Math.max(1, budgetMs), maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
    let done = false;
    const finish = (result: Handshake): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      if (!result.ok) {
        ws.on('error', () => {});
        ws.terminate();
      }
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, fatal: null, reason: 'no answer to the handshake' }), budgetMs);
    ws.on('error', (err) => finish({ ok: false, fatal: null, reason: err.message }));
    ws.on('close', () => finish({ ok: false, fatal: null, reason: 'the coordinator closed the connection during the handshake' }));
    ws.on('message', (data, isBinary) => {
      const msg = isBinary ? null : parseMessage(rawToString(data));
      if (msg === null) return;
      if (msg.type === 'challenge' && typeof msg['nonce'] === 'string') {
        const hello: ClientMessage = {
          type: 'hello',
          rank: opts.rank,
          size: opts.size,
          role: opts.role ?? 'worker',
          pid: process.pid,
          host: hostname(),
          proof: coordinatorProof(opts.token, msg['nonce'], opts.rank),
        };
        ws.send(JSON.stringify(hello));
      } else if (msg.type === 'welcome') {
        finish({ ok: true, ws, epoch: isIntIn(msg['epoch'], 0, Number.MAX_SAFE_INTEGER) ? msg['epoch'] : 0 });
      } else if (msg.type === 'error') {
        const code = asCode(msg['code']);
        const detail = String(msg['message'] ?? '');
        const fatal =
          code === 'ERR_AUTH'
            ? new ShoalError('ERR_AUTH', `coordinator rejected this rank: wrong SHOAL_TOKEN (coordinator at ${formatAddress(addr)}, rank ${opts.rank})`, { rank: opts.rank })
            : code === 'ERR_CONFIG'
              ? new ConfigError('ERR_CONFIG', `coordinator rejected this rank: ${detail}`, { rank: opts.rank })
              : errorForCode(code, `coordinator rejected this rank: ${detail}`, { rank: opts.rank });
        finish({ ok: false, fatal, reason: detail });
      }
    });
  });
}

const KNOWN_CODES = new Set<string>([
  'ERR_INVALID_ARGUMENT', 'ERR_INVALID_USAGE', 'ERR_MISMATCH', 'ERR_TIMEOUT', 'ERR_IO', 'ERR_PEER_LOST',
  'ERR_ABORTED', 'ERR_AUTH', 'ERR_RENDEZVOUS', 'ERR_CONFIG', 'ERR_INTERNAL',
]);

function asCode(value: unknown): ErrorCode {
  return typeof value === 'string' && KNOWN_CODES.has(value) ? (value as ErrorCode) : 'ERR_RENDEZVOUS';
}

function rawToString(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function parsePeers(value: unknown): PeerEndpoint[] | null {
  if (!Array.isArray(value)) return null;
  const peers: PeerEndpoint[] = [];
  for (const p of value) {
    if (typeof p !== 'object' || p === null) return null;
    const { rank, host, port } = p as Record<string, unknown>;
    if (!isIntIn(rank, 0, Number.MAX_SAFE_INTEGER) || typeof host !== 'string' || !isIntIn(port, 1, 65535)) return null;
    peers.push({ rank, host, port });
  }
  return peers;
}
