// ps.save while a server dies: server 1 is killed (fault injection) when the save request
// reaches it, before it writes its shard. Its rows are on server 0 too (replication 2), so a
// completed save must hold every key; a save that cannot (the dead server's share is missing,
// or server 0 has not seen the loss yet and writes only the rows it is primary of) must fail
// with PeerLostError inside ps.save, which saves again by itself and leaves no
// generation of the cut-short attempt behind. Before the fix the save completed without
// server 1's rows (native/psnet/client.cc dropped the lost server's part of a save).
// Server 1's 4th request is the save (the test checks the kill line names it). Real processes: a
// worker and two servers.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

test.serial('ps.save with server 1 killed as the save arrives: the snapshot holds every key: the save cut short is written again', async (t) => {
  t.timeout(150_000);
  const servers: string[][] = [[], []];
  const run = await runRanks(1, 'workers/ps_save_failover.worker.js', [], {
    servers: 2,
    inject: `kill:server=1:request=4`,
    wallTimeoutMs: 120_000,
    killGraceMs: 500,
    env: { SHOAL_PS_TIMEOUT_MS: '30000', SHOAL_PS_REPLICATION: '2' },
    onLine: (rank, _stream, line) => {
      if (rank < 0) servers[-1 - rank]?.push(line);
    },
  });
  const output = `${run.result.summary}\n${JSON.stringify({ worker: run.output[0], servers }, null, 1)}`;
  t.false(run.timedOut, output);
  t.true(run.result.ok, output);
  t.true(servers[1]!.some((l) => /^\[shoal inject\] parameter server 1: kill at request \d+ \(save/.test(l)), `server 1 must die on the save request: ${output}`);
  const line = run.stdout[0]!.find((l) => l.startsWith('RESULT '));
  t.truthy(line, output);
  const r = JSON.parse(line!.slice(7)) as { keys: number; savedKeys: number; wrong: number; failedSaves: number; generations: number; servers: number[] };
  t.log(JSON.stringify(r));
  // The first save was in flight to server 1 when it died: it must have failed, not completed.
  t.true(r.failedSaves >= 1, `the save that met the kill must fail: ${JSON.stringify(r)}`);
  t.is(r.generations, 1, `only the completed save's generation is left: ${JSON.stringify(r)}`);
  t.deepEqual(r.servers, [0], `server 1 is gone by the end: ${output}`);
  t.is(r.savedKeys, r.keys, `keys in the manifest: ${JSON.stringify(r)}`);
  t.is(r.wrong, 0, `keys not restored by load: ${JSON.stringify(r)}`);
});
