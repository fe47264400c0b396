// The admin route behind `shoal ps add-server|remove-server`: token-protected, and requests the
// launcher refuses come back as 400 with its reason (elastic servers themselves are tested in
// ps_elastic.test.ts).
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';

const WORKER = 'workers/recovery.worker.js';
/** The job secret, as a user would export it: admin routes need it (the dashboard URL's token is read-only). */
const SECRET = 'a1'.repeat(16);

test('admin requests: 401 without the token, 400 with the launcher\'s reason', async (t) => {
  t.timeout(120_000);
  let url = '';
  const answers: Array<{ status: number; text: string }> = [];
  let asked: Promise<void> | null = null;
  const ask = async (): Promise<void> => {
    const u = new URL(url);
    const base = `${u.protocol}//${u.host}`;
    const post = async (path: string, auth: boolean): Promise<void> => {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers: auth ? { authorization: `Bearer ${SECRET}` } : {} });
      answers.push({ status: res.status, text: (await res.text()).trim() });
    };
    await post('/v1/admin/ps/add-server', false);
    await post('/v1/admin/ps/add-server', true);
    await post('/v1/admin/ps/remove-server?server=5', true);
    await post('/v1/admin/ps/remove-server', true);
  };
  const run = await runRanks(2, WORKER, ['300'], {
    inject: 'delay:rank=0:ms=10',
    token: SECRET,
    onDashboard: (u) => (url = u),
    noDashboard: false,
    onLine: (_r, _s, line) => {
      if (!asked && line.includes('[shoal inject]')) asked = ask();
    },
    wallTimeoutMs: 100_000,
  });
  await asked;
  t.true(run.result.ok, run.result.summary);
  t.deepEqual(answers.map((a) => a.status), [401, 400, 400, 400], JSON.stringify(answers));
  t.regex(answers[1]!.text, /this job has no parameter servers \(start it with --servers K\)/);
  t.regex(answers[2]!.text, /no running parameter server 5/);
  t.regex(answers[3]!.text, /remove-server needs \?server=N/);
});

test('shoal ps add-server --job URL grows a running job; keys stay exact', async (t) => {
  t.timeout(180_000);
  const { psMain } = await import('../../cli/ps_cli.js');
  let url = '';
  let cli = null as Promise<number> | null;
  const run = await runRanks(3, 'workers/ps_elastic.worker.js', ['add'], {
    servers: 2,
    replication: 2,
    noDashboard: false,
    token: SECRET,
    onDashboard: (u) => (url = u),
    env: { SHOAL_PS_TIMEOUT_MS: '60000' },
    onLine: (rank, _s, line) => {
      if (rank === 0 && line.startsWith('ELASTIC ') && !cli) cli = psMain(['add-server', '--job', url], { ...process.env, SHOAL_TOKEN: SECRET });
    },
    wallTimeoutMs: 150_000,
  });
  t.true(run.result.ok, `${run.result.summary}\n${run.output.flat().join('\n')}`);
  t.is(await cli, 0, 'shoal ps add-server exited 0');
  const results = run.stdout.map((lines) => JSON.parse(lines.find((l) => l.startsWith('RESULT '))!.slice(7)) as { wrong: number; servers?: Array<{ rank: number }> });
  for (const r of results) t.is(r.wrong, 0);
  t.true(results[0]!.servers?.some((s) => s.rank === 2), JSON.stringify(results[0]));
});
