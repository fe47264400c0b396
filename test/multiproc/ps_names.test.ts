// Table names that used to kill every parameter server (a '"' broke the stats JSON the
// servers parse in their heartbeat timer): refused with an error naming the table, and the
// same server processes keep serving afterwards.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

test('bad table names are refused clearly and the servers keep serving through heartbeats', async (t) => {
  t.timeout(120_000);
  const run = await runRanks(2, 'workers/ps_names.worker.js', [], { servers: 2, wallTimeoutMs: 90_000 });
  const output = `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`;
  t.false(run.timedOut, output);
  t.true(run.result.ok, output);
  for (const lines of run.stdout) {
    const line = lines.find((l) => l.startsWith('RESULT '));
    t.truthy(line, output);
    const r = JSON.parse(line!.slice(7)) as { refused: Record<string, string>; rows: number[]; pidsBefore: number[]; pidsAfter: number[] };
    for (const [name, why] of Object.entries(r.refused)) {
      t.regex(why, /^TypeError: ps\.table: expected a table name of 1\.\.128 characters of \[A-Za-z0-9_.:-\]/, name);
      if (name) t.true(why.includes(JSON.stringify(name)), why);
    }
    t.deepEqual(r.rows, [1, 1]);
    t.is(r.pidsBefore.length, 2);
    t.deepEqual([...r.pidsAfter].sort(), [...r.pidsBefore].sort(), 'the same server processes answer: none died or was replaced');
  }
  t.false(run.output.flat().some((l) => /unreadable stats/.test(l)), output);
});
