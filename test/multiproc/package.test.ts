// The packed tarball as a user gets it: `npm pack`, then `npm install --ignore-scripts --offline`
// into a fresh project (so no compiler runs: the addon comes from prebuilds/), then a 2-rank
// allReduce job through the installed `shoal run`, and require('shoal'). If the npm cache lacks
// the runtime dependencies, it is filled once from the registry (--prefer-offline); without
// either, the test is skipped, saying why.
import test from 'ava';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'shoal-pack-'));
const app = join(dir, 'app');

function sh(cmd: string, args: string[], cwd: string, timeoutMs: number): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_update_notifier: 'false' } });
}

/** Packs and installs; a reason to skip when npm cannot get the dependencies, else null. */
function packAndInstall(): { skip: string | null; tarball: string; install: string } {
  const pack = sh('npm', ['pack', '--pack-destination', dir], ROOT, 120_000);
  if (pack.status !== 0) return { skip: `npm pack failed: ${pack.stderr.slice(-400)}`, tarball: '', install: '' };
  const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz')) ?? 'none.tgz');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  const args = ['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball];
  let install = sh('npm', [...args, '--offline'], app, 120_000);
  if (install.status !== 0 && /ENOTCACHED/.test(install.stderr)) install = sh('npm', [...args, '--prefer-offline'], app, 150_000);
  if (install.status !== 0) {
    const network = /ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT/.test(install.stderr);
    if (network) return { skip: `the npm cache lacks shoal's runtime dependencies and the registry is unreachable: ${install.stderr.split('\n')[1] ?? ''}`, tarball, install: '' };
  }
  return { skip: null, tarball, install: `${install.status}\n${install.stderr}` };
}

const setup = packAndInstall();
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const run = setup.skip === null ? test : test.skip;
if (setup.skip !== null) console.warn(`package.test: skipped: ${setup.skip}`);

run('the packed tarball installs without scripts or a compiler and runs a 2-rank job', (t) => {
  t.timeout(180_000);
  t.true(setup.install.startsWith('0\n'), `npm install: ${setup.install}`);
  const pkg = join(app, 'node_modules', 'shoal');
  t.true(existsSync(join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'shoal_native.node')), 'the prebuilt addon ships');
  t.false(existsSync(join(pkg, 'build')), 'nothing was compiled');
  t.false(existsSync(join(pkg, 'dist', 'test')), 'no tests in the tarball');
  t.false(existsSync(join(pkg, 'dist', 'bench')), 'no benchmarks in the tarball');
  for (const dev of ['typescript', 'cmake-js', '@types/node']) t.false(existsSync(join(app, 'node_modules', dev)), `${dev} is not a runtime dependency`);

  writeFileSync(
    join(app, 'job.mjs'),
    `import { init } from 'shoal';
const comm = await init();
const buf = new Float64Array([comm.rank + 1, 10]);
await comm.allReduce(buf, { op: 'sum' });
console.log('rank', comm.rank, 'of', comm.size, 'sum', buf[0], buf[1]);
await comm.close();
`,
  );
  const job = sh(join(app, 'node_modules', '.bin', 'shoal'), ['run', '-np', '2', '-q', '--no-dashboard', '--timeout-ms', '60000', 'node', 'job.mjs'], app, 120_000);
  t.is(job.status, 0, `${job.stdout}\n${job.stderr}`);
  t.regex(job.stdout, /\[0\] rank 0 of 2 sum 3 20/);
  t.regex(job.stdout, /\[1\] rank 1 of 2 sum 3 20/);

  const cjs = sh(process.execPath, ['-e', "const s = require('shoal'); console.log(typeof s.init, typeof s.loadModel)"], app, 30_000);
  t.is(cjs.status, 0, cjs.stderr);
  t.is(cjs.stdout.trim(), 'function function');

  const help = sh(join(app, 'node_modules', '.bin', 'shoal'), ['train', '--help'], app, 30_000);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /trainers:/);
});
