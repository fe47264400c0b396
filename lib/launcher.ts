// `shoal run`: start a coordinator, spawn np ranks with the SHOAL_* environment contract (env.ts),
// prefix their output with `[rank] `, and end the whole job when one rank fails or the user
// interrupts. Each rank runs in its own process group so we can stop it together with whatever
// it spawned; nothing the launcher started may outlive it (horovod gloo_run, mpirun semantics).
// This file does not parse command lines (cli.ts) or hostfiles (hostfile.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as osConstants, networkInterfaces } from 'node:os';
import { createInterface } from 'node:readline';
import { CoordinatorProcess } from './coordinator_process.js';
import { ConfigError } from './errors.js';
import { formatAddress, heartbeatTimeoutFromEnv, isLocalAddress } from './env.js';
import { makeToken, viewerToken } from './hmac_auth.js';
import { checkedSecret, jobSecretFromEnv } from './job_secret.js';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INJECT_ENV, RESTART_ENV, parseInjectSpec } from './fault_injection.js';
import { MAX_RESTARTS_ENV } from './recovery/recovery_env.js';
import { placeRanks, readHostfile, replacementHost, serverHostIndex, totalSlots, type HostSlots, type RankPlacement } from './hostfile.js';
import type { JobDump } from './monitor/job_view.js';
import { prepareReportDir, writeRunReport } from './monitor/run_report.js';

/** How long the launcher waits for the coordinator's history at the end of a --report job. */
const REPORT_DUMP_TIMEOUT_MS = 10_000;

export interface RunOptions {
  /** Number of ranks; 0 with a hostfile means one rank per slot. */
  np: number;
  /** The program and its arguments, e.g. ['node', 'train.mjs']. */
  command: string[];
  /** Passed to ranks as SHOAL_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Extra environment for every rank. */
  env?: Record<string, string>;
  /** OpenMPI-style hostfile; ranks on other hosts are started through `rsh`. */
  hostfile?: string;
  /** Remote shell command for hostfile ranks; default 'ssh'. Split on whitespace. */
  rsh?: string;
  /** Address the coordinator binds to and ranks dial; default 127.0.0.1, or the first non-internal IPv4 with a hostfile. */
  coordinatorHost?: string;
  cwd?: string;
  /** per-line output sink; default writes `[rank] line` to process.stdout/stderr */
  onLine?: (rank: number, stream: 'stdout' | 'stderr', line: string) => void;
  /** Time between SIGTERM and SIGKILL when stopping ranks; default 3000. */
  killGraceMs?: number;
  /** Suppress the coordinator's log lines. */
  quiet?: boolean;
  /** Parameter-server processes to start beside the ranks (`--servers K`); default 0. */
  servers?: number;
  /** Copies of every parameter-server key (default 2, capped at `servers`). */
  replication?: number;
  /**
   * false: a lost server is never replaced, even with maxRestarts (the job goes on on the
   * replicas). For jobs whose tables change in place by vector programs, which the
   * replacement's copy does not carry over (`shoal train lr --servers`).
   */
  replaceServers?: boolean;
  /** Port for the coordinator and its dashboard (default: any free port). */
  dashboardPort?: number;
  /** Don't serve or announce the dashboard. */
  noDashboard?: boolean;
  /** Stall inspector threshold in ms (default 30000; 0 turns it off). */
  stallTimeoutMs?: number;
  /** Module whose exported updaters the servers load (`--ps-updaters`). */
  psUpdaters?: string;
  /**
   * The job secret every rank proves. Default: SHOAL_TOKEN from `env`, else SHOAL_TOKEN or
   * SHOAL_TOKEN_FILE from this process's environment, else a fresh random one.
   */
  token?: string;
  /** Called with the dashboard URL (with the read-only viewer token, never the job secret) once the coordinator is up. */
  onDashboard?: (url: string) => void;
  /** Fault-injection rules for the ranks (`--inject`, docs/fault_injection.md), passed as SHOAL_INJECT. */
  inject?: string;
  /**
   * Replace a worker or parameter server that dies, up to this many times in the whole job
   * (`--max-restarts`, default 0: the first failure ends the job). Workers recover with
   * `resilient()` (lib/recovery); docs/fault_tolerance.md.
   */
  maxRestarts?: number;
  /**
   * Backup instances for stragglers (`--backup-instances N`): a worker whose compute per op
   * stays above `stragglerFactor` x the others' median is retired (SIGKILL) and a fresh process
   * takes its rank and data shard, up to N times. Needs resilient() in the program, like restarts.
   */
  backupInstances?: number;
  /** Default 2 (lib/monitor/straggler_detector.ts). */
  stragglerFactor?: number;
  /** Length of one straggler window in ms (default 1000). */
  stragglerWindowMs?: number;
  /**
   * `--report DIR`: when the job ends (also when it fails or is interrupted) write DIR/report.html,
   * DIR/series.jsonl and DIR/summary.json (lib/monitor/run_report.ts). DIR is created up front.
   */
  report?: string;
}

/** A process the launcher replaced. */
export interface RestartRecord {
  role: 'worker' | 'server';
  rank: number;
  /** How the replaced process ended, e.g. "killed by SIGKILL". */
  cause: string;
  /** Milliseconds since the job started. */
  atMs: number;
  /** A straggler retired for a backup instance (does not count against maxRestarts). */
  backup?: boolean;
}

export interface RankExit {
  rank: number;
  code: number | null;
  signal: string | null;
  /** Why the launcher ended it, when it did so because the process stopped responding. */
  cause?: string;
}

export interface JobResult {
  ok: boolean;
  /** One entry per rank, in rank order. A rank never started (interrupted early) has code and signal null. */
  exits: RankExit[];
  firstFailure?: RankExit;
  /** The signal that interrupted the launcher (SIGINT/SIGTERM), if any. */
  interrupted?: NodeJS.Signals;
  /** Processes replaced under `maxRestarts`, in order (absent or empty: none). */
  restarts?: RestartRecord[];
  summary: string;
}

/** A running job: its result, and a way to stop it as Ctrl-C would. */
export interface JobHandle {
  readonly result: Promise<JobResult>;
  /** Forwards `signal` to every rank, SIGKILLs after the grace period; a second call kills at once. */
  interrupt(signal: NodeJS.Signals): void;
  /** Pids of ranks still running. */
  pids(): number[];
  /** Pid of the coordinator process (tests kill it to check that the job survives). */
  coordinatorPid(): number | undefined;
  /**
   * Adds a parameter server to the running job (elastic servers, docs/parameter_server.md).
   * @returns its server index. @throws {ConfigError} when the job has no servers or is stopping.
   */
  addServer(): number;
  /** Drains server `index` (SIGUSR2): it hands its keys over and exits 0. @throws {ConfigError} naming the problem. */
  removeServer(index: number): void;
}

/**
 * Runs a job to completion.
 * @throws {ConfigError} ERR_CONFIG for bad options or an unreadable/malformed hostfile.
 * @example
 *   const { ok, summary } = await runJob({ np: 4, command: ['node', 'train.mjs'] });
 */
export function runJob(opts: RunOptions): Promise<JobResult> {
  return startJob(opts).result;
}

/** Starts a job and returns a handle (the CLI uses it to forward signals). */
export function startJob(opts: RunOptions): JobHandle {
  const job = new Job(opts);
  return {
    result: job.run(),
    interrupt: (s) => job.interrupt(s),
    pids: () => job.pids(),
    coordinatorPid: () => job.coordinatorPid(),
    addServer: () => job.addServer(),
    removeServer: (i) => job.removeServer(i),
  };
}

/** The exit status `shoal run` should return for a result (128 + signal number for signals). */
export function exitCodeFor(result: JobResult): number {
  if (result.ok) return 0;
  if (result.interrupted) return 128 + signalNumber(result.interrupted);
  const f = result.firstFailure;
  if (!f) return 1;
  if (f.code !== null) return f.code === 0 ? 1 : f.code;
  return f.signal ? 128 + signalNumber(f.signal) : 1;
}

interface RankProc {
  rank: number;
  /** A parameter-server process (rank is then its server index). */
  server?: boolean;
  child: ChildProcess;
  exit: RankExit | null;
  closed: Promise<void>;
  /** A replacement took this process's place: it no longer counts for the job's result. */
  replaced?: boolean;
  /** Being retired as a straggler: its exit starts a backup instance. */
  retiring?: string;
  /** A parameter server asked to drain (removeServer): exiting 0 is its job. */
  draining?: boolean;
  /** The coordinator heard nothing from it (stopped, hung): the launcher killed it for this reason. */
  silent?: string;
  /** Signalled by the launcher to stop the job: its exit is not a failure of its own. */
  stoppedByLauncher?: boolean;
}

/** Exit status of a child that could not be started at all (as shells report "command not found"). */
const SPAWN_FAILED_CODE = 127;
/** How long to wait for a dead rank's output pipes to drain before giving up on them. */
const PIPE_DRAIN_MS = 2000;

class Job {
  private readonly opts: RunOptions;
  private readonly grace: number;
  private readonly procs: RankProc[] = [];
  private readonly serverProcs: RankProc[] = [];
  /** Servers dead and not yet replaced. */
  private serversDown = 0;
  private readonly restarts: RestartRecord[] = [];
  private readonly startedAt = Date.now();
  /** How each rank and server was started, to start a replacement the same way. */
  private readonly rankLaunch = new Map<number, { placement: RankPlacement; env: Record<string, string> }>();
  private readonly serverLaunch = new Map<number, Record<string, string>>();
  /** Hostfile hosts (null without --hostfile) and where each server runs on them. */
  private hosts: HostSlots[] | null = null;
  private readonly serverHost = new Map<number, string>();
  /** The address ranks on other hosts reach this host by (the coordinator's). */
  private dialHost = '127.0.0.1';
  /** Every worker has exited: servers are being asked to stop. */
  private workersDone = false;
  private firstFailure: RankExit | null = null;
  /**
   * Every failure of a process's own (not an exit the launcher caused by stopping the job), in
   * the order reaped; servers as rank -1 - index. The first failure is chosen from them.
   */
  private readonly failures: RankExit[] = [];
  private failureTimer: NodeJS.Timeout | null = null;
  private stoppedOthers = 0;
  private interrupted: NodeJS.Signals | null = null;
  private killTimer: NodeJS.Timeout | null = null;
  private coordinator: CoordinatorProcess | null = null;
  /** The job cannot go on for a reason that is no process's exit (the coordinator could not be restarted). */
  private fatal: string | null = null;
  private allExited: (() => void) | null = null;
  /** The spawn loop has finished (exit events cannot arrive during it: spawn is synchronous). */
  private spawned = false;
  /** A failure or an interrupt is ending the job. */
  private stopping = false;
  private readonly onProcessExit = (): void => void this.signalAll('SIGKILL');

  constructor(opts: RunOptions) {
    this.opts = opts;
    this.grace = opts.killGraceMs ?? 3000;
  }

  async run(): Promise<JobResult> {
    const opts = this.opts;
    if (!Array.isArray(opts.command) || opts.command.length === 0 || opts.command.some((a) => typeof a !== 'string')) {
      throw new ConfigError('ERR_CONFIG', 'shoal run: no command given (e.g. shoal run -np 4 -- node train.mjs)');
    }
    if (opts.inject !== undefined) parseInjectSpec(opts.inject);  // a bad rule fails here, not in every rank
    heartbeatTimeoutFromEnv();  // a bad SHOAL_HEARTBEAT_TIMEOUT_MS fails here, not in the coordinator process
    const hosts = opts.hostfile === undefined ? null : readHostfile(opts.hostfile);
    this.hosts = hosts;
    const np = opts.np === 0 && hosts ? totalSlots(hosts) : opts.np;
    if (!Number.isInteger(np) || np < 1) throw new ConfigError('ERR_CONFIG', `shoal run: -np must be a positive integer, got ${String(opts.np)}`);
    if (!Number.isInteger(this.grace) || this.grace < 0) throw new ConfigError('ERR_CONFIG', `shoal run: killGraceMs must be a non-negative integer, got ${String(opts.killGraceMs)}`);
    // Every option is checked before the coordinator starts: a bad one must not leave it behind.
    const maxRestarts = opts.maxRestarts ?? 0;
    if (!Number.isInteger(maxRestarts) || maxRestarts < 0) throw new ConfigError('ERR_CONFIG', `shoal run: --max-restarts must be a non-negative integer, got ${String(opts.maxRestarts)}`);
    const backups = opts.backupInstances ?? 0;
    if (!Number.isInteger(backups) || backups < 0) throw new ConfigError('ERR_CONFIG', `shoal run: --backup-instances must be a non-negative integer, got ${String(opts.backupInstances)}`);
    if (opts.stragglerFactor !== undefined && !(opts.stragglerFactor > 1)) throw new ConfigError('ERR_CONFIG', `shoal run: --straggler-factor must be a number > 1, got ${String(opts.stragglerFactor)}`);
    const servers = opts.servers ?? 0;
    if (!Number.isInteger(servers) || servers < 0) throw new ConfigError('ERR_CONFIG', `shoal run: --servers must be a non-negative integer, got ${String(opts.servers)}`);
    const port = opts.dashboardPort ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('ERR_CONFIG', `shoal run: --dashboard-port must be an integer in [1, 65535], got ${String(opts.dashboardPort)}`);
    const placements: RankPlacement[] = hosts ? placeRanks(hosts, np) : Array.from({ length: np }, (_, rank) => ({ rank, host: '127.0.0.1', localRank: rank }));
    const multiHost = new Set(placements.map((p) => p.host)).size > 1;
    const startedAtMs = Date.now();
    const reportDir = opts.report === undefined ? null : prepareReportDir('shoal', resolvePath(opts.cwd ?? process.cwd(), opts.report));
    let dump: JobDump | null = null;

    const bindHost = opts.coordinatorHost ?? (hosts ? firstExternalIPv4() ?? '127.0.0.1' : '127.0.0.1');
    // A given SHOAL_TOKEN is kept, so a later job can resume this one's MACed checkpoints and
    // PS snapshots (docs/fault_tolerance.md, "Files and the job secret").
    const token = jobSecret(opts);
    // The coordinator runs in its own process: if it dies it is restarted on the same port and
    // the job goes on (lib/coordinator_process.ts). Once its port listens the ranks start,
    // while its process is still booting: their connections wait at the port until it is up.
    this.coordinator = await CoordinatorProcess.start({
      host: bindHost,
      port,
      token,
      dashboard: !opts.noDashboard,
      stragglers: (opts.backupInstances ?? 0) > 0 ? { ...(opts.stragglerFactor !== undefined ? { factor: opts.stragglerFactor } : {}), ...(opts.stragglerWindowMs !== undefined ? { windowMs: opts.stragglerWindowMs } : {}) } : null,
      onStraggler: (rank, message) => this.retire(rank, message),
      onSilent: ({ pid }, reason) => this.endSilent(pid, reason),
      onAdmin: (action, server) => (action === 'add-server' ? `added parameter server ${this.addServer()}` : (this.removeServer(server ?? -1), `draining parameter server ${server}`)),
      ...(opts.stallTimeoutMs !== undefined ? { stallTimeoutMs: opts.stallTimeoutMs } : {}),
      // Once the job is being stopped, ranks dropping off is expected: keep the log to the cause.
      log: (line) => {
        if (!opts.quiet && !this.stopping) process.stderr.write(`[shoal] ${line}\n`);
      },
      onRestart: (cause, n) => {
        if (!this.stopping) process.stderr.write(`[shoal] the coordinator ${cause}; restarting it on port ${this.coordinator?.port} (restart ${n}); ranks reconnect\n`);
      },
    });
    this.coordinator.onGiveUp((reason) => this.stopForCoordinator(reason));
    this.coordinator.ready.catch((err: Error) => this.stopForCoordinator(err.message));
    // A wildcard bind is not an address ranks can dial.
    const dialHost = bindHost === '0.0.0.0' || bindHost === '::' ? firstExternalIPv4() ?? '127.0.0.1' : bindHost;
    this.dialHost = dialHost;
    if (!opts.noDashboard) {
      // The URL ends up in terminals, logs and browser history: it carries the read-only token.
      const url = `http://${formatAddress({ host: dialHost, port: this.coordinator.port })}/?token=${viewerToken(token)}`;
      // Printed even when quiet (shoal train runs its job quietly): it is how users find the job.
      if (opts.onDashboard) opts.onDashboard(url);
      else process.stderr.write(`[shoal] dashboard: ${url}\n`);
    }
    const contract: Record<string, string> = {
      SHOAL_SIZE: String(np),
      SHOAL_COORDINATOR: formatAddress({ host: dialHost, port: this.coordinator.port }),
      SHOAL_TOKEN: token,
      SHOAL_LAUNCHER: 'shoal',
      SHOAL_JOB_ID: randomBytes(6).toString('hex'),
    };
    if (opts.timeoutMs !== undefined) contract['SHOAL_TIMEOUT_MS'] = String(opts.timeoutMs);
    if (opts.inject !== undefined) contract[INJECT_ENV] = opts.inject;
    if (maxRestarts + backups > 0) contract[MAX_RESTARTS_ENV] = String(maxRestarts + backups);
    if (servers > 0) {
      contract['SHOAL_NUM_SERVERS'] = String(servers);
      contract['SHOAL_PS_REPLICATION'] = String(Math.min(opts.replication ?? 2, servers));
    }

    process.on('exit', this.onProcessExit);
    try {
      const allExited = new Promise<void>((resolve) => (this.allExited = resolve));
      for (const p of placements) {
        if (this.interrupted || this.firstFailure) break;
        const localSize = placements.filter((q) => q.host === p.host).length;
        const env: Record<string, string> = {
          ...(opts.env ?? {}),
          ...contract,
          SHOAL_RANK: String(p.rank),
          SHOAL_LOCAL_RANK: String(p.localRank),
          SHOAL_LOCAL_SIZE: String(localSize),
        };
        // Across hosts, data sockets must listen on an address the other hosts can reach.
        if (multiHost && opts.env?.['SHOAL_BIND_HOST'] === undefined) env['SHOAL_BIND_HOST'] = isLoopback(p.host) ? dialHost : p.host;
        this.rankLaunch.set(p.rank, { placement: p, env });
        this.spawnRank(p, env);
      }
      for (let i = 0; i < servers && !this.interrupted && !this.firstFailure; i++) {
        // With a hostfile, servers go round-robin over its hosts (server i on host i mod H), so
        // losing one host leaves the replicas on the others.
        const host = hosts ? hosts[serverHostIndex(i, hosts.length)]!.host : '127.0.0.1';
        this.serverHost.set(i, host);
        const env: Record<string, string> = {
          ...(opts.env ?? {}),
          ...contract,
          SHOAL_ROLE: 'server',
          ...(opts.psUpdaters ? { SHOAL_PS_UPDATERS: resolvePath(opts.cwd ?? process.cwd(), opts.psUpdaters) } : {}),
          SHOAL_SERVER_RANK: String(i),
          SHOAL_NUM_WORKERS: String(np),
        };
        if (multiHost && opts.env?.['SHOAL_BIND_HOST'] === undefined) env['SHOAL_BIND_HOST'] = isLoopback(host) ? dialHost : host;
        this.serverLaunch.set(i, env);
        this.spawnServer(i, env);
      }
      this.spawned = true;
      this.checkAllExited();
      await allExited;
      // Ranks are gone; their process groups may still hold grandchildren (and our pipes).
      this.signalAll('SIGKILL', true);
      await Promise.race([Promise.all([...this.procs, ...this.serverProcs].map((p) => p.closed)), delay(PIPE_DRAIN_MS)]);
      for (const p of this.procs) {
        p.child.stdout?.destroy();
        p.child.stderr?.destroy();
      }
    } finally {
      if (this.killTimer) clearTimeout(this.killTimer);
      if (this.failureTimer) clearTimeout(this.failureTimer);
      process.off('exit', this.onProcessExit);
      // The coordinator holds the job's history: ask for it before it goes.
      if (reportDir !== null) dump = await this.coordinator.dump(REPORT_DUMP_TIMEOUT_MS);
      await this.coordinator.close();
    }
    const result = this.result(np);
    if (reportDir !== null) {
      try {
        writeRunReport(reportDir, { command: opts.command, startedAtMs, result, dump });
        process.stderr.write(`[shoal] report: ${reportDir}/report.html${dump === null ? ' (the coordinator did not answer: no charts)' : ''}\n`);
      } catch (err) {
        // The job's own outcome stands; the report is what failed.
        process.stderr.write(`[shoal] could not write the report to ${reportDir}: ${(err as Error).message}\n`);
      }
    }
    return result;
  }

  /** The coordinator did not start or cannot be brought back: the job stops with that as its cause. */
  private stopForCoordinator(reason: string): void {
    if (this.stopping) return;
    this.fatal = reason;
    this.stopping = true;
    this.stoppedOthers = this.stopRanks('SIGTERM');
    this.checkAllExited();
  }

  interrupt(signal: NodeJS.Signals): void {
    if (this.interrupted) {
      this.signalAll('SIGKILL');
      return;
    }
    this.interrupted = signal;
    this.stopping = true;
    this.stopRanks(signal);
    this.checkAllExited();
  }

  addServer(): number {
    if (this.serverLaunch.size === 0) throw new ConfigError('ERR_CONFIG', 'add-server: this job has no parameter servers (start it with --servers K)');
    if (this.stopping || this.interrupted || this.workersDone || !this.spawned) throw new ConfigError('ERR_CONFIG', 'add-server: the job is not running (starting, stopping or finished)');
    const index = Math.max(...this.serverLaunch.keys()) + 1;
    const env: Record<string, string> = { ...this.serverLaunch.get(0)!, SHOAL_SERVER_RANK: String(index), SHOAL_SERVER_JOIN: '1' };
    delete env['SHOAL_SERVER_RESTART'];
    const host = this.hosts ? this.hosts[serverHostIndex(index, this.hosts.length)]!.host : '127.0.0.1';
    this.serverHost.set(index, host);
    if (this.serverLaunch.get(0)!['SHOAL_BIND_HOST'] !== undefined && this.opts.env?.['SHOAL_BIND_HOST'] === undefined) env['SHOAL_BIND_HOST'] = isLoopback(host) ? this.dialHost : host;
    this.serverLaunch.set(index, env);
    process.stderr.write(`[shoal] adding parameter server ${index}\n`);
    this.spawnServer(index, env);
    return index;
  }

  removeServer(index: number): void {
    const live = this.serverProcs.filter((p) => !p.replaced && p.exit === null && !p.draining);
    const proc = live.find((p) => p.rank === index);
    if (!proc || proc.child.pid === undefined) {
      throw new ConfigError('ERR_CONFIG', `remove-server: no running parameter server ${String(index)} (running: ${live.map((p) => p.rank).join(', ') || 'none'})`);
    }
    const replication = Math.min(this.opts.replication ?? 2, this.serverLaunch.size);
    if (live.length - 1 < replication) {
      throw new ConfigError('ERR_CONFIG', `remove-server: removing server ${index} would leave ${live.length - 1} server(s) for replication ${replication}`);
    }
    proc.draining = true;
    process.stderr.write(`[shoal] draining parameter server ${index}\n`);
    killGroup(proc.child.pid, 'SIGUSR2');
  }

  coordinatorPid(): number | undefined {
    return this.coordinator?.pid();
  }

  pids(): number[] {
    return this.procs.filter((p) => p.exit === null && p.child.pid !== undefined).map((p) => p.child.pid as number);
  }

  /**
   * Starts `command` on `host`: directly when the host is this one (or there is no hostfile),
   * else through the remote shell. The child leads its own process group.
   */
  private spawnOn(host: string, command: readonly string[], env: Record<string, string>): ChildProcess {
    const opts = this.opts;
    const [program, ...args] = command as [string, ...string[]];
    const spawnOpts = { cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'] };
    if (opts.hostfile === undefined || isLocalAddress(host)) return spawn(program, args, { ...spawnOpts, env: { ...process.env, ...env } });
    const [rsh, ...rshArgs] = (opts.rsh ?? 'ssh').trim().split(/\s+/) as [string, ...string[]];
    const cwd = opts.cwd ?? process.cwd();
    const { SHOAL_TOKEN: secret = '', ...visible } = env;
    // The remote shell joins its arguments into one command line, hence the quoting. The
    // secret is not in it (argv shows in `ps` on both hosts): the remote side reads it as the
    // first line of its stdin and exports it just for the rank.
    const remote = [
      'cd', shellQuote(cwd), '&&', 'exec', 'env', ...Object.entries(visible).map(([k, v]) => shellQuote(`${k}=${v}`)),
      '/bin/sh', '-c', shellQuote(READ_SECRET_THEN_EXEC), 'shoal-rank', ...command.map(shellQuote),
    ];
    const child = spawn(rsh, [...rshArgs, host, ...remote], { ...spawnOpts, stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
    child.stdin?.on('error', () => undefined);  // an rsh that exits early closes the pipe; its exit is reported
    child.stdin?.end(`${secret}\n`);
    return child;
  }

  private spawnRank(p: RankPlacement, env: Record<string, string>): void {
    const [program] = this.opts.command as [string, ...string[]];
    const child = this.spawnOn(p.host, this.opts.command, env);
    const proc: RankProc = { rank: p.rank, child, exit: null, closed: Promise.resolve() };
    proc.closed = new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      child.once('error', (err) => {
        // A spawn failure emits 'error' without 'exit'; any other 'error' is followed by 'exit'.
        if (child.pid === undefined) {
          this.emitLine(p.rank, 'stderr', `shoal run: could not start ${JSON.stringify(program)} for rank ${p.rank}: ${err.message}`);
          this.onExit(proc, SPAWN_FAILED_CODE, null);
          resolve();
        }
      });
    });
    child.once('exit', (code, signal) => this.onExit(proc, code, signal));
    for (const stream of ['stdout', 'stderr'] as const) {
      const input = child[stream];
      if (!input) continue;
      createInterface({ input, crlfDelay: Infinity }).on('line', (line) => this.emitLine(p.rank, stream, line));
    }
    this.procs.push(proc);
  }

  /** Parameter servers run lib/ps/server_main.js (never user code), on their hostfile host (this one without a hostfile; the same node and path there). */
  private spawnServer(index: number, env: Record<string, string>): void {
    const main = fileURLToPath(new URL('./ps/server_main.js', import.meta.url));
    const child = this.spawnOn(this.serverHost.get(index) ?? '127.0.0.1', [process.execPath, main], env);
    const proc: RankProc = { rank: index, server: true, child, exit: null, closed: Promise.resolve() };
    proc.closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.once('error', () => this.onExit(proc, SPAWN_FAILED_CODE, null));
    child.once('exit', (code, signal) => this.onExit(proc, code, signal));
    for (const stream of ['stdout', 'stderr'] as const) {
      const input = child[stream];
      if (input) createInterface({ input, crlfDelay: Infinity }).on('line', (line) => this.emitServerLine(index, stream, line));
    }
    this.serverProcs.push(proc);
  }

  private emitServerLine(index: number, stream: 'stdout' | 'stderr', line: string): void {
    if (this.opts.onLine) this.opts.onLine(-1 - index, stream, line);
    else (stream === 'stdout' ? process.stdout : process.stderr).write(`[s${index}] ${line}\n`);
  }

  private onExit(proc: RankProc, code: number | null, signal: NodeJS.Signals | null): void {
    if (proc.exit) return;
    proc.exit = { rank: proc.rank, code, signal, ...(proc.silent ? { cause: `made no progress (${proc.silent}) and was killed by the launcher` } : {}) };
    if (proc.server) {
      this.onServerExit(proc);
      return;
    }
    const failed = code !== 0 || signal !== null;
    if (proc.retiring && !this.stopping && !this.interrupted && !this.workersDone) {
      this.restart(proc, 'worker', proc.retiring);
      return;
    }
    if (failed && this.canRestart()) {
      this.restart(proc, 'worker');
      return;
    }
    if (failed && !this.interrupted && (!proc.stoppedByLauncher || proc.silent)) {
      this.coordinator?.markDead(proc.rank, describeExit(proc.exit));
      // Exits arrive in no particular order: the rank that died first and the survivors that
      // failed because of it (PeerLostError, code 1) can be reaped in either order. Collect
      // the failures of a short window and name the likely cause (see rootCause); failures
      // reaped later still count for the summary (result()).
      this.failures.push(proc.exit);
      if (!this.failureTimer && !this.firstFailure) {
        this.failureTimer = setTimeout(() => {
          this.firstFailure = rootCause(this.failures);
          this.stopping = true;
          this.stoppedOthers = this.stopRanks('SIGTERM');
          this.checkAllExited();
        }, FAILURE_WINDOW_MS);
      }
    }
    this.checkAllExited();
  }

  /**
   * A server that dies while workers still run is survivable while a replica of its keys
   * is left (replication >= 2, first loss): workers fail over and the job goes on.
   */
  private onServerExit(proc: RankProc): void {
    const e = proc.exit!;
    const failed = !this.workersDone && !this.stopping && (e.code !== 0 || e.signal !== null);
    if (proc.draining && !failed) {
      if (!this.opts.quiet) process.stderr.write(`[shoal] parameter server ${proc.rank} drained and left the job\n`);
      proc.replaced = true;  // gone for good, by request: not part of the job's result
    }
    if (failed) {
      this.serversDown++;
      this.coordinator?.markDead(proc.rank, describeExit(e), 'server');
      const replication = Math.min(this.opts.replication ?? 2, this.serverLaunch.size);
      if (this.serversDown < replication && this.canRestart() && this.opts.replaceServers !== false) {
        this.serversDown--;
        this.restart(proc, 'server');
        return;
      }
      if (this.serversDown >= replication) {
        const failure = { ...e, rank: -1 - proc.rank };
        this.failures.push(failure);
        this.firstFailure ??= failure;
        this.stopping = true;
        this.stoppedOthers = this.stopRanks('SIGTERM');
      } else if (!this.opts.quiet) {
        process.stderr.write(`[shoal] server ${proc.rank} ${describeExit(e)}; workers fail over to its replicas\n`);
      }
    }
    this.checkAllExited();
  }

  private restartSummary(): string {
    const n = this.restarts.length;
    if (n === 0) return '';
    return ` after ${n} ${plural(n, 'restart')} (${this.restarts.map((r) => `${r.role === 'server' ? 'server' : 'rank'} ${r.rank} ${r.cause}`).join('; ')})`;
  }

  private canRestart(): boolean {
    const used = this.restarts.filter((r) => !r.backup).length;
    return !this.stopping && !this.interrupted && !this.firstFailure && !this.workersDone && used < (this.opts.maxRestarts ?? 0);
  }

  /** The coordinator confirmed a straggler: retire it for a backup instance while the budget lasts. */
  private retire(rank: number, why: string): void {
    const used = this.restarts.filter((r) => r.backup).length;
    const proc = this.procs.find((p) => p.rank === rank && !p.replaced && p.exit === null);
    if (!proc || proc.retiring || proc.child.pid === undefined || this.stopping || this.interrupted || this.workersDone) return;
    if (used >= (this.opts.backupInstances ?? 0)) {
      process.stderr.write(`[shoal] ${why}; no backup instance left (--backup-instances ${this.opts.backupInstances})\n`);
      return;
    }
    proc.retiring = 'retired as a straggler';
    process.stderr.write(`[shoal] ${why}; retiring it for a backup instance (${used + 1} of ${this.opts.backupInstances})\n`);
    killGroup(proc.child.pid, 'SIGKILL');
  }

  /**
   * Starts a process in the place of `dead`, with its environment plus SHOAL_RESTART. The
   * coordinator has been told (markDead): survivors' ops fail, and they wait for the
   * replacement in the job's next epoch (Communicator.recover).
   */
  private restart(dead: RankProc, role: 'worker' | 'server', retired?: string): void {
    const cause = retired ?? describeExit(dead.exit!);
    dead.replaced = true;
    const record: RestartRecord = { role, rank: dead.rank, cause, atMs: Date.now() - this.startedAt, ...(retired ? { backup: true } : {}) };
    this.restarts.push(record);
    const label = role === 'server' ? `server ${dead.rank}` : `rank ${dead.rank}`;
    // Printed even when quiet (shoal train runs its job quietly): what died matters to the user.
    if (retired) process.stderr.write(`[shoal] ${label} ${cause}; starting a backup instance\n`);
    else process.stderr.write(`[shoal] ${label} ${cause}; starting a replacement (restart ${this.restarts.filter((r) => !r.backup).length} of ${this.opts.maxRestarts})\n`);
    const restartEnv = { [RESTART_ENV]: String(this.restarts.length) };
    if (role === 'worker') {
      this.coordinator?.markDead(dead.rank, cause);
      const launch = this.moveOffHost(this.rankLaunch.get(dead.rank)!, label);
      this.rankLaunch.set(dead.rank, launch);
      this.spawnRank(launch.placement, { ...launch.env, ...restartEnv });
    } else {
      // A replacement restores the lost server's keys; it is not an added server any more.
      const { SHOAL_SERVER_JOIN: _added, ...env } = this.serverLaunch.get(dead.rank)!;
      this.spawnServer(dead.rank, { ...env, SHOAL_SERVER_RESTART: String(this.restarts.length), ...restartEnv });
    }
  }

  /**
   * Where a replacement or backup instance of a worker runs: on another hostfile host with a
   * free slot when there is one (a dead or slow host is the likeliest to fail again), else where
   * the worker ran. Servers keep their host: their place on the hash ring is per server.
   */
  private moveOffHost(launch: { placement: RankPlacement; env: Record<string, string> }, label: string): { placement: RankPlacement; env: Record<string, string> } {
    if (!this.hosts) return launch;
    const live = this.procs.filter((q) => !q.replaced && q.exit === null).map((q) => this.rankLaunch.get(q.rank)?.placement.host ?? '');
    const host = replacementHost(this.hosts, live, launch.placement.host);
    if (host === launch.placement.host) return launch;
    const localRank = live.filter((h) => h === host).length;
    const env: Record<string, string> = { ...launch.env, SHOAL_LOCAL_RANK: String(localRank), SHOAL_LOCAL_SIZE: String(localRank + 1) };
    if (launch.env['SHOAL_BIND_HOST'] !== undefined && this.opts.env?.['SHOAL_BIND_HOST'] === undefined) env['SHOAL_BIND_HOST'] = isLoopback(host) ? this.dialHost : host;
    process.stderr.write(`[shoal] ${label} moves from ${launch.placement.host} to ${host}, which has a free slot\n`);
    return { placement: { ...launch.placement, host, localRank }, env };
  }

  /**
   * The coordinator declared the process `pid` lost for want of heartbeats, but it has not exited
   * (SIGSTOPped, hung in native code, swapped out): the job has moved on without it, so end it.
   * Its exit then counts as its own failure (a worker may be replaced), named with the reason.
   */
  private endSilent(pid: number, reason: string): void {
    const proc = [...this.procs, ...this.serverProcs].find((p) => p.child.pid === pid && p.exit === null && !p.replaced);
    if (!proc) return;  // already gone, or not ours (a remote rank's pid)
    proc.silent = reason;
    process.stderr.write(`[shoal] ${proc.server ? 'server' : 'rank'} ${proc.rank} made no progress (${reason}); killing it\n`);
    killGroup(pid, 'SIGKILL');
  }

  /** Sends `signal` to every running rank's process group and arms the SIGKILL fallback. */
  private stopRanks(signal: NodeJS.Signals): number {
    const n = this.signalAll(signal);
    if (!this.killTimer) {
      this.killTimer = setTimeout(() => this.signalAll('SIGKILL'), this.grace);
      this.killTimer.unref();
    }
    return n;
  }

  /** Signals the process group of each running rank (or of every rank); returns how many were running. */
  private signalAll(signal: NodeJS.Signals, includeExited = false): number {
    let n = 0;
    for (const p of [...this.procs, ...this.serverProcs]) {
      if (p.child.pid === undefined || (p.exit !== null && !includeExited)) continue;
      if (p.exit === null) {
        n++;
        p.stoppedByLauncher = true;
      }
      killGroup(p.child.pid, signal);
    }
    return n;
  }

  private checkAllExited(): void {
    if (!this.spawned) return;
    if (this.failureTimer && !this.firstFailure) return;  // the cause is being decided
    const workersExited = this.procs.every((p) => p.exit !== null || p.replaced);
    if (workersExited && !this.workersDone) {
      // The job's work is done: stop the servers (they exit 0 on SIGTERM).
      this.workersDone = true;
      for (const p of this.serverProcs) if (p.exit === null && p.child.pid !== undefined) killGroup(p.child.pid, 'SIGTERM');
      if (this.serverProcs.some((p) => p.exit === null) && !this.killTimer) {
        this.killTimer = setTimeout(() => this.signalAll('SIGKILL'), this.grace);
        this.killTimer.unref();
      }
    }
    if (workersExited && this.serverProcs.every((p) => p.exit !== null || p.replaced) && this.allExited) {
      const resolve = this.allExited;
      this.allExited = null;
      resolve();
    }
  }

  private emitLine(rank: number, stream: 'stdout' | 'stderr', line: string): void {
    if (this.opts.onLine) this.opts.onLine(rank, stream, line);
    else (stream === 'stdout' ? process.stdout : process.stderr).write(`[${rank}] ${line}\n`);
  }

  private result(np: number): JobResult {
    const byRank = new Map(this.procs.filter((p) => !p.replaced).map((p) => [p.rank, p.exit]));
    const exits: RankExit[] = Array.from({ length: np }, (_, rank) => byRank.get(rank) ?? { rank, code: null, signal: null });
    // Failures reaped after the decision (a silent rank's kill lands after its victims' exits) can still name the cause.
    const f = this.failures.length > 0 ? rootCause(this.failures) : this.firstFailure;
    if (this.interrupted) {
      const n = this.procs.length;
      return { ok: false, exits, interrupted: this.interrupted, restarts: this.restarts, summary: `shoal run: interrupted by ${this.interrupted}; stopped ${n} ${plural(n, 'rank')}` };
    }
    if (this.fatal) {
      return { ok: false, exits, restarts: this.restarts, summary: `shoal run: ${this.fatal}; stopped ${this.stoppedOthers} ${plural(this.stoppedOthers, 'process', 'processes')}` };
    }
    if (f) {
      const verb = f.signal && !f.cause ? `was ${describeExit(f)}` : describeExit(f);
      return {
        ok: false,
        exits,
        firstFailure: f,
        restarts: this.restarts,
        summary: `shoal run: ${f.rank < 0 ? `server ${-1 - f.rank}` : `rank ${f.rank}`} ${verb} (first failure); stopped ${this.stoppedOthers} other ${this.serverProcs.length ? plural(this.stoppedOthers, 'process', 'processes') : plural(this.stoppedOthers, 'rank')}`,
      };
    }
    return { ok: true, exits, restarts: this.restarts, summary: `shoal run: all ${np} ${plural(np, 'rank')} exited with code 0${this.restartSummary()}` };
  }
}

/** How long failures are collected before the job's first failure is named. */
const FAILURE_WINDOW_MS = 150;

/**
 * Of the failures seen, the likely cause, the first reaped of: a process the launcher ended
 * because it stopped responding (its peers fail because of it, and may be reaped first); a
 * process killed by a signal or with an exit code other than 1 (survivors of a lost peer fail
 * with an uncaught PeerLostError, code 1); else the first one reaped.
 */
export function rootCause(failures: readonly RankExit[]): RankExit {
  return failures.find((f) => f.cause !== undefined) ?? failures.find((f) => f.signal !== null || (f.code !== null && f.code !== 1)) ?? failures[0]!;
}

function describeExit(e: RankExit): string {
  if (e.cause) return e.cause;
  return e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone (ESRCH) or was never formed; fall back to the process itself.
    try {
      process.kill(pid, signal);
    } catch {
      /* already exited */
    }
  }
}

/** Single-quotes an argument for a POSIX shell. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_\/.,:=@%+-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function firstExternalIPv4(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return undefined;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function signalNumber(signal: string): number {
  return (osConstants.signals as Record<string, number>)[signal] ?? 1;
}

function plural(n: number, word: string, many = `${word}s`): string {
  return n === 1 ? word : many;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Run by the remote shell for a hostfile rank: the job secret is the first line of stdin. */
const READ_SECRET_THEN_EXEC = 'IFS= read -r SHOAL_TOKEN && export SHOAL_TOKEN && exec "$@"';

/** The job's secret: RunOptions.token, -x SHOAL_TOKEN, SHOAL_TOKEN(_FILE) of the launcher's environment, or a fresh one. */
function jobSecret(opts: RunOptions): string {
  if (opts.token !== undefined) return checkedSecret(opts.token, 'shoal run: the job token');
  const passed = opts.env?.['SHOAL_TOKEN'];
  if (passed !== undefined) return checkedSecret(passed, 'shoal run: -x SHOAL_TOKEN');
  return jobSecretFromEnv(process.env) ?? makeToken();
}
