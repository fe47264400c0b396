// Entry point of a parameter-server process (started by `shoal run --servers K`). It never
// runs user code: it starts the native server, publishes its address through the
// coordinator, relays server losses to it, and stops on SIGTERM.
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
  stop(): void;
  stats(): string;
}

function intFromEnv(name: string, min: number): number {
  const raw = process.env[name];
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n < min) throw new ConfigError('ERR_CONFIG', `${name}=${raw ?? ''} must be an integer >= ${min}`);
  return n;
}

const startedAt = Date.now();
const rank = intFromEnv('SHOAL_SERVER_RANK', 0);
const numServers = intFromEnv('SHOAL_NUM_SERVERS', 1);
const numWorkers = intFromEnv('SHOAL_NUM_WORKERS', 1);
const replication = Math.min(intFromEnv('SHOAL_PS_REPLICATION', 1), numServers);
// The worker contract (rank/size) does not apply to servers; read the shared parts only.
const job = detectEnv({ ...process.env, SHOAL_RANK: String(rank), SHOAL_SIZE: String(numServers) });
if (!job.coordinator) throw new ConfigError('ERR_CONFIG', 'a parameter server needs SHOAL_COORDINATOR');

const NativePsServer = (native as unknown as { NativePsServer: new (o: object) => NativePsServer }).NativePsServer;
const maxMessageBytes = process.env.SHOAL_PS_MAX_MESSAGE_BYTES ? intFromEnv('SHOAL_PS_MAX_MESSAGE_BYTES', 1024) : undefined;
const server = new NativePsServer({ rank, numServers, numWorkers, token: job.token, replication, bindHost: job.bindHost, maxMessageBytes });
const client = await CoordinatorClient.connect(job.coordinator, { token: job.token, rank, size: numServers, timeoutMs: job.timeoutMs, role: 'server' });
const advertise = process.env.SHOAL_ADVERTISE_HOST || job.bindHost;
const peers = await client.register('ps/servers', numServers, rank, { host: advertise, port: server.port }, job.timeoutMs);
client.on('peerLost', ({ rank: lost, role }) => {
  if (role === 'server') server.serverLost(lost);
});
await loadCustomUpdaters(process.env.SHOAL_PS_UPDATERS);
server.start(peers.map((p) => ({ host: p.host, port: p.port })));
client.setMetricsSource(() => ({ startedAt, now: Date.now(), server: JSON.parse(server.stats()) as unknown }));

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
