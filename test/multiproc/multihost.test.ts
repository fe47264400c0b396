// Jobs across pretend hosts: network namespaces on a bridge (test/helpers/netns_hosts.ts), each
// with its own 10.77.0.x address and an egress cap, launched with `shoal run --hostfile --rsh`
// from inside host 0 (the coordinator lives there), the rsh stand-in entering the other hosts'
// namespaces. Skipped, with the reason in the title, where namespaces cannot be made.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test, { type ExecutionContext } from 'ava';
import { NetnsHosts, netnsUnavailable } from '../helpers/netns_hosts.js';
import { fixturePath } from '../helpers/run_job.js';
import { CLI, shoal } from '../helpers/shoal_cli.js';

const unavailable = netnsUnavailable();
function nsTest(title: string, impl: (t: ExecutionContext) => Promise<void>): void {
  if (unavailable !== null) test.serial.skip(`${title} (skipped: ${unavailable})`, impl);
  else test.serial(title, impl);
}

const LR_ENTRY = fileURLToPath(new URL('../../cli/ranks/lr_main.js', import.meta.url));
const PS_WORKER = fileURLToPath(new URL('../workers/ps.worker.js', import.meta.url));
const FTRL_WORKER = fileURLToPath(new URL('../workers/ftrl.worker.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'shoal-multihost-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string[];
  stderr: string;
}

/** Runs `shoal <args>` inside host 0, bounded; `onLine` sees stdout and stderr lines as they come. */
function shoalOnHost0(t: ExecutionContext, hosts: NetnsHosts, args: string[], wallMs: number, onLine?: (line: string) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = hosts.spawn(0, [process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let partial = '';
    let partialOut = '';
    const lines = (text: string, rest: string): string => {
      let buf = rest + text;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine?.(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      return buf;
    };
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      partialOut = lines(d.toString(), partialOut);
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      partial = lines(d.toString(), partial);
    });
    const timer = setTimeout(() => {
      t.log(`shoal ${args[0]} hit the ${wallMs} ms wall-clock limit`);
      child.kill('SIGTERM');
    }, wallMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: out.split('\n'), stderr: err });
    });
  });
}

function withHosts(t: ExecutionContext, n: number, rateMbit?: number | (number | undefined)[]): NetnsHosts {
  const hosts = NetnsHosts.create({ hosts: n, ...(rateMbit !== undefined ? { rateMbit } : {}) });
  t.teardown(() => hosts.destroy());
  return hosts;
}

nsTest('collectives across 2 hosts x 2 ranks: shared memory within a host, TCP between, exact results', async (t) => {
  const hosts = withHosts(t, 2, 1000);
  const run = await shoalOnHost0(t, hosts, ['run', '--hostfile', hosts.hostfile(2), '--rsh', hosts.rsh, '-q', '--no-dashboard', '--', process.execPath, fixturePath('multihost_collectives.mjs')], 150_000);
  t.is(run.code, 0, run.stderr);
  const results = run.stdout.filter((l) => /^\[\d\] RESULT /.test(l)).map((l) => JSON.parse(l.replace(/^\[\d\] RESULT /, '')) as Record<string, unknown> & { rank: number; addrs: string[]; transports: string[]; hosts: number[] });
  t.is(results.length, 4);
  for (const r of results) {
    const host = r.rank < 2 ? 0 : 1;
    t.deepEqual(r.addrs, [hosts.addrs[host]], `rank ${r.rank} ran on host ${host}`);
    t.deepEqual(r.hosts, [0, 0, 1, 1]);
    t.deepEqual(r.transports, [0, 1, 2, 3].map((q) => (q === r.rank ? 'self' : (q < 2) === (r.rank < 2) ? 'shm' : 'tcp')));
    for (const [k, v] of Object.entries(r)) if (/^(allReduce|reduceTo|bcast|allGather)\d+$/.test(k)) t.is(v, 0, `rank ${r.rank}: ${k}`);
  }
  // The large allReduce took the streamed two-host form: inexact float sums, same bits everywhere.
  t.is(new Set(results.map((r) => r['digest'])).size, 1, 'ranks ended an allReduce with different bits');
});

nsTest('parameter servers across hosts: servers go round-robin over the hostfile, workers on both hosts get exact sums', async (t) => {
  const hosts = withHosts(t, 2, 1000);
  const run = await shoalOnHost0(t, hosts, ['run', '--hostfile', hosts.hostfile(2), '--rsh', hosts.rsh, '--servers', '2', '-q', '--no-dashboard', '-x', 'SHOAL_TEST_DEBUG=1', '--', process.execPath, PS_WORKER, 'correctness'], 150_000);
  t.is(run.code, 0, run.stderr);
  const results = run.stdout.filter((l) => /^\[\d\] RESULT /.test(l)).map((l) => JSON.parse(l.replace(/^\[\d\] RESULT /, '')) as Record<string, unknown>);
  t.is(results.length, 4);
  for (const r of results) {
    t.is(r['bad'], 0, JSON.stringify(r));
    t.is(r['checked'], 12_000);
    t.deepEqual(r['serverKeys'], [r['distinct'], r['distinct']]);
  }
  // Each server binds its host's address (SHOAL_BIND_HOST): server 1 could only listen on
  // 10.77.0.2 inside host 1's namespace, so the job finishing means it ran there.
});

nsTest('a whole host dies mid-training: its ranks restart on a host with free slots and the model is exactly the undisturbed one', async (t) => {
  // 3 hosts, 2 slots each, 4 ranks: hosts 0 and 1 run two ranks each, host 2 is spare.
  const hosts = withHosts(t, 3, 1000);
  const data = join(dir, 'binary.svm');
  const gen = await shoal(['datagen', '--task', 'binary', '--rows', '20000', '--features', '3000', '--out', data, '-q'], 60_000);
  t.is(gen.code, 0, gen.stderr);
  const hostfile = hosts.hostfile(2);
  const train = (out: string): string[] => [process.execPath, LR_ENTRY, 'lr', '--solver', 'lbfgs', '--train', data, '--max-iter', '100', '--tol', '0', '--model-out', join(dir, out)];
  const base = await shoalOnHost0(t, hosts, ['run', '--hostfile', hostfile, '--rsh', hosts.rsh, '-np', '4', '-q', '--no-dashboard', '--', ...train('base.json')], 150_000);
  t.is(base.code, 0, base.stderr);

  let killed = 0;
  const chaos = await shoalOnHost0(
    t, hosts,
    ['run', '--hostfile', hostfile, '--rsh', hosts.rsh, '-np', '4', '--max-restarts', '2', '-q', '--no-dashboard', '--', ...train('chaos.json'), '--max-restarts', '2'],
    150_000,
    (line) => {
      // Power off host 1 (every process in its namespace at once) at L-BFGS iteration 10.
      if (killed === 0 && /^\[0\] lbfgs iter +10 /.test(line)) killed = hosts.killHost(1);
    },
  );
  t.is(chaos.code, 0, chaos.stderr);
  t.is(killed, 2, 'host 1 ran two processes (its ranks) when it was killed');
  t.regex(chaos.stderr, /\[shoal\] rank 2 killed by SIGKILL; starting a replacement \(restart \d of 2\)/);
  t.regex(chaos.stderr, /\[shoal\] rank 3 killed by SIGKILL; starting a replacement \(restart \d of 2\)/);
  t.regex(chaos.stderr, new RegExp(`rank 2 moves from ${hosts.addrs[1]!.replace(/\./g, '\\.')} to ${hosts.addrs[2]!.replace(/\./g, '\\.')}`));
  t.regex(chaos.stderr, new RegExp(`rank 3 moves from ${hosts.addrs[1]!.replace(/\./g, '\\.')} to ${hosts.addrs[2]!.replace(/\./g, '\\.')}`));
  t.is(readFileSync(join(dir, 'chaos.json'), 'utf8'), readFileSync(join(dir, 'base.json'), 'utf8'));
});

nsTest('a whole host dies under an FTRL job with servers on both hosts: workers move to the spare host, the server is replaced, AUC within 0.002', async (t) => {
  // Hosts 0 and 1 run two workers and one parameter server each (servers go round-robin); host 2 is spare.
  const hosts = withHosts(t, 3, 1000);
  const train = join(dir, 'clicks.svm');
  const testFile = join(dir, 'clicks.t');
  const gen = await shoal(['datagen', '--task', 'binary', '--rows', '40000', '--features', '1000', '--nnz', '8', '--out', train, '--test-out', testFile, '-q'], 60_000);
  t.is(gen.code, 0, gen.stderr);
  const hostfile = hosts.hostfile(2);
  // The chaos tests' FTRL configuration (test/multiproc/chaos_ps_trainers.test.ts): 2 passes, SSP 2.
  const ftrl = (out: string): string[] => [process.execPath, FTRL_WORKER, '--train', train, '--test', testFile, '--epochs', '2', '--batch', '16', '--alpha', '0.1', '--l1', '0.5', '--l2', '1', '--metrics-out', join(dir, out)];
  const run = (out: string, extra: string[], onLine?: (line: string) => void): Promise<Run> =>
    shoalOnHost0(t, hosts, ['run', '--hostfile', hostfile, '--rsh', hosts.rsh, '-np', '4', '--servers', '2', ...extra, '--no-dashboard', '--', ...ftrl(out)], 180_000, onLine);
  const base = await run('ftrl-base.json', []);
  t.is(base.code, 0, base.stderr);
  let killed = 0;
  const chaos = await run('ftrl-chaos.json', ['--max-restarts', '3'], (line) => {
    // Power off host 1 once the first pass is done: the second pass runs without it.
    if (killed === 0 && /^\[0\] ftrl epoch 1\/2/.test(line)) killed = hosts.killHost(1);
  });
  t.is(chaos.code, 0, chaos.stderr);
  t.is(killed, 3, 'host 1 ran two workers and a server');
  t.regex(chaos.stderr, /\[shoal\] server 1 killed by SIGKILL; starting a replacement/);
  for (const rank of [2, 3]) t.regex(chaos.stderr, new RegExp(`rank ${rank} moves from 10\\.77\\.0\\.2 to 10\\.77\\.0\\.3`));
  const auc = (f: string): number => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { auc: number }).auc;
  const a = auc('ftrl-base.json');
  const b = auc('ftrl-chaos.json');
  t.true(a > 0.75, `undisturbed AUC ${a}`);
  t.true(Math.abs(a - b) <= 0.002, `AUC undisturbed ${a}, with host 1 lost ${b}`);
  t.log(`FTRL, host 1 lost after pass 1: AUC ${a.toFixed(5)} -> ${b.toFixed(5)}`);
});

nsTest('a straggling host (egress capped at 2 Mbit/s) under an ASP FTRL job: its workers are detected by their slow parameter-server calls and move to the spare host', async (t) => {
  // Host 1 (ranks 2 and 3) has a slow network; host 0 runs ranks 0, 1 and the server; host 2 is spare.
  const hosts = withHosts(t, 3, [1000, 2, 1000]);
  const train = join(dir, 'slow.svm');
  const testFile = join(dir, 'slow.t');
  const gen = await shoal(['datagen', '--task', 'binary', '--rows', '160000', '--features', '1000', '--nnz', '8', '--out', train, '--test-out', testFile, '-q'], 60_000);
  t.is(gen.code, 0, gen.stderr);
  const run = await shoalOnHost0(
    t, hosts,
    ['run', '--hostfile', hosts.hostfile(2), '--rsh', hosts.rsh, '-np', '4', '--servers', '1', '--backup-instances', '2', '--no-dashboard', '--',
      process.execPath, FTRL_WORKER, '--train', train, '--test', testFile, '--epochs', '2', '--batch', '16', '--staleness', 'asp', '--metrics-out', join(dir, 'slow.json')],
    240_000,
  );
  t.is(run.code, 0, run.stderr);
  const detected = [...run.stderr.matchAll(/rank (\d) is a straggler: [\d.]+ ms per parameter-server call/g)].map((m) => Number(m[1]));
  t.true(detected.length >= 1, run.stderr);
  t.true(detected.every((r) => r === 2 || r === 3), `only host 1's ranks are slow: ${detected.join(', ')}`);
  for (const r of detected) t.regex(run.stderr, new RegExp(`rank ${r} moves from 10\\.77\\.0\\.2 to 10\\.77\\.0\\.3`));
  t.true((JSON.parse(readFileSync(join(dir, 'slow.json'), 'utf8')) as { auc: number }).auc > 0.75);
});
