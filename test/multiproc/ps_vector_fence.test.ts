// The fence between pushes and vector programs under acknowledgement by the primary
// (SHOAL_PS_ACK_ON_PRIMARY=1): a push to a vector table is acknowledged only once every owner
// has applied it (protocol.h, mayAckOnPrimary), so a program sent after the push reaches each
// copy after it. Server 1 drops its push forwards from its 10th request on and is killed at
// its 30th (kill:server=1:request=30:unreplicated=20): with early acknowledgement of vector
// pushes, server 0's copy of server 1's keys would run the programs of those rounds without
// their pushes, and after the failover its T slots were wrong (110 of the 200 keys, in 3 of 3 runs
// when mayAckOnPrimary allowed vector tables). Real processes, a worker and two servers.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

test.serial('vector table, SHOAL_PS_ACK_ON_PRIMARY=1, server 1 drops its forwards and dies: every program saw every push on the copy that took over', async (t) => {
  t.timeout(150_000);
  const servers: string[][] = [[], []];
  const run = await runRanks(1, 'workers/ps_vector_fence.worker.js', [], {
    servers: 2,
    inject: 'kill:server=1:request=30:unreplicated=20',
    wallTimeoutMs: 120_000,
    killGraceMs: 500,
    env: { SHOAL_PS_TIMEOUT_MS: '30000', SHOAL_PS_REPLICATION: '2', SHOAL_PS_ACK_ON_PRIMARY: '1' },
    onLine: (rank, _stream, line) => {
      if (rank < 0) servers[-1 - rank]?.push(line);
    },
  });
  const output = `${run.result.summary}\n${JSON.stringify({ worker: run.output[0], servers }, null, 1)}`;
  t.false(run.timedOut, output);
  t.true(run.result.ok, output);
  t.true(servers[1]!.some((l) => /^\[shoal inject\] parameter server 1: kill at request 30 /.test(l)), output);
  const line = run.stdout[0]!.find((l) => l.startsWith('RESULT '));
  t.truthy(line, output);
  const r = JSON.parse(line!.slice(7)) as { wrong: number; keys: number; rounds: number; servers: number[] };
  t.is(r.rounds, 16);
  t.deepEqual(r.servers, [0], `server 1 is gone by the end: ${output}`);
  t.is(r.wrong, 0, `keys whose T differs from the recurrence: ${JSON.stringify(r)}`);
});
