// The examples/ programs run as real jobs: examples/kmeans.mjs on 1 and 3 ranks finds the
// planted centers, and every rank agrees on them, also after losing a rank.
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

test('examples/kmeans.mjs, np=3, a rank killed mid-way (--max-restarts 1): the same centers', async (t) => {
  t.timeout(90_000);
  const args = ['--k', '3', '--points', '3000', '--iters', '10'];
  const centersOf = (stdout: string[][]): string[] => stdout.map((lines) => lines.find((l) => l.startsWith('CENTERS '))?.slice(8) ?? '');
  const base = await runRanks(3, KMEANS, args, { wallTimeoutMs: 60_000 });
  t.true(base.result.ok, base.result.summary);
  const run = await runRanks(3, KMEANS, args, { maxRestarts: 1, inject: 'kill:rank=2:op=allReduce:seq=9', wallTimeoutMs: 60_000 });
  t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
  t.is(run.result.restarts?.length, 1, 'rank 2 was replaced');
  t.deepEqual(centersOf(run.stdout), centersOf(base.stdout));
});
