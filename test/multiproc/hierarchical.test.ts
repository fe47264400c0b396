// Topology-aware collectives on loopback: hosts are simulated with SHOAL_HOST_ID (the fixture
// sets it per rank from SHOAL_TEST_HOST_MAP), so these run anywhere; test/multiproc/
// multihost.test.ts runs the same fixture on network-namespace hosts. Each layout checks the
// host table every rank agreed on and exact results of allReduce, reduceTo, bcast and allGather
// at a small and a large size (the fixture compares against values it computes itself).
import test from 'ava';
import { fixturePath, runRanks } from '../helpers/run_job.js';

interface Result {
  rank: number;
  hosts: number[];
  max: number[];
  [k: string]: unknown;
}

async function check(t: import('ava').ExecutionContext, map: string[], expectHosts: number[], env: Record<string, string> = {}): Promise<Result[]> {
  const np = map.length;
  const run = await runRanks(np, fixturePath('multihost_collectives.mjs'), [], { env: { SHOAL_TEST_HOST_MAP: map.join(','), ...env }, wallTimeoutMs: 120_000 });
  t.false(run.timedOut, 'job hit the wall-clock limit');
  t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
  const results = run.stdout.map((lines) => JSON.parse(lines.find((l) => l.startsWith('RESULT '))!.slice(7)) as Result);
  for (const r of results) {
    t.deepEqual(r.hosts, expectHosts, `rank ${r.rank}'s host table`);
    for (const [k, v] of Object.entries(r)) {
      if (/^(allReduce|reduceTo|bcast|allGather)\d+$/.test(k)) t.is(v, 0, `rank ${r.rank}: ${k} differs from the expected values`);
    }
    t.deepEqual(r.max, [3 * (np - 1), 0]);
  }
  t.is(new Set(results.map((r) => r['digest'])).size, 1, 'an allReduce of inexact float sums left different bits on different ranks');
  return results;
}

test('2 hosts x 2 ranks (contiguous): hierarchical collectives are exact', async (t) => {
  await check(t, ['a', 'a', 'b', 'b'], [0, 0, 1, 1]);
});

test('2 hosts x 3 ranks: the streamed two-host allReduce (and the phased form) are exact, same bits on every rank', async (t) => {
  await check(t, ['a', 'a', 'a', 'b', 'b', 'b'], [0, 0, 0, 1, 1, 1]);
  await check(t, ['a', 'b', 'a', 'b', 'a', 'b'], [0, 1, 0, 1, 0, 1], { SHOAL_HIERARCHICAL: 'phased' });
});

test('the streamed two-host allReduce over TCP with tiny segments and frames: partial writes, two messages queued per peer', async (t) => {
  // Segments that do not divide the chunks, frames that split segments, every pair on TCP.
  await check(t, ['a', 'a', 'b', 'b'], [0, 0, 1, 1], { SHOAL_TRANSPORT: 'tcp', SHOAL_SEGMENT_BYTES: '4100', SHOAL_MAX_FRAME_BYTES: '7000' });
});

test('interleaved hosts, equal and unequal host sizes: the leaders are the lowest ranks, results exact', async (t) => {
  // Equal sizes take the reduce-scatter form with non-contiguous local groups; unequal ones go through leaders.
  await check(t, ['x', 'y', 'x', 'y'], [0, 1, 0, 1]);
  await check(t, ['x', 'y', 'x', 'y', 'y'], [0, 1, 0, 1, 1]);
});

test('roots off the leader: 3 hosts with a host of one rank', async (t) => {
  // The fixture's bcast root is rank 1 and its reduceTo root rank np-1: neither is a leader here.
  await check(t, ['p', 'q', 'q', 'r', 'r'], [0, 1, 1, 2, 2]);
});

test('one rank per host and SHOAL_HIERARCHICAL=0 keep the flat algorithms, with the same results', async (t) => {
  await check(t, ['a', 'b', 'c'], [0, 1, 2]);
  await check(t, ['a', 'a', 'b', 'b'], [0, 0, 1, 1], { SHOAL_HIERARCHICAL: '0' });
});
