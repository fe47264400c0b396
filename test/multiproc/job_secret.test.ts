// Where the job secret goes under `shoal run`: it comes from SHOAL_TOKEN or SHOAL_TOKEN_FILE
// when the user sets one, reaches hostfile ranks on the remote shell's stdin (never its argv,
// which `ps` shows), and the printed dashboard URL carries only the read-only viewer token.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { viewerToken } from '../../lib/hmac_auth.js';
import { fixturePath } from '../helpers/run_job.js';
import { shoal } from '../helpers/shoal_cli.js';

/** The environment of a user's shell: no secret of its own, whatever the test runner had. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { SHOAL_TOKEN: _a, SHOAL_TOKEN_FILE: _b, ...rest } = process.env;
  return { ...rest, ...extra };
}

function tempDir(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-secret-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('shoal run honours SHOAL_TOKEN and prints the dashboard URL with the viewer token only', async (t) => {
  t.timeout(120_000);
  const secret = 'e7'.repeat(16);
  const run = await shoal(['run', '-np', '2', '-q', '--', process.execPath, fixturePath('rendezvous.mjs')], 100_000, { env: cleanEnv({ SHOAL_TOKEN: secret }) });
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /\[0\] launcher=shoal hosts=false table=0@40000,1@40001/);
  const url = /\[shoal\] dashboard: (http:\/\/\S+)/.exec(run.stderr)?.[1];
  t.truthy(url, run.stderr);
  t.is(new URL(url!).searchParams.get('token'), viewerToken(secret), 'the launcher used SHOAL_TOKEN as the job secret');
  t.false(`${run.stdout}${run.stderr}`.includes(secret), 'the secret itself is printed nowhere');
});

test('hostfile ranks get the secret (from SHOAL_TOKEN_FILE) on stdin: it is not in the remote shell\'s argv', async (t) => {
  t.timeout(120_000);
  const dir = tempDir(t);
  const secret = '5c'.repeat(16);
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${secret}\n`, { mode: 0o600 });
  const hostfile = join(dir, 'hosts');
  writeFileSync(hostfile, 'node-a slots=1\nnode-b slots=1\n');
  const argvLog = join(dir, 'rsh-argv');
  // No SHOAL_TOKEN in the launcher's environment, so the rsh stand-in (which runs locally and
  // would pass its environment on) cannot leak it to the ranks: stdin is their only way to get it.
  const run = await shoal(
    ['run', '-np', '2', '-q', '--hostfile', hostfile, '--rsh', `/bin/sh ${fixturePath('rsh.sh')}`, '--coordinator-host', '127.0.0.1', '--', process.execPath, fixturePath('rendezvous.mjs')],
    100_000,
    { env: cleanEnv({ SHOAL_TOKEN_FILE: tokenFile, SHOAL_TEST_RSH_ARGV: argvLog }) },
  );
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /\[1\] launcher=shoal hosts=false table=0@40000,1@40001/, 'the ranks proved the secret to the coordinator');
  const argvLines = readFileSync(argvLog, 'utf8').trim().split('\n');
  t.is(argvLines.length, 2);
  for (const line of argvLines) {
    t.regex(line, /SHOAL_RANK=\d/, 'the log holds the remote command line');
    t.false(line.includes(secret), `the secret is in the rsh argv: ${line}`);
    t.false(line.includes('SHOAL_TOKEN='), line);
  }
  t.is(new URL(/dashboard: (\S+)/.exec(run.stderr)![1]!).searchParams.get('token'), viewerToken(secret));
});

test('a secret that is not one line is refused before anything starts', async (t) => {
  t.timeout(60_000);
  const run = await shoal(['run', '-np', '2', '--', process.execPath, fixturePath('rendezvous.mjs')], 50_000, { env: cleanEnv({ SHOAL_TOKEN: 'two\nlines' }) });
  t.not(run.code, 0);
  t.regex(run.stderr, /SHOAL_TOKEN: the job secret must be a single line/);
});
