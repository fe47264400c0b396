// Shoal ranks started by OpenMPI's real mpirun: rank and size come from OMPI_COMM_WORLD_*,
// rank 0 hosts the coordinator at SHOAL_COORDINATOR, and the collectives run as usual.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

import test from 'ava';

const hasMpirun = spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status === 0;
// CI installs openmpi-bin (.ci/run); there a missing mpirun is a failure, not a skip.
const mpiTest = hasMpirun || process.env.CI ? test : test.skip;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

mpiTest('mpirun -np 3 starts a Shoal job (rank 0 hosts the coordinator)', async (t) => {
  t.timeout(120_000);
  t.true(hasMpirun, 'mpirun is not installed (apt-get install openmpi-bin)');
  const port = await freePort();
  const worker = fileURLToPath(new URL('../workers/collectives.worker.js', import.meta.url));
  const args = [
    '--allow-run-as-root', '--oversubscribe', '-np', '3',
    '-x', `SHOAL_COORDINATOR=127.0.0.1:${port}`,
    '-x', `SHOAL_TOKEN=${randomBytes(16).toString('hex')}`,
    process.execPath, worker, JSON.stringify({ counts: [0, 1, 5, 4099], dtypes: ['float32', 'int64'] }),
  ];
  const child = spawn('mpirun', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMPI_MCA_btl: 'self,tcp' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  t.is(code, 0, out);
  const digests = out.split('\n').filter((l) => l.startsWith('DIGEST '));
  t.is(digests.length, 3, out);
  t.is(new Set(digests).size, 1, out);
});
