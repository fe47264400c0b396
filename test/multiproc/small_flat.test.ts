// The flat small-op plans among 3-4 ranks (native/collectives/small_flat.cc) over shared memory,
// where waits sleep on futex words in the shared segments, and over TCP: exact results, the same
// bits on every rank as the rank-order fold, and a peer that dies while the others sleep in a
// small op is reported as lost (not as a timeout). SHOAL_YIELD_US=500: with more ranks than
// cores (np 3-4 on a 2-core machine) waits first poll with sched_yield (Link::yieldOnce), and the
// same results and loss reports must hold.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';
import { spawnWorld } from '../helpers/spawn_world.js';

for (const [np, transport, yieldUs] of [[3, 'shm', 0], [4, 'shm', 0], [4, 'tcp', 0], [4, 'shm', 500]] as const) {
  test(`flat small ops, np=${np} ${transport}${yieldUs ? ` yield-poll ${yieldUs} µs` : ''}: allReduce bits are the rank-order fold on every rank; reduceTo, bcast exact`, async (t) => {
    t.timeout(150_000);
    const env = { SHOAL_TRANSPORT: transport, SHOAL_YIELD_US: String(yieldUs) };
    const run = await runRanks(np, 'workers/small_flat.worker.js', ['bits'], { env, wallTimeoutMs: 120_000 });
    t.false(run.timedOut, 'job hit the wall-clock limit');
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    for (const lines of run.stdout) {
      const r = JSON.parse(lines.find((l) => l.startsWith('RESULT '))!.slice(7)) as { rank: number; checked: number; errors: string[]; transports: string[] };
      t.deepEqual(r.errors, [], `rank ${r.rank}`);
      t.is(r.checked, 200, `rank ${r.rank} ran every round`);
      t.true(r.transports.every((k, peer) => k === (peer === r.rank ? 'self' : transport)), `rank ${r.rank}: ${r.transports.join(',')}`);
    }
  });
}

for (const [np, yieldUs] of [[3, 0], [4, 0], [4, 500]] as const) {
  test(`flat small ops, np=${np} shm${yieldUs ? ` yield-poll ${yieldUs} µs` : ''}: a rank SIGKILLed while the others wait in a small allReduce is reported lost by every survivor`, async (t) => {
    t.timeout(90_000);
    const env = { SHOAL_TRANSPORT: 'shm', SHOAL_YIELD_US: String(yieldUs) };
    const run = await spawnWorld(np, 'workers/small_flat.worker.js', ['kill'], { env, wallTimeoutMs: 60_000 });
    t.false(run.timedOut, 'survivors hung');
    t.is(run.exits[np - 1]!.signal, 'SIGKILL');
    for (let rank = 0; rank < np - 1; rank++) {
      const line = run.stdout[rank]!.find((l) => l.startsWith('OUTCOME '));
      const o = line ? (JSON.parse(line.slice(8)) as { code?: string; peer?: number; op?: string }) : undefined;
      // ERR_PEER_LOST, not ERR_TIMEOUT: the loss was seen on the connection, well before the 30 s op timeout.
      t.is(o?.code, 'ERR_PEER_LOST', `rank ${rank}: ${JSON.stringify(o)} ${run.stderr[rank]!.join('\n')}`);
      t.is(o?.peer, np - 1, `rank ${rank} blamed the wrong rank`);
      t.is(o?.op, 'allReduce');
    }
  });
}
