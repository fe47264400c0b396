// The coordinator's monitoring while a real job runs: /metrics (Prometheus text, token
// required), the dashboard's WebSocket feed, the stall inspector, and the diagnosis on a
// rank's timeout error. Nothing here waits a fixed time for the job to reach a point: the test
// polls until it sees what it needs, and the lagging rank waits for the test's release file
// (on a loaded machine, fixed windows closed before the ranks got there).
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

import { runRanks } from '../helpers/run_job.js';
import { parsePrometheus } from '../helpers/prometheus.js';

interface FeedState {
  processes: Array<{ rank: number; state: string }>;
  seriesVersion: number;
  stalls: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A file whose creation releases the lagging rank (test/workers/monitor.worker.ts). */
function releaseFile(t: ExecutionContext): { path: string; release: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-monitor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'release');
  return { path, release: () => writeFileSync(path, '') };
}

/** Every rank has finished at least one allReduce according to the exported metrics. */
function allRanksCounted(text: string, np: number): boolean {
  const ops = parsePrometheus(text).filter((s) => s.name === 'shoal_collective_ops_total' && s.labels['op'] === 'allReduce' && s.value > 0);
  return new Set(ops.map((s) => s.labels['rank'])).size === np;
}

test('a running job serves /metrics and a live feed behind its token; the stall inspector names the straggler', async (t) => {
  t.timeout(150_000);
  const { path: releasePath, release } = releaseFile(t);
  let url = '';
  let jobDone = false;
  const seen: { metrics?: string; unauthorized?: number; feed: FeedState[]; trace?: { status: number; type: string | null; disposition: string | null; body: string } } = { feed: [] };
  let probe: Promise<void> = Promise.resolve();
  const job = runRanks(3, 'workers/monitor.worker.js', ['train'], {
    stallTimeoutMs: 1000,
    wallTimeoutMs: 120_000,
    env: { MONITOR_RELEASE_FILE: releasePath },
    onDashboard: (u) => {
      url = u;
      probe = (async () => {
        const base = u.slice(0, u.indexOf('/?'));
        const token = new URL(u).searchParams.get('token') ?? '';
        // The feed stays open until the coordinator closes it at the end of the job.
        const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/feed?token=${token}`);
        const closed = new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          ws.once('error', () => resolve());
        });
        ws.on('message', (d) => {
          const state = JSON.parse(String(d)) as FeedState;
          seen.feed.push(state);
          // Released on the stall this test is about (seq 40), not on any other the load may cause.
          if (state.stalls.some((m) => m.startsWith('stall: allReduce seq 40 '))) release();
        });
        seen.unauthorized = (await fetch(`${base}/metrics`)).status;
        // Poll /metrics until every rank has reported its collectives (or the job ended).
        while (!jobDone) {
          const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text().catch(() => '');
          if (allRanksCounted(text, 3)) {
            seen.metrics = text;
            // The same heartbeats handed over the finished collectives: the trace has them.
            const r = await fetch(`${base}/api/trace`, { headers: { authorization: `Bearer ${token}` } });
            seen.trace = { status: r.status, type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'), body: await r.text() };
            break;
          }
          await sleep(250);
        }
        await closed;
      })();
    },
  });
  const run = await job;
  jobDone = true;
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
  const withReports = seen.feed.filter((f) => f.seriesVersion > 0);
  t.true(withReports.length > 0, 'the feed announces the reported series');
  t.is(withReports[withReports.length - 1]!.processes.length, 3);
  // The trace is a download with real µs timestamps (not whole ms written as µs).
  t.is(seen.trace?.status, 200);
  t.is(seen.trace?.type, 'application/json');
  t.is(seen.trace?.disposition, 'attachment; filename="shoal-trace.json"');
  const spans = (JSON.parse(seen.trace?.body ?? '{"traceEvents":[]}') as { traceEvents: Array<{ ph: string; ts: number; tid: number }> }).traceEvents.filter((e) => e.ph === 'X');
  t.deepEqual([...new Set(spans.map((e) => e.tid))].sort(), [0, 1, 2]);
  t.true(spans.every((e) => Number.isInteger(e.ts)));
  t.true(spans.some((e) => e.ts % 1000 !== 0), `timestamps: ${spans.slice(0, 5).map((e) => e.ts).join(', ')}`);
  const stalls = seen.feed.flatMap((f) => f.stalls);
  t.true(stalls.some((m) => /stall: allReduce seq 40 .*arrived: ranks 0, 2; missing: rank 1 \(busy computing; last finished seq 39\)/.test(m)), JSON.stringify(stalls));
});

test("a rank's timeout error carries the stall inspector's diagnosis", async (t) => {
  t.timeout(90_000);
  const { path: releasePath, release } = releaseFile(t);
  // Rank 0 times out after 8 s (the stall is reported after 1 s); rank 1 lags until it has.
  const run = await runRanks(2, 'workers/monitor.worker.js', ['timeout'], {
    stallTimeoutMs: 1000,
    wallTimeoutMs: 70_000,
    env: { MONITOR_RELEASE_FILE: releasePath, MONITOR_TIMEOUT_MS: '8000' },
    onLine: (rank, _s, line) => {
      if (rank === 0 && line.startsWith('OUTCOME ')) release();
    },
  });
  const outcome = run.stdout[0]!.find((l) => l.startsWith('OUTCOME '));
  t.truthy(outcome, run.output.join('\n'));
  const message = JSON.parse(outcome!.slice(8)) as string;
  t.regex(message, /timed out after 8000 ms/);
  t.regex(message, /stall: allReduce seq 1 has waited \d+ s; arrived: rank 0; missing: rank 1 \(busy computing; last finished seq 0\)/);
});

test('a one-rank job under the launcher shows up on its dashboard', async (t) => {
  t.timeout(90_000);
  const { path: releasePath, release } = releaseFile(t);
  let jobDone = false;
  let metrics = '';
  let probe: Promise<void> = Promise.resolve();
  const job = runRanks(1, 'workers/monitor.worker.js', ['hold'], {
    wallTimeoutMs: 70_000,
    env: { MONITOR_RELEASE_FILE: releasePath },
    onDashboard: (u) => {
      probe = (async () => {
        const base = u.slice(0, u.indexOf('/?'));
        const token = new URL(u).searchParams.get('token') ?? '';
        // Until rank 0's collectives and its report arrived; the rank holds (30 s at most) until released.
        while (!jobDone) {
          const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text().catch(() => '');
          if (allRanksCounted(text, 1) && text.includes('name="loss"')) {
            metrics = text;
            break;
          }
          await sleep(250);
        }
        release();
      })();
    },
  });
  const run = await job;
  jobDone = true;
  await probe;
  t.true(run.result.ok, run.result.summary);
  const samples = parsePrometheus(metrics);
  t.deepEqual(samples.filter((s) => s.name === 'shoal_up' && s.labels['role'] === 'worker').map((s) => [s.labels['rank'], s.value]), [['0', 1]]);
  t.true(samples.some((s) => s.name === 'shoal_report' && s.labels['name'] === 'loss' && s.value === 0.5), 'the reported loss is exported');
});
