// The small-op paths of native/runtime/engine.cc: an op the JS thread starts itself
// (runHere) and the comm thread finishes when a peer is late, and ops queued behind each
// other, at np 2-5 (power of two or not); over TCP and shared memory; 8 B and 4 KiB ops, 320 KiB
// and 1 MiB ones (on one host the JS thread runs the former allReduces and the latter bcasts
// and reduceTos).
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

for (const [np, transport] of [[2, 'shm'], [3, 'tcp'], [4, 'auto'], [5, 'auto']] as const) {
  test(`small ops, np=${np} ${transport}: late peers hand JS-thread ops to the comm thread; every result exact`, async (t) => {
    t.timeout(150_000);
    const env = { SHOAL_SYNC_WAIT_US: '200', SHOAL_TRANSPORT: transport };
    const run = await runRanks(np, 'workers/small_ops.worker.js', [], { env, wallTimeoutMs: 120_000 });
    t.false(run.timedOut, 'job hit the wall-clock limit');
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    for (const lines of run.stdout) {
      const r = JSON.parse(lines.find((l) => l.startsWith('RESULT '))!.slice(7)) as { rank: number; checked: number; errors: string[] };
      t.deepEqual(r.errors, [], `rank ${r.rank}`);
      t.is(r.checked, 3 * np * 4 * 4 + 21 * 4, `rank ${r.rank} ran every op`);
    }
  });
}
