// Transport selection: ranks on one host exchange payloads through shared memory unless told
// otherwise, and with either channel forced the collectives and the failure semantics are the
// same (exact results, MismatchError on every rank, PeerLostError naming a SIGKILLed rank).
// The whole multiproc suite can also be run under SHOAL_TRANSPORT=tcp|shm (docs/transport.md).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, utimesSync, writeFileSync } from 'node:fs';

import test from 'ava';

import { runRanks } from '../helpers/run_job.js';
import { spawnWorld } from '../helpers/spawn_world.js';

type Mode = 'tcp' | 'shm';
const MODES: Mode[] = ['tcp', 'shm'];

function transportsOf(stdout: string[][]): Array<{ world: string[]; split: string[]; directReads: boolean[] }> {
  return stdout.map((lines) => JSON.parse(lines.find((l) => l.startsWith('TRANSPORTS '))?.slice(11) ?? 'null'));
}

interface Outcome {
  code?: string;
  name?: string;
  peer?: number;
  op?: string;
  ok?: boolean;
  wrong?: number;
  directReads?: boolean;
  message?: string;
}

/** Each rank's first `OUTCOME {json}` line (workers/failures.worker.ts), or null. */
function outcomeOf(lines: string[]): Outcome | null {
  const line = lines.find((l) => l.startsWith('OUTCOME '));
  return line ? (JSON.parse(line.slice(8)) as Outcome) : null;
}

function expected(np: number, rank: number, kind: string): string[] {
  return Array.from({ length: np }, (_, r) => (r === rank ? 'self' : kind));
}

for (const [setting, kind] of [['auto', 'shm'], ['', 'shm'], ['tcp', 'tcp'], ['shm', 'shm']] as const) {
  test(`SHOAL_TRANSPORT=${setting || '(unset)'} on one host: every pair uses ${kind}, world and split`, async (t) => {
    t.timeout(120_000);
    const np = 3;
    const run = await runRanks(np, 'workers/transport.worker.js', [], { env: { SHOAL_TRANSPORT: setting }, wallTimeoutMs: 100_000 });
    t.false(run.timedOut, 'job hit the wall-clock limit');
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    for (const [rank, seen] of transportsOf(run.stdout).entries()) {
      t.deepEqual(seen?.world, expected(np, rank, kind), `rank ${rank}`);
      t.deepEqual(seen?.split, expected(np, rank, kind), `rank ${rank} (split)`);
      // One host: large allReduces read the peers' memory directly, over shared memory only.
      t.deepEqual(seen?.directReads, [kind === 'shm', kind === 'shm'], `rank ${rank} (direct reads)`);
    }
  });
}

// A creator SIGKILLed between creating a segment and its peer opening it leaves the name in
// /dev/shm (RAM) for good; the first segment a process creates removes such orphans of this
// user: creator gone and the name over 30 minutes old (native/transport/shm_pipe.cc).
test('shared-memory segments orphaned by killed creators are removed; recent ones and live creators\' are kept', async (t) => {
  t.timeout(120_000);
  if (!existsSync('/dev/shm')) {
    t.pass('no /dev/shm here: nothing to sweep');
    return;
  }
  const gone = spawnSync(process.execPath, ['-e', '']).pid!;  // a pid that has exited
  const tag = randomBytes(6).toString('hex');
  const orphan = `/dev/shm/shoal-${gone}-orphan${tag}`;
  const recent = `/dev/shm/shoal-${gone}-recent${tag}`;
  const live = `/dev/shm/shoal-${process.pid}-live${tag}`;
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  try {
    for (const f of [orphan, recent, live]) writeFileSync(f, 'x');
    utimesSync(orphan, twoHoursAgo, twoHoursAgo);
    utimesSync(live, twoHoursAgo, twoHoursAgo);
    const run = await runRanks(2, 'workers/transport.worker.js', [], { env: { SHOAL_TRANSPORT: 'shm' }, wallTimeoutMs: 100_000 });
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    t.false(existsSync(orphan), 'an old segment of a process that is gone is removed');
    t.true(existsSync(recent), 'a recent one is kept (its creator may be in another PID namespace, mid-setup)');
    t.true(existsSync(live), 'one whose creator is alive is kept');
  } finally {
    for (const f of [orphan, recent, live]) rmSync(f, { force: true });
  }
});

test('direct reads: one rank opting out (SHOAL_DIRECT_READS=0) turns them off on every rank; the ring still sums exactly', async (t) => {
  t.timeout(120_000);
  const np = 3;
  const run = await runRanks(np, 'workers/transport.worker.js', ['1'], { env: { SHOAL_TRANSPORT: 'shm' }, wallTimeoutMs: 100_000 });
  t.false(run.timedOut, 'job hit the wall-clock limit');
  t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
  for (const [rank, seen] of transportsOf(run.stdout).entries()) {
    t.deepEqual(seen?.world, expected(np, rank, 'shm'), `rank ${rank}`);
    t.deepEqual(seen?.directReads, [false, false], `rank ${rank}`);
  }
});

// shm: the shared rings only (no direct reads); shm+direct: every allReduce above
// smallMessageBytes reads the peers' memory directly (all_reduce_direct.cc), even tiny ones.
const SWEEP_MODES = [...MODES, 'shm+direct'] as const;
function modeEnv(mode: (typeof SWEEP_MODES)[number]): Record<string, string> {
  if (mode === 'tcp') return { SHOAL_TRANSPORT: 'tcp' };
  if (mode === 'shm') return { SHOAL_TRANSPORT: 'shm', SHOAL_DIRECT_READS: '0' };
  return { SHOAL_TRANSPORT: 'shm', SHOAL_DIRECT_MIN_SLICE_BYTES: '0', SHOAL_SMALL_MESSAGE_BYTES: '0' };
}

for (const mode of SWEEP_MODES) {
  test(`${mode}: collective sweep through tiny rings, segments and frames is exact and bit-identical`, async (t) => {
    t.timeout(180_000);
    // 4 KiB rings wrap inside every frame header and fill up constantly (writers sleep);
    // every message above 0 bytes takes the ring/chain algorithms, or with shm+direct every
    // allReduce reads the peers' memory directly (uneven and empty slices, 64-byte segments).
    const run = await runRanks(3, 'workers/collectives.worker.js', [JSON.stringify({ counts: [1, 2, 3, 1000, 33333] })], {
      env: {
        ...modeEnv(mode),
        SHOAL_SHM_RING_BYTES: '4096',
        SHOAL_SMALL_MESSAGE_BYTES: '0',
        SHOAL_SEGMENT_BYTES: '64',
        SHOAL_MAX_FRAME_BYTES: '1024',
      },
      wallTimeoutMs: 150_000,
    });
    t.false(run.timedOut, 'job hit the wall-clock limit');
    t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}`);
    const digests = run.stdout.map((lines) => lines.find((l) => l.startsWith('DIGEST '))?.slice(7) ?? 'missing');
    t.is(new Set(digests).size, 1, `ranks disagree on result bits: ${digests.join(' ')}`);
    t.not(digests[0], 'missing');
  });

  test(`${mode}: a rank killed with SIGKILL mid-allReduce makes every survivor reject with PeerLostError naming it`, async (t) => {
    t.timeout(120_000);
    const np = 3;
    // 90 s: this file starts some 45 ranks at once, which takes 25-30 s on two loaded cores.
    const run = await spawnWorld(np, 'workers/failures.worker.js', ['kill-mid-allreduce'], { env: modeEnv(mode), wallTimeoutMs: 90_000 });
    t.false(run.timedOut, 'survivors hung');
    t.is(run.exits[np - 1]!.signal, 'SIGKILL');
    for (let rank = 0; rank < np - 1; rank++) {
      const o = outcomeOf(run.stdout[rank]!);
      t.is(o?.code, 'ERR_PEER_LOST', `rank ${rank}: ${JSON.stringify(o)} ${run.stderr[rank]!.join('\n')}`);
      t.is(o?.name, 'PeerLostError');
      t.is(o?.peer, np - 1, `rank ${rank}: ${JSON.stringify(o)}`);
      t.is(o?.op, 'allReduce');
    }
  });

  test(`${mode}: mismatched op kinds reject on every rank with MismatchError`, async (t) => {
    t.timeout(60_000);
    const run = await spawnWorld(3, 'workers/failures.worker.js', ['mismatch-kind'], { env: modeEnv(mode) });
    t.false(run.timedOut);
    for (let rank = 0; rank < 3; rank++) {
      const o = outcomeOf(run.stdout[rank]!);
      t.is(o?.code, 'ERR_MISMATCH', `rank ${rank}: ${JSON.stringify(o)} ${run.stderr[rank]!.join('\n')}`);
      t.is(o?.name, 'MismatchError');
    }
  });
}

// Direct reads in separate processes: a rank reads its peers' buffers while they are in the op.
// Whatever happens to one rank's op, no rank may succeed with bytes read after their owner
// gave the buffer back (its caller overwrites it at once here), and the failing rank returns
// only once the slow peer stopped reading it (all_reduce_direct.cc: lending).
const LEND_CASES = [
  {
    name: 'rank 2 fails after step 1 while rank 0 reads a second late',
    plan: [{ tuning: { testDirectReadDelayMs: 1000 } }, {}, { tuning: { testDirectFailAfterStep: 1 } }],
    failing: 2,
    code: 'ERR_IO',
  },
  {
    name: 'rank 0 times out after 1 s while rank 1 reads three seconds late',
    plan: [{ timeoutMs: 1000 }, { tuning: { testDirectReadDelayMs: 3000 } }, {}],
    failing: 0,
    code: 'ERR_TIMEOUT',
  },
];
for (const c of LEND_CASES) {
  // Serial: the timings need the ranks to start together, not behind this file's other worlds.
  test.serial(`shm+direct: ${c.name}: nobody succeeds with bytes given back, the failing rank waits for the reader`, async (t) => {
    t.timeout(90_000);
    const run = await spawnWorld(3, 'workers/failures.worker.js', ['direct-lend', JSON.stringify(c.plan)], {
      env: { SHOAL_TRANSPORT: 'shm' },
      wallTimeoutMs: 60_000,
    });
    t.false(run.timedOut, 'ranks hung');
    const outcomes = run.stdout.map((lines) => outcomeOf(lines));
    const detail = outcomes.map((o, r) => `[${r}] ${JSON.stringify(o)} ${run.stderr[r]!.join('\n')}`).join('\n');
    t.true(outcomes.every((o) => o?.directReads === true), detail);
    t.is(outcomes[c.failing]?.code, c.code, detail);
    for (const o of outcomes) if (o?.ok) t.is(o.wrong, 0, detail);
    // The failure reaches every rank before any can finish step 2.
    t.deepEqual(outcomes.map((o) => o?.ok), [false, false, false], detail);
  });
}
