// Every trainer survives losing a rank in its first collectives (setup: the PS trainers'
// handshake and shard sizes, the data-parallel trainers' state sync and data statistics) with
// --max-restarts 1: `shoal train X -np 2 --inject kill:rank=1:seq=S` ends with exit 0 and a
// model. FTRL used to hang and FM to fail with a MismatchError at seq 2: a survivor recovering
// in its setup ran the handshake twice (algorithms/ftrl/recovery.ts, begin()).
import test from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { shoal } from '../helpers/shoal_cli.js';

const dir = mkdtempSync(join(tmpdir(), 'shoal-setup-kills-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const data = { binary: join(dir, 'binary.svm'), ratings: join(dir, 'ratings.svm'), rank: join(dir, 'rank.svm') };

test.before(async () => {
  for (const [task, out, size] of [['binary', data.binary, ['--rows', '4000', '--features', '2000', '--nnz', '10']], ['ratings', data.ratings, ['--rows', '4000', '--users', '200', '--items', '100']], ['rank', data.rank, ['--queries', '60']]] as const) {
    const run = await shoal(['datagen', '--task', task, '--out', out, '-q', ...size], 60_000);
    if (run.code !== 0) throw new Error(`datagen ${task}: ${run.stderr}`);
  }
});

const TRAINERS: Array<{ name: string; args: string[]; seqs: number[] }> = [
  { name: 'ftrl', args: ['ftrl', '--train', data.binary, '--epochs', '2'], seqs: [0, 1, 2, 3] },
  { name: 'fm', args: ['fm', '--train', data.ratings, '--task', 'regression', '--epochs', '2'], seqs: [0, 1, 2, 4] },
  { name: 'lr', args: ['lr', '--train', data.binary, '--max-iter', '10'], seqs: [0, 2] },
  { name: 'lr --solver bcd', args: ['lr', '--solver', 'bcd', '--train', data.binary, '--max-iter', '3'], seqs: [0, 2] },
  { name: 'mart', args: ['mart', '--train', data.binary, '--rounds', '3', '--max-depth', '3'], seqs: [0, 2] },
  { name: 'lambdamart', args: ['lambdamart', '--train', data.rank, '--rounds', '3', '--max-depth', '3'], seqs: [0, 2] },
];

for (const tr of TRAINERS) {
  for (const seq of tr.seqs) {
    test.serial(`${tr.name}: rank 1 killed at its collective seq ${seq} is replaced; exit 0 and a model`, async (t) => {
      t.timeout(150_000);
      const model = join(dir, `${tr.name.replace(/\W+/g, '_')}-${seq}.json`);
      const run = await shoal(['train', ...tr.args, '-np', '2', '--max-restarts', '1', '--inject', `kill:rank=1:seq=${seq}`, '--model-out', model], 120_000);
      t.is(run.code, 0, run.stderr);
      t.regex(run.stderr, new RegExp(`\\[shoal inject\\] rank 1: kill at \\w+ seq ${seq}\\b`), 'the kill fired');
      t.true(run.stderr.includes('[shoal] rank 1 killed by SIGKILL; starting a replacement (restart 1 of 1)'), run.stderr);
      t.true(existsSync(model), 'model written');
    });
  }
}
