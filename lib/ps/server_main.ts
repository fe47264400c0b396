// Entry point of a parameter-server process (started by `shoal run --servers K`). It never
// runs user code: it starts the native server, publishes its address through the
// coordinator, relays server losses and returns to it, and stops on SIGTERM.
//
// With SHOAL_SERVER_RESTART=n (n >= 1) it replaces lost server SHOAL_SERVER_RANK: it copies
// that server's data from the live servers (or, for ranges none holds, from the snapshot in
// SHOAL_PS_SNAPSHOT_DIR), then takes over its slot in the coordinator's table, which tells
// workers and servers to route to it again.
//
// Elastic servers (docs/parameter_server.md, "Elastic servers"): with SHOAL_SERVER_JOIN=1 it
// is an added server with a new index (SHOAL_NUM_SERVERS is then the job's original count;
// the live servers come from the coordinator's table). It copies the key ranges it takes
// over on the ring with it added, from their current primaries, then joins the table
// (CoordinatorClient.extend). SIGUSR2 drains it: the other servers copy the keys they will
// own on the ring without it, then it leaves the table (CoordinatorClient.leave) and exits 0.
import { CoordinatorClient } from '../coordinator_client.js';
import { detectEnv } from '../env.js';
import { ConfigError } from '../errors.js';
import { native } from '../native.js';
import { nativeJsonReader } from './native_json.js';
import { updaterIdOf } from './table_options.js';
import { currentSnapshotDir } from './snapshot_dir.js';
import { readManifestListing } from './snapshot_manifest.js';
import { serverKillRequest } from '../fault_injection.js';

/**
 * A user-defined updater (the slow path: runs in JS on the server process). `apply` gets one
 * key's current row and the pushed values and updates the row in place.
 * @example export const clipped = { apply(row, grad) { for (let j = 0; j < row.length; j++) row[j] = Math.max(-1, Math.min(1, row[j] - 0.5 * grad[j])); } };
 */
export interface CustomUpdater {
  apply(row: Float32Array, grad: Float32Array, key: bigint): void;
}

function intFromEnv(name: string, min: number): number {
  const raw = process.env[name];
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n < min) throw new ConfigError('ERR_CONFIG', `${name}=${raw ?? ''} must be an integer >= ${min}`);
  return n;
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

const startedAt = Date.now();
const rank = intFromEnv('SHOAL_SERVER_RANK', 0);
const numServers = intFromEnv('SHOAL_NUM_SERVERS', 1);
const join = process.env.SHOAL_SERVER_JOIN === '1';
const parseNativeJson = nativeJsonReader((line) => process.stderr.write(`[shoal] parameter server ${rank}: ${line}\n`));
if (rank >= numServers && !join) {
  throw new ConfigError('ERR_CONFIG', `SHOAL_SERVER_RANK=${rank} is out of range: the job has ${numServers} parameter servers (0..${numServers - 1})`);
}
const restart = process.env.SHOAL_SERVER_RESTART ? intFromEnv('SHOAL_SERVER_RESTART', 0) : 0;
const numWorkers = intFromEnv('SHOAL_NUM_WORKERS', 1);
const replication = intFromEnv('SHOAL_PS_REPLICATION', 1);
// The worker contract (rank/size) does not apply to servers; read the shared parts only.
const job = detectEnv({ ...process.env, SHOAL_RANK: String(rank), SHOAL_SIZE: String(Math.max(numServers, rank + 1)) });
if (!job.coordinator) throw new ConfigError('ERR_CONFIG', 'a parameter server needs SHOAL_COORDINATOR');

const maxMessageBytes = process.env.SHOAL_PS_MAX_MESSAGE_BYTES ? intFromEnv('SHOAL_PS_MAX_MESSAGE_BYTES', 1024) : undefined;
// A ps.save() directory: its current generation (snapshot_dir.ts), whose manifest must verify
// with the job secret; the native restore reads only the files it lists.
const snapshotDir = process.env.SHOAL_PS_SNAPSHOT_DIR ? currentSnapshotDir(process.env.SHOAL_PS_SNAPSHOT_DIR) : undefined;
const snapshotListing = snapshotDir ? readManifestListing(snapshotDir, `parameter server ${rank}: SHOAL_PS_SNAPSHOT_DIR`, job.token || null) : undefined;
const client = await connectCoordinator(job.coordinator);
// A replacement or an added server finds the others in the completed group's table (a
// replacement's own slot is stale; an added server's index is after every other one).
const table = restart === 0 && !join ? null : await client.lookup('ps/servers', job.timeoutMs);
if (join && table!.some((p) => p.rank >= rank)) {
  process.stderr.write(`[shoal] cannot add parameter server ${rank}: the job already has server ${Math.max(...table!.map((p) => p.rank))}\n`);
  await client.close();
  process.exit(1);
}
// By server index; a drained server's index stays free (null). An added server's is last.
const slots = table ? Math.max(rank, ...table.map((p) => p.rank)) + 1 : numServers;
const server = new native.NativePsServer({
  rank,
  numServers: slots,
  numWorkers,
  token: job.token,
  replication: Math.min(replication, Math.max(slots, numServers)),
  bindHost: job.bindHost,
  maxMessageBytes,
  restore: restart > 0 || join,
  join,
  snapshotListing,
  // Fault injection: kill:server=K:request=N (docs/fault_injection.md).
  killAtRequest: serverKillRequest(rank),
});
const advertise = process.env.SHOAL_ADVERTISE_HOST || job.bindHost;
const self = { host: advertise, port: server.port };
let known = slots;  // server indices this process knows (grows with added servers)
const peers: Array<{ host: string; port: number } | null> = table
  ? Array.from({ length: slots }, (_, r) => (r === rank ? self : (table.find((p) => p.rank === r) ?? null)))
  : await client.register('ps/servers', numServers, rank, self, job.timeoutMs);
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
await loadCustomUpdaters(process.env.SHOAL_PS_UPDATERS);
server.start(peers.map((p) => (p ? { host: p.host, port: p.port } : null)) as Array<{ host: string; port: number }>);
// Runs in the heartbeat timer: a throw there would kill the server, so bad text only loses the stats.
client.setMetricsSource(() => ({ startedAt, now: Date.now(), server: parseNativeJson('stats', server.stats(), null) }));
if (restart > 0) {
  const status = await restored();
  if (status.state !== 'done') {
    process.stderr.write(`[shoal] ${status.error ?? 'restore failed'}\n`);
    server.stop();
    await client.close();
    process.exit(1);
  }
  await client.rejoin('ps/servers', rank, self, job.timeoutMs);
  process.stderr.write(
    `[shoal] parameter server ${rank} (restart ${restart}) restored ${status.rows} rows from live replicas` +
      `${status.fromSnapshot ? ` and ${status.fromSnapshot} from ${snapshotDir}` : ''} in ${status.ms} ms (copy ${status.syncMs} ms); serving again\n`,
  );
}

if (join) {
  const status = await restored();
  if (status.state !== 'done') {
    process.stderr.write(`[shoal] parameter server ${rank} could not join: ${status.error ?? 'copy failed'}\n`);
    server.stop();
    await client.close();
    process.exit(1);
  }
  const updated = await client.extend('ps/servers', self, job.timeoutMs);
  const mine = updated[updated.length - 1];
  if (!mine || mine.rank !== rank || mine.port !== self.port) {
    process.stderr.write(`[shoal] parameter server ${rank} could not join: the coordinator gave it index ${mine?.rank ?? '?'}\n`);
    server.stop();
    await client.close();
    process.exit(1);
  }
  process.stderr.write(
    `[shoal] parameter server ${rank} joined: copied ${status.rows} rows (the ranges it took over) from the live servers in ${status.ms} ms (copy ${status.syncMs} ms); serving\n`,
  );
}

/** A restore or drain whose status cannot be read is reported as failed, not waited on forever. */
function unreadable(what: string): { state: 'failed'; rows: 0; fromSnapshot: 0; ms: 0; syncMs: 0; error: string } {
  return { state: 'failed', rows: 0, fromSnapshot: 0, ms: 0, syncMs: 0, error: `unreadable ${what} from the native server` };
}

/** The coordinator may not have noticed yet that the process we replace is gone: retry (bounded). */
async function connectCoordinator(address: NonNullable<typeof job.coordinator>): Promise<CoordinatorClient> {
  const deadline = Date.now() + job.timeoutMs;
  for (;;) {
    try {
      // Under `shoal run` a crashed coordinator is restarted on the same port: ride through it.
      const reconnectMs = process.env.SHOAL_LAUNCHER === 'shoal' ? job.timeoutMs : 0;
      // Servers say the job's original server count (an added server's index is beyond it).
      return await CoordinatorClient.connect(address, { token: job.token, rank, size: numServers, timeoutMs: job.timeoutMs, role: 'server', reconnectMs });
    } catch (err) {
      if (restart === 0 || !/already connected/.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
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
    process.stderr.write(`[shoal] ${status.error ?? `parameter server ${rank} could not drain`}; it keeps serving\n`);
    drainingNow = false;
    return;
  }
  try {
    await client.leave('ps/servers', rank, job.timeoutMs);
  } catch (err) {
    process.stderr.write(`[shoal] parameter server ${rank} could not leave the job: ${(err as Error).message}; it keeps serving\n`);
    drainingNow = false;
    return;
  }
  process.stderr.write(`[shoal] parameter server ${rank} drained: the other servers copied ${status.rows} rows in ${status.ms} ms; leaving the job\n`);
  // Workers switch ring on the coordinator's peerLeft; answer what they sent before that.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await stop();
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.stop();
  await client.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('SIGUSR2', () => void drainAndLeave());
// The native server runs on its own thread; keep this process alive until told to stop.
setInterval(() => undefined, 1 << 30);
