// BSP reads are exact at the lower bound: with 3 workers, 2 replicated servers and the
// trainers' request pattern (push acknowledged by the primary, then clock, then the next pull),
// every pull at clock c sees all pushes of clocks < c and none of clock c + 1. Counted per
// key on an `add` table, so a stale answer shows as a value below c, whatever the timing.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

interface Result {
  rank: number;
  checked: number;
  stale: number;
  twoAhead: number;
  sameClock: number;
  examples: string[];
}

test.serial('BSP, 3 workers, 2 servers: a pull at clock c sees every push of clocks < c (1500 steps)', async (t) => {
  t.timeout(150_000);
  const run = await runRanks(3, 'workers/ps_bsp_reads.worker.js', ['1500', 'bsp'], { servers: 2, wallTimeoutMs: 120_000, env: { SHOAL_PS_TIMEOUT_MS: '30000' } });
  const output = `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`;
  t.false(run.timedOut, `job hit the wall-clock limit\n${output}`);
  t.true(run.result.ok, output);
  const results = run.stdout.map((lines) => lines.filter((l) => l.startsWith('RESULT ')).map((l) => JSON.parse(l.slice(7)) as Result)[0]);
  t.is(results.filter(Boolean).length, 3, `every worker reports\n${output}`);
  for (const r of results as Result[]) {
    t.is(r.checked, 1500 * 3 * 16);
    t.is(r.stale, 0, `rank ${r.rank} read stale values: ${r.examples.join('; ')}`);
    t.is(r.twoAhead, 0, `rank ${r.rank} saw a worker two clocks ahead`);
  }
  t.log(`other workers' keys already holding the reader's own clock's push: ${(results as Result[]).map((r) => `rank ${r.rank} ${r.sameClock}/${1500 * 2 * 16}`).join(', ')}`);
});
