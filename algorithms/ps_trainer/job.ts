// Worker-side plumbing shared by the PS trainers' entry scripts (ftrl/worker.ts,
// fm/worker.ts): consistency from --staleness, metrics.json, the exit path of an entry script.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ConsistencyOptions } from '../../lib/ps/table_options.js';
import type { Communicator } from '../../lib/communicator.js';
import { recoveryEnabled, restartCount } from '../../lib/recovery/recovery_env.js';
import { userErrorExitCode } from '../../lib/errors.js';
import { UsageError } from '../../lib/cli_flags.js';
import type { CommonParams } from './flags.js';
import { PROGRESS_DIM, PsRecovery } from './recovery.js';
import type { PsTraffic } from './step_pipeline.js';

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

/**
 * Runs an entry script's body: usage errors and bad input (a FILE:LINE:COLUMN message) print
 * their message and exit 2; anything else prints its stack and exits 1.
 */
export function runEntry(body: () => Promise<void>): void {
  body().then(
    () => process.exit(0),
    (err: unknown) => {
      const e = err as Error;
      const userError = e instanceof UsageError || userErrorExitCode(err) === 2;
      process.stderr.write(`${userError ? e.message : `error: ${e?.stack ?? String(err)}`}\n`);
      process.exit(userError ? 2 : 1);
    },
  );
}

/** Seconds with 3 decimals. */
export function secs(s: number): number {
  return Math.round(s * 1000) / 1000;
}


/**
 * The worker's PsRecovery (recovery.ts): with --max-restarts (SHOAL_MAX_RESTARTS), --checkpoint
 * or --resume it creates the `<prefix>.progress` table (one row per worker, assign, ASP) and
 * wires ps.clock / ps.save / ps.load; otherwise rounds just run once.
 */
export async function psRecovery(comm: Communicator, p: CommonParams, prefix: string): Promise<PsRecovery> {
  const enabled = recoveryEnabled();
  const checkpointDir = p.recovery.checkpoint ?? p.recovery.resume;
  const needed = enabled || checkpointDir !== null;
  const progress = needed ? await comm.ps.table(`${prefix}.progress`, { dim: PROGRESS_DIM, updater: { type: 'assign' }, consistency: { mode: 'asp' } }) : null;
  return new PsRecovery(comm, {
    enabled,
    restart: restartCount(),
    progress,
    clock: () => comm.ps.clock(),
    checkpointDir,
    resumeDir: p.recovery.resume,
    save: (dir) => comm.ps.save(dir),
    load: (dir) => comm.ps.load(dir),
  });
}

/**
 * Every worker's requests and keys summed (a collective: every worker calls it), and per row
 * trained (`rows`: over all workers and epochs), with the workers' CPU time in training
 * (`cpuSeconds`: this worker's process, all threads): metrics.json `traffic`.
 */
export async function psTrafficTotals(comm: Communicator, t: PsTraffic, cpuSeconds: number, rows: number): Promise<Record<string, number>> {
  const buf = Float64Array.of(t.pullRequests, t.keysPulled, t.pushRequests, t.keysPushed, cpuSeconds);
  await comm.allReduce(buf, { op: 'sum' });
  const perRow = (v: number) => Math.round((1000 * v) / Math.max(1, rows)) / 1000;
  return {
    pull_requests: buf[0]!,
    keys_pulled: buf[1]!,
    push_requests: buf[2]!,
    keys_pushed: buf[3]!,
    keys_pulled_per_row: perRow(buf[1]!),
    keys_pushed_per_row: perRow(buf[3]!),
    requests_per_row: perRow(buf[0]! + buf[2]!),
    worker_cpu_seconds: Math.round(1000 * buf[4]!) / 1000,
    worker_cpu_us_per_row: perRow(1e6 * buf[4]!),
  };
}

/** CPU seconds of this process (every thread) since `from` (process.cpuUsage()). */
export function cpuSecondsSince(from: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
}
