import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDemoArgs, parseRunArgs } from '../../cli/cli.js';
import { ConfigError } from '../../lib/errors.js';
import { parseHostfile, placeRanks, readHostfile, totalSlots } from '../../lib/hostfile.js';
import { exitCodeFor, shellQuote } from '../../lib/launcher.js';

test('parseRunArgs: the np spellings', (t) => {
  for (const argv of [['-np', '4'], ['-n', '4'], ['--np', '4'], ['--np=4']]) {
    t.deepEqual(parseRunArgs([...argv, 'node', 'x.mjs']), { np: 4, command: ['node', 'x.mjs'] }, argv.join(' '));
  }
});

test('parseRunArgs: -- separates the command, whose flags are left alone', (t) => {
  const opts = parseRunArgs(['-np', '2', '--', 'node', '--inspect', 'x.mjs', '-np', '9']);
  t.deepEqual(opts.command, ['node', '--inspect', 'x.mjs', '-np', '9']);
  t.deepEqual(parseRunArgs(['-np', '2', 'node', 'x.mjs', '--np', '3']).command, ['node', 'x.mjs', '--np', '3']);
});

test('parseRunArgs: every option', (t) => {
  const opts = parseRunArgs([
    '--np', '3', '--timeout-ms', '5000', '--hostfile', 'hosts.txt', '--rsh', 'ssh -o BatchMode=yes',
    '--coordinator-host', '10.0.0.1', '-x', 'A=1', '--env', 'B=x=y', '--kill-grace-ms=0', '-q', '--', 'python3', 'a.py',
  ]);
  t.deepEqual(opts, {
    np: 3,
    timeoutMs: 5000,
    hostfile: 'hosts.txt',
    rsh: 'ssh -o BatchMode=yes',
    coordinatorHost: '10.0.0.1',
    env: { A: '1', B: 'x=y' },
    killGraceMs: 0,
    quiet: true,
    command: ['python3', 'a.py'],
  });
});

test('parseRunArgs: a hostfile makes -np optional (0 = all slots)', (t) => {
  t.deepEqual(parseRunArgs(['--hostfile', 'h', 'node', 'x.mjs']), { np: 0, hostfile: 'h', command: ['node', 'x.mjs'] });
});

test('parseRunArgs: usage errors say what was wrong', (t) => {
  const cases: Array<[string[], string]> = [
    [['-np', 'x', 'node'], 'shoal run: -np needs a positive integer, got "x"'],
    [['-np', '0', 'node'], 'shoal run: -np needs a positive integer, got "0"'],
    [['-n', '-3', 'node'], 'shoal run: -n needs a positive integer, got "-3"'],
    [['--np'], 'shoal run: --np needs a value'],
    [['-np', '2'], 'shoal run: no command given'],
    [['-np', '2', '--'], 'shoal run: no command given'],
    [['node', 'x.mjs'], 'shoal run: -np N is required'],
    [['-np', '2', '--bogus', 'node'], 'shoal run: unknown option "--bogus"'],
    [['-np', '2', '--timeout-ms', '1.5', 'node'], 'shoal run: --timeout-ms needs a positive integer, got "1.5"'],
    [['-np', '2', '-x', 'NOEQUALS', 'node'], 'shoal run: -x needs NAME=VALUE, got "NOEQUALS"'],
    [['-np', '2', '--rsh', '', 'node'], 'shoal run: --rsh needs a command'],
    [['-np', '2', '--coordinator-host', 'a b', 'node'], 'shoal run: --coordinator-host needs one address'],
    [['-np', '2', '--quiet=yes', 'node'], 'shoal run: --quiet takes no value'],
  ];
  for (const [argv, message] of cases) {
    const err = t.throws(() => parseRunArgs(argv), { instanceOf: ConfigError }, argv.join(' '));
    t.true(err?.message.startsWith(message), `${argv.join(' ')} → ${err?.message}`);
  }
});

test('parseDemoArgs: defaults to 4 ranks of demo.js; --np overrides', (t) => {
  t.deepEqual(parseDemoArgs([], '/x/demo.js'), { np: 4, command: [process.execPath, '/x/demo.js'] });
  t.is(parseDemoArgs(['--np', '2'], '/x/demo.js').np, 2);
  t.throws(() => parseDemoArgs(['extra'], '/x/demo.js'), { instanceOf: ConfigError, message: /shoal demo collectives: unexpected argument "extra"/ });
});

test('parseHostfile: hosts, slots, comments, repeats', (t) => {
  const hosts = parseHostfile('# cluster\nnode-a slots=2\n\n  node-b   # one slot\nnode-a slots=1 max_slots=8\n10.0.0.3 slots=4\n', 'hosts');
  t.deepEqual(hosts, [
    { host: 'node-a', slots: 3 },
    { host: 'node-b', slots: 1 },
    { host: '10.0.0.3', slots: 4 },
  ]);
  t.is(totalSlots(hosts), 8);
});

test('parseHostfile: errors name file and line', (t) => {
  const cases: Array<[string, string]> = [
    ['a\nb slots=x\n', 'hosts.txt:2: slots must be a positive integer, got "x"'],
    ['a slots=0\n', 'hosts.txt:1: slots must be a positive integer, got "0"'],
    ['# c\n\nb cpus=4\n', 'hosts.txt:3: unknown field "cpus=4"'],
    ['a\nbad/host\n', 'hosts.txt:2: "bad/host" is not a host name'],
    ['# nothing\n', 'hosts.txt: the hostfile lists no hosts'],
  ];
  for (const [text, message] of cases) {
    const err = t.throws(() => parseHostfile(text, 'hosts.txt'), { instanceOf: ConfigError });
    t.true(err?.message.startsWith(message), err?.message);
  }
});

test('readHostfile: a missing file is named', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-hostfile-'));
  try {
    t.throws(() => readHostfile(join(dir, 'nope')), { instanceOf: ConfigError, message: /cannot read hostfile .*nope/ });
    writeFileSync(join(dir, 'h'), 'x slots=2\n');
    t.deepEqual(readHostfile(join(dir, 'h')), [{ host: 'x', slots: 2 }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('placeRanks: fills slots in file order and wraps', (t) => {
  const hosts = [{ host: 'a', slots: 2 }, { host: 'b', slots: 1 }];
  t.deepEqual(placeRanks(hosts, 5), [
    { rank: 0, host: 'a', localRank: 0 },
    { rank: 1, host: 'a', localRank: 1 },
    { rank: 2, host: 'b', localRank: 0 },
    { rank: 3, host: 'a', localRank: 2 },
    { rank: 4, host: 'a', localRank: 3 },
  ]);
});

test('shellQuote survives a POSIX shell', (t) => {
  t.is(shellQuote('plain-arg_1.js'), 'plain-arg_1.js');
  t.is(shellQuote("it's here"), `'it'\\''s here'`);
  t.is(shellQuote('$HOME'), `'$HOME'`);
  t.is(shellQuote(''), `''`);
});

test('exitCodeFor maps results to shell statuses', (t) => {
  const exits = [{ rank: 0, code: 0, signal: null }];
  t.is(exitCodeFor({ ok: true, exits, summary: '' }), 0);
  t.is(exitCodeFor({ ok: false, exits, firstFailure: { rank: 1, code: 3, signal: null }, summary: '' }), 3);
  t.is(exitCodeFor({ ok: false, exits, firstFailure: { rank: 1, code: null, signal: 'SIGKILL' }, summary: '' }), 137);
  t.is(exitCodeFor({ ok: false, exits, interrupted: 'SIGINT', summary: '' }), 130);
  t.is(exitCodeFor({ ok: false, exits, interrupted: 'SIGTERM', summary: '' }), 143);
});

test('parseRunArgs: parameter-server and dashboard options, including flags that take no value', (t) => {
  const o = parseRunArgs(['-np', '2', '--servers', '3', '--replication', '2', '--no-dashboard', '--stall-timeout-ms', '0', '--ps-updaters', 'u.mjs', '--', 'node', 'x.mjs']);
  t.is(o.np, 2);
  t.is(o.servers, 3);
  t.is(o.replication, 2);
  t.true(o.noDashboard);
  t.is(o.stallTimeoutMs, 0);
  t.is(o.psUpdaters, 'u.mjs');
  t.deepEqual(o.command, ['node', 'x.mjs']);
  t.is(parseRunArgs(['--dashboard-port', '8080', '-np', '1', 'node', 'x.mjs']).dashboardPort, 8080);
});
