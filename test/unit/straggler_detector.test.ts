// The straggler detector on synthetic heartbeats: a rank that computes much longer per op than
// the others' median is confirmed after `windows` windows in a row, once; uniform ranks and
// small absolute differences are left alone; a replaced rank starts over.
import test from 'ava';

import type { ProcessView } from '../../lib/monitor/job_view.js';
import { StragglerDetector } from '../../lib/monitor/straggler_detector.js';

/** A worker whose counters say it spent `computeMs` computing over `ops` ops by time `now`. */
function worker(rank: number, now: number, computeMs: number, ops: number, alive = true): ProcessView {
  return {
    role: 'worker', rank, host: 'h', pid: 1, alive, lostReason: null, lastHeartbeatMs: now, metricsAtMs: now, currentSinceMs: null, server: null,
    rates: { pullsPerSec: 0, pushesPerSec: 0, keysPerSec: 0 },
    metrics: {
      startedAt: 0, now, current: null, lastSeq: {}, ops: { allReduce: ops }, bytes: 0,
      collectiveSeconds: (now - computeMs) / 1000, psSeconds: 0, psCalls: 0, psKeys: 0, reports: [], timeline: [],
    },
  };
}

/** Every window: 100 ops; rank `slow` computes `slowMs` per op, the others 1 ms. */
function run(d: StragglerDetector, windows: number, slow: number | null, slowMs: number, np = 4): Array<{ window: number; rank: number }> {
  const found: Array<{ window: number; rank: number }> = [];
  for (let k = 0; k <= windows; k++) {
    const now = 1000 + k * d.windowMs;
    const ws = Array.from({ length: np }, (_, r) => worker(r, now, k * 100 * (r === slow ? slowMs : 1), k * 100));
    for (const s of d.check(ws, now)) found.push({ window: k, rank: s.rank });
  }
  return found;
}

test('a rank 10x slower per op is confirmed after 3 windows, once', (t) => {
  const d = new StragglerDetector({ windowMs: 1000 });
  t.deepEqual(run(d, 8, 2, 10), [{ window: 3, rank: 2 }]);
});

test('uniform ranks, or a difference under minExcessMs, are not stragglers', (t) => {
  t.deepEqual(run(new StragglerDetector({ windowMs: 1000 }), 8, null, 1), []);
  // 3x slower but only 2 ms more per op: noise on a busy machine, not worth a restart.
  t.deepEqual(run(new StragglerDetector({ windowMs: 1000 }), 8, 1, 3), []);
});

test('the factor is configurable and a forgotten rank starts its streak over', (t) => {
  t.deepEqual(run(new StragglerDetector({ windowMs: 1000, factor: 20 }), 8, 0, 10), []);
  const d = new StragglerDetector({ windowMs: 1000, windows: 2 });
  const ws = (k: number, slowMs: number): ProcessView[] => [0, 1, 2].map((r) => worker(r, 1000 + k * 1000, k * 100 * (r === 1 ? slowMs : 1), k * 100));
  t.deepEqual(d.check(ws(0, 10), 1000), []);
  t.deepEqual(d.check(ws(1, 10), 2000), []);
  d.forget(1);
  t.deepEqual(d.check(ws(2, 10), 3000), [], 'no previous sample after forget');
  t.deepEqual(d.check(ws(3, 10), 4000), []);
  t.deepEqual(d.check(ws(4, 10), 5000).map((s) => s.rank), [1]);
});

test('dead ranks and ranks without metrics are ignored', (t) => {
  const d = new StragglerDetector({ windowMs: 1000, windows: 1 });
  const at = (k: number): ProcessView[] => [worker(0, 1000 * k, 100 * k, 100 * k), worker(1, 1000 * k, 100 * k, 100 * k), worker(2, 1000 * k, 900 * k, 100 * k, false)];
  d.check(at(1), 1000);
  t.deepEqual(d.check(at(2), 2000), []);
});

/** A PS worker: per window 100 PS calls of `callMs` each and 1 ms of compute per call. */
function psWorker(rank: number, k: number, callMs: number, now: number): ProcessView {
  const v = worker(rank, now, 0, 0);
  const calls = k * 100;
  const psMs = calls * callMs;
  v.metrics = { ...v.metrics!, ops: {}, collectiveSeconds: 0, psCalls: calls, psSeconds: psMs / 1000, startedAt: now - psMs - calls };
  return v;
}

test('a worker whose parameter-server calls take 10x the others (a slow link) is confirmed, named as such', (t) => {
  const d = new StragglerDetector({ windowMs: 1000 });
  const found: string[] = [];
  for (let k = 0; k <= 5; k++) {
    const now = 100_000 + k * 1000;
    for (const s of d.check([0, 1, 2, 3].map((r) => psWorker(r, k, r === 3 ? 30 : 3, now)), now)) found.push(`${k}: ${s.message}`);
  }
  t.is(found.length, 1, found.join('\n'));
  t.regex(found[0]!, /^3: rank 3 is a straggler: 30\.0 ms per parameter-server call vs a median of 3\.0 ms/);
});

test('a worker whose parameter-server call outlasts whole windows is confirmed while the call is still in flight', (t) => {
  // Over a 2 Mbit/s link one call can take longer than a window: no call completes, yet the
  // streak must grow (it used to reset), and the wait must not count as compute.
  const d = new StragglerDetector({ windowMs: 1000 });
  const found: string[] = [];
  for (let k = 0; k <= 5; k++) {
    const now = 100_000 + k * 1000;
    const ws = [0, 1, 2].map((r) => psWorker(r, k, 3, now));
    // Rank 3 works like the others through window 1, then waits for one call from then on.
    const slow = psWorker(3, Math.min(k, 1), 3, now);
    if (k >= 2) slow.metrics = { ...slow.metrics!, startedAt: now - 400 - 1000 * (k - 1), psWaitingSince: 101_000 };
    ws.push(slow);
    for (const s of d.check(ws, now)) found.push(`${k}: ${s.message}`);
  }
  t.is(found.length, 1, found.join('\n'));
  t.regex(found[0]!, /^4: rank 3 is a straggler: 3000\.0 ms per parameter-server call vs a median of 3\.0 ms/);
});

test('a call in flight for less than a window is not compute: the rank is not slow while it waits', (t) => {
  const d = new StragglerDetector({ windowMs: 1000, windows: 1 });
  const found: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const now = 100_000 + k * 1000;
    const ws = [0, 1, 2, 3].map((r) => psWorker(r, k, 3, now));
    // Rank 1 ends window 2 900 ms into a call (its wall time includes it); the call is done in window 3.
    const m = ws[1]!.metrics!;
    if (k === 2) ws[1]!.metrics = { ...m, startedAt: m.startedAt - 900, psWaitingSince: now - 900 };
    if (k >= 3) ws[1]!.metrics = { ...m, startedAt: m.startedAt - 900, psCalls: m.psCalls + 1, psSeconds: m.psSeconds + 0.9 };
    for (const s of d.check(ws, now)) found.push(`${k}: ${s.message}`);
  }
  // Counted as compute, window 2 would show 9 ms of compute per op against 1 ms.
  t.deepEqual(found.map((f) => f.slice(0, 2)), ['3:'], found.join('\n'));
  t.regex(found[0]!, /per parameter-server call/);
});

test('a slow link adding 4 ms to 0.3 ms calls is confirmed: PS calls have a 1 ms floor, not the 5 ms of compute', (t) => {
  const d = new StragglerDetector({ windowMs: 1000 });
  const found: string[] = [];
  for (let k = 0; k <= 5; k++) {
    const now = 100_000 + k * 1000;
    for (const s of d.check([0, 1, 2, 3].map((r) => psWorker(r, k, r === 3 ? 4.3 : 0.3, now)), now)) found.push(`${k}: ${s.message}`);
  }
  t.deepEqual(found.map((f) => f.slice(0, 2)), ['3:'], found.join('\n'));
  t.regex(found[0]!, /rank 3 is a straggler: 4\.3 ms per parameter-server call vs a median of 0\.3 ms/);
  // 3x the others but only 0.6 ms more per call: a busy host, not a slow link.
  const calm = new StragglerDetector({ windowMs: 1000 });
  for (let k = 0; k <= 5; k++) {
    const now = 100_000 + k * 1000;
    t.deepEqual(calm.check([0, 1, 2, 3].map((r) => psWorker(r, k, r === 3 ? 0.9 : 0.3, now)), now), [], `window ${k}`);
  }
});

test("a fast worker's one slow window before it waits for the others does not hide two slow-link workers", (t) => {
  // Ranks 2 and 3 share a host whose link turns slow at window 4. Ranks 0 and 1 finish their
  // share at window 4 with one long call (a final pull) and wait in a collective from then on.
  // Judged by that last window, rank 0's 20 ms would make the others' median 6 ms (rank 3, or
  // rank 2) and neither slow worker would ever be confirmed.
  const d = new StragglerDetector({ windowMs: 1000 });
  const found: string[] = [];
  for (let k = 0; k <= 8; k++) {
    const now = 100_000 + k * 1000;
    const ws = [0, 1, 2, 3].map((r) => {
      if (r >= 2) {
        // 0.3 ms per call through window 3, 6 ms per call after.
        const v = psWorker(r, k, 0.3, now);
        const slowCalls = Math.max(0, k - 3) * 100;
        v.metrics = { ...v.metrics!, psSeconds: v.metrics!.psSeconds + (slowCalls * 5.7) / 1000, startedAt: v.metrics!.startedAt - slowCalls * 5.7 };
        return v;
      }
      if (k < 4) return psWorker(r, k, 0.3, now);
      // One more call in window 4, of 20 ms for rank 0 (an ordinary one for rank 1), and 1 ms of
      // compute; then waiting in a barrier. The start is fixed from then on (it is now-relative
      // in psWorker), so the wait adds wall time that is neither compute nor a PS call.
      const v = psWorker(r, 3, 0.3, 103_000);
      const last = r === 0 ? 20 : 0.3;
      v.metrics = {
        ...v.metrics!, now, psCalls: v.metrics!.psCalls + 1, psSeconds: v.metrics!.psSeconds + last / 1000,
        current: { op: 'barrier', group: 'world', seq: 9, since: 103_000 + last + 1 },
      };
      return v;
    });
    for (const s of d.check(ws, now)) found.push(`${k}: ${s.message}`);
  }
  t.deepEqual(found.map((f) => f.slice(0, 20)).sort(), ['6: rank 2 is a strag', '6: rank 3 is a strag'], found.join('\n'));
  for (const f of found) t.regex(f, /6\.0 ms per parameter-server call vs a median of 0\.3 ms/);
});
