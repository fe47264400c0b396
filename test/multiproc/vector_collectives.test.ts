// reduceScatter, allGatherv and the sparse collectives on 1-4 real ranks (launcher, 127.0.0.1):
// each rank checks its results against a JS reference and bad arguments against the
// expected errors (test/workers/vector_collectives.worker.ts); here we check every rank
// succeeded, ran its checks, and holds the same sparse allReduce bits.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

for (const np of [1, 2, 3, 4]) {
  test(`reduceScatter, allGatherv, sparse allReduce/reduceScatter, np=${np}`, async (t) => {
    t.timeout(240_000);
    const run = await runRanks(np, 'workers/vector_collectives.worker.js', [], { wallTimeoutMs: 200_000 });
    t.false(run.timedOut, 'job hit the wall-clock limit');
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    const checks = run.stdout.map((lines) => Number(lines.find((l) => l.startsWith('CHECKS '))?.slice(7) ?? 0));
    for (const c of checks) t.true(c > 100, `a rank ran only ${c} checks`);
    const digests = run.stdout.map((lines) => lines.find((l) => l.startsWith('DIGEST '))?.slice(7) ?? 'missing');
    t.not(digests[0], 'missing');
    t.is(new Set(digests).size, 1, `ranks disagree on sparse result bits: ${digests.join(' ')}`);
  });
}

for (const how of ['counts', 'dim'] as const) {
  test(`ranks disagreeing on ${how === 'counts' ? 'allGatherv counts' : 'the sparse row width'} fail with a MismatchError on both ranks`, async (t) => {
    t.timeout(120_000);
    const run = await runRanks(2, 'workers/vector_mismatch.worker.js', [how], { wallTimeoutMs: 90_000 });
    t.false(run.timedOut, 'job hit the wall-clock limit');
    for (const [rank, lines] of run.stdout.entries()) {
      const line = lines.find((l) => l.startsWith('ERROR ') || l === 'NO ERROR') ?? 'nothing';
      t.regex(line, /^ERROR ERR_MISMATCH collective mismatch/, `rank ${rank}: ${line}`);
    }
  });
}
