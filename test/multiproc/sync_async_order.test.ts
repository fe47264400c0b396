// Ordering of the small ops the JS thread runs itself (native/runtime/engine.cc runHere) against
// the ops the comm thread runs, on one communicator, under load: a seeded schedule of small and
// large ops, awaited, overlapped, issued from separate macrotasks and skewed by a late rank
// (workers/sync_async_interleave.worker.ts), with a CPU-bound process beside the ranks. Every
// element of every result is checked exactly.
import { spawn } from 'node:child_process';
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

const ROUNDS = Number(process.env['INTERLEAVE_ROUNDS'] ?? 40); // more for a longer soak

for (const [np, transport, waitUs] of [[3, 'tcp', '100'], [4, 'shm', '100'], [3, 'auto', '1000']] as const) {
  test(`small JS-thread ops interleaved with comm-thread ops, np=${np} ${transport}, SHOAL_SYNC_WAIT_US=${waitUs}, one CPU hog beside: every result exact`, async (t) => {
    t.timeout(170_000);
    // A busy process beside the ranks (killed below): ranks get descheduled mid-op.
    const hog = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    try {
      const env = { SHOAL_SYNC_WAIT_US: waitUs, SHOAL_TRANSPORT: transport, INTERLEAVE_ROUNDS: String(ROUNDS) };
      const run = await runRanks(np, 'workers/sync_async_interleave.worker.js', [], { env, wallTimeoutMs: 150_000 });
      t.false(run.timedOut, 'job hit the wall-clock limit');
      t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
      const results = run.stdout.map((lines) => JSON.parse(lines.find((l) => l.startsWith('RESULT '))!.slice(7)) as { rank: number; ops: number; checked: number; errors: string[] });
      for (const r of results) {
        t.deepEqual(r.errors, [], `rank ${r.rank}`);
        t.true(r.checked > r.ops, `rank ${r.rank} checked ${r.checked} values of ${r.ops} ops`);
      }
      // The schedule is alike on every rank: the same number of ops everywhere.
      t.is(new Set(results.map((r) => r.ops)).size, 1);
    } finally {
      hog.kill('SIGKILL');
    }
  });
}
