// Fault injection reaching the parameter server, with real processes: a worker rule
// `op=push:seq=N` kills the worker right before that push, and a server rule
// `kill:server=K:request=N` kills server K when its N-th request arrives. With replication 2
// the job survives the server's death with exact totals.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

interface Lines {
  workers: string[][];
  servers: string[][];
}

async function injectedJob(np: number, servers: number, inject: string, env: Record<string, string> = {}): Promise<{ run: Awaited<ReturnType<typeof runRanks>>; lines: Lines }> {
  const lines: Lines = { workers: Array.from({ length: np }, () => []), servers: Array.from({ length: servers }, () => []) };
  const run = await runRanks(np, 'workers/ps.worker.js', ['failover-injected'], {
    servers,
    inject,
    wallTimeoutMs: 90_000,
    killGraceMs: 500,
    env: { SHOAL_PS_TIMEOUT_MS: '30000', SHOAL_PS_REPLICATION: '2', ...env },
    onLine: (rank, _stream, line) => (rank >= 0 ? lines.workers[rank] : lines.servers[-1 - rank])?.push(line),
  });
  return { run, lines };
}

test.serial('kill:server=1:request=120 kills server 1 mid-training; with replication 2 the job completes with exact totals', async (t) => {
  t.timeout(120_000);
  const { run, lines } = await injectedJob(2, 2, 'kill:server=1:request=120');
  const output = `${run.result.summary}\n${JSON.stringify(lines, null, 1)}`;
  t.false(run.timedOut, output);
  t.true(run.result.ok, output);
  t.true(lines.servers[1]!.some((l) => /^\[shoal inject\] parameter server 1: kill at request 120 \((push|replicate)\)$/.test(l)), output);
  t.false(lines.servers[0]!.some((l) => l.includes('[shoal inject]')), 'server 0 has no rule');
  const results = run.stdout.map((ls) => ls.filter((l) => l.startsWith('RESULT ')).map((l) => JSON.parse(l.slice(7)) as Record<string, number>)[0]);
  t.is(results.filter(Boolean).length, 2, output);
  for (const r of results) {
    t.is(r!['acked'], 60);
    t.is(r!['total'], 120);
    t.is(r!['wrong'], 0, `keys differing from the acknowledged total: ${JSON.stringify(r)}`);
  }
});

// Pushes acknowledged by their primary before the replica confirmed (SHOAL_PS_ACK_ON_PRIMARY=1) must
// survive the primary's death even when its forwards never left it: the workers keep each
// such push until the replica confirms, and re-send it to the new owner when the primary is
// lost. (With synchronous acknowledgement, the default, such pushes would wait for a replica that never
// hears of them, so no worker request reaches the server's request 120: that mode is run
// with the plain rule below.)
async function exactTotals(t: import('ava').ExecutionContext, inject: string, env: Record<string, string>): Promise<void> {
  const { run, lines } = await injectedJob(2, 2, inject, env);
  const output = `${run.result.summary}\n${JSON.stringify(lines, null, 1)}`;
  t.false(run.timedOut, output);
  t.true(run.result.ok, output);
  t.true(lines.servers[1]!.some((l) => /^\[shoal inject\] parameter server 1: kill at request 120 /.test(l)), output);
  const results = run.stdout.map((ls) => ls.filter((l) => l.startsWith('RESULT ')).map((l) => JSON.parse(l.slice(7)) as Record<string, number>)[0]);
  t.is(results.filter(Boolean).length, 2, output);
  for (const r of results) {
    t.is(r!['total'], 120);
    t.is(r!['wrong'], 0, `keys differing from the acknowledged total: ${JSON.stringify(r)}`);
  }
}

test.serial('kill:server=1:request=120:unreplicated=40, SHOAL_PS_ACK_ON_PRIMARY=1: pushes acknowledged by the primary whose forwards were lost with it are re-sent by the workers, exact totals', async (t) => {
  t.timeout(120_000);
  await exactTotals(t, 'kill:server=1:request=120:unreplicated=40', { SHOAL_PS_ACK_ON_PRIMARY: '1' });
});

test.serial('synchronous acknowledgement (the default: once both copies applied): kill:server=1:request=120, exact totals', async (t) => {
  t.timeout(120_000);
  await exactTotals(t, 'kill:server=1:request=120', {});
});

test.serial('kill:rank=1:op=push:seq=3 kills worker 1 right before its fourth push, and the launcher reports it', async (t) => {
  t.timeout(120_000);
  const { run, lines } = await injectedJob(2, 1, 'kill:rank=1:op=push:seq=3');
  const output = `${run.result.summary}\n${JSON.stringify(lines, null, 1)}`;
  t.false(run.timedOut, output);
  t.false(run.result.ok, output);
  t.regex(run.result.summary, /rank 1 .*SIGKILL/, output);
  t.true(lines.workers[1]!.includes('[shoal inject] rank 1: kill at push seq 3'), output);
  // Pushes 0-2 were acknowledged, push 3 was never sent.
  t.deepEqual(lines.workers[1]!.filter((l) => /^push \d+ acked$/.test(l)), ['push 0 acked', 'push 1 acked', 'push 2 acked'], output);
  t.false(lines.workers[0]!.some((l) => l.includes('[shoal inject]')), 'rank 0 fires nothing');
});
