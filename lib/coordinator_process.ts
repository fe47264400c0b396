// The launcher's handle on the coordinator, which runs in a process of its own so that it can
// die (a crash, an OOM kill, `kill -9`) without taking the job with it: the launcher starts it
// again, it reloads its state file (coordinator_state_file.ts), the ranks reconnect and re-send
// what they were waiting for (coordinator_client.ts), and the job goes on.
//
// Ranks dial the launcher's port, which forwards every connection to the coordinator's private
// loopback port. The public port never changes: a restarted coordinator could not rebind its
// predecessor's port anyway (its connections linger in TIME_WAIT and uWS binds without
// SO_REUSEADDR), and the forwarder is a few lines that do not crash. Connections that arrive
// while the coordinator is not up yet (starting, restarting) wait at the forwarder until it is,
// so the launcher starts the ranks while the coordinator process is still booting (`ready`).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { FORWARDER_TICK_MS } from './coordinator_protocol.js';
import { RendezvousError } from './errors.js';
import type { JobDump } from './monitor/job_view.js';

export interface CoordinatorProcessOptions {
  host: string;
  port: number;
  token: string;
  dashboard: boolean;
  stallTimeoutMs?: number;
  stragglers?: { factor?: number; windowMs?: number } | null;
  /** The coordinator's log lines. */
  log: (line: string) => void;
  onStraggler?: (rank: number, message: string) => void;
  /** `shoal ps add-server|remove-server`: returns a message or throws the reason it refuses. */
  onAdmin?: (action: 'add-server' | 'remove-server', server: number | null) => string;
  /** A process went silent and was declared lost (Coordinator's onSilent): the launcher ends it. */
  onSilent?: (silent: { role: 'worker' | 'server'; rank: number; pid: number }, reason: string) => void;
  /** Called when the coordinator died and is being restarted (for the job log). */
  onRestart?: (cause: string, restarts: number) => void;
}

/** What coordinator_main.ts reads from SHOAL_COORDINATOR_CONFIG. */
export interface CoordinatorProcessConfig {
  token: string;
  dashboard: boolean;
  stallTimeoutMs?: number;
  stragglers: { factor?: number; windowMs?: number } | null;
  stateFile: string;
}

const MAIN = fileURLToPath(new URL('./coordinator_main.js', import.meta.url));
/** A coordinator that keeps dying is a bug, not bad luck: stop the job after this many restarts. */
const MAX_COORDINATOR_RESTARTS = 10;

/**
 * Sends over the IPC channel; a write error (EPIPE: the process is exiting, e.g. stopped by
 * close() just as it came up) would be an unhandled 'error' event; its 'exit' handles that.
 */
function post(child: ChildProcess, msg: object): void {
  child.send(msg, (err) => void err);
}

export class CoordinatorProcess {
  /** The public port ranks and dashboards use. */
  port = 0;
  restarts = 0;
  #opts: CoordinatorProcessOptions;
  #child: ChildProcess | null = null;
  /** The running coordinator's private port; 0 while it is down. */
  #innerPort = 0;
  #queue: object[] = [];
  #closing = false;
  #stateDir: string;
  #server: Server | null = null;
  #sockets = new Set<Socket>();
  /** Clients that connected while the coordinator was down: piped to it once it is ready. */
  #held: Socket[] = [];
  #onGiveUp: (reason: string) => void = () => {};
  #dumps = new Map<number, (data: JobDump | null) => void>();
  /** Tells the running coordinator this process (the forwarder of its heartbeats) is running. */
  #ticker: NodeJS.Timeout | null = null;
  #nextDump = 1;

  private constructor(opts: CoordinatorProcessOptions, stateDir: string) {
    this.#opts = opts;
    this.#stateDir = stateDir;
  }

  /**
   * Resolves once the coordinator first answers, or once close() ended it before that; rejects
   * with a RendezvousError if its process exits before that by itself (the caller then stops
   * what it started and calls close()).
   */
  ready: Promise<void> = Promise.resolve();

  /**
   * Listens on host:port and starts the coordinator process without waiting for it: ranks may
   * dial the port at once (their connections wait for it, see the file comment); `ready` says
   * when it is up.
   * @throws {RendezvousError} when the port cannot be bound.
   */
  static async start(opts: CoordinatorProcessOptions): Promise<CoordinatorProcess> {
    const cp = new CoordinatorProcess(opts, mkdtempSync(join(tmpdir(), 'shoal-coordinator-')));
    try {
      cp.port = await cp.#listen();
    } catch (err) {
      await cp.close();
      throw err;
    }
    cp.ready = cp.#spawn();
    cp.#ticker = setInterval(() => {
      if (cp.#innerPort !== 0 && cp.#child?.connected) post(cp.#child, { type: 'tick' });
    }, FORWARDER_TICK_MS);
    cp.#ticker.unref();
    // Handled by whoever awaits it; never an unhandled rejection before they do.
    cp.ready.catch(() => undefined);
    return cp;
  }

  /** Called (once) if the coordinator cannot be brought back. */
  onGiveUp(fn: (reason: string) => void): void {
    this.#onGiveUp = fn;
  }

  pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The launcher saw a process exit abnormally (delivered after a restart if the coordinator is down). */
  markDead(rank: number, reason: string, role: 'worker' | 'server' = 'worker'): void {
    this.#send({ type: 'markDead', rank, reason, role });
  }

  /** The job's history (monitor/job_view.ts dump) for --report; null if the coordinator does not answer within `timeoutMs`. */
  dump(timeoutMs: number): Promise<JobDump | null> {
    const child = this.#child;
    if (this.#innerPort === 0 || !child?.connected) return Promise.resolve(null);
    const id = this.#nextDump++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#dumps.delete(id);
        resolve(null);
      }, timeoutMs);
      this.#dumps.set(id, (data) => {
        clearTimeout(timer);
        resolve(data);
      });
      post(child, { type: 'dump', id });
    });
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#ticker) clearInterval(this.#ticker);
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // Before 'ready' it may not listen for messages yet; SIGTERM ends it either way.
      if (child.connected && this.#innerPort !== 0) post(child, { type: 'close' });
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    rmSync(this.#stateDir, { recursive: true, force: true });
  }

  #listen(): Promise<number> {
    const server = createServer((client) => this.#forward(client));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) =>
        reject(new RendezvousError('ERR_RENDEZVOUS', `could not start the Shoal coordinator on ${this.#opts.host}:${this.#opts.port}: ${(err as NodeJS.ErrnoException).code ?? err.message} (the port is in use or the address is not local to this host)`)),
      );
      server.listen({ host: this.#opts.host, port: this.#opts.port, exclusive: true }, () => {
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : this.#opts.port);
      });
    });
  }

  /** Pipes one connection to the coordinator, or holds it until the coordinator is up. */
  #forward(client: Socket): void {
    if (this.#closing) {
      client.destroy();
      return;
    }
    if (this.#innerPort === 0) {
      // Unread bytes (the WebSocket upgrade) stay buffered in the paused socket until piped.
      this.#sockets.add(client);
      client.on('error', () => undefined);
      client.once('close', () => this.#sockets.delete(client));
      this.#held.push(client);
      return;
    }
    this.#pipe(client);
  }

  #pipe(client: Socket): void {
    const upstream = createConnection({ host: '127.0.0.1', port: this.#innerPort });
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.#sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  #send(msg: object): void {
    if (this.#innerPort !== 0 && this.#child?.connected) post(this.#child, msg);
    else this.#queue.push(msg);
  }

  #spawn(): Promise<void> {
    const cfg: CoordinatorProcessConfig = {
      token: this.#opts.token,
      dashboard: this.#opts.dashboard,
      stallTimeoutMs: this.#opts.stallTimeoutMs,
      stragglers: this.#opts.stragglers ?? null,
      stateFile: join(this.#stateDir, 'coordinator.json'),
    };
    // Its own process group: a Ctrl-C meant for the launcher must not kill it mid-shutdown.
    const child = fork(MAIN, [], {
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, SHOAL_COORDINATOR_CONFIG: JSON.stringify(cfg) },
    });
    this.#child = child;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      child.on('message', (m: { type: string; data?: JobDump; port?: number; line?: string; rank?: number; message?: string; id?: number; action?: string; server?: number | null; role?: 'worker' | 'server'; pid?: number; reason?: string }) => {
        if (m.type === 'admin') {
          let reply: { ok: boolean; message: string };
          try {
            if (!this.#opts.onAdmin) throw new Error('this launcher does not take admin requests');
            reply = { ok: true, message: this.#opts.onAdmin(m.action as 'add-server' | 'remove-server', m.server ?? null) };
          } catch (err) {
            reply = { ok: false, message: (err as Error).message };
          }
          if (child.connected) post(child, { type: 'adminReply', id: m.id, ...reply });
          return;
        }
        if (m.type === 'dump' && typeof m.id === 'number') {
          const done = this.#dumps.get(m.id);
          this.#dumps.delete(m.id);
          if (done && m.data) done(m.data);
          return;
        }
        if (m.type === 'ready' && typeof m.port === 'number') {
          started = true;
          this.#innerPort = m.port;
          for (const q of this.#queue.splice(0)) post(child, q);
          for (const c of this.#held.splice(0)) if (!c.destroyed) this.#pipe(c);
          resolve();
        } else if (m.type === 'log' && typeof m.line === 'string') this.#opts.log(m.line);
        else if (m.type === 'straggler' && typeof m.rank === 'number') this.#opts.onStraggler?.(m.rank, String(m.message ?? ''));
        else if (m.type === 'silent' && typeof m.rank === 'number' && typeof m.pid === 'number') this.#opts.onSilent?.({ role: m.role === 'server' ? 'server' : 'worker', rank: m.rank, pid: m.pid }, String(m.reason ?? ''));
      });
      child.once('exit', (code, signal) => {
        this.#innerPort = 0;
        for (const done of this.#dumps.values()) done(null);
        this.#dumps.clear();
        // Connections through the forwarder lead nowhere now: drop them so ranks reconnect.
        for (const s of this.#sockets) s.destroy();
        this.#held = [];
        const cause = signal ? `killed by ${signal}` : `exited with code ${code}`;
        if (!started) {
          // close() before it came up (ranks that never dial it can finish first): not a failure.
          if (this.#closing) resolve();
          else reject(new RendezvousError('ERR_RENDEZVOUS', `the Shoal coordinator process ${cause} before it was ready`));
          return;
        }
        if (!this.#closing) void this.#restart(cause);
      });
    });
  }

  async #restart(cause: string): Promise<void> {
    this.restarts++;
    if (this.restarts > MAX_COORDINATOR_RESTARTS) {
      this.#onGiveUp(`the coordinator ${cause} after ${MAX_COORDINATOR_RESTARTS} restarts`);
      return;
    }
    this.#opts.onRestart?.(cause, this.restarts);
    try {
      await this.#spawn();
    } catch (err) {
      if (!this.#closing) this.#onGiveUp(`the coordinator ${cause} and could not be restarted: ${(err as Error).message}`);
    }
  }
}
