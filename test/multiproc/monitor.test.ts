// The coordinator's monitoring while a real job runs: /metrics (Prometheus text, token
// required), the dashboard's WebSocket feed, the stall inspector, and the diagnosis on a
// rank's timeout error.
import test from 'ava';
import WebSocket from 'ws';

import { runRanks } from '../helpers/run_job.js';
import { parsePrometheus } from '../helpers/prometheus.js';

test('a running job serves /metrics and a live feed behind its token; the stall inspector names the straggler', async (t) => {
  t.timeout(90_000);
  let url = '';
  const seen: { metrics?: string; unauthorized?: number; feed: Array<{ processes: Array<{ rank: number; state: string }>; reports: unknown[]; stalls: string[] }> } = { feed: [] };
  let probe: Promise<void> = Promise.resolve();
  const job = runRanks(3, 'workers/monitor.worker.js', ['train'], {
    stallTimeoutMs: 1000,
    wallTimeoutMs: 60_000,
    onDashboard: (u) => {
      url = u;
      probe = (async () => {
        const base = u.slice(0, u.indexOf('/?'));
        const token = u.slice(u.indexOf('token=') + 6);
        await new Promise((r) => setTimeout(r, 2500));
        seen.unauthorized = (await fetch(`${base}/metrics`)).status;
        seen.metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
        const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/feed?token=${token}`);
        ws.on('message', (d) => seen.feed.push(JSON.parse(String(d))));
        await new Promise((r) => setTimeout(r, 4500));
        ws.close();
      })();
    },
  });
  const run = await job;
  await probe;
  t.true(run.result.ok, run.result.summary);
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}$/);
  t.is(seen.unauthorized, 401);
  const samples = parsePrometheus(seen.metrics ?? '');
  const up = samples.filter((s) => s.name === 'shoal_up');
  t.deepEqual(up.map((s) => s.labels['rank']).sort(), ['0', '1', '2']);
  const ops = samples.filter((s) => s.name === 'shoal_collective_ops_total' && s.labels['op'] === 'allReduce');
  t.is(ops.length, 3);
  t.true(ops.every((s) => s.value > 0));
  t.true(samples.some((s) => s.name === 'shoal_report' && s.labels['name'] === 'loss'), 'the reported loss is exported');
  t.true(seen.feed.length >= 2, `feed messages: ${seen.feed.length}`);
  const last = seen.feed[seen.feed.length - 1]!;
  t.is(last.processes.length, 3);
  t.true(last.reports.length > 0);
  const stalls = seen.feed.flatMap((f) => f.stalls);
  t.true(stalls.some((m) => /stall: allReduce seq 40 .*arrived: ranks 0, 2; missing: rank 1 \(busy computing; last finished seq 39\)/.test(m)), JSON.stringify(stalls));
});

test("a rank's timeout error carries the stall inspector's diagnosis", async (t) => {
  t.timeout(60_000);
  const run = await runRanks(2, 'workers/monitor.worker.js', ['timeout'], { stallTimeoutMs: 1000, wallTimeoutMs: 40_000 });
  const outcome = run.stdout[0]!.find((l) => l.startsWith('OUTCOME '));
  t.truthy(outcome, run.output.join('\n'));
  const message = JSON.parse(outcome!.slice(8)) as string;
  t.regex(message, /timed out after 3000 ms/);
  t.regex(message, /stall: allReduce seq 1 has waited \d+ s; arrived: rank 0; missing: rank 1 \(busy computing; last finished seq 0\)/);
});
