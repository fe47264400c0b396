// Shoal ranks started by OpenMPI's real mpirun: rank and size come from OMPI_COMM_WORLD_*,
// rank 0 hosts the coordinator at SHOAL_COORDINATOR, and the collectives run as usual. With
// SHOAL_NUM_SERVERS=K the first K tasks are parameter servers (docs/launching.md).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/free_port.js';
import { fixturePath } from '../helpers/run_job.js';
import { shoal } from '../helpers/shoal_cli.js';
import { fileURLToPath } from 'node:url';

import test from 'ava';

const hasMpirun = spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status === 0;
// CI installs openmpi-bin (.ci/run); there a missing mpirun is a failure, not a skip.
const mpiTest = hasMpirun || process.env.CI ? test : test.skip;

/** Runs mpirun to completion (SIGKILL after 100 s); its exit code and interleaved output. */
async function mpirun(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const child = spawn('mpirun', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, OMPI_MCA_btl: 'self,tcp' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, out };
}

mpiTest('mpirun -np 3 starts a Shoal job (rank 0 hosts the coordinator)', async (t) => {
  t.timeout(120_000);
  t.true(hasMpirun, 'mpirun is not installed (apt-get install openmpi-bin)');
  const port = await freePort();
  const worker = fileURLToPath(new URL('../workers/collectives.worker.js', import.meta.url));
  const args = [
    '--allow-run-as-root', '--oversubscribe', '-np', '3',
    '-x', `SHOAL_COORDINATOR=127.0.0.1:${port}`,
    // As docs/launching.md tells users: export the secret, and -x passes it on without putting it in argv.
    '-x', 'SHOAL_TOKEN',
    process.execPath, worker, JSON.stringify({ counts: [0, 1, 5, 4099], dtypes: ['float32', 'int64'] }),
  ];
  const { code, out } = await mpirun(args, { ...process.env, SHOAL_TOKEN: randomBytes(16).toString('hex') });
  t.is(code, 0, out);
  const digests = out.split('\n').filter((l) => l.startsWith('DIGEST '));
  t.is(digests.length, 3, out);
  t.is(new Set(digests).size, 1, out);
});

mpiTest('mpirun without SHOAL_TOKEN: every rank refuses to start and says how to set one', async (t) => {
  t.timeout(120_000);
  const port = await freePort();
  const worker = fileURLToPath(new URL('../workers/collectives.worker.js', import.meta.url));
  const args = ['--allow-run-as-root', '--oversubscribe', '-np', '2', '-x', `SHOAL_COORDINATOR=127.0.0.1:${port}`, process.execPath, worker, JSON.stringify({ counts: [1], dtypes: ['float32'] })];
  const { SHOAL_TOKEN: _t, SHOAL_TOKEN_FILE: _f, ...env } = process.env;
  const { code, out } = await mpirun(args, env);
  t.not(code, 0, out);
  t.regex(out, /the job has 2 ranks \(from OMPI_COMM_WORLD_SIZE\), but no job secret is set/);
  t.true(out.includes('export SHOAL_TOKEN=$(openssl rand -hex 16)'), out);
});

/** The "RESULT {json}" lines of a run, by worker rank. */
function results(out: string): Array<Record<string, unknown>> {
  return out
    .split('\n')
    .filter((l) => l.startsWith('RESULT '))
    .map((l) => JSON.parse(l.slice(7)) as Record<string, unknown>)
    .sort((a, b) => Number(a['rank']) - Number(b['rank']));
}

async function psArgs(np: number, servers: number, script: string[]): Promise<string[]> {
  return [
    '--allow-run-as-root', '--oversubscribe', '-np', String(np),
    '-x', `SHOAL_COORDINATOR=127.0.0.1:${await freePort()}`, '-x', 'SHOAL_TOKEN', '-x', `SHOAL_NUM_SERVERS=${servers}`,
    process.execPath, ...script,
  ];
}

const secretEnv = (): NodeJS.ProcessEnv => ({ ...process.env, SHOAL_TOKEN: randomBytes(16).toString('hex') });

mpiTest('mpirun -np 4 with SHOAL_NUM_SERVERS=2: tasks 0-1 serve, workers 0-1 push and pull exact sums, the servers stop when the workers are done', async (t) => {
  t.timeout(150_000);
  const { code, out } = await mpirun(await psArgs(4, 2, [fixturePath('ps_foreign.mjs'), 'sums']), secretEnv());
  t.is(code, 0, out);
  const r = results(out);
  t.deepEqual(r.map((x) => [x['rank'], x['size'], x['task'], x['role']]), [[0, 2, 2, 'worker'], [1, 2, 3, 'worker']], out);
  for (const x of r) {
    t.is(x['bad'], 0, out);
    t.is(x['checked'], 12_000, out);
    t.is(x['servers'], 2, out);
    // Both servers hold keys: the workers reached both.
    t.true((x['serverKeys'] as number[]).every((k) => k > 0), out);
  }
  for (const server of [0, 1]) t.regex(out, new RegExp(`parameter server ${server}: all 2 workers finished; stopping`), out);
});

mpiTest('mpirun: SHOAL_NUM_SERVERS that leaves no workers is refused by every task, naming the variable', async (t) => {
  t.timeout(120_000);
  const { code, out } = await mpirun(await psArgs(2, 2, [fixturePath('ps_foreign.mjs'), 'sums']), secretEnv());
  t.not(code, 0, out);
  t.regex(out, /SHOAL_NUM_SERVERS=2 leaves no workers: the job has 2 tasks \(from OMPI_COMM_WORLD_SIZE\)/);
});

mpiTest('mpirun: a parameter-server task SIGKILLed mid-job ends the whole job (mpirun stops every process), with a non-zero status', async (t) => {
  // mpirun's policy: any process killed by a signal aborts the job, so the workers' failover to
  // the replicas (which srun lets finish: slurm.test.ts) does not get to save it here.
  t.timeout(150_000);
  const started = Date.now();
  const { code, out } = await mpirun(await psArgs(4, 2, [fixturePath('ps_foreign.mjs'), 'failover', '1', '2000']), secretEnv());
  t.true(Date.now() - started < 100_000, `mpirun did not end by itself\n${out}`);
  t.not(code, 0, out);
  t.regex(out, /KILLING server 1 pid \d+/, out);
  t.regex(out, /process rank 1 .* exited on signal 9/s, out);
  t.is(results(out).length, 0, `no worker should have finished 2000 rounds\n${out}`);
});

mpiTest('an FTRL job under mpirun -np 4 with SHOAL_NUM_SERVERS=2 trains like shoal train ftrl -np 2 --servers 2 (AUC within 0.002)', async (t) => {
  t.timeout(300_000);
  const dir = mkdtempSync(join(tmpdir(), 'shoal-mpirun-ftrl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const train = join(dir, 'clicks.svm');
  const testFile = join(dir, 'clicks.t');
  const gen = await shoal(['datagen', '--task', 'binary', '--rows', '20000', '--features', '1000', '--nnz', '8', '--out', train, '--test-out', testFile, '-q'], 60_000);
  t.is(gen.code, 0, gen.stderr);
  const flags = (out: string): string[] => ['--train', train, '--test', testFile, '--epochs', '2', '--batch', '16', '--alpha', '0.1', '--l1', '0.5', '--l2', '1', '--metrics-out', join(dir, out)];
  const base = await shoal(['train', 'ftrl', '-np', '2', '--servers', '2', ...flags('shoal.json')], 150_000);
  t.is(base.code, 0, base.stderr);
  const worker = fileURLToPath(new URL('../../algorithms/ftrl/worker.js', import.meta.url));
  const { code, out } = await mpirun(await psArgs(4, 2, [worker, ...flags('mpirun.json')]), secretEnv());
  t.is(code, 0, out);
  const metrics = (f: string): { auc: number } => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { auc: number };
  const a = metrics('shoal.json').auc;
  const b = metrics('mpirun.json').auc;
  t.true(a > 0.75, `shoal train AUC ${a}`);
  t.true(Math.abs(a - b) <= 0.002, `AUC shoal train ${a}, mpirun ${b}`);
  t.log(`FTRL AUC: shoal train -np 2 --servers 2 ${a.toFixed(5)}, mpirun -np 4 SHOAL_NUM_SERVERS=2 ${b.toFixed(5)}`);
});
