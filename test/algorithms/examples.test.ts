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

const LASSO = fileURLToPath(new URL('../../../examples/scheduled_lasso.mjs', import.meta.url));

test('examples/scheduled_lasso.mjs: np 1 and np 2 with a server reach the same Lasso optimum (KKT)', async (t) => {
  t.timeout(120_000);
  const results: Array<{ objective: number; kkt: number; serverDiff: number | null }> = [];
  for (const [np, servers, extra] of [[1, 0, []], [2, 1, ['--ps']]] as const) {
    const run = await runRanks(np, LASSO, ['--rows', '600', ...extra], { wallTimeoutMs: 100_000, ...(servers ? { servers } : {}) });
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    const lines = run.stdout.map((l) => l.find((s) => s.startsWith('RESULT '))?.slice(7) ?? '{}');
    results.push(JSON.parse(lines[0]!) as { objective: number; kkt: number; serverDiff: number | null });
  }
  for (const r of results) t.true(r.kkt < 1e-9, `KKT violation ${r.kkt}`);
  t.true(Math.abs(results[0]!.objective - results[1]!.objective) <= 1e-10 * results[0]!.objective);
  t.true(results[1]!.serverDiff !== null && results[1]!.serverDiff < 1e-6, `server copy differs by ${results[1]!.serverDiff}`);
});
