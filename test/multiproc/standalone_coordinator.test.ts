// `shoal coordinator` serving a job started by OpenMPI's mpirun (SHOAL_COORDINATOR_EXTERNAL=1):
// no rank hosts the coordinator, so it outlives them all, rank 0 included, and stops on SIGTERM.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createInterface } from 'node:readline';

import test, { type ExecutionContext } from 'ava';
import { freePort } from '../helpers/free_port.js';
import { fixturePath } from '../helpers/run_job.js';
import { CLI } from '../helpers/shoal_cli.js';

const hasMpirun = spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status === 0;
const mpiTest = hasMpirun || process.env.CI ? test : test.skip;

function health(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/health', timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Starts `shoal coordinator` on `port` (killed at teardown); resolves once it listens. */
async function startCoordinator(t: ExecutionContext, port: number, env: NodeJS.ProcessEnv): Promise<{ coord: ChildProcess; closed: Promise<number | null>; log: string[] }> {
  const coord = spawn(process.execPath, [CLI, 'coordinator', '--port', String(port), '--host', '127.0.0.1', '--no-dashboard'], { stdio: ['ignore', 'ignore', 'pipe'], env });
  t.teardown(() => coord.kill('SIGKILL'));
  const log: string[] = [];
  const closed = new Promise<number | null>((resolve) => coord.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator did not start: ${log.join('\n')}`)), 60_000);
    createInterface({ input: coord.stderr! }).on('line', (line) => {
      log.push(line);
      if (line.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { coord, closed, log };
}

/** mpirun -np `np` of `script` against the standalone coordinator on `port` (SIGKILL after 100 s). */
async function mpirunExternal(np: number, port: number, env: NodeJS.ProcessEnv, extra: string[], script: string[]): Promise<{ code: number | null; out: string }> {
  const args = [
    '--allow-run-as-root', '--oversubscribe', '-np', String(np),
    '-x', `SHOAL_COORDINATOR=127.0.0.1:${port}`, '-x', 'SHOAL_COORDINATOR_EXTERNAL=1', '-x', 'SHOAL_TOKEN', ...extra,
    process.execPath, ...script,
  ];
  const job = spawn('mpirun', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, OMPI_MCA_btl: 'self,tcp' } });
  let out = '';
  job.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  job.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const killer = setTimeout(() => job.kill('SIGKILL'), 100_000);
  const code = await new Promise<number | null>((resolve) => job.on('close', (c) => resolve(c)));
  clearTimeout(killer);
  return { code, out };
}

mpiTest('a job under mpirun uses a standalone coordinator, which outlives every rank', async (t) => {
  t.timeout(150_000);
  const port = await freePort();
  const env = { ...process.env, SHOAL_TOKEN: randomBytes(16).toString('hex') };
  const { coord, closed, log } = await startCoordinator(t, port, env);
  const { code, out } = await mpirunExternal(3, port, env, [], [fixturePath('multihost_collectives.mjs')]);
  t.is(code, 0, out);
  const results = out.split('\n').filter((l) => l.startsWith('RESULT ')).map((l) => JSON.parse(l.slice(7)) as Record<string, unknown>);
  t.is(results.length, 3, out);
  for (const r of results) for (const [k, v] of Object.entries(r)) if (/^(allReduce|reduceTo|bcast|allGather)\d+$/.test(k)) t.is(v, 0, `rank ${r['rank']}: ${k}`);
  // Every rank, rank 0 included, has exited; the coordinator still answers.
  t.is(await health(port), 200);
  coord.kill('SIGTERM');
  t.is(await closed, 0, log.join('\n'));
});

mpiTest('mpirun with a standalone coordinator and SHOAL_NUM_SERVERS=1: task 0 serves (it does not host the coordinator), workers 0-1 get exact sums', async (t) => {
  t.timeout(150_000);
  const port = await freePort();
  const env = { ...process.env, SHOAL_TOKEN: randomBytes(16).toString('hex') };
  const { coord, closed, log } = await startCoordinator(t, port, env);
  const { code, out } = await mpirunExternal(3, port, env, ['-x', 'SHOAL_NUM_SERVERS=1'], [fixturePath('ps_foreign.mjs'), 'sums']);
  t.is(code, 0, out);
  const results = out.split('\n').filter((l) => l.startsWith('RESULT ')).map((l) => JSON.parse(l.slice(7)) as Record<string, unknown>).sort((a, b) => Number(a['rank']) - Number(b['rank']));
  t.deepEqual(results.map((r) => [r['rank'], r['task'], r['bad'], r['servers']]), [[0, 1, 0, 1], [1, 2, 0, 1]], out);
  t.regex(out, /parameter server 0: all 2 workers finished; stopping/);
  t.is(await health(port), 200);
  coord.kill('SIGTERM');
  t.is(await closed, 0, log.join('\n'));
});
