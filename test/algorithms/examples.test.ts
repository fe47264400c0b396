// The examples/ programs run as real jobs: examples/kmeans.mjs on 1 and 3 ranks finds the
// planted centers, and every rank agrees on them.
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

const KMEANS = fileURLToPath(new URL('../../../examples/kmeans.mjs', import.meta.url));

for (const np of [1, 3]) {
  test(`examples/kmeans.mjs, np=${np}: recovers the planted centers`, async (t) => {
    t.timeout(60_000);
    const run = await runRanks(np, KMEANS, ['--k', '3', '--points', '3000', '--iters', '10'], { wallTimeoutMs: 50_000 });
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    const centers = run.stdout.map((lines) => lines.find((l) => l.startsWith('CENTERS '))?.slice(8));
    t.is(new Set(centers).size, 1, `ranks disagree: ${centers.join(' | ')}`);
    const got = JSON.parse(centers[0] ?? '[]') as number[][];
    t.is(got.length, 3);
    got.forEach(([x, y], c) => {
      t.true(Math.abs(x! - 10 * c) < 0.2 && Math.abs(y! + 5 * c) < 0.2, `center ${c}: ${x}, ${y}`);
    });
  });
}
