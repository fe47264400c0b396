// Every trainer survives losing a rank with --max-restarts wherever it happens: in the first
// collectives (setup: the PS trainers' handshake and shard sizes, the data-parallel trainers'
// state sync and data statistics), in a checkpoint round, and while the survivors are
// recovering from an earlier loss. Each case is one real `shoal train X -np 2|3` on small
// generated data and must end with exit 0 and a model.
//
// Bugs these caught: FTRL hung and FM failed with a MismatchError when rank 1 died at seq 2 (a
// survivor recovering in its setup ran the handshake twice); a PS trainer's rank 0 failed with
// "communicator is closed" when rank 1 died while rank 0 wrote a snapshot (the world was
// rebuilt under the round); with --checkpoint-every, a replacement resuming at a checkpoint
// position skipped the checkpoint round the survivors ran again, and the job hung.
import test from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { childWithEnv } from '../helpers/proc_tree.js';
import { shoal } from '../helpers/shoal_cli.js';

const dir = mkdtempSync(join(tmpdir(), 'shoal-restart-kills-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const data = { binary: join(dir, 'binary.svm'), ratings: join(dir, 'ratings.svm'), rank: join(dir, 'rank.svm') };

test.before(async () => {
  for (const [task, out, size] of [['binary', data.binary, ['--rows', '4000', '--features', '2000', '--nnz', '10']], ['ratings', data.ratings, ['--rows', '4000', '--users', '200', '--items', '100']], ['rank', data.rank, ['--queries', '60']]] as const) {
    const run = await shoal(['datagen', '--task', task, '--out', out, '-q', ...size], 60_000);
    if (run.code !== 0) throw new Error(`datagen ${task}: ${run.stderr}`);
  }
});

const TRAINERS = {
  ftrl: ['ftrl', '--train', data.binary, '--epochs', '2'],
  fm: ['fm', '--train', data.ratings, '--task', 'regression', '--epochs', '2'],
  lr: ['lr', '--train', data.binary, '--max-iter', '10'],
  bcd: ['lr', '--solver', 'bcd', '--train', data.binary, '--max-iter', '3'],
  mart: ['mart', '--train', data.binary, '--rounds', '3', '--max-depth', '3'],
  lambdamart: ['lambdamart', '--train', data.rank, '--rounds', '3', '--max-depth', '3'],
};
type Trainer = keyof typeof TRAINERS;

/** Runs `shoal train` with a model file; checks exit 0, the model and the number of replacements. */
async function trainsThrough(t: import('ava').ExecutionContext, name: string, args: string[], restarts: number, onStderrLine?: (line: string, pid: number) => void): Promise<string> {
  t.timeout(150_000);
  const model = join(dir, `${name.replace(/\W+/g, '_')}.json`);
  const run = await shoal(['train', ...args, '--max-restarts', String(restarts), '--model-out', model], 120_000, { onStderrLine });
  t.is(run.code, 0, run.stderr);
  t.is(run.stderr.match(/starting a replacement/g)?.length, restarts, run.stderr);
  t.true(existsSync(model), 'model written');
  return run.stderr;
}

// In setup: rank 1 dies before its seq-th collective.
const SETUP: Array<[Trainer, number[]]> = [['ftrl', [0, 1, 2, 3]], ['fm', [0, 1, 2, 4]], ['lr', [0, 2]], ['bcd', [0, 2]], ['mart', [0, 2]], ['lambdamart', [0, 2]]];
for (const [trainer, seqs] of SETUP) {
  for (const seq of seqs) {
    test.serial(`${trainer}: rank 1 killed at its collective seq ${seq} is replaced; exit 0 and a model`, async (t) => {
      const stderr = await trainsThrough(t, `setup-${trainer}-${seq}`, [...TRAINERS[trainer], '-np', '2', '--inject', `kill:rank=1:seq=${seq}`], 1);
      t.regex(stderr, new RegExp(`\\[shoal inject\\] rank 1: kill at \\w+ seq ${seq}\\b`), 'the kill fired');
    });
  }
}

// In checkpoint rounds (end of an epoch: reduceTo, barrier, rank 0 saves, barrier; with
// --checkpoint-every 20, mid-epoch rounds of barrier, save, barrier from seq 3 on).
const CHECKPOINT: Array<{ trainer: Trainer; every?: number; rank: number; seq: number }> = [
  { trainer: 'ftrl', rank: 1, seq: 5 },  // rank 0 is writing the snapshot
  { trainer: 'ftrl', rank: 0, seq: 5 },  // right after writing it
  { trainer: 'ftrl', every: 20, rank: 1, seq: 3 },
  { trainer: 'ftrl', every: 20, rank: 1, seq: 4 },
  { trainer: 'fm', rank: 1, seq: 8 },
  { trainer: 'fm', every: 20, rank: 1, seq: 6 },
  { trainer: 'lr', rank: 0, seq: 6 },
  { trainer: 'mart', rank: 0, seq: 8 },
];
for (const c of CHECKPOINT) {
  const what = `${c.trainer} --checkpoint${c.every ? ` --checkpoint-every ${c.every}` : ''}`;
  test.serial(`${what}: rank ${c.rank} killed at seq ${c.seq} (a checkpoint round) is replaced; exit 0 and a model`, async (t) => {
    const ckpt = join(dir, `ckpt-${c.trainer}-${c.every ?? 0}-${c.rank}-${c.seq}`);
    const epochs = c.every ? ['--epochs', '1'] : [];
    const stderr = await trainsThrough(t, `${what}-${c.rank}-${c.seq}`, [...TRAINERS[c.trainer], ...epochs, '-np', '2', '--checkpoint', ckpt, ...(c.every ? ['--checkpoint-every', String(c.every)] : []), '--inject', `kill:rank=${c.rank}:seq=${c.seq}`], 1);
    t.regex(stderr, new RegExp(`\\[shoal inject\\] rank ${c.rank}: kill at \\w+ seq ${c.seq}\\b`), 'the kill fired');
  });
}

// During recovery: rank 1 dies at seq 6; when rank 0 reports that it is rebuilding the world,
// rank 2 is SIGKILLed too (the replacement of rank 1 is still starting).
const RECOVERY: Array<{ trainer: Trainer; entry: string; line: RegExp }> = [
  { trainer: 'lr', entry: 'ranks/lr_main.js', line: /^\[0\] \[shoal recovery\] rank 0: .*waiting for the replacement/ },
  { trainer: 'mart', entry: 'ranks/mart_main.js', line: /^\[0\] \[shoal recovery\] rank 0: .*waiting for the replacement/ },
  { trainer: 'ftrl', entry: 'ftrl/worker.js', line: /^\[0\] \[ps recovery\] rank 0: .*rebuilding the world/ },
  { trainer: 'fm', entry: 'fm/worker.js', line: /^\[0\] \[ps recovery\] rank 0: .*rebuilding the world/ },
];
for (const c of RECOVERY) {
  test.serial(`${c.trainer} -np 3: rank 2 killed while the survivors recover from losing rank 1; both replaced, exit 0 and a model`, async (t) => {
    let killed = false;
    await trainsThrough(t, `recovery-${c.trainer}`, [...TRAINERS[c.trainer], '-np', '3', '--inject', 'kill:rank=1:seq=6'], 2, (line, pid) => {
      if (killed || !c.line.test(line)) return;
      const rank2 = childWithEnv(pid, c.entry, 'SHOAL_RANK', '2');
      if (rank2 === null) return;
      killed = true;
      process.kill(rank2, 'SIGKILL');
    });
    t.true(killed, 'rank 2 was killed during the recovery');
  });
}
