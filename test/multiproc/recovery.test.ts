// Worker replacement (shoal run --max-restarts) and checkpoint/resume with real ranks: a rank
// killed mid-training is replaced, survivors roll back to their last commit and rebuild the
// world with the replacement, and the sums come out exactly as in an undisturbed run.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runRanks } from '../helpers/run_job.js';

const WORKER = 'workers/recovery.worker.js';
// Checkpoints are signed with the job secret: a resumed job must have the same SHOAL_TOKEN.
const SECRET = { SHOAL_TOKEN: 'recovery-test-secret' };

interface Result {
  rank: number;
  acc: number[];
  group: string;
  restart: number;
  commits: number;
}

function results(output: string[][]): Array<Result | undefined> {
  return output.map((lines) => {
    const line = [...lines].reverse().find((l) => l.startsWith('RESULT '));
    return line === undefined ? undefined : (JSON.parse(line.slice(7)) as Result);
  });
}

/** The accumulator after `iters` iterations on `np` ranks (closed form of recovery.worker.ts). */
function expected(np: number, iters: number): number[] {
  return [0, 1, 2, 3].map((j) => ((np * (np + 1)) / 2) * ((iters * (iters + 1)) / 2) + iters * np * j);
}

test('a killed rank is replaced and every rank ends with the exact undisturbed sums', async (t) => {
  t.timeout(120_000);
  const np = 3;
  const iters = 40;
  const run = await runRanks(np, WORKER, [String(iters)], { maxRestarts: 1, inject: 'kill:rank=2:op=allReduce:seq=15', quiet: true, wallTimeoutMs: 90_000 });
  t.false(run.timedOut, 'the job hung');
  t.true(run.result.ok, `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join(`\n[${r}] `)}`).join('\n')}`);
  t.is(run.result.restarts?.length, 1);
  t.like(run.result.restarts?.[0], { role: 'worker', rank: 2, cause: 'killed by SIGKILL' });
  t.regex(run.result.summary, /after 1 restart \(rank 2 killed by SIGKILL\)/);
  const res = results(run.stdout);
  for (let r = 0; r < np; r++) {
    t.truthy(res[r], `rank ${r} printed no result`);
    t.deepEqual(res[r]!.acc, expected(np, iters), `rank ${r}`);
    t.is(res[r]!.group, 'world#1', `rank ${r} ended in epoch 1`);
    t.is(res[r]!.commits, iters);
  }
  t.is(res[2]!.restart, 1, 'rank 2 is the replacement');
  // Survivors say what happened and how long the rebuild took.
  t.true(run.stderr[0]!.some((l) => /\[shoal recovery\] rank 0: .*rank 2.*rolling back to commit \d+/.test(l)), run.stderr[0]!.join('\n'));
  t.true(run.stderr[0]!.some((l) => /\[shoal recovery\] rank 0: world rebuilt in [\d.]+ s/.test(l)));
});

test('two losses in a row with --max-restarts 2: both replaced, sums exact', async (t) => {
  t.timeout(120_000);
  const np = 3;
  const iters = 40;
  const run = await runRanks(np, WORKER, [String(iters)], {
    maxRestarts: 2,
    inject: 'kill:rank=1:op=allReduce:seq=8;kill:rank=0:op=allReduce:seq=10',
    quiet: true,
    wallTimeoutMs: 100_000,
  });
  t.false(run.timedOut, 'the job hung');
  t.true(run.result.ok, run.result.summary);
  t.deepEqual(run.result.restarts?.map((r) => r.rank), [1, 0]);
  for (const r of results(run.stdout)) t.deepEqual(r?.acc, expected(np, iters));
});

test('restarts exhausted: the second loss ends the job and the summary names it', async (t) => {
  t.timeout(120_000);
  const run = await runRanks(3, WORKER, ['40'], {
    maxRestarts: 1,
    inject: 'kill:rank=1:op=allReduce:seq=8;kill:rank=0:op=allReduce:seq=10',
    quiet: true,
    killGraceMs: 500,
    wallTimeoutMs: 100_000,
  });
  t.false(run.timedOut, 'the job hung');
  t.false(run.result.ok);
  t.is(run.result.restarts?.length, 1);
  t.regex(run.result.summary, /rank 0 was killed by SIGKILL \(first failure\)/);
});

test('without --max-restarts a loss still ends the job (no waiting for a replacement)', async (t) => {
  t.timeout(60_000);
  const run = await runRanks(2, WORKER, ['40'], { inject: 'kill:rank=1:op=allReduce:seq=5', quiet: true, killGraceMs: 500, wallTimeoutMs: 50_000 });
  t.false(run.timedOut);
  t.false(run.result.ok);
  t.deepEqual(run.result.restarts, []);
  // Which exit the launcher sees first (the victim's, or a survivor's error exit) is a race.
  t.is(run.result.exits[1]?.signal, 'SIGKILL');
});

test('checkpoint then --resume: a job killed at iteration 25 continues to the same sums', async (t) => {
  t.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'shoal-ckpt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const np = 2;
  const iters = 40;
  const first = await runRanks(np, WORKER, [String(iters), dir], { env: SECRET, inject: 'exit:rank=0:op=allReduce:seq=26:code=9', quiet: true, killGraceMs: 500, wallTimeoutMs: 60_000 });
  t.false(first.result.ok, 'the first run was meant to die');
  t.is(results(first.stdout).filter(Boolean).length, 0);
  const second = await runRanks(np, WORKER, [String(iters), dir, dir], { env: SECRET, quiet: true, wallTimeoutMs: 60_000 });
  t.true(second.result.ok, `${second.result.summary}\n${second.output.flat().join('\n')}`);
  for (const r of results(second.stdout)) {
    t.deepEqual(r?.acc, expected(np, iters));
    t.is(r?.commits, iters);
  }
});

test('--resume refuses a checkpoint of another job (other parameters, or another secret), naming the file and the difference', async (t) => {
  t.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'shoal-ckpt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const first = await runRanks(2, WORKER, ['10', dir], { env: SECRET, quiet: true, wallTimeoutMs: 60_000 });
  t.true(first.result.ok, first.result.summary);
  const second = await runRanks(2, WORKER, ['12', dir, dir], { env: SECRET, quiet: true, killGraceMs: 500, wallTimeoutMs: 60_000 });
  t.false(second.result.ok);
  const text = second.stderr[0]!.join('\n');
  t.regex(text, /checkpoint\.bin was written by a different job: iters was 10, this job has 12/);
  // Same parameters, another secret (a fresh shoal run without SHOAL_TOKEN gets a random one).
  const foreign = await runRanks(2, WORKER, ['10', dir, dir], { quiet: true, killGraceMs: 500, wallTimeoutMs: 60_000 });
  t.false(foreign.result.ok);
  t.regex(foreign.stderr[0]!.join('\n'), /checkpoint\.bin was written by another job or with another secret.*run with the SHOAL_TOKEN of the job that wrote it/);
});
