// What ranks see when a collective goes wrong: every survivor rejects with a typed error
// that names the op, the sequence number and the rank at fault, within bounded time.
import test from 'ava';

import { spawnWorld } from '../helpers/spawn_world.js';

interface Outcome {
  ok: boolean;
  name?: string;
  code?: string;
  peer?: number;
  op?: string;
  seq?: number;
  message?: string;
  elapsedMs: number;
}

function outcomes(stdout: string[][]): Array<Outcome[]> {
  return stdout.map((lines) => lines.filter((l) => l.startsWith('OUTCOME ')).map((l) => JSON.parse(l.slice(8)) as Outcome));
}

test('mismatched op kinds reject on every rank with both views', async (t) => {
  t.timeout(60_000);
  const run = await spawnWorld(3, 'workers/failures.worker.js', ['mismatch-kind']);
  t.false(run.timedOut);
  for (const [rank, o] of outcomes(run.stdout).entries()) {
    t.is(o.length, 1, `rank ${rank}: ${run.stderr[rank]!.join('\n')}`);
    t.is(o[0]!.code, 'ERR_MISMATCH', `rank ${rank}: ${JSON.stringify(o[0])}`);
    t.is(o[0]!.name, 'MismatchError');
    t.regex(o[0]!.message!, /seq 0/);
    t.regex(o[0]!.message!, /bcast\(float32, count=100, root=0\)/);
    t.regex(o[0]!.message!, /allReduce\(float32, count=100, op=sum\)/);
  }
});

test('mismatched counts and dtypes reject on every rank', async (t) => {
  t.timeout(60_000);
  for (const [scenario, np, pattern] of [
    ['mismatch-count', 2, /count=10\b.*count=11|count=11\b.*count=10/],
    ['mismatch-dtype', 3, /float64.*float32|float32.*float64/],
  ] as const) {
    const run = await spawnWorld(np, 'workers/failures.worker.js', [scenario]);
    t.false(run.timedOut);
    for (const [rank, o] of outcomes(run.stdout).entries()) {
      t.is(o[0]?.code, 'ERR_MISMATCH', `${scenario} rank ${rank}: ${JSON.stringify(o[0])} ${run.stderr[rank]!.join('\n')}`);
      t.regex(o[0]?.message ?? '', pattern);
    }
  }
});

test('a rank killed with SIGKILL mid-allReduce makes every survivor reject with PeerLostError naming it', async (t) => {
  t.timeout(60_000);
  const np = 4;
  const run = await spawnWorld(np, 'workers/failures.worker.js', ['kill-mid-allreduce'], { wallTimeoutMs: 30_000 });
  t.false(run.timedOut, 'survivors hung');
  t.is(run.exits[np - 1]!.signal, 'SIGKILL');
  const all = outcomes(run.stdout);
  for (let rank = 0; rank < np - 1; rank++) {
    const o = all[rank]![0];
    t.truthy(o, `rank ${rank} reported nothing: ${run.stderr[rank]!.join('\n')}`);
    t.is(o!.code, 'ERR_PEER_LOST', `rank ${rank}: ${JSON.stringify(o)}`);
    t.is(o!.name, 'PeerLostError');
    t.is(o!.peer, np - 1, `rank ${rank} blamed the wrong rank: ${o!.message}`);
    t.is(o!.op, 'allReduce');
    t.is(typeof o!.seq, 'number');
  }
});

test('a hung rank (SIGSTOP) is detected by the coordinator heartbeat and breaks the others', async (t) => {
  t.timeout(60_000);
  const np = 3;
  const run = await spawnWorld(np, 'workers/failures.worker.js', ['hang'], { heartbeatTimeoutMs: 4000, wallTimeoutMs: 20_000 });
  const all = outcomes(run.stdout);
  for (let rank = 0; rank < np - 1; rank++) {
    const o = all[rank]![0];
    t.is(o?.code, 'ERR_PEER_LOST', `rank ${rank}: ${JSON.stringify(o)} ${run.stderr[rank]!.join('\n')}`);
    t.is(o?.peer, np - 1);
  }
  t.is(all[np - 1]!.length, 0, 'the stopped rank cannot report');
});

test('an op that outlives its timeoutMs rejects with TimeoutError naming the missing rank', async (t) => {
  t.timeout(60_000);
  const run = await spawnWorld(2, 'workers/failures.worker.js', ['timeout']);
  const o = outcomes(run.stdout)[0]![0];
  t.is(o?.code, 'ERR_TIMEOUT', JSON.stringify(o));
  t.is(o?.name, 'TimeoutError');
  t.regex(o?.message ?? '', /timed out after 500 ms.*rank 1/);
});

test('after a failure the communicator is broken: later ops reject with the original error', async (t) => {
  t.timeout(60_000);
  const run = await spawnWorld(2, 'workers/failures.worker.js', ['after-break']);
  for (const [rank, o] of outcomes(run.stdout).entries()) {
    t.is(o.length, 2, `rank ${rank}`);
    t.is(o[0]!.code, 'ERR_MISMATCH');
    t.is(o[1]!.code, 'ERR_MISMATCH', `rank ${rank}: ${JSON.stringify(o[1])}`);
    t.is(o[1]!.op, 'barrier');
  }
});
