// sparseAllReduce and the object collectives across 3 real ranks.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

test('sparseAllReduce sums rows by key across ranks (sorted union, duplicates summed); object bcast/allGather', async (t) => {
  t.timeout(60_000);
  const run = await runRanks(3, 'workers/composites.worker.js', [], { wallTimeoutMs: 40_000 });
  t.true(run.result.ok, run.output.join('\n'));
  for (const lines of run.stdout) {
    const r = JSON.parse(lines.find((l) => l.startsWith('RESULT '))!.slice(7));
    // Keys 0..3 and 2^64-1. Key k gets [r, 1] from rank k twice and from rank k-1 once.
    t.deepEqual(r.keys, ['0', '1', '2', '3', '18446744073709551615']);
    t.deepEqual(r.values, [0, 2, 2, 3, 5, 3, 2, 1, 0, 1]);
    t.deepEqual(r.config, { lr: 0.1, name: 'ünïcode' });
    t.deepEqual(r.everyone, [
      { rank: 0, tags: [] },
      { rank: 1, tags: ['t0'] },
      { rank: 2, tags: ['t0', 't1'] },
    ]);
  }
});
