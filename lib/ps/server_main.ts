// Entry point of a parameter-server process (started by `shoal run --servers K`). It never
// runs user code: it starts the native server, publishes its address through the
// coordinator, relays server losses and returns to it, and stops on SIGTERM.
//
// With SHOAL_SERVER_RESTART=n (n >= 1) it replaces lost server SHOAL_SERVER_RANK: it copies
// that server's data from the live servers (or, for ranges none holds, from the snapshot in
// SHOAL_PS_SNAPSHOT_DIR), then takes over its slot in the coordinator's table, which tells
// workers and servers to route to it again.
import { CoordinatorClient } from '../coordinator_client.js';
import { detectEnv } from '../env.js';
import { ConfigError } from '../errors.js';
import { native } from '../native.js';
import { updaterIdOf } from './table_options.js';

/**
 * A user-defined updater (the slow path: runs in JS on the server process). `apply` gets one
 * key's current row and the pushed values and updates the row in place.
 * @example export const clipped = { apply(row, grad) { for (let j = 0; j < row.length; j++) row[j] = Math.max(-1, Math.min(1, row[j] - 0.5 * grad[j])); } };
 */
export interface CustomUpdater {
  apply(row: Float32Array, grad: Float32Array, key: bigint): void;
}

interface NativePsServer {
  setCustomUpdaters(ids: number[], fn: (id: number, table: string, keys: BigUint64Array, rows: Float32Array, grads: Float32Array, dim: number) => void): void;
  readonly port: number;
  start(servers: Array<{ host: string; port: number }>): void;
  serverLost(rank: number): void;
  serverJoined(rank: number): void;
  restoreStatus(): string;
  stop(): void;
  stats(): string;
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

const startedAt = Date.now();
const rank = intFromEnv('SHOAL_SERVER_RANK', 0);
const numServers = intFromEnv('SHOAL_NUM_SERVERS', 1);
if (rank >= numServers) {
  throw new ConfigError('ERR_CONFIG', `SHOAL_SERVER_RANK=${rank} is out of range: the job has ${numServers} parameter servers (0..${numServers - 1})`);
}
const restart = process.env.SHOAL_SERVER_RESTART ? intFromEnv('SHOAL_SERVER_RESTART', 0) : 0;
const numWorkers = intFromEnv('SHOAL_NUM_WORKERS', 1);
const replication = Math.min(intFromEnv('SHOAL_PS_REPLICATION', 1), numServers);
// The worker contract (rank/size) does not apply to servers; read the shared parts only.
const job = detectEnv({ ...process.env, SHOAL_RANK: String(rank), SHOAL_SIZE: String(numServers) });
if (!job.coordinator) throw new ConfigError('ERR_CONFIG', 'a parameter server needs SHOAL_COORDINATOR');

const NativePsServer = (native as unknown as { NativePsServer: new (o: object) => NativePsServer }).NativePsServer;
const maxMessageBytes = process.env.SHOAL_PS_MAX_MESSAGE_BYTES ? intFromEnv('SHOAL_PS_MAX_MESSAGE_BYTES', 1024) : undefined;
const snapshotDir = process.env.SHOAL_PS_SNAPSHOT_DIR || undefined;
const server = new NativePsServer({ rank, numServers, numWorkers, token: job.token, replication, bindHost: job.bindHost, maxMessageBytes, restore: restart > 0, snapshotDir });
const client = await connectCoordinator(job.coordinator);
const advertise = process.env.SHOAL_ADVERTISE_HOST || job.bindHost;
const self = { host: advertise, port: server.port };
// A replacement finds the others in the completed group's table (its own slot is stale).
const peers =
  restart === 0
    ? await client.register('ps/servers', numServers, rank, self, job.timeoutMs)
    : (await client.lookup('ps/servers', job.timeoutMs)).map((p) => (p.rank === rank ? { rank, ...self } : p));
client.on('peerLost', ({ rank: lost, role }) => {
  if (role === 'server') server.serverLost(lost);
});
client.on('peerJoined', ({ group, rank: joined, role }) => {
  if (role === 'server' && group === 'ps/servers' && joined !== rank) server.serverJoined(joined);
});
await loadCustomUpdaters(process.env.SHOAL_PS_UPDATERS);
server.start(peers.map((p) => ({ host: p.host, port: p.port })));
client.setMetricsSource(() => ({ startedAt, now: Date.now(), server: JSON.parse(server.stats()) as unknown }));
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

/** The coordinator may not have noticed yet that the process we replace is gone: retry (bounded). */
async function connectCoordinator(address: NonNullable<typeof job.coordinator>): Promise<CoordinatorClient> {
  const deadline = Date.now() + job.timeoutMs;
  for (;;) {
    try {
      // Under `shoal run` a crashed coordinator is restarted on the same port: ride through it.
      const reconnectMs = process.env.SHOAL_LAUNCHER === 'shoal' ? job.timeoutMs : 0;
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
    const status = JSON.parse(server.restoreStatus()) as RestoreStatus;
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
// The native server runs on its own thread; keep this process alive until told to stop.
setInterval(() => undefined, 1 << 30);
