// Rank program for the monitoring test. 'train': a few iterations that report a loss, then
// rank 1 lags so the stall inspector fires. 'timeout': rank 1 lags longer than rank 0's op
// timeout, whose error must carry the stall diagnosis. Rank 1's lag lasts until the test has
// seen what it waits for (it creates MONITOR_RELEASE_FILE), at most 30 s: fixed sleeps were
// too short on a loaded machine. 'hold' (one rank): a few ops and a report, then it waits for
// the release file so the test can read the dashboard while the job runs.
import { existsSync } from 'node:fs';

import { init } from '../../lib/index.js';

/** Rank 1's lag: until the release file exists (bounded), or `ms` without one. */
async function lag(ms: number): Promise<void> {
  const release = process.env.MONITOR_RELEASE_FILE;
  if (!release) return new Promise((r) => setTimeout(r, ms));
  const deadline = Date.now() + 30_000;
  while (!existsSync(release) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

const scenario = process.argv[2] ?? 'train';
const comm = await init();
const g = new Float32Array(1024);
if (scenario === 'train') {
  for (let it = 0; it < 40; it++) {
    await comm.allReduce(g);
    if (comm.rank === 0) comm.report({ iteration: it, loss: 1 / (it + 1) });
    await new Promise((r) => setTimeout(r, 100));
  }
  if (comm.rank === 1) await lag(3000);
  await comm.allReduce(g);
} else if (scenario === 'hold') {
  for (let it = 0; it < 3; it++) await comm.allReduce(g);
  comm.report({ iteration: 3, loss: 0.5 });
  await lag(30_000);
  await comm.allReduce(g);
} else {
  await comm.barrier();
  if (comm.rank === 1) await lag(4000);
  const outcome = await comm.allReduce(g, { timeoutMs: comm.rank === 0 ? Number(process.env.MONITOR_TIMEOUT_MS ?? 3000) : 0 }).then(
    () => 'ok',
    (e: Error) => e.message,
  );
  console.log(`OUTCOME ${JSON.stringify(outcome)}`);
}
await comm.close().catch(() => undefined);
