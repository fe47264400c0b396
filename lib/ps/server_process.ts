// A parameter server in this process: starts the native server, publishes its address through
// the coordinator, relays server losses and returns to it, and stops on SIGTERM. It never
// returns: the process exits when the server stops. Two callers:
// - lib/ps/server_main.ts, the process `shoal run --servers K` starts (the launcher stops it
//   when the workers are done, and restarts it with SHOAL_SERVER_RESTART=n);
// - init() in one of the first SHOAL_NUM_SERVERS tasks of an mpirun/srun launch (`foreign`):
//   nothing outside tells that server when the job is over, so it stops by itself once every
//   worker has said goodbye, and exits 1 when a worker or the coordinator is lost (no one
//   restarts them there).
//
// With `restart` = n >= 1 it replaces lost server `rank`: it copies that server's data from the
// live servers (or, for ranges none holds, from the snapshot in `snapshotDir`), then takes over
// its slot in the coordinator's table, which tells workers and servers to route to it again.
//
// Elastic servers (docs/parameter_server.md, "Elastic servers"): with `join` it is an added
// server with a new index (`numServers` is then the job's original count; the live servers come
// from the coordinator's table). It copies the key ranges it takes over on the ring with it
// added, from their current primaries, then joins the table (CoordinatorClient.extend).
// SIGUSR2 drains it: the other servers copy the keys they will own on the ring without it, then
// it leaves the table (CoordinatorClient.leave) and exits 0.
import type { Coordinator } from '../coordinator.js';
import { CoordinatorClient } from '../coordinator_client.js';
import type { CoordinatorAddress } from '../env.js';
import { ConfigError } from '../errors.js';
import { native } from '../native.js';
import { nativeJsonReader } from './native_json.js';
import { updaterIdOf } from './table_options.js';
import { currentSnapshotDir } from './snapshot_dir.js';
import { readManifestListing } from './snapshot_manifest.js';

/**
 * A user-defined updater (the slow path: runs in JS on the server process). `apply` gets one
 * key's current row and the pushed values and updates the row in place.
 * @example export const clipped = { apply(row, grad) { for (let j = 0; j < row.length; j++) row[j] = Math.max(-1, Math.min(1, row[j] - 0.5 * grad[j])); } };
 */
export interface CustomUpdater {
  apply(row: Float32Array, grad: Float32Array, key: bigint): void;
}

export interface ParameterServerConfig {
  /** Server index. */
  rank: number;
  /** The job's original server count. */
  numServers: number;
  numWorkers: number;
  replication: number;
  coordinator: CoordinatorAddress;
  token: string;
  bindHost: string;
  /** Address workers and servers dial. */
  advertiseHost: string;
  timeoutMs: number;
  /** n >= 1: replaces lost server `rank` (restart number n). */
  restart: number;
  /** An added server (elastic). */
  join: boolean;
  maxMessageBytes?: number;
  /** A ps.save() directory for the cold fallback (SHOAL_PS_SNAPSHOT_DIR). */
  snapshotDir?: string;
  /** Module whose exported updaters this server loads (--ps-updaters). */
  updatersPath?: string;
  /** Ride through a coordinator restart for this long (shoal run restarts it on the same port). */
  reconnectMs: number;
  /** Fault injection: the native server kills the process at this request (0: never). */
  killAtRequest: number;
  /** Fault injection: from this request on, push forwards to replicas are dropped (0: never). */
  unreplicatedFrom?: number;
  /** Started by a foreign launcher (init() in one of the first SHOAL_NUM_SERVERS tasks). */
  foreign?: { launcher: string; hostedCoordinator: Coordinator | null };
}

interface RestoreStatus {
  state: 'none' | 'restoring' | 'done' | 'failed';
  rows: number;
  fromSnapshot: number;
  ms: number;
  /** Of `ms`, the time since the links to the live servers were up: the copy itself. */
  syncMs: number;
  error?: string;
}

interface DrainStatus {
  state: 'none' | 'draining' | 'ready' | 'failed';
  rows: number;
  ms: number;
  error?: string;
}

/** Runs parameter server `cfg.rank` in this process until it stops; then the process exits. */
export async function runParameterServer(cfg: ParameterServerConfig): Promise<never> {
  const startedAt = Date.now();
  const { rank, numServers, restart, join } = cfg;
  const say = (line: string): boolean => process.stderr.write(`[shoal] ${line}\n`);
  const parseNativeJson = nativeJsonReader((line) => say(`parameter server ${rank}: ${line}`));
  if (rank >= numServers && !join) {
    throw new ConfigError('ERR_CONFIG', `SHOAL_SERVER_RANK=${rank} is out of range: the job has ${numServers} parameter servers (0..${numServers - 1})`);
  }
  // A ps.save() directory: its current generation (snapshot_dir.ts), whose manifest must verify
  // with the job secret; the native restore reads only the files it lists.
  const snapshotDir = cfg.snapshotDir ? currentSnapshotDir(cfg.snapshotDir) : undefined;
  const snapshotListing = snapshotDir ? readManifestListing(snapshotDir, `parameter server ${rank}: SHOAL_PS_SNAPSHOT_DIR`, cfg.token || null) : undefined;
  const client = await connectCoordinator(cfg);
  // A replacement or an added server finds the others in the completed group's table (a
  // replacement's own slot is stale; an added server's index is after every other one).
  const table = restart === 0 && !join ? null : await client.lookup('ps/servers', cfg.timeoutMs);
  if (join && table!.some((p) => p.rank >= rank)) {
    say(`cannot add parameter server ${rank}: the job already has server ${Math.max(...table!.map((p) => p.rank))}`);
    await client.close();
    process.exit(1);
  }
  // By server index; a drained server's index stays free (null). An added server's is last.
  const slots = table ? Math.max(rank, ...table.map((p) => p.rank)) + 1 : numServers;
  const server = new native.NativePsServer({
    rank,
    numServers: slots,
    numWorkers: cfg.numWorkers,
    token: cfg.token,
    replication: Math.min(cfg.replication, Math.max(slots, numServers)),
    bindHost: cfg.bindHost,
    maxMessageBytes: cfg.maxMessageBytes,
    restore: restart > 0 || join,
    join,
    snapshotListing,
    // Fault injection: kill:server=K:request=N (docs/fault_injection.md).
    killAtRequest: cfg.killAtRequest,
    dropForwardsFrom: cfg.unreplicatedFrom ?? 0,
  });
  const self = { host: cfg.advertiseHost, port: server.port };
  let known = slots;  // server indices this process knows (grows with added servers)
  const peers: Array<{ host: string; port: number } | null> = table
    ? Array.from({ length: slots }, (_, r) => (r === rank ? self : (table.find((p) => p.rank === r) ?? null)))
    : await client.register('ps/servers', numServers, rank, self, cfg.timeoutMs);
  client.on('peerLost', ({ rank: lost, role }) => {
    if (role === 'server' && lost < known) server.serverLost(lost);
  });
  client.on('peerJoined', ({ group, rank: joined, role }) => {
    if (role !== 'server' || group !== 'ps/servers' || joined === rank) return;
    if (joined >= known) {
      known = joined + 1;
      server.serverAdded(joined);
    } else {
      server.serverJoined(joined);
    }
  });
  client.on('peerLeft', ({ group, rank: left, role }) => {
    if (role === 'server' && group === 'ps/servers' && left !== rank && left < known) server.serverLeft(left);
  });
  await loadCustomUpdaters(cfg.updatersPath);
  server.start(peers.map((p) => (p ? { host: p.host, port: p.port } : null)) as Array<{ host: string; port: number }>);
  // Runs in the heartbeat timer: a throw there would kill the server, so bad text only loses the stats.
  client.setMetricsSource(() => ({ startedAt, now: Date.now(), server: parseNativeJson('stats', server.stats(), null) }));
  if (restart > 0) {
    const status = await restored();
    if (status.state !== 'done') {
      say(status.error ?? 'restore failed');
      server.stop();
      await client.close();
      process.exit(1);
    }
    await client.rejoin('ps/servers', rank, self, cfg.timeoutMs);
    say(
      `parameter server ${rank} (restart ${restart}) restored ${status.rows} rows from live replicas` +
        `${status.fromSnapshot ? ` and ${status.fromSnapshot} from ${snapshotDir}` : ''} in ${status.ms} ms (copy ${status.syncMs} ms); serving again`,
    );
  }

  if (join) {
    const status = await restored();
    if (status.state !== 'done') {
      say(`parameter server ${rank} could not join: ${status.error ?? 'copy failed'}`);
      server.stop();
      await client.close();
      process.exit(1);
    }
    const updated = await client.extend('ps/servers', self, cfg.timeoutMs);
    const mine = updated[updated.length - 1];
    if (!mine || mine.rank !== rank || mine.port !== self.port) {
      say(`parameter server ${rank} could not join: the coordinator gave it index ${mine?.rank ?? '?'}`);
      server.stop();
      await client.close();
      process.exit(1);
    }
    say(`parameter server ${rank} joined: copied ${status.rows} rows (the ranges it took over) from the live servers in ${status.ms} ms (copy ${status.syncMs} ms); serving`);
  }

  /** A restore or drain whose status cannot be read is reported as failed, not waited on forever. */
  function unreadable(what: string): { state: 'failed'; rows: 0; fromSnapshot: 0; ms: 0; syncMs: 0; error: string } {
    return { state: 'failed', rows: 0, fromSnapshot: 0, ms: 0, syncMs: 0, error: `unreadable ${what} from the native server` };
  }

  /** Waits for the native restore (copy from the live servers, then the snapshot) to end. */
  async function restored(): Promise<RestoreStatus> {
    for (;;) {
      const status = parseNativeJson<RestoreStatus>('restore status', server.restoreStatus(), unreadable('restore status'));
      if (status.state === 'done' || status.state === 'failed') return status;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Loads the module of `--ps-updaters`: every export with an apply() function is an updater. */
  async function loadCustomUpdaters(path: string | undefined): Promise<void> {
    if (!path) return;
    const { pathToFileURL } = await import('node:url');
    const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    const byId = new Map<number, { name: string; updater: CustomUpdater }>();
    for (const [name, value] of Object.entries(mod)) {
      if (value && typeof (value as CustomUpdater).apply === 'function') byId.set(updaterIdOf(name), { name, updater: value as CustomUpdater });
    }
    if (byId.size === 0) throw new ConfigError('ERR_CONFIG', `--ps-updaters ${path} exports no updater (an object with an apply(row, grad, key) method)`);
    server.setCustomUpdaters([...byId.keys()], (id, _table, keys, rows, grads, dim) => {
      const u = byId.get(id)!.updater;
      for (let i = 0; i < keys.length; i++) u.apply(rows.subarray(i * dim, (i + 1) * dim), grads.subarray(i * dim, (i + 1) * dim), keys[i]!);
    });
  }

  /**
   * SIGUSR2 (`shoal ps remove-server`, JobHandle.removeServer): the other servers copy the keys
   * they will own without this one; then it leaves the coordinator's table, which switches
   * everyone's ring, answers what is still in flight for a moment and exits 0. A refused drain
   * (the last server, too few servers for the replication) is reported and the server keeps
   * serving.
   */
  let drainingNow = false;
  async function drainAndLeave(): Promise<void> {
    if (drainingNow || stopping) return;
    drainingNow = true;
    server.drain();
    let status: DrainStatus;
    for (;;) {
      status = parseNativeJson<DrainStatus>('drain status', server.drainStatus(), unreadable('drain status'));
      if (status.state === 'ready' || status.state === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (status.state === 'failed') {
      say(`${status.error ?? `parameter server ${rank} could not drain`}; it keeps serving`);
      drainingNow = false;
      return;
    }
    try {
      await client.leave('ps/servers', rank, cfg.timeoutMs);
    } catch (err) {
      say(`parameter server ${rank} could not leave the job: ${(err as Error).message}; it keeps serving`);
      drainingNow = false;
      return;
    }
    say(`parameter server ${rank} drained: the other servers copied ${status.rows} rows in ${status.ms} ms; leaving the job`);
    // Workers switch ring on the coordinator's peerLeft; answer what they sent before that.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await stop(0);
  }

  let stopping = false;
  async function stop(code: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    server.stop();
    await client.close();
    // The host of an in-process coordinator leaves last: the others' goodbyes still arrive.
    await cfg.foreign?.hostedCoordinator?.closeWhenDrained({ role: 'server', rank });
    process.exit(code);
  }
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.on('SIGUSR2', () => void drainAndLeave());
  if (cfg.foreign) stopWithTheWorkers(cfg.foreign.launcher);

  /**
   * Under a foreign launcher nothing stops the servers, so they follow the workers: all said
   * goodbye (comm.close()) -> exit 0; one lost, the coordinator gone, or the workers' world
   * not formed within twice SHOAL_TIMEOUT_MS (a worker that failed before it connected) ->
   * exit 1, since no one restarts anything there and waiting would hang the job step.
   */
  function stopWithTheWorkers(launcher: string): void {
    const done = new Set<number>();
    client.on('peerDone', ({ rank: worker, role }) => {
      if (role !== 'worker') return;
      done.add(worker);
      if (done.size < cfg.numWorkers) return;
      say(`parameter server ${rank}: all ${cfg.numWorkers} workers finished; stopping`);
      void stop(0);
    });
    const fail = (why: string): void => {
      if (stopping) return;
      say(`parameter server ${rank}: ${why}; under ${launcher} nothing restarts a lost process, so this server stops (exit 1)`);
      // A moment for the coordinator's notices to reach the others before a hosted coordinator goes too.
      setTimeout(() => void stop(1), 1000);
    };
    client.on('peerLost', ({ rank: lost, role, reason }) => {
      if (role === 'worker') fail(`worker rank ${lost} was lost (${reason})`);
    });
    client.on('disconnected', ({ reason }) => fail(`lost the coordinator at ${cfg.coordinator.host}:${cfg.coordinator.port} (${reason})`));
    // A world of one worker has no rendezvous to watch.
    if (cfg.numWorkers > 1) {
      client.lookup('world', 2 * cfg.timeoutMs).catch((err: Error) => fail(`the ${cfg.numWorkers} workers did not all join the job: ${err.message}`));
    }
  }

  // The native server runs on its own thread; keep this process alive until told to stop.
  setInterval(() => undefined, 1 << 30);
  return new Promise<never>(() => undefined);
}

/** The coordinator may not have noticed yet that the process we replace is gone: retry (bounded). */
async function connectCoordinator(cfg: ParameterServerConfig): Promise<CoordinatorClient> {
  const deadline = Date.now() + cfg.timeoutMs;
  for (;;) {
    try {
      // Servers say the job's original server count (an added server's index is beyond it).
      return await CoordinatorClient.connect(cfg.coordinator, { token: cfg.token, rank: cfg.rank, size: cfg.numServers, timeoutMs: cfg.timeoutMs, role: 'server', reconnectMs: cfg.reconnectMs });
    } catch (err) {
      if (cfg.restart === 0 || !/already connected/.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
