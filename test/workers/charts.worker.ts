// Rank program for the browser test of the charts: CHARTS_ITERATIONS iterations, each one
// allReduce and one report (loss differs per rank, auc, and the plan for the ETA), then it waits
// for the test's release file (bounded) so the test can read the live dashboard.
import { existsSync } from 'node:fs';

import { init } from '../../lib/index.js';

const iterations = Number(process.env.CHARTS_ITERATIONS ?? 40);
const release = process.env.CHARTS_RELEASE_FILE;
const comm = await init();
const g = new Float32Array(64 * 1024);
for (let i = 1; i <= iterations; i++) {
  await comm.allReduce(g);
  comm.report({ iteration: i, planned: iterations, loss: 1 / (i + comm.rank), auc: 0.5 + i / (4 * iterations) });
}
const deadline = Date.now() + 90_000;
while (release && !existsSync(release) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
await comm.barrier();
await comm.close();
