// Chaos tests for `shoal train lr` (issue 8): a worker SIGKILLed at a seeded random collective
// is replaced (--max-restarts) and training continues from the last completed L-BFGS
// iteration; a whole job killed mid-way continues from its checkpoint (--resume). Both must end
// with exactly the model of an undisturbed run: the trainer is deterministic, so "within 0.002
// AUC" is checked as "bit-identical".
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';
import { childrenMatching } from '../helpers/proc_tree.js';
import { Rng } from '../helpers/mulberry_rng.js';
import { CLI, shoal } from '../helpers/shoal_cli.js';

// Checkpoints and PS snapshots are signed with the job secret: every job of this file (and
// so a resumed one) runs with the same SHOAL_TOKEN, as a user resuming a job would.
process.env.SHOAL_TOKEN = 'chaos-lr-test-secret';

const DATA = fileURLToPath(new URL('../../../../shared/data/a9a/', import.meta.url));
const A9A = join(DATA, 'a9a');
const A9A_T = join(DATA, 'a9a.t');
const dir = mkdtempSync(join(tmpdir(), 'shoal-chaos-lr-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));


/** The seeded "random point" of each scenario. */
function draw(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

const have = existsSync(A9A) && existsSync(A9A_T);
const common = (solver: string, out: string): string[] => [
  'train', 'lr', '--solver', solver, '--train', A9A, '--test', A9A_T, '-np', '3', '--max-iter', '150', '-q',
  '--model-out', join(dir, `${out}.model.json`), '--metrics-out', join(dir, `${out}.metrics.json`),
];
const metrics = (out: string): { auc: number; objective: number; iterations: number } => JSON.parse(readFileSync(join(dir, `${out}.metrics.json`), 'utf8'));
const model = (out: string): string => readFileSync(join(dir, `${out}.model.json`), 'utf8');

(have ? test.serial : test.serial.skip)('L-BFGS: a SIGKILLed rank is replaced and the model is exactly the undisturbed one', async (t) => {
  t.timeout(240_000);
  const base = await shoal(common('lbfgs', 'base'));
  t.is(base.code, 0, base.stderr);
  const rnd = draw(8);
  const rank = Math.floor(rnd() * 3);
  const seq = 10 + Math.floor(rnd() * 150);
  const chaos = await shoal([...common('lbfgs', 'chaos'), '--max-restarts', '1', '--inject', `kill:rank=${rank}:op=allReduce:seq=${seq}`]);
  t.is(chaos.code, 0, chaos.stderr);
  t.regex(chaos.stderr, new RegExp(`rank ${rank}: kill at allReduce seq ${seq}`));
  t.regex(chaos.stderr, new RegExp(`\\[shoal\\] rank ${rank} killed by SIGKILL; starting a replacement \\(restart 1 of 1\\)`));
  t.regex(chaos.stderr, /\[shoal recovery\] rank \d: world rebuilt in [\d.]+ s/);
  t.regex(chaos.stderr, new RegExp(`\\[shoal recovery\\] rank ${rank}: replacement \\(restart 1\\) joined`));
  const a = metrics('base');
  const b = metrics('chaos');
  t.true(Math.abs(a.auc - b.auc) <= 0.002);
  t.is(b.objective, a.objective);
  t.is(b.iterations, a.iterations);
  t.is(model('chaos'), model('base'));
});

(have ? test.serial : test.serial.skip)('OWL-QN: a job killed mid-way resumes from its checkpoint to the same model', async (t) => {
  t.timeout(240_000);
  const ckpt = join(dir, 'ckpt');
  const base = await shoal(common('owlqn', 'owl-base'));
  t.is(base.code, 0, base.stderr);
  // rank 0 exits with code 9 at a seeded point: the launcher stops the whole job.
  const seq = 40 + Math.floor(draw(3)() * 80);
  const killed = await shoal([...common('owlqn', 'owl-killed'), '--checkpoint', ckpt, '--inject', `exit:rank=0:op=allReduce:seq=${seq}:code=9`]);
  t.is(killed.code, 9, killed.stderr);
  t.false(existsSync(join(dir, 'owl-killed.model.json')));
  t.true(existsSync(join(ckpt, 'checkpoint.bin')));
  const resumed = await shoal([...common('owlqn', 'owl-resumed'), '--resume', ckpt]);
  t.is(resumed.code, 0, resumed.stderr);
  t.is(model('owl-resumed'), model('owl-base'));
  t.is(metrics('owl-resumed').objective, metrics('owl-base').objective);
  // Another job's parameters are refused, naming the file and the key.
  const wrong = await shoal([...common('owlqn', 'owl-wrong'), '--resume', ckpt, '--c', '2']);
  t.is(wrong.code, 2, wrong.stderr);
  t.regex(wrong.stderr, /checkpoint\.bin was written by a different job: c was 1, this job has 2/);
});


(have ? test.serial : test.serial.skip)('L-BFGS: SIGKILL the coordinator process mid-training; the job completes with the same model', async (t) => {
  t.timeout(240_000);
  if (!existsSync(join(dir, 'base.model.json'))) {
    const base = await shoal(common('lbfgs', 'base'));
    t.is(base.code, 0, base.stderr);
  }
  const args = [...common('lbfgs', 'coord')].filter((a) => a !== '-q');
  let killed: number[] = [];
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGTERM'), 120_000);
    child.stdout.on('data', (d: Buffer) => {
      // Kill it once training is under way (rank 0 prints one line per iteration).
      if (killed.length === 0 && /lbfgs iter +10 /.test(d.toString())) {
        killed = childrenMatching(child.pid!, 'coordinator_main');
        for (const p of killed) process.kill(p, 'SIGKILL');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
  t.is(killed.length, 1, 'found the coordinator process');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /\[shoal\] the coordinator killed by SIGKILL; restarting it/);
  t.is(model('coord'), model('base'));
});

(have ? test.serial : test.serial.skip)('BCD: a SIGKILLed rank is replaced, and a killed job resumes; both reach the undisturbed objective', async (t) => {
  t.timeout(300_000);
  const base = await shoal(common('bcd', 'bcd-base'));
  t.is(base.code, 0, base.stderr);
  const rnd = draw(21);
  const seq = 5 + Math.floor(rnd() * 20);  // BCD on a9a (one block) runs about 30 allReduces
  const chaos = await shoal([...common('bcd', 'bcd-chaos'), '--max-restarts', '1', '--inject', `kill:rank=2:op=allReduce:seq=${seq}`]);
  t.is(chaos.code, 0, chaos.stderr);
  t.regex(chaos.stderr, /\[shoal recovery\] rank \d: world rebuilt/);
  const ckpt = join(dir, 'bcd-ckpt');
  const killed = await shoal([...common('bcd', 'bcd-killed'), '--checkpoint', ckpt, '--inject', `exit:rank=0:op=allReduce:seq=${seq}:code=9`]);
  t.is(killed.code, 9, killed.stderr);
  const resumed = await shoal([...common('bcd', 'bcd-resumed'), '--resume', ckpt]);
  t.is(resumed.code, 0, resumed.stderr);
  const a = metrics('bcd-base');
  for (const out of ['bcd-chaos', 'bcd-resumed']) {
    const b = metrics(out);
    t.true(Math.abs(b.objective - a.objective) / a.objective < 1e-9, `${out}: ${b.objective} vs ${a.objective}`);
    t.true(Math.abs(b.auc - a.auc) <= 0.002, out);
  }
});
