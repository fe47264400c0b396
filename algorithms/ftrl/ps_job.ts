// Worker-side plumbing shared by the PS trainers' entry scripts (ftrl/worker.ts,
// fm/worker.ts): consistency from --staleness, metrics.json, the exit path of an entry script.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ConsistencyOptions } from '../../lib/ps/table_options.js';
import { init } from '../../lib/index.js';
import type { Communicator } from '../../lib/communicator.js';
import { CoordinatorClient } from '../../lib/coordinator_client.js';
import { detectEnv } from '../../lib/env.js';
import { PsClient } from '../../lib/ps/client.js';
import { UsageError } from './cli_flags.js';

/** 0 → BSP, Infinity → ASP, else SSP with that bound. */
export function consistencyOf(staleness: number): ConsistencyOptions {
  if (staleness === Infinity) return { mode: 'asp' };
  if (staleness === 0) return { mode: 'bsp' };
  return { mode: 'ssp', staleness };
}

/** Writes a JSON file atomically (parent directories created). */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
  await rename(tmp, path);
}

/** Runs an entry script's body: usage errors exit 2, anything else prints its message and exits 1. */
export function runEntry(body: () => Promise<void>): void {
  body().then(
    () => process.exit(0),
    (err: unknown) => {
      const e = err as Error & { code?: string };
      process.stderr.write(`${e instanceof UsageError ? e.message : `error: ${e?.stack ?? String(err)}`}\n`);
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}

/** Seconds with 3 decimals. */
export function secs(s: number): number {
  return Math.round(s * 1000) / 1000;
}

/**
 * init() for a PS trainer worker. A one-worker job with servers needs a workaround:
 * lib/init.ts only dials the coordinator when size > 1, and then refuses SHOAL_NUM_SERVERS
 * ("no coordinator"). Here the world is made without servers and the parameter-server client
 * is connected the way init() does it.
 * TODO(issue 6): drop once init() dials the coordinator whenever SHOAL_NUM_SERVERS > 0.
 */
export async function initWorker(): Promise<Communicator> {
  const env = process.env;
  const job = detectEnv(env);
  const numServers = Number(env['SHOAL_NUM_SERVERS'] ?? 0);
  if (job.size > 1 || !(numServers > 0) || !job.coordinator) return init();
  const comm = await init({ env: { ...env, SHOAL_NUM_SERVERS: '' } });
  const timeoutMs = job.timeoutMs;
  const client = await CoordinatorClient.connect(job.coordinator, { token: job.token, rank: job.rank, size: job.size, timeoutMs });
  try {
    const servers = await client.lookup('ps/servers', timeoutMs);
    const ps = await PsClient.connect(
      servers.map((s) => ({ host: s.host, port: s.port })),
      { workerRank: job.rank, numWorkers: job.size, token: job.token, replication: Number(env['SHOAL_PS_REPLICATION'] ?? 2) },
      { timeoutMs: Number(env['SHOAL_PS_TIMEOUT_MS'] ?? 30 * 60_000) },
    );
    comm.attachPs(ps);
    comm.onClose(() => client.close());
  } catch (err) {
    await client.close();
    await comm.close();
    throw err;
  }
  return comm;
}
