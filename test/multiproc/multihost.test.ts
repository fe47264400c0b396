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
const dir = mkdtempSync(join(tmpdir(), 'shoal-multihost-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string[];
  stderr: string;
}

/** Runs `shoal <args>` inside host 0, bounded; `onLine` sees stderr lines as they come. */
function shoalOnHost0(t: ExecutionContext, hosts: NetnsHosts, args: string[], wallMs: number, onLine?: (line: string) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = hosts.spawn(0, [process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      partial += d.toString();
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        onLine?.(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
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
