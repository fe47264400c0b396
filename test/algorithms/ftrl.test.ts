// FTRL-Proximal: the per-coordinate update against a hand-computed sequence, the distributed
// trainer against sequential FTRL (in memory and through real servers), and the a9a goal.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ftrlDenominator, ftrlReference, ftrlStep, ftrlWeight, ftrlZFromWeight, trainFtrl, type FtrlTrainOptions } from '../../algorithms/ftrl/index.js';
import { LocalAssignTable } from '../../algorithms/ps_trainer/kv.js';
import { LocalFtrlTables } from '../../algorithms/ftrl/local_table.js';
import { decodeProgress, PROGRESS_DIM, PsRecovery } from '../../algorithms/ps_trainer/recovery.js';
import { loadFtrlModel, predictFtrl } from '../../algorithms/ftrl/model.js';
import { parseFtrlArgs } from '../../algorithms/ftrl/params.js';
import { UsageError } from '../../lib/cli_flags.js';
import { localCollective } from '../../algorithms/common/collective.js';
import { aucLocal } from '../../algorithms/common/metrics.js';
import { readLibsvm } from '../../lib/data/libsvm.js';
import { main } from '../../cli/trainers/ftrl_cli.js';
import { checkFtrlSnapshotLayout } from '../../algorithms/ftrl/worker.js';
import { runRanks } from '../helpers/run_job.js';

const A9A = '/work/shared/data/a9a';
const dir = mkdtempSync(join(tmpdir(), 'shoal-ftrl-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** A small planted sparse logistic problem in libsvm text (labels ±1, features 1..F). */
function plantedLibsvm(rows: number, features: number, seed: number): string {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 4294967296);
  const truth = Array.from({ length: features + 1 }, () => (rnd() - 0.5) * 3);
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    const ids = new Set<number>();
    while (ids.size < 6) ids.add(1 + Math.floor(rnd() * features));
    const sorted = [...ids].sort((a, b) => a - b);
    let m = -0.3;
    const parts = sorted.map((id) => {
      const x = Math.round((0.5 + rnd()) * 100) / 100;
      m += truth[id]! * x;
      return `${id}:${x}`;
    });
    const y = rnd() < 1 / (1 + Math.exp(-m)) ? 1 : -1;
    lines.push(`${y} ${parts.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

const trainFile = join(dir, 'train.svm');
const testFile = join(dir, 'test.svm');
{
  const lines = plantedLibsvm(4000, 60, 7).split('\n');
  writeFileSync(trainFile, lines.slice(0, 3000).join('\n') + '\n');
  writeFileSync(testFile, lines.slice(3000).join('\n'));
}

test('ftrlStep follows a hand-computed sequence (alpha 1, beta 1, l1 0.5, l2 0)', (t) => {
  const h = { alpha: 1, beta: 1, l1: 0.5, l2: 0 };
  // g = 1 at w = 0: sigma = (sqrt(1) - 0) / 1 = 1, z = 0 + 1 - 1*0 = 1, n = 1,
  // w = -(1 - 0.5) / ((1 + 1) / 1) = -0.25.
  let z = 0;
  let n = 0;
  let d = ftrlStep(z, n, 1, h);
  z += d.dz;
  n += d.dn;
  t.is(z, 1);
  t.is(n, 1);
  t.is(d.w, -0.25);
  // g = -2 at w = -0.25: n = 5, sigma = sqrt(5) - 1, z = 1 - 2 + 0.25 (sqrt(5) - 1) = -0.6909830...,
  // w = (0.6909830 - 0.5) / (1 + sqrt(5)) = 0.0590170...
  d = ftrlStep(z, n, -2, h);
  z += d.dz;
  n += d.dn;
  t.true(Math.abs(z - -0.6909830056250525) < 1e-12);
  t.is(n, 5);
  t.true(Math.abs(d.w - 0.05901699437494742) < 1e-12);
  // g = 0.5: n = 5.25, z = -0.1942419..., |z| <= l1 so w = 0.
  d = ftrlStep(z, n, 0.5, h);
  z += d.dz;
  n += d.dn;
  t.true(Math.abs(z - -0.19424191638093719) < 1e-12);
  t.is(n, 5.25);
  t.is(d.w, 0);
  t.is(ftrlWeight(z, n, h), 0);
  t.false(d.clipped);
});

test('ftrlStep is bit for bit the composition of ftrlWeight, sigma and ftrlDenominator (each square root taken once)', (t) => {
  // The textbook form ftrlStep was written from: w, then sigma, then the weight at (z2, n2).
  const composed = (z: number, n: number, g: number, h: { alpha: number; beta: number; l1: number; l2: number }, R: number) => {
    const w = ftrlWeight(z, n, h);
    const n2 = n + g * g;
    let z2 = z + g - ((Math.sqrt(n2) - Math.sqrt(n)) / h.alpha) * w;
    let clipped = false;
    if (R !== Infinity) {
      const bound = R * ftrlDenominator(n2, h) + h.l1;
      if (Math.abs(z2) > bound) {
        z2 = Math.sign(z2) * bound;
        clipped = true;
      }
    }
    return { dz: z2 - z, dn: g * g, w: ftrlWeight(z2, n2, h), clipped };
  };
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 4294967296);
  let nonZero = 0;
  for (let i = 0; i < 20000; i++) {
    const h = { alpha: 0.01 + rnd(), beta: rnd() * 2, l1: i % 3 === 0 ? 0 : rnd() * 2, l2: rnd() };
    const z = (rnd() - 0.5) * 8;
    const n = i % 7 === 0 ? 0 : rnd() * 50;
    const g = (rnd() - 0.5) * 4;
    const R = i % 2 === 0 ? Infinity : 0.05 + rnd();
    const got = ftrlStep(z, n, g, h, R);
    const want = composed(z, n, g, h, R);
    if (!Object.is(got.dz, want.dz) || !Object.is(got.w, want.w) || got.dn !== want.dn || got.clipped !== want.clipped) {
      t.fail(`z ${z} n ${n} g ${g} ${JSON.stringify(h)} R ${R}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
      return;
    }
    if (got.w !== 0) nonZero++;
  }
  t.true(nonZero > 5000, `${nonZero} non-zero weights exercised`);
});

test('trust region clips the z delta so |w| <= R, and z is recoverable from w and n', (t) => {
  const h = { alpha: 1, beta: 1, l1: 0.5, l2: 0.3 };
  // Unclipped: z = 1, w = -(0.5) / (2 + 0.3) = -0.2174; with R = 0.1 the bound on |z| is 0.1 * 2.3 + 0.5.
  const d = ftrlStep(0, 0, 1, h, 0.1);
  t.true(d.clipped);
  t.true(Math.abs(d.dz - 0.73) < 1e-12);
  t.true(Math.abs(d.w - -0.1) < 1e-12);
  for (const [zz, nn] of [[3, 2], [-4, 9], [0.2, 1]] as const) {
    const w = ftrlWeight(zz, nn, h);
    t.true(Math.abs(ftrlZFromWeight(w, nn, h, 0.1) - (w === 0 ? 0.1 : zz)) < 1e-12);
  }
  t.is(ftrlZFromWeight(0, 1, h, 2), 0.5, 'a guess outside [-l1, l1] is clamped');
});

async function inMemoryRun(o: Partial<FtrlTrainOptions>) {
  const data = await readLibsvm(trainFile);
  const opts: FtrlTrainOptions = { alpha: 0.3, beta: 1, l1: 0.5, l2: 0.1, batch: 37, epochs: 1, pushEvery: 1, pullEvery: 1, trustRegion: Infinity, bias: true, ...o };
  const w = new LocalFtrlTables(opts);
  const result = await trainFtrl(opts, data, w, { comm: localCollective() });
  const ref = ftrlReference(opts, data);
  let maxDiff = 0;
  for (const [id, s] of ref) {
    const key = id < 0 ? 0xffff_ffff_ffff_ffffn : BigInt(id);
    const got = (await w.weights(new BigUint64Array([key])))[0]!;
    maxDiff = Math.max(maxDiff, Math.abs(got - ftrlWeight(s.z, s.n, opts)));
  }
  return { maxDiff, keys: ref.size, w, data, result };
}

test('one worker merging z/n deltas through the (z, n) table equals sequential FTRL', async (t) => {
  const r = await inMemoryRun({});
  t.true(r.keys > 50);
  t.true(r.maxDiff < 2e-5, `max |w - w_ref| = ${r.maxDiff}`);
  const lazy = await inMemoryRun({ pushEvery: 3, pullEvery: 2 });
  t.true(lazy.maxDiff < 2e-5, `push-every 3 / pull-every 2: max |w - w_ref| = ${lazy.maxDiff}`);
});

test('pipeline and prefetch: one worker in memory still equals sequential FTRL (deltas pushed after an answer was requested are added back)', async (t) => {
  // The in-memory tables answer a pull when it is issued, so a prefetched answer misses the
  // pushes built after it went out: only the added-back deltas keep the result exact.
  for (const o of [{}, { pushEvery: 3, pullEvery: 2 }, { pushEvery: 1, pullEvery: 3 }, { pushEvery: 2, pullEvery: 1 }]) {
    const r = await inMemoryRun({ ...o, prefetch: true });
    t.true(r.result.prefetchedPulls > 0 && r.result.prefetchedPulls <= r.result.pulls - 1, `${JSON.stringify(o)}: ${r.result.prefetchedPulls} of ${r.result.pulls} pulls prefetched`);
    t.true(r.maxDiff < 2e-5, `${JSON.stringify(o)}: max |w - w_ref| = ${r.maxDiff}`);
    t.truthy(r.result.pipelineTimes?.['pull'] && r.result.pipelineTimes['compute']!.items === r.result.steps);
    const p = await inMemoryRun({ ...o, pipeline: true });
    t.is(p.result.prefetchedPulls, 0, 'without --prefetch every pull waits for the clock before it');
    t.true(p.maxDiff < 2e-5, `${JSON.stringify(o)} pipeline: max |w - w_ref| = ${p.maxDiff}`);
  }
});

test('flags: --prefetch needs a staleness bound that allows the early pull', (t) => {
  t.true(parseFtrlArgs(['--train', 'x', '--prefetch', '--staleness', 'asp']).prefetch);
  t.true(parseFtrlArgs(['--train', 'x', '--prefetch', '--staleness', '2', '--pull-every', '2']).prefetch);
  t.false(parseFtrlArgs(['--train', 'x']).prefetch);
  t.throws(() => parseFtrlArgs(['--train', 'x', '--prefetch', '--staleness', 'bsp']), { instanceOf: UsageError, message: /--prefetch pulls 1 clock\(s\) ahead, which --staleness 0 does not allow/ });
  t.throws(() => parseFtrlArgs(['--train', 'x', '--prefetch', '--staleness', '1', '--pull-every', '2']), { instanceOf: UsageError, message: /--staleness 1 does not allow/ });
  // --ps-cache S: windows of S + 1 minibatches (FTRL's local z/n are the cache), pulled that many clocks ahead with --prefetch.
  t.is(parseFtrlArgs(['--train', 'x', '--ps-cache', '2']).pullEvery, 3);
  t.is(parseFtrlArgs(['--train', 'x', '--ps-cache', '2', '--pull-every', '2']).pullEvery, 3);
  t.is(parseFtrlArgs(['--train', 'x', '--ps-cache', '2']).pushEvery, 3, 'pushes once per window');
  t.is(parseFtrlArgs(['--train', 'x', '--ps-cache', '2', '--push-every', '1']).pushEvery, 1);
  t.throws(() => parseFtrlArgs(['--train', 'x', '--ps-cache', '1', '--pull-every', '3']), { instanceOf: UsageError, message: /--pull-every 3 reads rows 2 clocks after their pull, more than --ps-cache 1 allows/ });
  t.true(parseFtrlArgs(['--train', 'x', '--prefetch', '--ps-cache', '1']).pipeline);
  t.throws(() => parseFtrlArgs(['--train', 'x', '--prefetch', '--ps-cache', '2']), { instanceOf: UsageError, message: /--prefetch pulls 3 clock\(s\) ahead, which --staleness 2 does not allow/ });
  // --pipeline keeps each pull after the clock before it: any bound, BSP included.
  t.true(parseFtrlArgs(['--train', 'x', '--pipeline', '--staleness', 'bsp']).pipeline);
  t.throws(() => parseFtrlArgs(['--train', 'x', '--pipeline', '--max-restarts', '1']), { instanceOf: UsageError, message: /--pipeline does not combine with --max-restarts/ });
  // Off by default; --no-pipeline spells it out.
  t.false(parseFtrlArgs(['--train', 'x']).pipeline);
  t.false(parseFtrlArgs(['--train', 'x', '--no-pipeline']).pipeline);
  t.throws(() => parseFtrlArgs(['--train', 'x', '--pipeline', '--trust-region', '1', '--trust-mode', 'rollback']), { instanceOf: UsageError, message: /--pipeline does not combine with --trust-mode rollback/ });
  t.throws(() => parseFtrlArgs(['--train', 'x', '--prefetch', '--no-pipeline']), { instanceOf: UsageError, message: /--prefetch needs the pipeline/ });
  t.throws(() => parseFtrlArgs(['--train', 'x', '--prefetch', '--trust-region', '1', '--trust-mode', 'rollback']), { instanceOf: UsageError, message: /--prefetch does not combine with --trust-mode rollback/ });
});

test('trust region keeps every weight inside [-R, R]', async (t) => {
  const R = 0.05;
  const data = await readLibsvm(trainFile);
  const opts: FtrlTrainOptions = { alpha: 0.5, beta: 1, l1: 0, l2: 0, batch: 50, epochs: 1, pushEvery: 1, pullEvery: 1, trustRegion: R, bias: true };
  const w = new LocalFtrlTables(opts);
  const res = await trainFtrl(opts, data, w, { comm: localCollective() });
  t.true(res.clips > 0);
  const all = await w.weights(res.slots.keys);
  for (const v of all) t.true(Math.abs(v) <= R * (1 + 1e-6), `|w| = ${Math.abs(v)}`);
});

/** Rows that only push feature 1's weight up (label +1, x = 1), then one row touching it with x ~ 0. */
async function monotoneData(rows: number) {
  const f = join(dir, `monotone.${rows}.svm`);
  writeFileSync(f, `${'1 1:1\n'.repeat(rows)}1 1:1e-9\n`);
  return readLibsvm(f);
}

test('trust region, projection vs rollback on updates that push |w| past R', async (t) => {
  // alpha 2, beta 1, no regularisation, batch 1: w1 = 0 -> 0.667 -> 1.09 (> R = 1) on the first two rows.
  const R = 1;
  const data = await monotoneData(2);
  const base: FtrlTrainOptions = { alpha: 2, beta: 1, l1: 0, l2: 0, batch: 1, epochs: 1, pushEvery: 1, pullEvery: 1, trustRegion: R, bias: false };
  const key = new BigUint64Array([1n]);

  // Unconstrained, the weight does leave the region.
  const free = new LocalFtrlTables(base);
  await trainFtrl({ ...base, trustRegion: Infinity }, data, free, { comm: localCollective() });
  t.true((await free.weights(key))[0]! > R);

  // Projection (the default): clipped, |w| <= R.
  const proj = new LocalFtrlTables(base);
  const pr = await trainFtrl(base, data, proj, { comm: localCollective() });
  t.true(pr.clips > 0);
  t.is(pr.rollbacks, 0);
  t.true(Math.abs((await proj.weights(key))[0]!) <= R * (1 + 1e-6));

  // Rollback: the pull before row 3 sees w = 1.09 and restores the snapshot taken at the pull
  // before row 2 (w = 0.667); row 3 (x = 1e-9) moves it by ~1e-9.
  const h = { alpha: 2, beta: 1, l1: 0, l2: 0 };
  let z = 0;
  let n = 0;
  const d1 = ftrlStep(z, n, -0.5, h);
  z += d1.dz;
  n += d1.dn;
  const lastGood = ftrlWeight(z, n, h);
  t.true(lastGood > 0.6 && lastGood < R);
  const rb = new LocalFtrlTables(base);
  const rr = await trainFtrl({ ...base, trustMode: 'rollback', snapshotEvery: 1 }, data, rb, { comm: localCollective() });
  t.is(rr.rollbacks, 1);
  t.is(rr.clips, 0);
  const wAfter = (await rb.weights(key))[0]!;
  t.true(Math.abs(wAfter - lastGood) < 1e-5, `w after rollback ${wAfter}, last good ${lastGood}`);
});

test('rollback mode on a planted problem: rollbacks are counted, snapshots restore in-region weights', async (t) => {
  const R = 0.05;
  const data = await readLibsvm(trainFile);
  const opts: FtrlTrainOptions = { alpha: 0.5, beta: 1, l1: 0, l2: 0, batch: 50, epochs: 1, pushEvery: 1, pullEvery: 1, trustRegion: R, trustMode: 'rollback', snapshotEvery: 3, bias: true };
  const w = new LocalFtrlTables(opts);
  const res = await trainFtrl(opts, data, w, { comm: localCollective() });
  t.true(res.rollbacks > 0, `rollbacks ${res.rollbacks}`);
  t.is(res.clips, 0);
  // Every weight is at most one minibatch of free updates away from a restored in-region value:
  // far closer to the region than the unconstrained run.
  const free = new LocalFtrlTables(opts);
  await trainFtrl({ ...opts, trustRegion: Infinity }, data, free, { comm: localCollective() });
  const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const got = maxAbs(await w.weights(res.slots.keys));
  const unconstrained = maxAbs(await free.weights(res.slots.keys));
  t.true(unconstrained > R && got < unconstrained, `max |w| rollback ${got}, free ${unconstrained}`);
});

/**
 * A worker dies in epoch 2 and a replacement (same tables) goes on from its progress row;
 * returns the largest weight difference from an undisturbed run.
 */
async function killAndReplace(t: import('ava').ExecutionContext, l1: number): Promise<number> {
  const data = await readLibsvm(trainFile);
  const opts: FtrlTrainOptions = { alpha: 0.3, beta: 1, l1, l2: 0.1, batch: 37, epochs: 2, pushEvery: 3, pullEvery: 2, trustRegion: Infinity, bias: true };
  const steps = Math.ceil(data.numRows / opts.batch);
  const w = new LocalFtrlTables(opts);
  const progress = new LocalAssignTable(PROGRESS_DIM);
  // The first worker "dies" in its 99th clock, after minibatch 17 of epoch 2 (counted from 1).
  // It pushes every 3 minibatches: its last push was after minibatch 15, so its row says 15 and
  // minibatches 16 and 17 (computed, never pushed) are the replacement's to redo.
  let clocks = 0;
  const dying = {
    zn: w.zn,
    clock: async () => {
      if (++clocks === steps + 17) throw new Error('killed');
    },
  };
  await t.throwsAsync(trainFtrl(opts, data, dying, { comm: localCollective(), recovery: new PsRecovery(localCollective(), { progress, recordEveryMs: 0 }) }), { message: 'killed' });
  const row = decodeProgress(await progress.pull(new BigUint64Array([0n])));
  t.deepEqual({ epoch: row?.epoch, step: row?.step }, { epoch: 2, step: 15 });
  // The replacement: same tables, restart 1; it catches its clock up and goes on from there.
  let replacementClocks = 0;
  const lines: string[] = [];
  const res = await trainFtrl(opts, data, { zn: w.zn, clock: async () => void replacementClocks++ }, {
    comm: localCollective(),
    recovery: new PsRecovery(localCollective(), { progress, restart: 1, clock: async () => void replacementClocks++, log: (l) => lines.push(l) }),
    log: (l) => lines.push(l),
  });
  t.deepEqual(res.resumedAt, { epoch: 2, step: 15 });
  t.is(replacementClocks, 2 * steps, 'catch-up clocks plus the remaining minibatches: every clock once');
  t.regex(lines.join('\n'), new RegExp(`resuming ftrl at epoch 2 minibatch 15/${steps} \\(skipping ${steps + 15} minibatches`));
  // The undisturbed run's model: nothing lost, nothing applied twice.
  const ref = ftrlReference(opts, data);
  const seq = new LocalFtrlTables(opts);
  await trainFtrl(opts, data, seq, { comm: localCollective() });
  let maxDiff = 0;
  for (const id of ref.keys()) {
    const key = new BigUint64Array([id < 0 ? 0xffff_ffff_ffff_ffffn : BigInt(id)]);
    maxDiff = Math.max(maxDiff, Math.abs((await w.weights(key))[0]! - (await seq.weights(key))[0]!));
  }
  return maxDiff;
}

test('a worker that dies in epoch 2 is replaced from its progress row: the undisturbed model', async (t) => {
  const d = await killAndReplace(t, 0);
  t.true(d < 2e-5, `max |w_replaced - w_undisturbed| = ${d}`);
});

test('... with l1 > 0 too: the table holds z itself, so the replacement knows z where w = 0', async (t) => {
  // (When the servers answered w, a fresh worker guessed z = 0 inside [-l1, l1]: 3.7e-4 off here.)
  const d = await killAndReplace(t, 0.5);
  t.true(d < 2e-5, `max |w_replaced - w_undisturbed| = ${d}`);
});

test('flags: fault tolerance (--max-restarts, --checkpoint, --checkpoint-every, --resume, --inject) next to the trainer\'s own', (t) => {
  const p = parseFtrlArgs(['--train', 'a', '--max-restarts', '2', '--checkpoint', 'ck', '--checkpoint-every', '50', '--inject', 'kill:rank=1:op=barrier:seq=3', '--slow-rank', '1', '--slow-ms', '4']);
  t.like(p.recovery, { maxRestarts: 2, checkpoint: 'ck', checkpointEvery: 50, resume: null, inject: 'kill:rank=1:op=barrier:seq=3' });
  t.is(p.checkpointEveryBatches, 50);
  t.is(p.slowRank, 1, '--slow-rank stays the trainer\'s benchmark flag');
  t.is(p.slowMs, 4);
  t.is(parseFtrlArgs(['--train', 'a', '--checkpoint', 'ck']).checkpointEveryBatches, 0, 'default: at the end of every pass');
  t.throws(() => parseFtrlArgs(['--train', 'a', '--max-restarts', '-1']), { instanceOf: UsageError });
  t.throws(() => parseFtrlArgs(['--train', 'a', '--inject', 'kill:bogus=1']), { instanceOf: UsageError, message: /--inject/ });
  t.throws(() => parseFtrlArgs(['--help']), { message: /--max-restarts K[\s\S]*--checkpoint DIR[\s\S]*--resume DIR/ });
});

test('--resume refuses a snapshot of the older two-table layout (ftrl.w, ftrl.n), naming the directory', (t) => {
  const manifestWith = (name: string, tables: string[]) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'manifest.json'), JSON.stringify({ format: 'shoal-ps-snapshot', shards: tables.map((table) => ({ table, file: `${table}.0.shard` })) }));
    return d;
  };
  const old = manifestWith('old-layout', ['ftrl.w', 'ftrl.n', 'ftrl.progress']);
  const err = t.throws(() => checkFtrlSnapshotLayout(old));
  t.true(err instanceof UsageError, 'a user mistake: one line and exit 2, no stack');
  t.true(err?.message.startsWith(`--resume ${old}: `), err?.message);
  t.regex(err?.message ?? '', /ftrl\.w and ftrl\.n .*ftrl\.zn/);
  t.notThrows(() => checkFtrlSnapshotLayout(manifestWith('new-layout', ['ftrl.zn', 'ftrl.progress'])));
  t.notThrows(() => checkFtrlSnapshotLayout(join(dir, 'no-such-snapshot')), 'a missing snapshot is the load\'s to report');
});

test('flags: trust mode, snapshot interval and intermittent straggler', (t) => {
  const d = parseFtrlArgs(['--train', 'a']);
  t.is(d.trustMode, 'projection');
  t.is(d.straggler, 'every');
  const p = parseFtrlArgs(['--train', 'a', '--trust-region', '0.5', '--trust-mode', 'rollback', '--snapshot-every', '4', '--straggler', 'intermittent', '--straggler-prob', '0.3']);
  t.is(p.trustMode, 'rollback');
  t.is(p.snapshotEvery, 4);
  t.is(p.straggler, 'intermittent');
  t.is(p.stragglerProb, 0.3);
  t.throws(() => parseFtrlArgs(['--train', 'a', '--trust-mode', 'rollback']), { instanceOf: UsageError, message: /needs --trust-region/ });
  t.throws(() => parseFtrlArgs(['--train', 'a', '--trust-mode', 'clip']), { instanceOf: UsageError });
});

test('intermittent straggler sleeps on a seeded ~20% of minibatches', async (t) => {
  const data = await readLibsvm(trainFile);
  const opts: FtrlTrainOptions = { alpha: 0.3, beta: 1, l1: 0.5, l2: 0.1, batch: 10, epochs: 1, pushEvery: 1, pullEvery: 1, trustRegion: Infinity, bias: true, slowMs: 0.01, straggler: 'intermittent', stragglerProb: 0.2, seed: 3 };
  const run = () => trainFtrl(opts, data, new LocalFtrlTables(opts), { comm: localCollective() });
  const a = await run();
  const b = await run();
  t.is(a.slowedSteps, b.slowedSteps, 'seeded');
  t.true(a.slowedSteps > 0.12 * a.steps && a.slowedSteps < 0.28 * a.steps, `${a.slowedSteps} of ${a.steps}`);
  const every = await trainFtrl({ ...opts, straggler: 'every' }, data, new LocalFtrlTables(opts), { comm: localCollective() });
  t.is(every.slowedSteps, every.steps);
  // --pipeline: the same seeded draws, one per step in step order (the sleep is in the compute stage).
  const piped = await trainFtrl({ ...opts, pipeline: true }, data, new LocalFtrlTables(opts), { comm: localCollective() });
  t.is(piped.slowedSteps, a.slowedSteps);
});

test('flags: defaults, bad values and unreadable files exit 2', async (t) => {
  const p = parseFtrlArgs(['--train', 'a', '-np', '3', '--staleness', 'asp', '--hash-bits', '32', '--no-bias']);
  t.is(p.np, 3);
  t.is(p.staleness, Infinity);
  t.is(p.hashBits, 32);
  t.false(p.bias);
  t.is(p.alpha, 0.1);
  t.throws(() => parseFtrlArgs(['--train', 'a', '--alpha', '0']), { instanceOf: UsageError, message: /--alpha needs a number > 0, got "0"/ });
  t.throws(() => parseFtrlArgs(['--train', 'a', '--hash-bits', '33']), { instanceOf: UsageError, message: /\[1, 32\]/ });
  t.throws(() => parseFtrlArgs(['--bogus']), { instanceOf: UsageError, message: /unknown option "--bogus"/ });
  t.throws(() => parseFtrlArgs([]), { instanceOf: UsageError, message: /--train FILE is required/ });
  // The launcher throws UsageErrors; the shoal CLI prints their one line and exits 2.
  await t.throwsAsync(main(['--train', join(dir, 'missing.svm')]), { instanceOf: UsageError, message: /cannot read --train .*missing\.svm: ENOENT/ });
  await t.throwsAsync(main(['--train', trainFile, '--push-every', 'x']), { instanceOf: UsageError, message: /--push-every needs an integer >= 1, got "x"/ });
});

test.serial('one worker with real servers (BSP) reproduces sequential FTRL; the saved model predicts', async (t) => {
  const model = join(dir, 'np1.model.json');
  const metrics = join(dir, 'np1.metrics.json');
  const args = ['--train', trainFile, '--test', testFile, '--alpha', '0.3', '--l1', '0.5', '--l2', '0.1', '--batch', '37', '--staleness', '0', '--model-out', model, '--metrics-out', metrics, '--quiet'];
  const { result, output } = await runRanks(1, 'workers/ftrl.worker.js', args, { servers: 2, wallTimeoutMs: 60_000 });
  t.true(result.ok, `${result.summary}\n${output.flat().join('\n')}`);
  const data = await readLibsvm(trainFile);
  const opts = { alpha: 0.3, beta: 1, l1: 0.5, l2: 0.1, bias: true };
  const ref = ftrlReference(opts, data);
  const m = await loadFtrlModel(model);
  let maxDiff = 0;
  for (const [id, s] of ref) {
    const want = ftrlWeight(s.z, s.n, opts);
    const got = id < 0 ? m.bias : (m.weights.get(id) ?? 0);
    maxDiff = Math.max(maxDiff, Math.abs(got - want));
  }
  t.true(maxDiff < 2e-5, `max |w - w_ref| = ${maxDiff}`);
  const written = JSON.parse(readFileSync(metrics, 'utf8')) as { auc: number; epochs: number; train_seconds: number; rows_per_second: number };
  const test = await readLibsvm(testFile);
  t.true(Math.abs(aucLocal(predictFtrl(m, test), test.labels) - written.auc) < 1e-6);
  t.true(written.auc > 0.8, `synthetic AUC ${written.auc}`);
  t.is(written.epochs, 1);
  t.true(written.rows_per_second > 0);
});

test.serial('prefetch with real servers: one worker (ASP) reproduces sequential FTRL, np 2 keeps the AUC; prefetched pulls are counted', async (t) => {
  const opts = { alpha: 0.3, beta: 1, l1: 0.5, l2: 0.1, bias: true };
  const base = ['--train', trainFile, '--test', testFile, '--alpha', '0.3', '--l1', '0.5', '--l2', '0.1', '--batch', '37', '--staleness', 'asp', '--quiet'];
  const model = join(dir, 'prefetch.model.json');
  const metrics = join(dir, 'prefetch.metrics.json');
  const lines: string[] = [];
  const one = await runRanks(1, 'workers/ftrl.worker.js', [...base, '--prefetch', '--model-out', model, '--metrics-out', metrics], { servers: 2, wallTimeoutMs: 60_000, onLine: (rank, _s, line) => lines.push(`[${rank}] ${line}`) });
  t.true(one.result.ok, `${one.result.summary}\n${lines.join('\n')}`);
  const ref = ftrlReference(opts, await readLibsvm(trainFile));
  const m = await loadFtrlModel(model);
  let maxDiff = 0;
  for (const [id, s] of ref) maxDiff = Math.max(maxDiff, Math.abs((id < 0 ? m.bias : (m.weights.get(id) ?? 0)) - ftrlWeight(s.z, s.n, opts)));
  t.true(maxDiff < 2e-5, `max |w - w_ref| = ${maxDiff}; restarts ${one.result.restarts}\n${lines.join('\n')}`);
  const w1 = JSON.parse(readFileSync(metrics, 'utf8')) as { prefetch: boolean; prefetched_pulls: number; steps_per_epoch: number; auc: number };
  t.true(w1.prefetch);
  t.is(w1.prefetched_pulls, w1.steps_per_epoch - 1, 'every pull but the first of the epoch was issued ahead');
  // np 2 (ASP: nondeterministic): the AUC of the prefetching run is within 0.01 of the plain one.
  const aucs: number[] = [];
  for (const pre of [false, true]) {
    const out = join(dir, `prefetch.np2.${pre}.json`);
    const two = await runRanks(2, 'workers/ftrl.worker.js', [...base, ...(pre ? ['--prefetch'] : []), '--metrics-out', out], { servers: 2, wallTimeoutMs: 60_000 });
    t.true(two.result.ok, `${two.result.summary}\n${two.output.flat().join('\n')}`);
    const w2 = JSON.parse(readFileSync(out, 'utf8')) as { prefetched_pulls: number; auc: number };
    t.is(w2.prefetched_pulls > 0, pre);
    aucs.push(w2.auc);
  }
  t.log(`np 2 AUC without / with prefetch: ${aucs.map((a) => a.toFixed(4)).join(' / ')}`);
  t.true(Math.abs(aucs[0]! - aucs[1]!) <= 0.01, `AUC ${aucs.join(' vs ')}`);
});

test.serial('pipeline with real servers: one worker under BSP reproduces sequential FTRL; np 2 with the client cache keeps the AUC with a third of the pulls and reports stage times', async (t) => {
  const opts = { alpha: 0.3, beta: 1, l1: 0.5, l2: 0.1, bias: true };
  const base = ['--train', trainFile, '--test', testFile, '--alpha', '0.3', '--l1', '0.5', '--l2', '0.1', '--batch', '37', '--quiet'];
  const model = join(dir, 'pipeline.model.json');
  const metrics = join(dir, 'pipeline.metrics.json');
  // BSP: the pipeline keeps every pull after the clock before it, so any bound works.
  // Every line of the job, servers' included: if the model is off, they say whether a server was lost.
  const lines: string[] = [];
  const one = await runRanks(1, 'workers/ftrl.worker.js', [...base, '--staleness', 'bsp', '--pipeline', '--model-out', model, '--metrics-out', metrics], { servers: 2, wallTimeoutMs: 60_000, onLine: (rank, _s, line) => lines.push(`[${rank}] ${line}`) });
  t.true(one.result.ok, `${one.result.summary}\n${lines.join('\n')}`);
  const ref = ftrlReference(opts, await readLibsvm(trainFile));
  const m = await loadFtrlModel(model);
  let maxDiff = 0;
  for (const [id, s] of ref) maxDiff = Math.max(maxDiff, Math.abs((id < 0 ? m.bias : (m.weights.get(id) ?? 0)) - ftrlWeight(s.z, s.n, opts)));
  t.true(maxDiff < 2e-5, `max |w - w_ref| = ${maxDiff}; restarts ${one.result.restarts}\n${lines.join('\n')}`);
  const w1 = JSON.parse(readFileSync(metrics, 'utf8')) as { pipeline: boolean; prefetched_pulls: number; steps_per_epoch: number; pipeline_stages_rank0: Record<string, { items: number; busy_ms: number }> };
  t.true(w1.pipeline);
  t.is(w1.prefetched_pulls, 0);
  for (const stage of ['keys', 'pull', 'compute', 'push']) t.is(w1.pipeline_stages_rank0[stage]?.items, w1.steps_per_epoch, stage);
  // np 2 (SSP 2, nondeterministic): with the client cache (windows of 3 minibatches) the AUC stays
  // within 0.01 of the plain run, with a third of the pulls and fewer keys pulled.
  const aucs: number[] = [];
  const traffic: Array<Record<string, number>> = [];
  for (const flags of [[], ['--pipeline', '--ps-cache', '2']]) {
    const out = join(dir, `pipeline.np2.${flags.length}.json`);
    const two = await runRanks(2, 'workers/ftrl.worker.js', [...base, ...flags, '--metrics-out', out], { servers: 2, wallTimeoutMs: 60_000 });
    t.true(two.result.ok, `${two.result.summary}\n${two.output.flat().join('\n')}`);
    const w2 = JSON.parse(readFileSync(out, 'utf8')) as { auc: number; traffic: Record<string, number>; steps_per_epoch: number; epochs: number };
    t.is(w2.traffic['pull_requests'], 2 * w2.epochs * Math.ceil(w2.steps_per_epoch / (flags.length > 0 ? 3 : 1)), 'one (z, n) table, two workers, one pull per window');
    aucs.push(w2.auc);
    traffic.push(w2.traffic);
  }
  t.true(traffic[1]!['keys_pulled']! < traffic[0]!['keys_pulled']!, JSON.stringify(traffic));
  // The window's deltas leave once, at its end (push-every = the window): a third of the pushes, fewer keys.
  t.true(traffic[1]!['push_requests']! <= traffic[1]!['pull_requests']!, 'at most one push per window');
  t.true(traffic[1]!['keys_pushed']! < traffic[0]!['keys_pushed']!, JSON.stringify(traffic));
  t.log(`np 2 AUC plain / pipeline + cache 2: ${aucs.map((a) => a.toFixed(4)).join(' / ')}`);
  t.true(Math.abs(aucs[0]! - aucs[1]!) <= 0.01, `AUC ${aucs.join(' vs ')}`);
});

const haveA9a = existsSync(join(A9A, 'a9a')) && existsSync(join(A9A, 'a9a.t'));
(haveA9a ? test.serial : test.skip)('a9a, one pass: AUC >= 0.902 at np 1 and np 2, within 0.002 of each other', async (t) => {
  const aucs: number[] = [];
  for (const np of [1, 2]) {
    const metrics = join(dir, `a9a.${np}.json`);
    const { result, output } = await runRanks(np, 'workers/ftrl.worker.js', ['--train', join(A9A, 'a9a'), '--test', join(A9A, 'a9a.t'), '--metrics-out', metrics, '--quiet'], {
      servers: 2,
      wallTimeoutMs: 90_000,
    });
    t.true(result.ok, `${result.summary}\n${output.flat().join('\n')}`);
    const m = JSON.parse(readFileSync(metrics, 'utf8')) as { auc: number; train_seconds: number; rows_per_second: number };
    t.log(`np ${np}: auc ${m.auc.toFixed(5)}, ${m.train_seconds}s, ${m.rows_per_second} rows/s`);
    t.true(m.auc >= 0.902, `np ${np}: AUC ${m.auc}`);
    aucs.push(m.auc);
  }
  t.true(Math.abs(aucs[0]! - aucs[1]!) <= 0.002);
});
