// Entry point of a parameter-server process started by `shoal run --servers K` (never user
// code): reads the launcher's SHOAL_* variables and runs lib/ps/server_process.ts, which
// describes restarts (SHOAL_SERVER_RESTART=n), added servers (SHOAL_SERVER_JOIN=1) and drains.
import { advertiseHostFor, detectEnv } from '../env.js';
import { ConfigError } from '../errors.js';
import { serverKillRequest, serverUnreplicatedFrom } from '../fault_injection.js';
import { runParameterServer } from './server_process.js';

export type { CustomUpdater } from './server_process.js';

function intFromEnv(name: string, min: number): number {
  const raw = process.env[name];
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n < min) throw new ConfigError('ERR_CONFIG', `${name}=${raw ?? ''} must be an integer >= ${min}`);
  return n;
}

const rank = intFromEnv('SHOAL_SERVER_RANK', 0);
const numServers = intFromEnv('SHOAL_NUM_SERVERS', 1);
// The worker contract (rank/size) does not apply to servers; read the shared parts only.
const job = detectEnv({ ...process.env, SHOAL_RANK: String(rank), SHOAL_SIZE: String(Math.max(numServers, rank + 1)) });
if (!job.coordinator) throw new ConfigError('ERR_CONFIG', 'a parameter server needs SHOAL_COORDINATOR');

await runParameterServer({
  rank,
  numServers,
  numWorkers: intFromEnv('SHOAL_NUM_WORKERS', 1),
  replication: intFromEnv('SHOAL_PS_REPLICATION', 1),
  coordinator: job.coordinator,
  token: job.token,
  bindHost: job.bindHost,
  advertiseHost: advertiseHostFor(process.env, job.bindHost),
  timeoutMs: job.timeoutMs,
  restart: process.env.SHOAL_SERVER_RESTART ? intFromEnv('SHOAL_SERVER_RESTART', 0) : 0,
  join: process.env.SHOAL_SERVER_JOIN === '1',
  ...(process.env.SHOAL_PS_MAX_MESSAGE_BYTES ? { maxMessageBytes: intFromEnv('SHOAL_PS_MAX_MESSAGE_BYTES', 1024) } : {}),
  ...(process.env.SHOAL_PS_SNAPSHOT_DIR ? { snapshotDir: process.env.SHOAL_PS_SNAPSHOT_DIR } : {}),
  ...(process.env.SHOAL_PS_UPDATERS ? { updatersPath: process.env.SHOAL_PS_UPDATERS } : {}),
  // Under `shoal run` a crashed coordinator is restarted on the same port: ride through it.
  reconnectMs: process.env.SHOAL_LAUNCHER === 'shoal' ? job.timeoutMs : 0,
  killAtRequest: serverKillRequest(rank),
  unreplicatedFrom: serverUnreplicatedFrom(rank),
});
