// Backup instances (issue 8): with --slow-rank a rank is a deterministic straggler; with
// --backup-instances the coordinator confirms it, the launcher retires it, a fresh process takes
// its rank and shard, and the job ends with the exact sums of an undisturbed run.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

const WORKER = 'workers/recovery.worker.js';

function accs(output: string[][]): Array<number[] | undefined> {
  return output.map((lines) => {
    const line = [...lines].reverse().find((l) => l.startsWith('RESULT '));
    return line === undefined ? undefined : (JSON.parse(line.slice(7)) as { acc: number[] }).acc;
  });
}

test('a straggler is retired for a backup instance and the result is exact', async (t) => {
  t.timeout(120_000);
  const np = 3;
  const iters = 400;
  const run = await runRanks(np, WORKER, [String(iters)], {
    backupInstances: 1,
    stragglerWindowMs: 500,
    inject: 'delay:rank=1:ms=20',
    quiet: true,
    wallTimeoutMs: 100_000,
  });
  t.false(run.timedOut, 'the job hung');
  t.true(run.result.ok, `${run.result.summary}\n${run.output.flat().join('\n')}`);
  t.is(run.result.restarts?.length, 1);
  t.like(run.result.restarts?.[0], { role: 'worker', rank: 1, cause: 'retired as a straggler', backup: true });
  const want = [0, 1, 2, 3].map((j) => ((np * (np + 1)) / 2) * ((iters * (iters + 1)) / 2) + iters * np * j);
  for (const acc of accs(run.stdout)) t.deepEqual(acc, want);
  // The retired process announced its delay once; its replacement runs clean.
  t.is(run.stderr[1]!.filter((l) => l.includes('[shoal inject]')).length, 1);
});

test('--backup-instances 0 (default): the straggler is left alone', async (t) => {
  t.timeout(120_000);
  const run = await runRanks(3, WORKER, ['60'], { inject: 'delay:rank=1:ms=20', quiet: true, stragglerWindowMs: 200, wallTimeoutMs: 100_000 });
  t.true(run.result.ok, run.result.summary);
  t.deepEqual(run.result.restarts, []);
});
