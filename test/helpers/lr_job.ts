// Runs the LR test worker (test/workers/lr.worker.ts) as `np` real ranks and returns each
// rank's RESULT line, after checking that the job finished and every rank holds the same weights.
import type { ExecutionContext } from 'ava';

import { runRanks } from './run_job.js';

export interface LrWorkerResult {
  rank: number;
  objective: number;
  iterations: number;
  reason: string;
  seconds: number;
  digest: string;
  auc: number;
  weights?: number[];
}

export async function lrJob(t: ExecutionContext, np: number, spec: object, wallTimeoutMs = 90_000): Promise<LrWorkerResult[]> {
  const run = await runRanks(np, 'workers/lr.worker.js', [JSON.stringify(spec)], { wallTimeoutMs });
  t.false(run.timedOut, 'job hit the wall-clock limit');
  t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
  const results = run.stdout.map((lines) => {
    const line = lines.find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error('a rank printed no RESULT');
    return JSON.parse(line.slice(7)) as LrWorkerResult;
  });
  t.is(new Set(results.map((r) => r.digest)).size, 1, 'ranks hold different weights');
  return results;
}
