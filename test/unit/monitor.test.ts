// Metrics aggregation, the Prometheus text (parsed back) and the stall inspector's wording,
// on a JobView fed by hand.
import test from 'ava';

import { JobView } from '../../lib/monitor/job_view.js';
import { prometheusText } from '../../lib/monitor/prometheus.js';
import { inspectStalls } from '../../lib/monitor/stall_inspector.js';
import { parsePrometheus } from '../helpers/prometheus.js';

function metrics(now: number, extra: object = {}) {
  return { startedAt: now - 10_000, now, current: null, lastSeq: { world: 4 }, ops: { allReduce: 5 }, bytes: 4000, collectiveSeconds: 2, psSeconds: 1, psCalls: 3, psKeys: 30, reports: [], timeline: [], ...extra };
}

test('Prometheus text parses back with the right names, labels and values', (t) => {
  const view = new JobView();
  const now = Date.now();
  view.joined('worker', 0, 'h', 1);
  view.joined('worker', 1, 'h', 2);
  view.joined('server', 0, 'h', 3);
  view.update('worker', 0, metrics(now, { reports: [{ t: now, values: { iteration: 4, loss: 0.25 } }] }));
  view.update('worker', 1, metrics(now));
  view.update('server', 0, { now, server: { tables: [{ name: 'w"eird\\name', keys: 10, memoryBytes: 320 }], pulls: 7, pushes: 9, keysPulled: 70, keysPushed: 90, minClock: 2, maxClock: 4 } });
  view.lost('worker', 1, 'killed by SIGKILL');
  view.epoch = 1;
  view.event('rank 1 lost: killed by SIGKILL');
  const samples = parsePrometheus(prometheusText(view));
  const get = (name: string, labels: Record<string, string>) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  t.is(get('shoal_up', { rank: '0', role: 'worker' }), 1);
  t.is(get('shoal_up', { rank: '1', role: 'worker' }), 0);
  t.is(get('shoal_collective_ops_total', { rank: '0', op: 'allReduce' }), 5);
  t.is(get('shoal_collective_seconds_total', { rank: '0' }), 2);
  t.is(get('shoal_ps_seconds_total', { rank: '0' }), 1);
  t.is(get('shoal_compute_seconds_total', { rank: '0' }), 7);
  t.is(get('shoal_report', { rank: '0', name: 'loss' }), 0.25);
  t.is(get('shoal_server_keys', { role: 'server', table: 'w"eird\\name' }), 10);
  t.is(get('shoal_server_keys_total', { role: 'server' }), 160);
  t.is(get('shoal_ssp_clock_max', { role: 'server' }), 4);
  t.is(get('shoal_epoch', {}), 1);
  const state = view.state() as { epoch: number; events: Array<{ text: string }> };
  t.is(state.epoch, 1);
  t.deepEqual(state.events.map((e) => e.text), ['rank 1 lost: killed by SIGKILL']);
  // Every family is announced with HELP and TYPE.
  const text = prometheusText(view);
  for (const name of new Set(samples.map((s) => s.name))) {
    t.true(text.includes(`# TYPE ${name} `), name);
    t.true(text.includes(`# HELP ${name} `), name);
  }
});

test('state() splits each rank\'s time into compute, collectives, waiting in the current op and PS calls', (t) => {
  const view = new JobView();
  const now = Date.now();
  view.joined('worker', 0, 'h', 1);
  view.joined('worker', 1, 'h', 2);
  // Rank 0 has been blocked in allReduce seq 5 for 3 s (by its own clock): waiting, not compute.
  view.update('worker', 0, metrics(now, { current: { op: 'allReduce', group: 'world', seq: 5, since: now - 3000 } }));
  view.update('worker', 1, metrics(now));
  type Seconds = { wall: number; compute: number; collectives: number; waiting: number; ps: number };
  const state = view.state() as { processes: Array<{ state: string; seconds: Seconds }> };
  const [p, idle] = state.processes;
  t.is(p!.state, 'waiting in allReduce seq 5');
  t.deepEqual(p!.seconds, { wall: 10, collectives: 2, waiting: 3, ps: 1, compute: 4 });
  t.deepEqual(idle!.seconds, { wall: 10, collectives: 2, waiting: 0, ps: 1, compute: 7 });
});

test('the Chrome trace keeps sub-millisecond timestamps as whole microseconds', (t) => {
  const view = new JobView();
  const now = Date.now();
  view.joined('worker', 0, 'h', 1);
  const start = 1_700_000_000_123.4567;
  view.update('worker', 0, metrics(now, { timeline: [{ op: 'allReduce', group: 'world', seq: 1, bytes: 8, start, end: start + 0.0421, ok: true }] }));
  const trace = view.chromeTrace() as { traceEvents: Array<{ ph: string; ts: number; dur: number }> };
  const op = trace.traceEvents.find((e) => e.ph === 'X')!;
  t.is(op.ts, 1_700_000_000_123_457);
  t.is(op.dur, 42);
});

test('the stall inspector tells dead, desynced and busy ranks apart', (t) => {
  const view = new JobView();
  const now = Date.now();
  for (let r = 0; r < 4; r++) view.joined('worker', r, 'h', r);
  const waiting = { current: { op: 'allReduce', group: 'world', seq: 9, since: now - 40_000 } };
  view.update('worker', 0, metrics(now, waiting));
  view.update('worker', 1, metrics(now, { current: { op: 'bcast', group: 'world', seq: 9, since: now - 40_000 } }));
  view.update('worker', 2, metrics(now, { lastSeq: { world: 8 } }));
  view.update('worker', 3, metrics(now));
  view.lost('worker', 3, 'killed by SIGKILL');
  const stalls = inspectStalls(view, 30_000, now);
  const mine = stalls.find((s) => s.key === 'allReduce/world/9');
  t.truthy(mine);
  t.is(
    mine!.message,
    'stall: allReduce seq 9 has waited 40 s; arrived: rank 0; missing: rank 1 (in bcast seq 9 (desync)), rank 2 (busy computing; last finished seq 8), rank 3 (dead: killed by SIGKILL)',
  );
  t.is(inspectStalls(view, 60_000, now).length, 0, 'nothing under the threshold');
});

test('a stall waits for metrics sent since it began before it names what a missing rank is doing', (t) => {
  const view = new JobView();
  const start = Date.now();
  view.joined('worker', 0, 'h', 0);
  view.joined('worker', 1, 'h', 1);
  // Rank 1's last metrics predate the stall: they still show it inside the previous op.
  view.update('worker', 1, metrics(start, { current: { op: 'allReduce', group: 'world', seq: 8, since: start - 5 }, lastSeq: { world: 7 } }));
  const stale = view.processes.get(JobView.key('worker', 1))!;
  stale.metricsAtMs = start - 1;  // received just before rank 0 was seen arriving at seq 9
  view.update('worker', 0, metrics(start, { current: { op: 'allReduce', group: 'world', seq: 9, since: start - 40_000 } }));
  t.deepEqual(inspectStalls(view, 30_000, start), [], 'not reported from stale metrics');
  // Fresh metrics from rank 1: it finished seq 8 and computes.
  view.update('worker', 1, metrics(start, { lastSeq: { world: 8 } }));
  t.deepEqual(inspectStalls(view, 30_000, start).map((s) => s.message), ['stall: allReduce seq 9 has waited 40 s; arrived: rank 0; missing: rank 1 (busy computing; last finished seq 8)']);
});

test('no stall is reported when every other rank already finished the op (the waiter\'s metrics were late)', (t) => {
  const view = new JobView();
  const now = Date.now();
  for (let r = 0; r < 3; r++) view.joined('worker', r, 'h', r);
  view.update('worker', 0, metrics(now, { current: { op: 'allReduce', group: 'world', seq: 32, since: now - 40_000 }, lastSeq: { world: 31 } }));
  view.update('worker', 1, metrics(now, { lastSeq: { world: 34 } }));
  view.update('worker', 2, metrics(now, { lastSeq: { world: 33 } }));
  t.deepEqual(inspectStalls(view, 30_000, now), []);
  // One rank still short of it: that one is missing; the one past it is not.
  view.update('worker', 2, metrics(now, { lastSeq: { world: 31 } }));
  t.deepEqual(inspectStalls(view, 30_000, now).map((s) => s.message), ['stall: allReduce seq 32 has waited 40 s; arrived: rank 0; already past it: rank 1; missing: rank 2 (busy computing; last finished seq 31)']);
});

test('a reduceTo non-root that sent its part and went on is past the op, not a desynced rank', (t) => {
  // Seen in CI: the root waited in reduceTo seq 3 for a slow host's ranks while rank 1, done with
  // seq 3 and 4, sat in barrier seq 5; it was reported as "missing: rank 1 (in barrier seq 5 (desync))".
  const view = new JobView();
  const now = Date.now();
  for (let r = 0; r < 4; r++) view.joined('worker', r, 'h', r);
  view.update('worker', 0, metrics(now, { current: { op: 'reduceTo', group: 'world', seq: 3, since: now - 40_000 }, lastSeq: { world: 2 } }));
  view.update('worker', 1, metrics(now, { current: { op: 'barrier', group: 'world', seq: 5, since: now - 39_000 }, lastSeq: { world: 4 } }));
  view.update('worker', 2, metrics(now, { lastSeq: { world: 2 } }));
  view.update('worker', 3, metrics(now, { lastSeq: { world: 2 } }));
  const messages = inspectStalls(view, 30_000, now).map((s) => s.message);
  t.true(messages.includes('stall: reduceTo seq 3 has waited 40 s; arrived: rank 0; already past it: rank 1; missing: rank 2 (busy computing; last finished seq 2), rank 3 (busy computing; last finished seq 2)'), messages.join('\n'));
});

test('a parameter-server call in flight is PS time in state() and named by the stall inspector, not "busy computing"', (t) => {
  const view = new JobView();
  const now = Date.now();
  for (let r = 0; r < 3; r++) view.joined('worker', r, 'h', r);
  view.update('worker', 0, metrics(now, { current: { op: 'allReduce', group: 'world', seq: 9, since: now - 40_000 } }));
  // Rank 1 has waited 4 s (its clock) for a pull; rank 2 computes, with a call of 0.2 s in flight.
  view.update('worker', 1, metrics(now, { lastSeq: { world: 8 }, psWaitingSince: now - 4000 }));
  view.update('worker', 2, metrics(now, { lastSeq: { world: 8 }, psWaitingSince: now - 200 }));
  type Seconds = { wall: number; compute: number; ps: number };
  const state = view.state() as { processes: Array<{ seconds: Seconds }> };
  t.deepEqual(state.processes[1]!.seconds, { wall: 10, collectives: 2, waiting: 0, ps: 5, compute: 3 } as Seconds);
  t.deepEqual(
    inspectStalls(view, 30_000, now).map((s) => s.message),
    ['stall: allReduce seq 9 has waited 40 s; arrived: rank 0; missing: rank 1 (waiting 4.0 s for a parameter-server call; last finished seq 8), rank 2 (busy computing; last finished seq 8)'],
  );
});
