// The coordinator runs in its own process under `shoal run`; SIGKILL it mid-job and the launcher
// restarts it on the same port, it reloads its state file, the ranks reconnect, and the job
// completes with exact results — also when a worker is lost and replaced afterwards (the new
// coordinator knows the epoch).
import test from 'ava';

import type { JobHandle } from '../../lib/launcher.js';
import { runRanks } from '../helpers/run_job.js';

const WORKER = 'workers/recovery.worker.js';

function accs(output: string[][]): Array<number[] | undefined> {
  return output.map((lines) => {
    const line = [...lines].reverse().find((l) => l.startsWith('RESULT '));
    return line === undefined ? undefined : (JSON.parse(line.slice(7)) as { acc: number[] }).acc;
  });
}

const expected = (np: number, iters: number): number[] => [0, 1, 2, 3].map((j) => ((np * (np + 1)) / 2) * ((iters * (iters + 1)) / 2) + iters * np * j);

/** Kills the coordinator (SIGKILL) the first time a rank prints its injection notice (it is in the training loop). */
function killCoordinatorOnce(): { onStart: (job: JobHandle) => void; onLine: (rank: number, stream: string, line: string) => void; killed: () => number | undefined } {
  let job: JobHandle | null = null;
  let killed: number | undefined;
  return {
    onStart: (j) => (job = j),
    onLine: (_rank, _stream, line) => {
      if (killed !== undefined || !line.includes('[shoal inject]') || !job) return;
      killed = job.coordinatorPid();
      if (killed !== undefined) process.kill(killed, 'SIGKILL');
    },
    killed: () => killed,
  };
}

test('SIGKILL the coordinator mid-job: it is restarted and the job completes exactly', async (t) => {
  t.timeout(120_000);
  const np = 3;
  const iters = 150;
  const k = killCoordinatorOnce();
  const run = await runRanks(np, WORKER, [String(iters)], { inject: 'delay:rank=0:ms=10', onStart: k.onStart, onLine: k.onLine, wallTimeoutMs: 100_000 });
  t.false(run.timedOut, 'the job hung');
  t.truthy(k.killed(), 'the coordinator was killed');
  t.true(run.result.ok, `${run.result.summary}\n${run.output.flat().join('\n')}`);
  for (const acc of accs(run.stdout)) t.deepEqual(acc, expected(np, iters));
});

test('after a coordinator restart a lost worker is still replaced (the epoch survived)', async (t) => {
  t.timeout(120_000);
  const np = 3;
  const iters = 150;
  const k = killCoordinatorOnce();
  const run = await runRanks(np, WORKER, [String(iters)], {
    maxRestarts: 1,
    inject: 'delay:rank=0:ms=10;kill:rank=2:op=allReduce:seq=100',
    onStart: k.onStart,
    onLine: k.onLine,
    wallTimeoutMs: 100_000,
  });
  t.false(run.timedOut, 'the job hung');
  t.truthy(k.killed());
  t.true(run.result.ok, `${run.result.summary}\n${run.output.flat().join('\n')}`);
  t.is(run.result.restarts?.length, 1);
  for (const acc of accs(run.stdout)) t.deepEqual(acc, expected(np, iters));
});
