// The dashboard's history: bounded per series, the start of a long job kept, no raw point lost
// from the sums; and the JobView turning reports and counters into series, progress and ETA.
import test from 'ava';

import { COLLECTIVE_RATE, JobView, PS_KEY_RATE } from '../../lib/monitor/job_view.js';
import { MAX_METRIC_NAME, MAX_SERIES, SeriesStore } from '../../lib/monitor/series_store.js';

test('a 100k-point series stays within its capacity, keeps its start and every raw point\'s weight', (t) => {
  const store = new SeriesStore(500);
  let sum = 0;
  for (let i = 1; i <= 100_000; i++) {
    const y = Math.sin(i / 1000) + i / 100_000;
    sum += y;
    store.add('loss', 'worker', 0, 'iteration', i, y, i / 10);
  }
  const [s] = store.all();
  t.truthy(s);
  t.true(s!.x.length <= 500, `points: ${s!.x.length}`);
  t.true(s!.x.length >= 250, `points: ${s!.x.length}`);
  t.is(store.count('loss', 'worker', 0), 100_000);
  // One even grain: every bucket but the last (still filling) holds `width` raw points.
  t.true(s!.n.slice(0, -1).every((n) => n === s!.width), `widths ${[...new Set(s!.n)].join(',')}`);
  // The first bucket covers iterations 1..width: the start is still there.
  t.is(s!.x[0], (1 + s!.width) / 2);
  t.true(s!.x[s!.x.length - 1]! > 99_000);
  // Weighted means keep the total; min/max bound each mean.
  const total = s!.y.reduce((a, y, i) => a + y * s!.n[i]!, 0);
  t.true(Math.abs(total - sum) < 1e-6 * Math.abs(sum), `${total} vs ${sum}`);
  t.true(s!.y.every((y, i) => s!.lo[i]! <= y + 1e-12 && y <= s!.hi[i]! + 1e-12));
  t.true(s!.x.every((x, i) => i === 0 || x > s!.x[i - 1]!), 'x stays increasing');
});

test('series are kept per metric and rank; NaN and infinities are dropped', (t) => {
  const store = new SeriesStore(8);
  store.add('loss', 'worker', 1, 'iteration', 1, 0.5, 0);
  store.add('loss', 'worker', 0, 'iteration', 1, 0.7, 0);
  store.add('loss', 'worker', 0, 'iteration', 2, Number.NaN, 0);
  store.add('auc', 'worker', 0, 'iteration', 1, 0.6, 0);
  t.deepEqual(store.all().map((s) => [s.metric, s.rank, s.y]), [['auc', 0, [0.6]], ['loss', 0, [0.7]], ['loss', 1, [0.5]]]);
  t.throws(() => new SeriesStore(2), { instanceOf: RangeError });
});

test('the JobView charts every reported name per rank, derives collective GB/s and PS keys/s, and computes an ETA from planned', (t) => {
  const view = new JobView();
  const now = Date.now();
  view.joined('worker', 0, 'h', 1);
  view.joined('worker', 1, 'h', 2);
  view.joined('server', 0, 'h', 3);
  const snapshot = (rank: number, k: number, reports: object[]) => ({
    startedAt: now, now: now + k * 1000, bytes: k * 2e9, psKeys: k * 500, collectiveSeconds: 0, psSeconds: 0, psCalls: 0, ops: {}, lastSeq: {}, current: null, timeline: [], reports,
  });
  for (let k = 0; k < 3; k++) {
    for (const rank of [0, 1]) {
      view.update('worker', rank, snapshot(rank, k, [{ t: now + k * 1000, values: { iteration: k + 1, planned: 10, loss: 1 / (k + 1 + rank), auc: 0.6 } }]));
    }
    view.update('server', 0, { now: now + k * 1000, server: { keysPulled: k * 100, keysPushed: k * 100 } });
  }
  const series = view.series.all();
  const names = series.map((s) => `${s.metric}/${s.role}/${s.rank}`);
  t.deepEqual(names, [`${PS_KEY_RATE}/server/0`, `${PS_KEY_RATE}/worker/0`, `${PS_KEY_RATE}/worker/1`, 'auc/worker/0', 'auc/worker/1', `${COLLECTIVE_RATE}/worker/0`, `${COLLECTIVE_RATE}/worker/1`, 'loss/worker/0', 'loss/worker/1'].sort());
  const loss1 = series.find((s) => s.metric === 'loss' && s.rank === 1)!;
  t.deepEqual(loss1.x, [1, 2, 3]);
  t.deepEqual(loss1.y, [1 / 2, 1 / 3, 1 / 4]);
  t.deepEqual(series.find((s) => s.metric === COLLECTIVE_RATE && s.rank === 0)!.y, [2, 2]);
  t.deepEqual(series.find((s) => s.metric === PS_KEY_RATE && s.role === 'worker' && s.rank === 0)!.y, [500, 500]);
  const p = view.progress(Date.now() + 1);
  t.is(p.iteration, 3);
  t.is(p.planned, 10);
  t.true(p.etaSeconds !== null && p.etaSeconds >= 0);
  const state = view.state() as { latest: Record<string, Record<string, number>>; seriesVersion: number };
  t.is(state.latest['1']!['loss'], 1 / 4);
  t.true(state.seriesVersion > 0);
  const dump = view.dump();
  t.is(dump.series.length, series.length);
});

test('a replacement process (counters back at 0) adds no negative rate', (t) => {
  const view = new JobView();
  const now = Date.now();
  view.joined('worker', 0, 'h', 1);
  const m = (k: number, bytes: number) => ({ startedAt: now, now: now + k * 1000, bytes, psKeys: 0, reports: [] });
  view.update('worker', 0, m(0, 0));
  view.update('worker', 0, m(1, 1e9));
  view.update('worker', 0, m(2, 10));
  t.deepEqual(view.series.all().find((s) => s.metric === COLLECTIVE_RATE)!.y, [1]);
});

test('a server\'s last stats message from shutdown (counters back at 0) keeps the last numbers and adds no negative rate', (t) => {
  const view = new JobView();
  const now = Date.now();
  view.joined('server', 0, 'h', 1);
  view.update('server', 0, { now, server: { keys: 10, pulls: 5, pushes: 5, keysPulled: 50, keysPushed: 50 } });
  view.update('server', 0, { now: now + 1000, server: { keys: 10, pulls: 7, pushes: 9, keysPulled: 70, keysPushed: 90 } });
  view.update('server', 0, { now: now + 2000, server: {} });
  const server = view.servers()[0]!;
  t.is(server.server?.keys, 10);
  t.deepEqual(server.rates, { pullsPerSec: 2, pushesPerSec: 4, keysPerSec: 60 });
  t.deepEqual(view.series.all().find((s) => s.role === 'server')!.y, [60]);
});

test('a program reporting a new name every iteration cannot grow the history without bound', (t) => {
  const store = new SeriesStore();
  for (let i = 0; i < MAX_SERIES + 100; i++) store.add(`loss_${i}`, 'worker', 0, 'iteration', i, 1, 0);
  store.add('x'.repeat(MAX_METRIC_NAME + 1), 'worker', 0, 'iteration', 1, 1, 0);
  t.is(store.all().length, MAX_SERIES);
  t.is(store.dropped, 101);
  // Existing series still take points.
  store.add('loss_0', 'worker', 0, 'iteration', 1, 2, 0);
  t.is(store.count('loss_0', 'worker', 0), 2);
});
