// The parameter server end to end: workers and server processes started by the launcher
// (`--servers K`), every rank checking results it can compute itself. Serial: each job is
// 4-6 processes, and on 2 cores eight of them at once starve each other's heartbeats.
// PS calls time out after 30 s so a stuck request fails with the servers it waited for.
import test from 'ava';

import { fixturePath, runRanks } from '../helpers/run_job.js';

interface Result {
  rank: number;
  [key: string]: unknown;
}

async function psJob(
  t: import('ava').ExecutionContext,
  np: number,
  servers: number,
  scenario: string,
  extra: { psUpdaters?: string; env?: Record<string, string> } = {},
): Promise<Result[]> {
  const { env, ...rest } = extra;
  const run = await runRanks(np, 'workers/ps.worker.js', [scenario], { servers, wallTimeoutMs: 90_000, env: { SHOAL_TEST_DEBUG: '1', SHOAL_PS_TIMEOUT_MS: '30000', ...env }, ...rest });
  const output = `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`;
  t.false(run.timedOut, `job hit the wall-clock limit\n${output}`);
  t.true(run.result.ok, output);
  const results = run.stdout.map((lines) => lines.filter((l) => l.startsWith('RESULT ')).map((l) => JSON.parse(l.slice(7)) as Result)[0]);
  t.is(results.filter(Boolean).length, np, 'every worker reports');
  return results as Result[];
}

test.serial('pull/push with 3 workers and 2 servers: unsorted, duplicated keys, exact sums, every key replicated', async (t) => {
  t.timeout(120_000);
  for (const r of await psJob(t, 3, 2, 'correctness')) {
    t.is(r['bad'], 0, JSON.stringify(r));
    t.is(r['checked'], 12_000);
    // Replication factor 2 on 2 servers: each server holds every key.
    t.deepEqual(r['serverKeys'], [r['distinct'], r['distinct']]);
  }
});

test.serial('pull/push with 3 workers and 3 servers', async (t) => {
  t.timeout(120_000);
  for (const r of await psJob(t, 3, 3, 'correctness')) {
    t.is(r['bad'], 0, JSON.stringify(r));
    // Each key lives on 2 of the 3 servers.
    const held = (r['serverKeys'] as number[]).reduce((a, b) => a + b, 0);
    t.is(held, 2 * (r['distinct'] as number));
  }
});

function times(r: Result): Record<string, number> {
  return Object.fromEntries(r['events'] as Array<[string, number]>);
}

test.serial('SSP (staleness 1): the fast worker is held exactly at the bound and released when the slow one clocks', async (t) => {
  t.timeout(120_000);
  const [fast, slow] = (await psJob(t, 2, 2, 'ssp')).map(times) as [Record<string, number>, Record<string, number>];
  // At clock 1 the bound (slowest >= 1 - 1) already holds: no wait for the slow worker.
  t.true(fast['pull@1']! < slow['clock1']!, JSON.stringify({ fast, slow }));
  // At clock 2 the pull needs the slow worker at clock 1, at clock 3 at clock 2.
  t.true(fast['pull@2']! >= slow['clock1']!, JSON.stringify({ fast, slow }));
  t.true(fast['pull@3']! >= slow['clock2']!, JSON.stringify({ fast, slow }));
});

test.serial('BSP waits for every worker each clock; ASP never waits', async (t) => {
  t.timeout(120_000);
  const [bFast, bSlow] = (await psJob(t, 2, 2, 'bsp')).map(times) as [Record<string, number>, Record<string, number>];
  t.true(bFast['pull@1']! >= bSlow['clock1']!, JSON.stringify({ bFast, bSlow }));
  t.true(bFast['pull@3']! >= bSlow['clock3']!, JSON.stringify({ bFast, bSlow }));
  const [aFast, aSlow] = (await psJob(t, 2, 2, 'asp')).map(times) as [Record<string, number>, Record<string, number>];
  t.true(aFast['pull@3']! < aSlow['clock1']!, JSON.stringify({ aFast, aSlow }));
});

/** 3 workers, 3 servers, one SIGKILLed mid-way: every key equals the acknowledged total. */
async function failoverExact(t: import('ava').ExecutionContext, scenario: string, rounds: number): Promise<void> {
  for (const r of await psJob(t, 3, 3, scenario)) {
    t.is(r['acked'], rounds);
    t.is(r['total'], 3 * rounds);
    t.is(r['wrong'], 0, `keys differing from the acknowledged total: ${JSON.stringify(r)}`);
  }
}

test.serial('a server killed with SIGKILL mid-training loses no acknowledged push (replication 2, 3 servers)', async (t) => {
  t.timeout(120_000);
  await failoverExact(t, 'failover', 60);
});

test.serial('a server killed with SIGKILL while pushes of 300 000 keys are split into several messages per server loses no acknowledged push', async (t) => {
  t.timeout(180_000);
  await failoverExact(t, 'failover-large', 16);
});

test.serial('requests of several messages per server (2 servers, whole forwards): distinct and repeated keys, in caller and slot order, exact sums, every key on both servers', async (t) => {
  t.timeout(180_000);
  for (const r of await psJob(t, 3, 2, 'large')) {
    t.is(r['bad'], 0, JSON.stringify(r));
    t.is(r['checked'], 1_250_000);
    t.deepEqual(r['serverKeys'], [r['n'], r['n']]);
  }
});

test.serial('the same keys pushed and pulled again reuse the grouping (key caching), in caller or slot order; keys changed in place do not: exact sums', async (t) => {
  t.timeout(120_000);
  // 1 500 keys per server: caller order by default, slot order when the threshold is 0.
  for (const minKeys of ['65536', '0']) {
    for (const r of await psJob(t, 2, 2, 'keycache', { env: { SHOAL_PS_STORE_ORDER_MIN_KEYS: minKeys } })) {
      t.is(r['bad'], 0, `SHOAL_PS_STORE_ORDER_MIN_KEYS=${minKeys}: ${JSON.stringify(r)}`);
      t.is(r['checked'], 18_000);
    }
  }
});

test.serial('save/load round trip restores the model; corrupt, truncated, unlisted, foreign and overflowing snapshot files are refused, naming the file', async (t) => {
  t.timeout(120_000);
  const r = (await psJob(t, 2, 2, 'snapshot'))[0]!;
  t.true(r['changedBeforeLoad'] as boolean, 'the model changed after the snapshot');
  t.true(r['restored'] as boolean, 'load brought back the saved values');
  t.regex(String(r['corrupt']), /snapshot file \S+\/snap\.\d\.shard does not match the manifest \(SHA-256 differs/);
  t.regex(String(r['truncated']), /snapshot file \S+\/snap\.\d\.shard is \d+ bytes, the manifest says \d+ \(truncated\)/);
  t.is(r['unlistedIgnored'], 'loaded', 'a shard file the manifest does not list is not read');
  t.regex(String(r['tamperedManifest']), /ps\.load: \S+manifest\.json was written by another job or with another secret, or was changed since/);
  t.regex(String(r['foreign']), /manifest\.json was written by another job or with another secret.*run with the SHOAL_TOKEN of the job that wrote it/);
  t.regex(String(r['overflow']), /snapshot file \S+\/snap\.0\.shard says it holds 2305843009213693952 rows of 24 bytes, but 0 bytes follow the header/);
  t.is(r['serversAlive'], 2, 'both servers survived the crafted file');
  t.is(r['manifest'], 4, 'one shard file per table per server (2 tables, 2 servers)');
  t.is(r['quotedName'], 5, 'a table whose name uses the allowed punctuation is saved and restored');
  t.true(r['generation'] as boolean, 'the snapshot is a generation published through CURRENT');
});

test.serial('bad input: clear errors naming the table, nothing applied', async (t) => {
  t.timeout(120_000);
  for (const r of await psJob(t, 2, 2, 'errors')) {
    t.regex(String(r['mismatchedSpec']), /table 'e' already exists with dim 4.*asked for dim 8/);
    t.regex(String(r['badValues']), /RangeError: e\.push: expected keys\.length \* 4 = 8 floats/);
    t.regex(String(r['badKeys']), /TypeError: e\.pull: expected a BigUint64Array/);
    t.regex(String(r['badUpdater']), /'updater.type'/);
    t.regex(String(r['badStaleness']), /'consistency.staleness'/);
    t.is(r['untouched'], '0,0,0,0,0,0,0,0');
  }
});

test.serial('a user-defined updater written in JS runs on the servers (and its errors reach the worker)', async (t) => {
  t.timeout(120_000);
  const results = await psJob(t, 2, 2, 'custom', { psUpdaters: fixturePath('ps_updaters.mjs') });
  for (const r of results) {
    // Two workers each pushed (1, -1) and (0.5, 0.5) through w = clip(w - 0.5 g, -1, 1) from 0.
    t.deepEqual(r['rows'], [-1, 1, -0.5, -0.5]);
    t.regex(String(r['refused']), /custom updater of table 'bad' failed: .*this updater refuses every push/);
    t.regex(String(r['unknown']), /custom updater is not loaded on parameter server/);
  }
});
