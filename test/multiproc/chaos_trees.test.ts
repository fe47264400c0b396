// Chaos tests for `shoal train mart|lambdamart` at -np 3: a rank SIGKILLed at a seeded
// allReduce is replaced (--max-restarts 1) and boosting continues from the last committed round;
// a whole job killed mid-way continues from its checkpoint (--resume). The trainers are
// deterministic, so both must end with exactly the undisturbed model (the "AUC within 0.002"
// of the issue is checked too, and holds with equality). --resume with another --eta is
// refused, naming the checkpoint file and the key.
//
// The kill point: an undisturbed run with harmless rules 'delay:rank=0:op=allReduce:seq=N:ms=0'
// logs the sequence number of every allReduce; a fixed-seed generator picks the rank and one of the
// allReduces of the middle half of the run (inside the boosting loop). Serial tests, one job at
// a time (3 ranks each), every run bounded by a wall clock.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { Rng } from '../helpers/mulberry_rng.js';
import { generateDataset } from '../../lib/data/datagen.js';
import { shoal, type CliRun as Run } from '../helpers/shoal_cli.js';

// Checkpoints and PS snapshots are signed with the job secret: every job of this file (and
// so a resumed one) runs with the same SHOAL_TOKEN, as a user resuming a job would.
process.env.SHOAL_TOKEN = 'chaos-trees-test-secret';

const dir = mkdtempSync(join(tmpdir(), 'shoal-chaos-trees-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));


const rng = new Rng(20250611);
const MART = join(dir, 'dense.svm');
const RANK = join(dir, 'rank.svm');

test.before(async () => {
  await generateDataset({ task: 'dense', out: MART, testOut: `${MART}.test`, rows: 6000, seed: 7 });
  await generateDataset({ task: 'rank', out: RANK, testOut: `${RANK}.test`, queries: 150, seed: 7 });
});

type Algo = 'mart' | 'lambdamart';
const PARAMS: Record<Algo, string[]> = {
  mart: ['--rounds', '14', '--max-depth', '4', '--eta', '0.3', '--max-bin', '64', '--subsample', '0.8', '--colsample', '0.8', '--seed', '11', '--early-stopping', '4'],
  lambdamart: ['--rounds', '10', '--max-depth', '4', '--eta', '0.2', '--max-bin', '64', '--subsample', '0.8', '--seed', '11'],
};
const DATA: Record<Algo, string> = { mart: MART, lambdamart: RANK };

/** The command line of run `out` (model and metrics files named after it). */
function args(algo: Algo, out: string, extra: string[] = [], params = PARAMS[algo]): string[] {
  const d = DATA[algo];
  return ['train', algo, '--train', d, '--test', `${d}.test`, '-np', '3', ...params, '--model-out', join(dir, `${out}.model.json`), '--metrics-out', join(dir, `${out}.metrics.json`), ...extra];
}
const model = (out: string): string => readFileSync(join(dir, `${out}.model.json`), 'utf8');
const metrics = (out: string): Record<string, number> => JSON.parse(readFileSync(join(dir, `${out}.metrics.json`), 'utf8')) as Record<string, number>;

/** The undisturbed run of each algorithm (once), and the allReduce sequence numbers it went through. */
const baselines = new Map<Algo, Promise<{ run: Run; allReduces: number[] }>>();
function baseline(algo: Algo): Promise<{ run: Run; allReduces: number[] }> {
  let b = baselines.get(algo);
  if (!b) {
    // One harmless rule per sequence number (a delay rule logs the first op it fires at only).
    const probes = Array.from({ length: 400 }, (_, seq) => `delay:rank=0:op=allReduce:seq=${seq}:ms=0`).join(';');
    b = shoal(args(algo, `${algo}-base`, ['-q', '--inject', probes])).then((run) => {
      const allReduces = [...run.stderr.matchAll(/^\[0\] \[shoal inject\] rank 0: delay 0 ms at allReduce seq (\d+)$/gm)].map((m) => Number(m[1]));
      return { run, allReduces };
    });
    baselines.set(algo, b);
  }
  return b;
}

/** An allReduce of the middle half of the run, drawn with the fixed-seed generator. */
function pick(allReduces: number[]): number {
  const lo = Math.floor(allReduces.length / 4);
  const hi = Math.floor((3 * allReduces.length) / 4);
  return allReduces[lo + rng.int(hi - lo)]!;
}

for (const algo of ['mart', 'lambdamart'] as const) {
  const metric = algo === 'mart' ? 'auc' : 'ndcg@10';

  test.serial(`${algo}: a rank SIGKILLed at a seeded allReduce is replaced; the model equals the undisturbed one`, async (t) => {
    t.timeout(200_000);
    const base = await baseline(algo);
    t.is(base.run.code, 0, base.run.stderr);
    t.true(base.allReduces.length > 40, `allReduces seen: ${base.allReduces.length}`);
    const rank = rng.int(3);
    const seq = pick(base.allReduces);
    t.log(`killing rank ${rank} at allReduce seq ${seq} (of ${base.allReduces.length} allReduces)`);
    const run = await shoal(args(algo, `${algo}-kill`, ['-q', '--max-restarts', '1', '--inject', `kill:rank=${rank}:op=allReduce:seq=${seq}`]));
    t.is(run.code, 0, run.stderr);
    // The log says who died, that it was replaced, where the survivors rolled back to and how long it took.
    t.true(run.stderr.includes(`[${rank}] [shoal inject] rank ${rank}: kill at allReduce seq ${seq}`), run.stderr);
    t.true(run.stderr.includes(`[shoal] rank ${rank} killed by SIGKILL; starting a replacement (restart 1 of 1)`), run.stderr);
    const rolled = [...run.stderr.matchAll(/\[shoal recovery\] rank (\d): rank (\d) lost .*; rolling back to commit (\d+)/g)];
    t.is(rolled.length, 2, 'both survivors rolled back');
    t.true(rolled.every((m) => Number(m[2]) === rank && Number(m[1]) !== rank));
    const rebuilt = [...run.stderr.matchAll(/\[shoal recovery\] rank \d: world rebuilt in ([\d.]+) s \(recovery 1\); resuming after commit (\d+)/g)];
    t.is(rebuilt.length, 2);
    t.log(`recovery: ${rebuilt.map((m) => `${m[1]} s`).join(', ')}; resumed after round ${rebuilt[0]![2]}`);
    t.regex(run.stderr, new RegExp(`\\[${rank}\\] \\[shoal recovery\\] rank ${rank}: replacement \\(restart 1\\) joined; resuming after commit ${rebuilt[0]![2]}`));
    const want = metrics(`${algo}-base`);
    const got = metrics(`${algo}-kill`);
    t.true(Math.abs(got[metric]! - want[metric]!) <= 0.002, `${metric} ${got[metric]} vs ${want[metric]}`);
    t.is(got[metric], want[metric]);
    t.is(got['rounds'], want['rounds']);
    t.is(model(`${algo}-kill`), model(`${algo}-base`), 'the recovered model is the undisturbed one');
  });

  test.serial(`${algo}: a job killed mid-way continues with --resume to the same model file`, async (t) => {
    t.timeout(200_000);
    const base = await baseline(algo);
    t.is(base.run.code, 0, base.run.stderr);
    const ckpt = join(dir, `${algo}-ckpt`);
    const seq = pick(base.allReduces);
    t.log(`rank 0 exits at allReduce seq ${seq}`);
    const first = await shoal(args(algo, `${algo}-resume`, ['-q', '--checkpoint', ckpt, '--inject', `exit:rank=0:op=allReduce:seq=${seq}:code=9`]));
    t.not(first.code, 0, 'the first run was meant to die');
    t.regex(first.stderr, /rank 0 exited with code 9/);
    t.true(existsSync(join(ckpt, 'checkpoint.bin')), 'a checkpoint was written');
    t.false(existsSync(join(dir, `${algo}-resume.model.json`)), 'no model from the killed run');
    const second = await shoal(args(algo, `${algo}-resume`, ['--resume', ckpt]));
    t.is(second.code, 0, second.stderr);
    const cont = /continuing after round (\d+) \((\d+) trees rebuilt into the margins/.exec(second.stdout);
    t.truthy(cont, second.stdout);
    t.log(`resumed after round ${cont?.[1]}`);
    t.true(Number(cont?.[1]) > 0);
    t.is(model(`${algo}-resume`), model(`${algo}-base`), 'the resumed model is the uninterrupted one');
    t.is(metrics(`${algo}-resume`)[metric], metrics(`${algo}-base`)[metric]);
  });
}

test.serial('mart: --resume with another --eta is refused, naming the checkpoint file and the key', async (t) => {
  t.timeout(120_000);
  const ckpt = join(dir, 'eta-ckpt');
  const short = ['--rounds', '3', '--max-depth', '3', '--eta', '0.3'];
  const first = await shoal(args('mart', 'eta-a', ['-q', '--checkpoint', ckpt], short));
  t.is(first.code, 0, first.stderr);
  const second = await shoal(args('mart', 'eta-b', ['-q', '--resume', ckpt], ['--rounds', '3', '--max-depth', '3', '--eta', '0.2']));
  t.not(second.code, 0);
  t.true(second.stderr.includes(`--resume: ${join(ckpt, 'checkpoint.bin')} was written by a different job: eta was 0.3, this job has 0.2`), second.stderr);
  t.false(existsSync(join(dir, 'eta-b.model.json')));
});
