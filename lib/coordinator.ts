// The coordinator: rendezvous ("who listens where") and liveness for one job. It runs inside
// `shoal run`, or inside rank 0 under mpirun/srun/Kubernetes. Ranks connect over a WebSocket
// (protocol in coordinator_protocol.ts), prove the job token, register their data endpoints per
// group, receive the group's table, and heartbeat. When a rank disappears the coordinator tells
// every other rank (peerLost), so no one waits on a dead peer until its op timeout.
// It never touches the data path: collectives flow rank to rank over the native TCP core.
//
// uWebSockets.js rules honoured here: a WebSocket must not be used after its close handler ran
// (every send goes through `send()`, which checks `conn.closed`), and message ArrayBuffers are
// only valid during the callback (we decode them synchronously).

import { attachMonitor, publish } from './monitor/http.js';
import { attachAdmin, type AdminHandler } from './admin_routes.js';
import { JobView } from './monitor/job_view.js';
import { inspectStalls } from './monitor/stall_inspector.js';
import { StragglerDetector, type Straggler, type StragglerOptions } from './monitor/straggler_detector.js';
import uWS from '@trufflesuite/uws-js-unofficial';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket as UwsWebSocket, us_listen_socket, us_socket_context_t } from '@trufflesuite/uws-js-unofficial';
import { ConfigError, RendezvousError, type ErrorCode } from './errors.js';
import { heartbeatTimeoutFromEnv } from './env.js';
import { makeNonce, verifyCoordinatorProof } from './hmac_auth.js';
import { guarded, rateLimited, routeSecrets } from './coordinator_http.js';
import { loadCoordinatorState, saveCoordinatorState } from './coordinator_state_file.js';
import {
  COORDINATOR_HEALTH_PATH,
  COORDINATOR_WS_PATH,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  FORWARDER_TICK_MS,
  MAX_GROUP_NAME_LENGTH,
  MAX_GROUP_SIZE,
  MAX_HOST_LENGTH,
  MAX_MESSAGE_BYTES,
  epochOfWorldGroup,
  formatRanks,
  isIntIn,
  parseMessage,
  type PeerEndpoint,
  type ServerMessage,
} from './coordinator_protocol.js';

export interface CoordinatorOptions {
  /** Address to listen on; default '127.0.0.1'. */
  host?: string;
  /** Port to listen on; default 0 (the OS picks; read `coordinator.port`). */
  port?: number;
  /** Job secret every rank must prove. */
  token: string;
  /** A rank silent for this long is declared dead; default 10000. */
  heartbeatTimeoutMs?: number;
  /** Sink for the coordinator's log lines (losses, rejected connections, timeouts); default stderr. */
  log?: (line: string) => void;
  /** Report a collective that has waited this long (ms) and say who is missing; default 30000, 0 = off. */
  stallTimeoutMs?: number;
  /** Serve the dashboard, /metrics and the feed (token-protected); default true. */
  dashboard?: boolean;
  /**
   * Keep the job's state in this file (written on every change) and, if it exists at start,
   * carry on from it: a coordinator restarted by the launcher after a crash (docs/fault_tolerance.md).
   */
  stateFile?: string;
  /** Performs `shoal ps add-server|remove-server` requests (POST /v1/admin/...); without it they get 501. */
  admin?: AdminHandler;
  /** Watch for stragglers (monitor/straggler_detector.ts) and report each one confirmed. */
  stragglers?: StragglerOptions & { onStraggler: (s: Straggler) => void };
  /**
   * A process went silent (no heartbeat) and was declared lost. Its process may still exist
   * (stopped, hung): the launcher ends it, since the job has moved on without it.
   */
  onSilent?: (silent: { role: 'worker' | 'server'; rank: number; pid: number }, reason: string) => void;
  /** A connection that has not proven the token this long after opening is closed; default 10000. */
  helloTimeoutMs?: number;
  /** Connections still owing their hello beyond this many are refused (503); default 1024. */
  maxUnauthenticated?: number;
}

export interface CoordinatorState {
  ranks: Array<{ rank: number; pid: number; host: string; alive: boolean; lastHeartbeatMs: number }>;
  pendingGroups: Array<{ group: string; size: number; arrived: number[] }>;
}

/** One WebSocket connection. `rank` is set once its hello was accepted. */
interface Conn {
  ws: UwsWebSocket<ConnData> | null;
  /** Open and not yet authenticated: counts against maxUnauthenticated. */
  awaitingHello: boolean;
  /** Closes the connection if no valid hello arrives in time. */
  helloTimer: NodeJS.Timeout | null;
  closed: boolean;
  /** An error was sent and end() called: ignore anything else it sends. */
  rejected: boolean;
  nonce: string;
  remote: string;
  rank: number | null;
  saidBye: boolean;
}
interface ConnData {
  conn: Conn;
}

interface RankEntry {
  rank: number;
  pid: number;
  host: string;
  conn: Conn;
  alive: boolean;
  lastHeartbeatMs: number;
}

interface Member extends PeerEndpoint {
  conn: Conn;
  worldRank: number;
  id: number;
  timeoutMs: number;
}

interface PendingGroup {
  name: string;
  size: number;
  members: Map<number, Member>;
  firstArrivalMs: number;
  timeoutMs: number;
  timer: NodeJS.Timeout | null;
}

/** uWS's listen(host, port, options, cb) overload exists at runtime but is missing from its typings. */
type ListenWithOptions = (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => TemplatedApp;
/** Without this flag uWS sets SO_REUSEPORT and a second coordinator could silently share the port. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
const DEFAULT_HELLO_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_UNAUTHENTICATED = 1024;
/** The only message before the hello is the hello itself: a few hundred bytes. */
const MAX_HELLO_BYTES = 4096;

/** setTimeout turns delays beyond 2^31-1 ms into 1 ms: a huge rank-supplied timeout means "a very long time". */
function timerDelay(ms: number): number {
  return Math.min(ms, 2 ** 31 - 1);
}

const defaultLog = (line: string): void => void process.stderr.write(`[shoal coordinator] ${line}\n`);

/**
 * uWS's idle timeout (seconds) for rank connections. Liveness is judged by our heartbeats
 * (HEARTBEAT_INTERVAL_MS, declared dead after heartbeatTimeoutMs); this only reaps sockets that
 * went silent below that (a dead TCP peer nobody declared lost). It stays well above the
 * heartbeat timeout so a slow rank is reported by the heartbeat check, with its reason, first.
 * uWS counts in 4 s ticks and allows at most 960 s.
 */
function idleTimeoutSeconds(heartbeatTimeoutMs: number): number {
  const seconds = Math.max(32, Math.ceil((3 * heartbeatTimeoutMs) / 1000));
  return Math.min(960, Math.ceil(seconds / 4) * 4);
}

/**
 * The rendezvous and heartbeat server of one job.
 *
 * @example
 *   const coord = await Coordinator.start({ token });
 *   // ranks connect to coord.host:coord.port with the same token
 *   await coord.close();
 */
/** Servers share the coordinator with workers; their identities live above every worker rank. */
const SERVER_ID_BASE = 1 << 21;
function identityOf(role: 'worker' | 'server', rank: number): number {
  return role === 'server' ? SERVER_ID_BASE + rank : rank;
}
function describeIdentity(id: number): { role: 'worker' | 'server'; rank: number; label: string } {
  return id >= SERVER_ID_BASE
    ? { role: 'server', rank: id - SERVER_ID_BASE, label: `server ${id - SERVER_ID_BASE}` }
    : { role: 'worker', rank: id, label: `rank ${id}` };
}

export class Coordinator {
  readonly host: string;
  readonly port: number;

  private readonly token: string;
  private readonly heartbeatTimeoutMs: number;
  private readonly helloTimeoutMs: number;
  /** Open connections that have not sent a valid hello yet. */
  private unauthenticated = 0;
  /** Rejected hellos are logged at most once a second: a stranger must not flood the log. */
  private readonly logRejected: (line: string) => void;
  private readonly log: (line: string) => void;
  private readonly onSilent: CoordinatorOptions['onSilent'];
  private listenSocket: us_listen_socket | null = null;
  private readonly conns = new Set<Conn>();
  private readonly ranks = new Map<number, RankEntry>();
  /** Ranks declared dead (lost connection, no heartbeat, or the launcher's markDead). */
  private readonly lost = new Set<number>();
  private readonly groups = new Map<string, PendingGroup>();
  /** The job size from the first accepted hello, and who said it. */
  private jobSize: { size: number; rank: number } | null = null;
  private serverCount: number | null = null;
  /** Tables of completed groups, for lookups (workers find the servers this way). */
  private readonly completed = new Map<string, PeerEndpoint[]>();
  private readonly lookups = new Map<string, Array<{ conn: Conn; id: number; timer: NodeJS.Timeout }>>();
  /** Moves on with every lost worker: survivors and replacements rebuild the world in the new epoch. */
  private epoch = 0;
  private readonly epochWaiters: Array<{ conn: Conn; id: number; after: number; timer: NodeJS.Timeout }> = [];
  private sweepTimer: NodeJS.Timeout | null = null;
  /** When the ranks' connections come through the launcher's forwarder: its last tick; else null. */
  private forwarderSeenMs: number | null = null;
  /** What the dashboard, /metrics and the stall inspector see. */
  private readonly jobView = new JobView();
  private feed: ReturnType<typeof attachMonitor> = new Set();
  private readonly stallTimeoutMs: number;
  private readonly stragglers: { detector: StragglerDetector; onStraggler: (s: Straggler) => void } | null;
  private readonly reportedStalls = new Set<string>();
  private lastPublish = 0;
  private closing: Promise<void> | null = null;
  private readonly stateFile: string | null;
  /** After a restart: processes alive before it that have not reconnected yet. */
  private readonly awaited = new Set<number>();
  private awaitTimer: NodeJS.Timeout | null = null;

  private constructor(host: string, port: number, opts: CoordinatorOptions) {
    this.host = host;
    this.port = port;
    this.token = opts.token;
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    this.helloTimeoutMs = opts.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
    this.stallTimeoutMs = opts.stallTimeoutMs ?? 30_000;
    const sink = opts.log ?? defaultLog;
    // Everything the coordinator logs is an event worth showing on the dashboard too.
    this.log = (line) => {
      this.jobView.event(line);
      sink(line);
    };
    this.logRejected = rateLimited(this.log, 1000);
    this.stragglers = opts.stragglers ? { detector: new StragglerDetector(opts.stragglers), onStraggler: opts.stragglers.onStraggler } : null;
    this.stateFile = opts.stateFile ?? null;
    this.onSilent = opts.onSilent;
    const saved = this.stateFile ? loadCoordinatorState(this.stateFile) : null;
    if (saved) {
      this.epoch = saved.epoch;
      this.jobView.epoch = saved.epoch;
      this.jobSize = saved.jobSize;
      this.serverCount = saved.serverCount;
      for (const [group, peers] of Object.entries(saved.completed)) this.completed.set(group, peers);
      for (const id of saved.lost) this.lost.add(id);
      for (const id of saved.alive) this.awaited.add(id);
      this.log(`restarted from ${this.stateFile}: epoch ${this.epoch}, waiting for ${this.awaited.size} process(es) to reconnect`);
      // Whoever does not come back within a heartbeat timeout died while we were down.
      this.awaitTimer = setTimeout(() => {
        for (const id of this.awaited) this.declareLost(id, 'did not reconnect after the coordinator restarted');
        this.awaited.clear();
      }, this.heartbeatTimeoutMs);
      this.awaitTimer.unref();
    }
  }

  /** Saves what a restarted coordinator needs (no-op without a state file). */
  private persist(): void {
    if (!this.stateFile || this.closing) return;
    saveCoordinatorState(this.stateFile, {
      version: 1,
      epoch: this.epoch,
      jobSize: this.jobSize,
      serverCount: this.serverCount,
      completed: Object.fromEntries(this.completed),
      lost: [...this.lost],
      alive: [...new Set([...[...this.ranks.values()].filter((e) => e.alive).map((e) => e.rank), ...this.awaited])],
    });
  }

  /**
   * Starts listening. Resolves once the port is bound.
   * @throws {RendezvousError} ERR_RENDEZVOUS when the address cannot be bound (in use, not local).
   */
  static start(options: CoordinatorOptions): Promise<Coordinator> {
    let opts: CoordinatorOptions;
    try {
      opts = { ...options, heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? heartbeatTimeoutFromEnv() };
    } catch (err) {
      return Promise.reject(err);
    }
    const host = opts.host ?? '127.0.0.1';
    const port = opts.port ?? 0;
    if (typeof opts.token !== 'string' || opts.token === '') {
      return Promise.reject(new ConfigError('ERR_CONFIG', 'Coordinator.start: a non-empty token is required'));
    }
    if (!isIntIn(port, 0, 65535)) {
      return Promise.reject(new ConfigError('ERR_CONFIG', `Coordinator.start: port must be an integer in 0..65535, got ${String(port)}`));
    }
    const maxUnauthenticated = opts.maxUnauthenticated ?? DEFAULT_MAX_UNAUTHENTICATED;
    const secrets = routeSecrets(opts.token);
    return new Promise((resolve, reject) => {
      let coordinator: Coordinator | null = null;
      const log = (line: string): void => (coordinator ? coordinator.log(line) : (opts.log ?? defaultLog)(line));
      // Every handler below runs inside a uWS callback, where an exception would end the process.
      const app = uWS.App()
        .get(COORDINATOR_HEALTH_PATH, (res: HttpResponse) => {
          res.writeStatus('200 OK').writeHeader('content-type', 'text/plain').end('ok');
        })
        .ws<ConnData>(COORDINATOR_WS_PATH, {
          maxPayloadLength: MAX_MESSAGE_BYTES,
          // uWS drops sends beyond this; a table for a very large job must still fit.
          maxBackpressure: 4 * MAX_MESSAGE_BYTES,
          idleTimeout: idleTimeoutSeconds(opts.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS),
          upgrade: guarded(log, 'ws upgrade', (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
            if (!coordinator || coordinator.unauthenticated >= maxUnauthenticated) {
              res.writeStatus('503 Service Unavailable').end(coordinator ? 'too many connections waiting to authenticate' : 'starting');
              return;
            }
            const conn: Conn = {
              ws: null,
              awaitingHello: false,
              helloTimer: null,
              closed: false,
              rejected: false,
              nonce: makeNonce(),
              remote: Buffer.from(res.getRemoteAddressAsText()).toString(),
              rank: null,
              saidBye: false,
            };
            res.upgrade<ConnData>(
              { conn },
              req.getHeader('sec-websocket-key'),
              req.getHeader('sec-websocket-protocol'),
              req.getHeader('sec-websocket-extensions'),
              context,
            );
          }),
          open: (ws) => coordinator?.guard('open', ws.getUserData().conn, () => coordinator?.onOpen(ws)),
          message: (ws, message, isBinary) => coordinator?.guard('message', ws.getUserData().conn, () => coordinator?.onMessage(ws.getUserData().conn, message, isBinary)),
          close: (ws) => coordinator?.guard('close', ws.getUserData().conn, () => coordinator?.onClose(ws.getUserData().conn)),
        });
      attachAdmin(app, secrets, () => opts.admin ?? null, log);
      const feed = opts.dashboard === false ? new Set<never>() : attachMonitor(app, () => (coordinator ? { secrets, view: () => coordinator!.view() } : null), log);
      app.any('/*', (res: HttpResponse) => {
        res.writeStatus('404 Not Found').end('not found');
      });
      (app.listen as unknown as ListenWithOptions).call(app, host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (socket === false) {
          reject(new RendezvousError('ERR_RENDEZVOUS', `could not start the Shoal coordinator on ${host}:${port}: the port is in use or the address is not local to this host`));
          return;
        }
        coordinator = new Coordinator(host, uWS.us_socket_local_port(socket as unknown as uWS.us_socket), opts);
        coordinator.listenSocket = socket;
        coordinator.feed = feed;
        coordinator.startSweep();
        resolve(coordinator);
      });
    });
  }

  /** The launcher saw a rank's (or a server's) process exit abnormally: tell everyone else. Idempotent. */
  markDead(rank: number, reason: string, role: 'worker' | 'server' = 'worker'): void {
    if (this.closing) return;
    const id = identityOf(role, rank);
    if (this.lost.has(id)) {
      this.log(`${describeIdentity(id).label} ${reason}`);
      return;
    }
    this.declareLost(id, reason);
  }

  /**
   * The launcher forwarding the ranks' connections is running (coordinator_process.ts posts this
   * every FORWARDER_TICK_MS). Heartbeats cross its event loop: while it is stalled (overloaded,
   * stopped) they wait unread in its sockets, so that silence is not the ranks'. Each rank is
   * credited with the stall, and nobody is judged while the ticks are late (startSweep). A rank
   * that is really silent still runs out of time, counted while the forwarder ran.
   */
  forwarderTick(now = Date.now()): void {
    const last = this.forwarderSeenMs;
    this.forwarderSeenMs = now;
    if (last === null || now - last <= 2 * FORWARDER_TICK_MS) return;
    const stalled = now - last - FORWARDER_TICK_MS;
    for (const entry of this.ranks.values()) {
      if (entry.alive) entry.lastHeartbeatMs = Math.min(now, entry.lastHeartbeatMs + stalled);
    }
  }

  /** Snapshot for tests and, later, the dashboard. */
  state(): CoordinatorState {
    const ranks = [...this.ranks.values()]
      .sort((a, b) => a.rank - b.rank)
      .map((e) => ({ rank: e.rank, pid: e.pid, host: e.host, alive: e.alive, lastHeartbeatMs: e.lastHeartbeatMs }));
    const pendingGroups = [...this.groups.values()].map((g) => ({
      group: g.name,
      size: g.size,
      arrived: [...g.members.keys()].sort((a, b) => a - b),
    }));
    return { ranks, pendingGroups };
  }

  /**
   * Closes once no process other than `self` (the one hosting it, which closes last) is still
   * connected, or after `boundMs`: the others' goodbyes and last metrics still arrive.
   */
  async closeWhenDrained(self: { role: 'worker' | 'server'; rank: number }, boundMs = 10_000): Promise<void> {
    const selfId = identityOf(self.role, self.rank);
    const until = Date.now() + boundMs;
    while (Date.now() < until && [...this.ranks.values()].some((e) => e.alive && e.rank !== selfId)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await this.close();
  }

  /** Stops listening, fails pending rendezvous (ERR_ABORTED) and closes every connection. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    for (const group of [...this.groups.values()]) {
      this.failGroup(group, 'ERR_ABORTED', `rendezvous for group "${group.name}" aborted: the coordinator is shutting down`);
    }
    this.closing = new Promise((resolve) => {
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      if (this.awaitTimer) clearTimeout(this.awaitTimer);
      for (const w of this.epochWaiters.splice(0)) clearTimeout(w.timer);
      for (const waiting of this.lookups.values()) for (const l of waiting) clearTimeout(l.timer);
      this.lookups.clear();
      if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
      for (const conn of this.conns) {
        this.settleHello(conn);
        this.end(conn, 1001, 'coordinator closed');
      }
      for (const ws of this.feed) ws.end(1001, 'coordinator closed');
      // Closing is asynchronous inside uWS; one turn lets the close frames go out.
      setImmediate(resolve);
    });
    return this.closing;
  }

  /** @internal for lib/monitor/http.ts */
  view(): JobView {
    return this.jobView;
  }

  /** Every sweep: look for stalls; about once a second: push the state to dashboards. */
  private monitor(now: number): void {
    if (this.stallTimeoutMs > 0) {
      for (const stall of inspectStalls(this.jobView, this.stallTimeoutMs, now)) {
        if (this.reportedStalls.has(stall.key)) continue;
        this.reportedStalls.add(stall.key);
        this.jobView.stalls.push(stall.message);
        this.log(stall.message);
        for (const e of this.ranks.values()) if (e.alive && e.rank < SERVER_ID_BASE) this.send(e.conn, { type: 'stall', message: stall.message });
      }
    }
    if (this.stragglers) {
      for (const s of this.stragglers.detector.check(this.jobView.workers(), now)) {
        this.log(s.message);
        this.stragglers.onStraggler(s);
      }
    }
    if (now - this.lastPublish >= 1000) {
      this.lastPublish = now;
      publish(this.feed, this.jobView);
    }
  }

  private startSweep(): void {
    const every = Math.max(50, Math.min(1000, Math.floor(this.heartbeatTimeoutMs / 4)));
    let last = Date.now();
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      const late = now - last > 2 * every;
      last = now;
      // A timer's exception would end the process; the metrics it reads come from the ranks.
      try {
        // If this process stalled (rank 0 busy, machine overloaded), heartbeats that arrived
        // meanwhile are still unread in the sockets: timers run before I/O is polled. Judge
        // nobody this round; the next one sees them.
        // Likewise while the launcher's forwarder (which carries the heartbeats) is stalled.
        const forwarderLate = this.forwarderSeenMs !== null && now - this.forwarderSeenMs > 2 * FORWARDER_TICK_MS;
        if (!late && !forwarderLate) this.sweep(now);
        this.monitor(now);
      } catch (err) {
        this.log(`sweep failed: ${(err as Error)?.message ?? String(err)}`);
      }
    }, every);
    // The listen socket keeps a hosting process alive while it should; the sweep must not.
    this.sweepTimer.unref();
  }

  private sweep(now: number): void {
    for (const entry of this.ranks.values()) {
      if (entry.alive && now - entry.lastHeartbeatMs > this.heartbeatTimeoutMs) {
        const reason = `no heartbeat for ${this.heartbeatTimeoutMs} ms`;
        this.declareLost(entry.rank, reason);
        this.end(entry.conn, 4000, 'no heartbeat');
        const { role, rank } = describeIdentity(entry.rank);
        this.onSilent?.({ role, rank, pid: entry.pid }, reason);
      }
    }
  }

  /**
   * Runs a WebSocket callback. An exception there must not end the process: it is logged and
   * that one connection is closed (1011, internal error).
   */
  private guard(what: string, conn: Conn, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log(`${what} from ${conn.remote}: ${(err as Error)?.message ?? String(err)}; closing that connection`);
      try {
        this.end(conn, 1011, 'internal error');
      } catch {
        // Already closed.
      }
    }
  }

  private onOpen(ws: UwsWebSocket<ConnData>): void {
    const conn = ws.getUserData().conn;
    conn.ws = ws;
    this.conns.add(conn);
    if (this.closing) {
      this.end(conn, 1001, 'coordinator closed');
      return;
    }
    this.unauthenticated++;
    conn.awaitingHello = true;
    conn.helloTimer = setTimeout(() => {
      this.guard('hello deadline', conn, () => {
        this.logRejected(`closed a connection from ${conn.remote}: no hello within ${this.helloTimeoutMs} ms`);
        this.reject(conn, 'ERR_AUTH', `no hello proving the job token within ${this.helloTimeoutMs} ms`);
      });
    }, this.helloTimeoutMs);
    this.send(conn, { type: 'challenge', nonce: conn.nonce });
  }

  /** The connection proved the token or closed: it no longer counts against maxUnauthenticated. */
  private settleHello(conn: Conn): void {
    if (!conn.awaitingHello) return;
    conn.awaitingHello = false;
    if (conn.helloTimer) clearTimeout(conn.helloTimer);
    conn.helloTimer = null;
    this.unauthenticated--;
  }

  private onClose(conn: Conn): void {
    conn.closed = true;
    conn.ws = null;
    this.settleHello(conn);
    this.dropWaitsOf(conn);
    this.conns.delete(conn);
    if (this.closing || conn.rank === null) return;
    const entry = this.ranks.get(conn.rank);
    if (entry && entry.conn === conn && entry.alive && !conn.saidBye) {
      this.declareLost(conn.rank, 'connection to coordinator closed without goodbye');
    }
  }

  private onMessage(conn: Conn, data: ArrayBuffer, isBinary: boolean): void {
    if (conn.closed || conn.rejected || this.closing) return;
    if (conn.rank === null && data.byteLength > MAX_HELLO_BYTES) {
      this.reject(conn, 'ERR_AUTH', `expected a hello message (at most ${MAX_HELLO_BYTES} bytes), got ${data.byteLength} bytes`);
      return;
    }
    const msg = isBinary ? null : parseMessage(Buffer.from(data).toString('utf8'));
    if (conn.rank === null) {
      if (msg === null || msg.type !== 'hello') {
        this.reject(conn, 'ERR_AUTH', 'expected a hello message proving the job token');
        return;
      }
      this.onHello(conn, msg);
      return;
    }
    const entry = this.ranks.get(conn.rank);
    if (!entry || entry.conn !== conn) return;
    entry.lastHeartbeatMs = Date.now();
    if (msg === null) {
      this.send(conn, { type: 'error', code: 'ERR_INVALID_USAGE', message: 'malformed message: expected a JSON object with a "type"' });
      return;
    }
    switch (msg.type) {
      case 'heartbeat':
        return;
      case 'register':
        this.onRegister(conn, entry, msg);
        return;
      case 'lookup':
        this.onLookup(conn, msg);
        return;
      case 'waitEpoch':
        this.onWaitEpoch(conn, msg);
        return;
      case 'rejoin':
        this.onRejoin(conn, entry, msg);
        return;
      case 'extend':
        this.onExtend(conn, entry, msg);
        return;
      case 'leave':
        this.onLeave(conn, entry, msg);
        return;
      case 'metrics': {
        const who = describeIdentity(entry.rank);
        this.jobView.update(who.role, who.rank, msg['data']);
        return;
      }
      case 'bye': {
        conn.saidBye = true;
        entry.alive = false;
        this.persist();
        const who = describeIdentity(entry.rank);
        this.jobView.left(who.role, who.rank);
        for (const other of this.ranks.values()) {
          if (other !== entry && other.alive) this.send(other.conn, { type: 'peerDone', rank: who.rank, role: who.role });
        }
        this.failGroupsOf(entry.rank, 'ERR_PEER_LOST', (g) => `rendezvous for group "${g}" failed: rank ${entry.rank} left the job before it completed`);
        return;
      }
      default:
        this.send(conn, { type: 'error', code: 'ERR_INVALID_USAGE', message: `unknown message type ${JSON.stringify(msg.type)}` });
    }
  }

  private onHello(conn: Conn, msg: Record<string, unknown>): void {
    const { rank, size, pid, host, proof } = msg;
    const role = msg['role'] === 'server' ? 'server' : 'worker';
    if (!isIntIn(rank, 0, MAX_GROUP_SIZE - 1) || !verifyCoordinatorProof(this.token, conn.nonce, rank, proof)) {
      this.logRejected(`rejected a connection from ${conn.remote}: wrong job token`);
      this.reject(conn, 'ERR_AUTH', 'wrong job token (SHOAL_TOKEN)');
      return;
    }
    // An added parameter server (elastic servers) has an index beyond the job's first server count.
    if (!isIntIn(size, 1, MAX_GROUP_SIZE) || (rank >= size && role !== 'server')) {
      this.reject(conn, 'ERR_CONFIG', `hello from ${role} ${rank} has an invalid job size ${JSON.stringify(size)}`);
      return;
    }
    if (role === 'server') {
      if (this.serverCount !== null && this.serverCount !== size) {
        this.reject(conn, 'ERR_CONFIG', `server ${rank} says the job has ${size} servers, but another server said ${this.serverCount}`);
        return;
      }
    } else if (this.jobSize && this.jobSize.size !== size) {
      this.reject(conn, 'ERR_CONFIG', `rank ${rank} says the job has ${size} ranks, but rank ${this.jobSize.rank} said ${this.jobSize.size}`);
      return;
    }
    const id = identityOf(role, rank);
    const label = describeIdentity(id).label;
    const previous = this.ranks.get(id);
    if (previous && previous.alive && !previous.conn.closed) {
      this.reject(conn, 'ERR_CONFIG', `${label} is already connected (pid ${previous.pid} on ${previous.host}): two processes were started with the same rank`);
      return;
    }
    if (role === 'server') this.serverCount ??= size;
    else this.jobSize ??= { size, rank };
    this.settleHello(conn);
    conn.rank = id;
    this.lost.delete(id);
    this.ranks.set(id, {
      rank: id,
      pid: isIntIn(pid, 0, Number.MAX_SAFE_INTEGER) ? pid : 0,
      host: typeof host === 'string' ? host.slice(0, MAX_HOST_LENGTH) : conn.remote,
      conn,
      alive: true,
      lastHeartbeatMs: Date.now(),
    });
    this.jobView.joined(role, rank, typeof host === 'string' ? host.slice(0, MAX_HOST_LENGTH) : conn.remote, isIntIn(pid, 0, Number.MAX_SAFE_INTEGER) ? pid : 0);
    this.awaited.delete(id);
    this.persist();
    this.send(conn, { type: 'welcome', rank, size, epoch: this.epoch });
  }

  private onRegister(conn: Conn, entry: RankEntry, msg: Record<string, unknown>): void {
    const { id, group, groupSize, groupRank, host, port, timeoutMs } = msg;
    if (!isIntIn(id, 0, Number.MAX_SAFE_INTEGER)) {
      this.send(conn, { type: 'error', code: 'ERR_INVALID_USAGE', message: 'register: "id" must be a non-negative integer' });
      return;
    }
    const invalid = (message: string): void => this.send(conn, { type: 'registerError', id, code: 'ERR_INVALID_ARGUMENT', message: `register from rank ${entry.rank}: ${message}` });
    if (typeof group !== 'string' || group === '' || group.length > MAX_GROUP_NAME_LENGTH) return invalid(`"group" must be a non-empty string of at most ${MAX_GROUP_NAME_LENGTH} characters`);
    if (!isIntIn(groupSize, 1, MAX_GROUP_SIZE)) return invalid(`group "${group}": groupSize must be an integer in 1..${MAX_GROUP_SIZE}, got ${JSON.stringify(groupSize)}`);
    if (!isIntIn(groupRank, 0, groupSize - 1)) return invalid(`group "${group}": groupRank must be an integer in 0..${groupSize - 1}, got ${JSON.stringify(groupRank)}`);
    if (typeof host !== 'string' || host === '' || host.length > MAX_HOST_LENGTH) return invalid(`group "${group}": "host" must be a non-empty string`);
    if (!isIntIn(port, 1, 65535)) return invalid(`group "${group}": port must be an integer in 1..65535, got ${JSON.stringify(port)}`);
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) return invalid(`group "${group}": timeoutMs must be a positive number, got ${JSON.stringify(timeoutMs)}`);

    // The world of an epoch that a later loss ended can never fill (a survivor learned of epoch
    // e just before another rank died): fail at once, so it waits for the next epoch rather than
    // for the rendezvous timeout.
    const epoch = epochOfWorldGroup(group);
    if (epoch !== null && epoch < this.epoch) {
      this.send(conn, { type: 'registerError', id, code: 'ERR_PEER_LOST', message: `rendezvous for group "${group}" failed: the job has moved on to epoch ${this.epoch} (a rank was lost)` });
      return;
    }

    const member: Member = { conn, worldRank: entry.rank, id, rank: groupRank, host, port, timeoutMs };
    let pending = this.groups.get(group);
    if (!pending) {
      pending = { name: group, size: groupSize, members: new Map(), firstArrivalMs: Date.now(), timeoutMs, timer: null };
      this.groups.set(group, pending);
    }
    const g = pending;
    const fail = (message: string): void => {
      this.failGroup(g, 'ERR_MISMATCH', message);
      this.send(conn, { type: 'registerError', id, code: 'ERR_MISMATCH', message });
    };
    if (groupSize !== g.size) {
      const first = g.members.values().next().value as Member | undefined;
      return fail(`rendezvous for group "${group}" failed: rank ${entry.rank} registered it with size ${groupSize} but rank ${first?.worldRank ?? '?'} with size ${g.size}`);
    }
    const clash = g.members.get(groupRank);
    if (clash) return fail(`rendezvous for group "${group}" failed: group rank ${groupRank} was registered twice, by ranks ${clash.worldRank} and ${entry.rank}`);
    for (const m of g.members.values()) {
      if (m.conn === conn) return fail(`rendezvous for group "${group}" failed: rank ${entry.rank} registered twice, as group ranks ${m.rank} and ${groupRank}`);
    }

    g.members.set(groupRank, member);
    if (g.members.size === g.size) {
      this.completeGroup(g);
      return;
    }
    if (g.members.size === 1 || timeoutMs < g.timeoutMs) {
      g.timeoutMs = Math.min(g.timeoutMs, timeoutMs);
      if (g.timer) clearTimeout(g.timer);
      const delay = Math.max(0, g.firstArrivalMs + g.timeoutMs - Date.now());
      g.timer = setTimeout(() => this.timeoutGroup(g), timerDelay(delay));
    }
  }

  private completeGroup(g: PendingGroup): void {
    this.dropGroup(g);
    const peers = [...g.members.values()].sort((a, b) => a.rank - b.rank).map(({ rank, host, port }) => ({ rank, host, port }));
    for (const m of g.members.values()) this.send(m.conn, { type: 'table', id: m.id, group: g.name, peers });
    this.completed.set(g.name, peers);
    this.persist();
    for (const l of this.lookups.get(g.name) ?? []) {
      clearTimeout(l.timer);
      if (!l.conn.closed) this.send(l.conn, { type: 'table', id: l.id, group: g.name, peers });
    }
    this.lookups.delete(g.name);
  }

  /** Answers once the job has moved past epoch `after` (a survivor about to rebuild the world). */
  private onWaitEpoch(conn: Conn, msg: Record<string, unknown>): void {
    const { id, after, timeoutMs } = msg;
    if (!isIntIn(id, 0, Number.MAX_SAFE_INTEGER) || !isIntIn(after, 0, Number.MAX_SAFE_INTEGER) || typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      this.send(conn, { type: 'error', code: 'ERR_INVALID_USAGE', message: 'waitEpoch: expected {id, after, timeoutMs}' });
      return;
    }
    if (this.epoch > after) {
      this.send(conn, { type: 'epoch', id, epoch: this.epoch });
      return;
    }
    // Removed by identity: a rank may reuse an id, and each entry owns exactly one timer.
    const waiter = { conn, id, after, timer: null as unknown as NodeJS.Timeout };
    waiter.timer = setTimeout(() => {
      const i = this.epochWaiters.indexOf(waiter);
      if (i >= 0) this.epochWaiters.splice(i, 1);
      this.send(conn, {
        type: 'registerError',
        id,
        code: 'ERR_RENDEZVOUS',
        message: `no worker was replaced within ${timeoutMs} ms (the job is still in epoch ${this.epoch}): recovery needs \`shoal run --max-restarts K\``,
      });
    }, timerDelay(timeoutMs));
    this.epochWaiters.push(waiter);
  }

  /**
   * A replacement process takes over slot `groupRank` of a completed group (a parameter server
   * restarted by the launcher): the table is updated, the caller gets it, everyone else hears.
   */
  private onRejoin(conn: Conn, entry: RankEntry, msg: Record<string, unknown>): void {
    const { id, group, groupRank, host, port } = msg;
    if (!isIntIn(id, 0, Number.MAX_SAFE_INTEGER)) {
      this.send(conn, { type: 'error', code: 'ERR_INVALID_USAGE', message: 'rejoin: "id" must be a non-negative integer' });
      return;
    }
    const peers = typeof group === 'string' ? this.completed.get(group) : undefined;
    const fail = (message: string): void => this.send(conn, { type: 'registerError', id, code: 'ERR_INVALID_ARGUMENT', message: `rejoin from ${describeIdentity(entry.rank).label}: ${message}` });
    if (!peers) return fail(`group ${JSON.stringify(group)} has not completed, so there is no slot to take over`);
    if (!peers.some((p) => p.rank === groupRank)) return fail(`group ${JSON.stringify(group)} has no member ${JSON.stringify(groupRank)} (members: ${formatRanks(peers.map((p) => p.rank))})`);
    if (typeof host !== 'string' || host === '' || host.length > MAX_HOST_LENGTH) return fail('"host" must be a non-empty string');
    if (!isIntIn(port, 1, 65535)) return fail(`port must be an integer in 1..65535, got ${JSON.stringify(port)}`);
    const updated = peers.map((p) => (p.rank === groupRank ? { rank: groupRank, host, port } : p));
    this.completed.set(group as string, updated);
    this.persist();
    const role = describeIdentity(entry.rank).role;
    this.log(`${describeIdentity(entry.rank).label} rejoined group "${String(group)}" at ${host}:${port}`);
    this.send(conn, { type: 'table', id, group: group as string, peers: updated });
    for (const other of this.ranks.values()) {
      if (other.conn !== conn && other.alive) this.send(other.conn, { type: 'peerJoined', group: group as string, rank: groupRank as number, role, host, port });
    }
  }

  /** A new member joins a completed group in a new slot (an added parameter server). */
  private onExtend(conn: Conn, entry: RankEntry, msg: Record<string, unknown>): void {
    const { id, group, host, port } = msg;
    if (!isIntIn(id, 0, Number.MAX_SAFE_INTEGER)) {
      this.send(conn, { type: 'error', code: 'ERR_INVALID_USAGE', message: 'extend: "id" must be a non-negative integer' });
      return;
    }
    const who = describeIdentity(entry.rank);
    const peers = typeof group === 'string' ? this.completed.get(group) : undefined;
    const fail = (message: string): void => this.send(conn, { type: 'registerError', id, code: 'ERR_INVALID_ARGUMENT', message: `extend from ${who.label}: ${message}` });
    if (!peers) return fail(`group ${JSON.stringify(group)} has not completed, so it cannot grow`);
    if (typeof host !== 'string' || host === '' || host.length > MAX_HOST_LENGTH) return fail('"host" must be a non-empty string');
    if (!isIntIn(port, 1, 65535)) return fail(`port must be an integer in 1..65535, got ${JSON.stringify(port)}`);
    const rank = Math.max(-1, ...peers.map((p) => p.rank)) + 1;
    const updated = [...peers, { rank, host, port }];
    this.completed.set(group as string, updated);
    this.persist();
    this.log(`${who.label} joined group "${String(group)}" as member ${rank} at ${host}:${port}`);
    this.send(conn, { type: 'table', id, group: group as string, peers: updated });
    for (const other of this.ranks.values()) {
      if (other.conn !== conn && other.alive) this.send(other.conn, { type: 'peerJoined', group: group as string, rank, role: who.role, host, port });
    }
  }

  /** A member leaves a completed group for good (a drained parameter server). */
  private onLeave(conn: Conn, entry: RankEntry, msg: Record<string, unknown>): void {
    const { id, group, groupRank } = msg;
    if (!isIntIn(id, 0, Number.MAX_SAFE_INTEGER)) {
      this.send(conn, { type: 'error', code: 'ERR_INVALID_USAGE', message: 'leave: "id" must be a non-negative integer' });
      return;
    }
    const who = describeIdentity(entry.rank);
    const peers = typeof group === 'string' ? this.completed.get(group) : undefined;
    const fail = (message: string): void => this.send(conn, { type: 'registerError', id, code: 'ERR_INVALID_ARGUMENT', message: `leave from ${who.label}: ${message}` });
    if (!peers) return fail(`group ${JSON.stringify(group)} has not completed`);
    if (!peers.some((p) => p.rank === groupRank)) return fail(`group ${JSON.stringify(group)} has no member ${JSON.stringify(groupRank)}`);
    if (peers.length === 1) return fail(`member ${String(groupRank)} is the last one of group "${String(group)}"`);
    const updated = peers.filter((p) => p.rank !== groupRank);
    this.completed.set(group as string, updated);
    this.persist();
    this.log(`member ${String(groupRank)} left group "${String(group)}"`);
    this.send(conn, { type: 'table', id, group: group as string, peers: updated });
    for (const other of this.ranks.values()) {
      if (other.conn !== conn && other.alive) this.send(other.conn, { type: 'peerLeft', group: group as string, rank: groupRank as number, role: who.role });
    }
  }

  /** A process that is not a member wants a group's table (workers looking up the servers). */
  private onLookup(conn: Conn, msg: Record<string, unknown>): void {
    const { id, group, timeoutMs } = msg;
    if (!isIntIn(id, 0, Number.MAX_SAFE_INTEGER) || typeof group !== 'string' || group.length > MAX_GROUP_NAME_LENGTH || typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      this.send(conn, { type: 'error', code: 'ERR_INVALID_USAGE', message: 'lookup: expected {id, group, timeoutMs}' });
      return;
    }
    const peers = this.completed.get(group);
    if (peers) {
      this.send(conn, { type: 'table', id, group, peers });
      return;
    }
    // Removed by identity: a rank may reuse an id, and each entry owns exactly one timer.
    const lookup = { conn, id, timer: null as unknown as NodeJS.Timeout };
    lookup.timer = setTimeout(() => {
      this.dropLookup(group, lookup);
      const arrived = this.groups.get(group)?.members.size ?? 0;
      this.send(conn, {
        type: 'registerError',
        id,
        code: 'ERR_RENDEZVOUS',
        message: `lookup of group "${group}" timed out after ${timeoutMs} ms: ${arrived} member(s) had registered`,
      });
    }, timerDelay(timeoutMs));
    const list = this.lookups.get(group) ?? [];
    list.push(lookup);
    this.lookups.set(group, list);
  }

  private dropLookup(group: string, lookup: { timer: NodeJS.Timeout }): void {
    clearTimeout(lookup.timer);
    const waiting = this.lookups.get(group)?.filter((l) => l !== lookup) ?? [];
    if (waiting.length) this.lookups.set(group, waiting);
    else this.lookups.delete(group);
  }

  /** A closed connection's pending lookups and epoch waits have no one to answer: drop them and their timers. */
  private dropWaitsOf(conn: Conn): void {
    for (const [group, waiting] of [...this.lookups]) for (const l of waiting) if (l.conn === conn) this.dropLookup(group, l);
    for (const w of this.epochWaiters.filter((x) => x.conn === conn)) {
      clearTimeout(w.timer);
      this.epochWaiters.splice(this.epochWaiters.indexOf(w), 1);
    }
  }

  private timeoutGroup(g: PendingGroup): void {
    if (this.groups.get(g.name) !== g) return;
    const missing: number[] = [];
    for (let r = 0; r < g.size; r++) if (!g.members.has(r)) missing.push(r);
    const message =
      `rendezvous for group "${g.name}" timed out after ${g.timeoutMs} ms: ${g.members.size} of ${g.size} ranks arrived; ` +
      `missing ranks: ${formatRanks(missing)}`;
    this.log(message);
    this.failGroup(g, 'ERR_RENDEZVOUS', message);
  }

  /** A rank is gone: log it, tell every other live rank, fail the rendezvous it was part of. */
  private declareLost(id: number, reason: string): void {
    this.lost.add(id);
    this.awaited.delete(id);
    const entry = this.ranks.get(id);
    if (entry) entry.alive = false;
    const who = describeIdentity(id);
    this.jobView.lost(who.role, who.rank, reason);
    this.log(`${who.label} lost: ${reason}`);
    for (const other of this.ranks.values()) {
      if (other.rank !== id && other.alive) this.send(other.conn, { type: 'peerLost', rank: who.rank, role: who.role, reason });
    }
    this.failGroupsOf(id, 'ERR_PEER_LOST', (g) => `rendezvous for group "${g}" failed: ${who.label} was lost (${reason})`);
    if (who.role === 'worker') {
      this.stragglers?.detector.forget(who.rank);
      this.nextEpoch(who.label);
    }
    this.persist();
  }

  /** A worker was lost: the world of the current epoch is over; wake survivors waiting to rebuild it. */
  private nextEpoch(cause: string): void {
    this.epoch++;
    this.jobView.epoch = this.epoch;
    this.log(`epoch ${this.epoch}: ${cause} was lost; survivors rebuild the world with its replacement (if the job replaces workers)`);
    this.persist();
    for (const g of [...this.groups.values()]) {
      const e = epochOfWorldGroup(g.name);
      if (e !== null && e < this.epoch) this.failGroup(g, 'ERR_PEER_LOST', `rendezvous for group "${g.name}" failed: ${cause} was lost; the job moved to epoch ${this.epoch}`);
    }
    for (const w of [...this.epochWaiters]) {
      if (w.after >= this.epoch) continue;
      this.epochWaiters.splice(this.epochWaiters.indexOf(w), 1);
      clearTimeout(w.timer);
      this.send(w.conn, { type: 'epoch', id: w.id, epoch: this.epoch });
    }
  }

  private failGroupsOf(worldRank: number, code: ErrorCode, message: (group: string) => string): void {
    for (const g of [...this.groups.values()]) {
      for (const m of g.members.values()) {
        if (m.worldRank === worldRank) {
          this.failGroup(g, code, message(g.name));
          break;
        }
      }
    }
  }

  private failGroup(g: PendingGroup, code: ErrorCode, message: string): void {
    this.dropGroup(g);
    for (const m of g.members.values()) this.send(m.conn, { type: 'registerError', id: m.id, code, message });
  }

  /** Completed or failed groups are forgotten so the name can be used again. */
  private dropGroup(g: PendingGroup): void {
    if (g.timer) clearTimeout(g.timer);
    g.timer = null;
    if (this.groups.get(g.name) === g) this.groups.delete(g.name);
  }

  private reject(conn: Conn, code: ErrorCode, message: string): void {
    this.send(conn, { type: 'error', code, message });
    conn.rejected = true;
    this.end(conn, 4001, code);
  }

  private send(conn: Conn, msg: ServerMessage): void {
    if (conn.closed || conn.ws === null) return;
    conn.ws.send(JSON.stringify(msg), false);
  }

  /** Graceful close (queued frames go out first); the close handler does the bookkeeping. */
  private end(conn: Conn, code: number, reason: string): void {
    if (conn.closed || conn.ws === null) return;
    conn.ws.end(code, reason);
  }
}
