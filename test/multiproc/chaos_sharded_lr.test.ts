// Failures of `shoal train lr --servers K` (the model on the parameter servers, rank 0 driving;
// L-BFGS, OWL-QN and TRON, the default; BCD at the end):
// a worker, or rank 0 itself, SIGKILLed mid-training is replaced (--max-restarts) and the run
// goes on from the last committed iteration; a whole job killed mid-way continues from its
// checkpoint (--checkpoint, then --resume: the driver's state plus a PS snapshot); a server
// SIGKILLed with --replication 2 leaves its rows to the replicas' holders. Every one
// must end where an undisturbed run does (sameRun: same iterations, objective to 1e-9, weights).
// Generated data with ids over 2^64; real processes, bounded timeouts.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test, { type ExecutionContext } from 'ava';
import type { KeyedModel } from '../../algorithms/keyed_model.js';
import { loadModel } from '../../algorithms/model.js';
import { shoal } from '../helpers/shoal_cli.js';

// Checkpoints and PS snapshots are signed with the job secret: a resumed job needs the same one.
process.env.SHOAL_TOKEN = 'chaos-sharded-lr-test-secret';

const dir = mkdtempSync(join(tmpdir(), 'shoal-chaos-sharded-lr-'));
const data = join(dir, 'wide64.svm');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test.before(async () => {
  const r = await shoal(['datagen', '--task', 'binary', '--rows', '3000', '--features', '1500', '--nnz', '12', '--seed', '5', '--id-space', '64', '-q', '--out', data]);
  if (r.code !== 0) throw new Error(`datagen failed: ${r.stderr}`);
});

// tron: --eps 1e-6 stops it by its gradient rule after 7 Newton steps (about 70 CG steps).
const common = (solver: string, out: string, servers = ['--servers', '2']): string[] => [
  'train', 'lr', '--solver', solver, ...(solver === 'owlqn' ? ['--l1', '1', '--bias'] : []), ...(solver === 'tron' ? ['--eps', '1e-6'] : []), '--train', data, '-np', '3', ...servers,
  '--max-iter', '40', '--tol', '1e-12', '-q', '--model-out', join(dir, `${out}.json`), '--metrics-out', join(dir, `${out}.metrics.json`),
];
const metrics = (out: string): { objective: number; iterations: number; evaluations: number } => JSON.parse(readFileSync(join(dir, `${out}.metrics.json`), 'utf8'));

/**
 * `reevaluations`: TRON goes on from a commit by evaluating at the committed point again (once
 * per restart or resume), as the dense tron does; L-BFGS/OWL-QN keep the committed gradient.
 *
 * Runs at np > 1 are not bit-reproducible (a server's reductions visit its rows in its hash
 * table's order, which depends on whose request created each row first), so "the same run" is:
 * the same iterations and evaluations, the objective to 1e-9 relative (one iteration more or
 * less moves it by about 1e-6 here), the same keys, the weights to 1e-8.
 */
async function sameRun(t: ExecutionContext, out: string, base: string, reevaluations = 0): Promise<void> {
  const [a, b] = [metrics(out), metrics(base)];
  t.true(Math.abs(a.objective - b.objective) <= 1e-9 * Math.abs(b.objective), `${out}: objective ${a.objective} vs ${b.objective}`);
  t.is(a.iterations, b.iterations);
  t.is(a.evaluations, b.evaluations + reevaluations, `${out}: evaluations`);
  const [ma, mb] = (await Promise.all([loadModel(join(dir, `${out}.json`)), loadModel(join(dir, `${base}.json`))])) as KeyedModel[];
  t.is(ma!.keys.length, mb!.keys.length, `${out}: non-zero weights`);
  let worst = Math.abs(ma!.bias - mb!.bias);
  for (let i = 0; i < ma!.keys.length; i++) worst = Math.max(worst, Math.abs(ma!.weights[i]! - mb!.weight(ma!.keys[i]!)));
  t.true(worst <= 1e-8, `${out}: a weight differs by ${worst}`);
}

// Kills inside the training loop after a few commits (tron: about 25 collectives per Newton step).
for (const [solver, name, iterations, kills] of [['lbfgs', 'L-BFGS', 40, [[1, 100], [0, 151]]], ['tron', 'TRON', 7, [[1, 100], [0, 131]]]] as const) {
  test.serial(`${name}: a SIGKILLed worker and a SIGKILLed driver (rank 0) are replaced; the run ends where the undisturbed one does`, async (t) => {
    t.timeout(480_000);
    const base = `${solver}-base`;
    const r0 = await shoal(common(solver, base), 150_000);
    t.is(r0.code, 0, r0.stderr);
    t.is(metrics(base).iterations, iterations, 'the run is long enough to be interrupted');
    for (const [rank, seq] of kills) {
      const out = `${solver}-chaos-rank${rank}`;
      const r = await shoal([...common(solver, out), '--max-restarts', '1', '--inject', `kill:rank=${rank}:seq=${seq}`], 150_000);
      t.is(r.code, 0, r.stderr);
      t.regex(r.stderr, new RegExp(`rank ${rank}: kill at \\w+ seq ${seq}`));
      t.regex(r.stderr, new RegExp(`\\[shoal\\] rank ${rank} killed by SIGKILL; starting a replacement \\(restart 1 of 1\\)`));
      t.regex(r.stderr, new RegExp(`\\[shoal recovery\\] rank ${rank}: replacement \\(restart 1\\) joined; resuming after commit [1-9]\\d*`));
      await sameRun(t, out, base, solver === 'tron' ? 1 : 0);
    }
  });
}

/**
 * The undisturbed run `base`, then the same job exiting (code 9) at rank 0's collective `seq`,
 * checkpointing every `every` iterations into `ckpt`: one snapshot generation left, no model.
 */
async function killedMidway(t: ExecutionContext, solver: string, base: string, out: string, ckpt: string, every: number, seq: number): Promise<void> {
  const undisturbed = await shoal(common(solver, base), 150_000);
  t.is(undisturbed.code, 0, undisturbed.stderr);
  const killed = await shoal([...common(solver, out), '--checkpoint', ckpt, '--checkpoint-every', String(every), '--inject', `exit:rank=0:seq=${seq}:code=9`], 150_000);
  t.is(killed.code, 9, killed.stderr);
  t.false(existsSync(join(dir, `${out}.json`)));
  t.true(existsSync(join(ckpt, 'checkpoint.bin')));
  // One snapshot generation: the one the checkpoint names.
  t.is(readdirSync(join(ckpt, 'ps')).filter((e) => e.startsWith('gen-')).length, 1);
}

test.serial('OWL-QN: a job killed mid-way resumes from its checkpoint (driver state + PS snapshot) to the same model', async (t) => {
  t.timeout(480_000);
  const ckpt = join(dir, 'ckpt');
  await killedMidway(t, 'owlqn', 'owl-base', 'owl-killed', ckpt, 3, 40);
  const copy = join(dir, 'ckpt-copy');
  cpSync(ckpt, copy, { recursive: true });
  const resumed = await shoal([...common('owlqn', 'owl-resumed'), '--resume', ckpt], 150_000);
  t.is(resumed.code, 0, resumed.stderr);
  await sameRun(t, 'owl-resumed', 'owl-base');
  // Resumed, then rank 0 killed: its replacement (same argv, --resume included) finds the
  // servers in use and goes on from the last commit instead of loading the older snapshot.
  // (--checkpoint-every 3 again: the last file, hence the snapshot, may be older than the last commit.)
  const both = await shoal([...common('owlqn', 'owl-resumed-chaos'), '--resume', copy, '--checkpoint-every', '3', '--max-restarts', '1', '--inject', 'kill:rank=0:seq=66'], 150_000);
  t.is(both.code, 0, both.stderr);
  t.regex(both.stderr, /\[shoal recovery\] rank 0: replacement \(restart 1\) joined; resuming after commit [1-9]\d*/);
  await sameRun(t, 'owl-resumed-chaos', 'owl-base');
  t.true(((await loadModel(join(dir, 'owl-resumed.json'))) as KeyedModel).keys.length < 1490, 'L1 zeroes some weights');

  const wrong = await shoal([...common('owlqn', 'owl-wrong'), '--resume', ckpt, '--c', '2']);
  t.is(wrong.code, 2, wrong.stderr);
  t.regex(wrong.stderr, /checkpoint\.bin was written by a different job: c was 1, this job has 2/);

  // Another valid snapshot of the same job, put where the checkpoint's one was: refused, as the
  // checkpoint file records its snapshot's manifest MAC.
  const other = join(dir, 'ckpt-other');
  const second = await shoal([...common('owlqn', 'owl-other'), '--checkpoint', other, '--inject', 'exit:rank=0:seq=60:code=9'], 150_000);
  t.is(second.code, 9, second.stderr);
  const [gen] = readdirSync(join(ckpt, 'ps')).filter((e) => e.startsWith('gen-'));
  const [otherGen] = readdirSync(join(other, 'ps')).filter((e) => e.startsWith('gen-'));
  rmSync(join(ckpt, 'ps', gen!), { recursive: true });
  renameSync(join(other, 'ps', otherGen!), join(ckpt, 'ps', gen!));
  const swapped = await shoal([...common('owlqn', 'owl-swapped'), '--resume', ckpt], 150_000);
  t.is(swapped.code, 2, swapped.stderr);
  t.regex(swapped.stderr, /--resume: .*manifest\.json is not the snapshot the checkpoint was written with \(its MAC differs\)/);
});

test.serial('a parameter server SIGKILLed mid-training with --replication 2: programs and pulls go to the replicas, and the run ends where the undisturbed one does', async (t) => {
  t.timeout(480_000);
  const servers = ['--servers', '3', '--replication', '2'];
  const base = await shoal(common('lbfgs', 'srv-base', servers), 150_000);
  t.is(base.code, 0, base.stderr);
  // Server 1 kills itself at its 200th request (about a third of the way; SHOAL_INJECT, docs/fault_injection.md).
  const env = { ...process.env, SHOAL_INJECT: 'kill:server=1:request=200' };
  // With --max-restarts the lost server is still not replaced: a replacement's copy of the
  // rows would miss the vector programs run meanwhile; the job goes on on the replicas.
  const r = await shoal([...common('lbfgs', 'srv-chaos', servers), '--max-restarts', '1'], 150_000, { env });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /parameter server 1: kill at request 200/);
  t.notRegex(r.stderr, /starting a replacement/);
  await sameRun(t, 'srv-chaos', 'srv-base');
});

test.serial('TRON: a job killed mid-way resumes from its checkpoint (driver state + PS snapshot) to the same model', async (t) => {
  t.timeout(480_000);
  const ckpt = join(dir, 'tron-ckpt');
  await killedMidway(t, 'tron', 'tron-ck-base', 'tron-killed', ckpt, 2, 110);
  const resumed = await shoal([...common('tron', 'tron-resumed'), '--resume', ckpt], 150_000);
  t.is(resumed.code, 0, resumed.stderr);
  await sameRun(t, 'tron-resumed', 'tron-ck-base', 1);
  // An L-BFGS job does not take a TRON checkpoint (the driver's state and slots differ).
  const other = await shoal([...common('lbfgs', 'tron-as-lbfgs'), '--resume', ckpt]);
  t.is(other.code, 2, other.stderr);
  t.regex(other.stderr, /checkpoint\.bin was written by a different job: solver was "tron", this job has "lbfgs"/);
});

test.serial('TRON: a parameter server SIGKILLed mid-training with --replication 2: its interrupted vector program runs again on the live servers, and the run ends where the undisturbed one does', async (t) => {
  t.timeout(480_000);
  const servers = ['--servers', '3', '--replication', '2'];
  const base = await shoal(common('tron', 'tron-srv-base', servers), 150_000);
  t.is(base.code, 0, base.stderr);
  // Requests 209 and 235 of server 1 were vector programs in every run seen (its requests
  // interleave pushes, pulls and replication, so the numbering may shift): at least one of the
  // two kills must cut a program short.
  let rerun = 0;
  for (const request of [209, 235]) {
    const out = `tron-srv-chaos-${request}`;
    const env = { ...process.env, SHOAL_INJECT: `kill:server=1:request=${request}` };
    const r = await shoal(common('tron', out, servers), 150_000, { env });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`parameter server 1: kill at request ${request}`));
    if (/running the program again on the live servers/.test(r.stderr)) rerun++;
    await sameRun(t, out, 'tron-srv-base');
  }
  t.true(rerun > 0, 'a kill interrupted a vector program');
});

// BCD (`--solver bcd`, no model file yet): w goes back to the committed slot set and every rank
// rebuilds its margins from its keys' weights (summed in another order): the same passes and
// evaluations, the objective to 1e-9 relative.
const bcd = (out: string): string[] => ['train', 'lr', '--solver', 'bcd', '--train', data, '-np', '3', '--servers', '2', '--max-iter', '40', '--tol', '1e-12', '-q', '--metrics-out', join(dir, `${out}.metrics.json`)];

function sameBcdRun(t: ExecutionContext, out: string, base: string): void {
  const [a, b] = [metrics(out), metrics(base)];
  t.true(Math.abs(a.objective - b.objective) <= 1e-9 * Math.abs(b.objective), `${out}: objective ${a.objective} vs ${b.objective}`);
  t.is(a.iterations, b.iterations, `${out}: passes`);
  t.is(a.evaluations, b.evaluations, `${out}: evaluations`);
}

test.serial('BCD: a SIGKILLed worker and driver are replaced, and a job killed mid-way resumes from its checkpoint; each ends where the undisturbed run does', async (t) => {
  t.timeout(480_000);
  const base = await shoal(bcd('bcd-base'), 150_000);
  t.is(base.code, 0, base.stderr);
  // 31 passes, about 1700 collectives: the kills below land around passes 13 and 17.
  t.true(metrics('bcd-base').iterations > 20, 'the run is long enough to be interrupted');
  for (const [rank, seq] of [[1, 700], [0, 900]] as const) {
    const out = `bcd-chaos-rank${rank}`;
    const r = await shoal([...bcd(out), '--max-restarts', '1', '--inject', `kill:rank=${rank}:seq=${seq}`], 150_000);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`\\[shoal\\] rank ${rank} killed by SIGKILL; starting a replacement \\(restart 1 of 1\\)`));
    t.regex(r.stderr, new RegExp(`\\[shoal recovery\\] rank ${rank}: replacement \\(restart 1\\) joined; resuming after commit [1-9]\\d*`));
    sameBcdRun(t, out, 'bcd-base');
  }
  const ckpt = join(dir, 'bcd-ckpt');
  const killed = await shoal([...bcd('bcd-killed'), '--checkpoint', ckpt, '--checkpoint-every', '3', '--inject', 'exit:rank=0:seq=900:code=9'], 150_000);
  t.is(killed.code, 9, killed.stderr);
  t.false(existsSync(join(dir, 'bcd-killed.metrics.json')));
  t.is(readdirSync(join(ckpt, 'ps')).filter((e) => e.startsWith('gen-')).length, 1);
  const resumed = await shoal([...bcd('bcd-resumed'), '--resume', ckpt], 150_000);
  t.is(resumed.code, 0, resumed.stderr);
  sameBcdRun(t, 'bcd-resumed', 'bcd-base');
  // The tables and the schedule are per block: another --bcd-blocks is another job.
  const other = await shoal([...bcd('bcd-other-blocks'), '--resume', ckpt, '--bcd-blocks', '8']);
  t.is(other.code, 2, other.stderr);
  t.regex(other.stderr, /checkpoint\.bin was written by a different job: bcdBlocks was 16, this job has 8/);
});
