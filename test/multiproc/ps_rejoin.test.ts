// Parameter-server replacement: a server killed with SIGKILL is restarted by the launcher
// (--max-restarts), copies its data from the live servers while the workers keep pushing,
// and rejoins; no acknowledged push is lost, the replication factor is back (a second loss
// is survivable), and bad input gets clear errors. Serial: each job is 7 processes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { runRanks } from '../helpers/run_job.js';
import { Coordinator } from '../../lib/coordinator.js';
import { init } from '../../lib/init.js';
import { native } from '../../lib/native.js';

interface Result {
  rank: number;
  [key: string]: unknown;
}

async function rejoinJob(t: import('ava').ExecutionContext, scenario: string): Promise<Result[]> {
  const run = await runRanks(3, 'workers/ps_rejoin.worker.js', [scenario], {
    servers: 3,
    maxRestarts: 1,
    wallTimeoutMs: 150_000,
    env: { SHOAL_PS_TIMEOUT_MS: '60000' },
  });
  const output = `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`;
  t.false(run.timedOut, `job hit the wall-clock limit\n${output}`);
  t.true(run.result.ok, output);
  t.is(run.result.restarts?.length, 1, output);
  t.is(run.result.restarts?.[0]?.role, 'server');
  const results = run.stdout.map((lines) => lines.filter((l) => l.startsWith('RESULT ')).map((l) => JSON.parse(l.slice(7)) as Result)[0]);
  t.is(results.filter(Boolean).length, 3, `every worker reports\n${output}`);
  return results as Result[];
}

test.serial('a replacement server restores the lost one hot while workers push: every key equals the acknowledged total', async (t) => {
  t.timeout(180_000);
  const results = await rejoinJob(t, 'replace');
  const total = results.reduce((n, r) => n + (r['acked'] as number), 0);
  for (const r of results) {
    t.is(r['total'], total);
    t.is(r['wrong'], 0, `keys differing from the acknowledged total: ${JSON.stringify(r)}`);
  }
  // Replication factor 2 restored: 2000 keys on two servers each.
  t.is(results[0]!['heldAfterRejoin'], 4000, JSON.stringify(results[0]));
});

test.serial('after the replacement rejoined, losing a second server is survivable (ranges re-replicated)', async (t) => {
  t.timeout(180_000);
  const results = await rejoinJob(t, 'second-loss');
  const total = results.reduce((n, r) => n + (r['acked'] as number), 0);
  for (const r of results) t.is(r['wrong'], 0, `keys differing from the acknowledged total (${total}): ${JSON.stringify(r)}`);
});

test.serial('BSP goes on across the replacement: it learns the workers\' clocks, and every pull sees every worker\'s pushes', async (t) => {
  t.timeout(180_000);
  const results = await rejoinJob(t, 'bsp');
  for (const r of results) {
    t.is(r['violations'], 0, JSON.stringify(r));
    t.is(r['wrong'], 0, JSON.stringify(r));
  }
});

test.serial('bad input: a replacement for a server index out of range, and joins of unknown servers, are refused clearly', async (t) => {
  const main = fileURLToPath(new URL('../../lib/ps/server_main.js', import.meta.url));
  const r = spawnSync(process.execPath, [main], {
    env: { ...process.env, SHOAL_SERVER_RANK: '5', SHOAL_NUM_SERVERS: '3', SHOAL_NUM_WORKERS: '2', SHOAL_PS_REPLICATION: '2', SHOAL_SERVER_RESTART: '1', SHOAL_COORDINATOR: '127.0.0.1:1', SHOAL_TOKEN: 'x' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.not(r.status, 0);
  t.regex(r.stderr, /SHOAL_SERVER_RANK=5 is out of range: the job has 3 parameter servers \(0\.\.2\)/);

  type Ctor = new (o: object) => { serverJoined(rank: number, host?: string, port?: number): void; serverLost(rank: number): void; stop(): void; close(): Promise<void> };
  const { NativePsServer, NativePsClient } = native as unknown as { NativePsServer: Ctor; NativePsClient: Ctor };
  const server = new NativePsServer({ rank: 0, numServers: 3, numWorkers: 1, token: 't' });
  try {
    t.throws(() => server.serverJoined(3), { instanceOf: RangeError, message: /serverJoined: server index 3 is out of range: the job has 3 servers \(0\.\.2\)/ });
    t.throws(() => server.serverLost(-1), { instanceOf: RangeError, message: /serverLost: server index -1 is out of range/ });
  } finally {
    server.stop();
  }
  const client = new NativePsClient({ workerRank: 0, numWorkers: 1, numServers: 2, token: 't' });
  t.throws(() => client.serverJoined(2, '127.0.0.1', 1234), { instanceOf: RangeError, message: /server index 2 is out of range: the job has 2 servers/ });
  t.throws(() => client.serverJoined(0, '', 1234), { instanceOf: TypeError, message: /host: non-empty string/ });
  t.throws(() => client.serverJoined(0, '127.0.0.1', 70000), { instanceOf: RangeError, message: /port must be an integer/ });
  await client.close();
});

/**
 * Cold restore, in a job run by hand (this process is the coordinator's host and the only
 * worker): replication 1, so a lost server's ranges exist nowhere else. Its replacement
 * fails clearly without a snapshot and restores them from SHOAL_PS_SNAPSHOT_DIR with one.
 */
test.serial('cold restore: ranges without a live replica come from the snapshot, or the replacement fails naming them', async (t) => {
  t.timeout(120_000);
  const token = 'cold-restore-test';
  const coordinator = await Coordinator.start({ token, log: () => undefined, dashboard: false });
  const main = fileURLToPath(new URL('../../lib/ps/server_main.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'shoal-cold-'));
  const procs: ChildProcess[] = [];
  const common = { ...process.env, SHOAL_COORDINATOR: `127.0.0.1:${coordinator.port}`, SHOAL_TOKEN: token, SHOAL_LAUNCHER: 'shoal', SHOAL_NUM_SERVERS: '2', SHOAL_NUM_WORKERS: '1', SHOAL_PS_REPLICATION: '1' };
  const server = (rank: number, extra: Record<string, string> = {}): { proc: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } => {
    const proc = spawn(process.execPath, [main], { env: { ...common, SHOAL_SERVER_RANK: String(rank), ...extra }, stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(proc);
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return { proc, exited: new Promise((resolve) => proc.once('exit', (code) => resolve({ code, stderr }))) };
  };
  server(0);
  const victim = server(1);
  let comm: Awaited<ReturnType<typeof init>> | undefined;
  try {
    comm = await init({ env: { ...common, SHOAL_RANK: '0', SHOAL_SIZE: '1', SHOAL_PS_TIMEOUT_MS: '30000', SHOAL_TIMEOUT_MS: '30000' } });
    const ps = comm.ps;
    const table = await ps.table('cold', { dim: 2, updater: { type: 'add' } });
    const keys = new BigUint64Array(500);
    for (let i = 0; i < keys.length; i++) keys[i] = BigInt(i) * 0x9e3779b97f4a7c15n + 1n;
    await table.push(keys, new Float32Array(keys.length * 2).fill(1));
    await ps.save(dir);
    await table.push(keys, new Float32Array(keys.length * 2).fill(1)); // after the snapshot: 2 everywhere
    victim.proc.kill('SIGKILL');
    await victim.exited;
    coordinator.markDead(1, 'killed by SIGKILL', 'server');

    const noSnapshot = await server(1, { SHOAL_SERVER_RESTART: '1' }).exited;
    t.not(noSnapshot.code, 0);
    t.regex(noSnapshot.stderr, /parameter server 1 cannot be restored: \d+ of its key ranges \(ring positions \(0x[0-9a-f]+, 0x[0-9a-f]+\]/);
    t.regex(noSnapshot.stderr, /no live replica \(replication 1\) and no snapshot directory was given \(SHOAL_PS_SNAPSHOT_DIR/);

    const cold = server(1, { SHOAL_SERVER_RESTART: '2', SHOAL_PS_SNAPSHOT_DIR: dir });
    // The worker hears peerJoined once the replacement restored; pulls then succeed again.
    const deadline = Date.now() + 60_000;
    let rows: Float32Array | null = null;
    while (!rows && Date.now() < deadline) {
      rows = await table.pull(keys).catch(() => null);
      if (!rows) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.truthy(rows, 'pulls work again after the cold restore');
    const stats = (await ps.stats()) as Array<{ rank: number; keys: number }>;
    const onServer1 = stats.find((s) => s.rank === 1)?.keys ?? 0;
    // Server 0's keys kept both pushes (2); server 1's came back from the snapshot (1).
    const ones = Array.from(rows!).filter((v) => v === 1).length / 2;
    const twos = Array.from(rows!).filter((v) => v === 2).length / 2;
    t.is(ones + twos, keys.length);
    t.is(ones, onServer1, JSON.stringify({ ones, twos, stats }));
    t.true(ones > 0 && twos > 0);
    cold.proc.kill('SIGTERM');
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await comm?.close().catch(() => undefined);
    await coordinator.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
