// tron under failures (issue 14): a rank SIGKILLed at a seeded collective inside the CG loop is
// replaced (--max-restarts 1) and training continues from the last outer Newton iteration; a
// job that exits mid-way continues from its checkpoint (--resume). Resuming re-evaluates the
// committed point, which gives the same bits, so both must end with exactly the model and the
// objective of an undisturbed run. Skipped when /work/shared/data/a9a is absent.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';
import { Rng } from '../helpers/mulberry_rng.js';
import { shoal } from '../helpers/shoal_cli.js';

// Checkpoints are signed with the job secret: every job here runs with the same SHOAL_TOKEN.
process.env.SHOAL_TOKEN = 'chaos-tron-test-secret';

const A9A = join(fileURLToPath(new URL('../../../../shared/data/a9a/', import.meta.url)), 'a9a');
const have = existsSync(A9A);
const dir = mkdtempSync(join(tmpdir(), 'shoal-chaos-tron-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

// eps 1e-6: about 10 outer iterations and 200 allReduces on a9a, so the seeded points below
// fall inside the training loop.
const common = (out: string): string[] => [
  'train', 'lr', '--solver', 'tron', '--eps', '1e-6', '--train', A9A, '-np', '3', '-q',
  '--model-out', join(dir, `${out}.model.json`), '--metrics-out', join(dir, `${out}.metrics.json`),
];
const metrics = (out: string): { objective: number; iterations: number } => JSON.parse(readFileSync(join(dir, `${out}.metrics.json`), 'utf8'));
const model = (out: string): string => readFileSync(join(dir, `${out}.model.json`), 'utf8');

(have ? test.serial : test.serial.skip)('tron: a SIGKILLed rank is replaced; a killed job resumes; both give the undisturbed model', async (t) => {
  t.timeout(240_000);
  const base = await shoal(common('base'));
  t.is(base.code, 0, base.stderr);
  const rng = new Rng(14);
  const rank = Math.floor(rng.next() * 3);
  const seq = 20 + Math.floor(rng.next() * 150);
  const chaos = await shoal([...common('chaos'), '--max-restarts', '1', '--inject', `kill:rank=${rank}:op=allReduce:seq=${seq}`]);
  t.is(chaos.code, 0, chaos.stderr);
  t.regex(chaos.stderr, new RegExp(`rank ${rank}: kill at allReduce seq ${seq}`));
  t.regex(chaos.stderr, /\[shoal recovery\] rank \d: world rebuilt in [\d.]+ s/);
  t.is(metrics('chaos').objective, metrics('base').objective);
  t.is(metrics('chaos').iterations, metrics('base').iterations);
  t.is(model('chaos'), model('base'));

  const ckpt = join(dir, 'ckpt');
  const exitSeq = 20 + Math.floor(rng.next() * 150);
  const killed = await shoal([...common('killed'), '--checkpoint', ckpt, '--inject', `exit:rank=0:op=allReduce:seq=${exitSeq}:code=9`]);
  t.is(killed.code, 9, killed.stderr);
  t.true(existsSync(join(ckpt, 'checkpoint.bin')));
  const resumed = await shoal([...common('resumed'), '--resume', ckpt]);
  t.is(resumed.code, 0, resumed.stderr);
  t.is(metrics('resumed').objective, metrics('base').objective);
  t.is(model('resumed'), model('base'));
});
