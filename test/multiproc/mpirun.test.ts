// Shoal ranks started by OpenMPI's real mpirun: rank and size come from OMPI_COMM_WORLD_*,
// rank 0 hosts the coordinator at SHOAL_COORDINATOR, and the collectives run as usual.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { freePort } from '../helpers/free_port.js';
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
