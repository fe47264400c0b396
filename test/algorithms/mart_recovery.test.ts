// MART / LambdaMART fault tolerance in one process: the packed forest grows correctly, a run
// stopped after round k and resumed from its checkpoint ends with exactly the model of an
// uninterrupted run (margins rebuilt from the committed trees are bit-identical to the
// incrementally updated ones), a resumed run that already early-stopped stays stopped, and a
// checkpoint is refused for other parameters or other data, naming the key.
// (Multi-process worker loss and the CLI flags: test/multiproc/chaos_trees.test.ts.)
import test from 'ava';
import { join } from 'node:path';

import { localCollective } from '../../algorithms/common/collective.js';
import { sliceRows, type CsrData } from '../../algorithms/common/dataset.js';
import { syntheticBinary } from '../helpers/synthetic.js';
import { tempDir } from '../helpers/temp_dir.js';
import { readRankData, trainLambdaMart, type RankData } from '../../algorithms/lambdamart/index.js';
import { train, type TrainOptions, type TrainResult } from '../../algorithms/mart/index.js';
import type { MartParams } from '../../algorithms/mart/params.js';
import { appendTo, binTree, flatTree, initialMartState, pushTree } from '../../algorithms/mart/state.js';
import { generateDataset } from '../../lib/data/datagen.js';
import { CHECKPOINT_FILE } from '../../lib/recovery/training_state.js';
import { MART_USAGE, parseMartArgs } from '../../cli/trainers/mart_cli.js';

/** A log sink that aborts training right after round `k` was committed (and logged). */
function stopAfter(k: number): (line: string) => void {
  return (line) => {
    if (new RegExp(`round +${k} `).test(line)) throw new Error(`stop after round ${k}`);
  };
}

test('appendTo grows a view in place or by doubling; the old view keeps its contents', (t) => {
  let a = new Float64Array(0);
  const views: Float64Array[] = [];
  for (let i = 0; i < 200; i++) {
    a = appendTo(a, [i, -i]);
    views.push(a);
  }
  t.is(a.length, 400);
  t.deepEqual(Array.from(a.subarray(0, 6)), [0, -0, 1, -1, 2, -2]);
  t.true(a.buffer.byteLength >= 400 * 8);
  t.deepEqual(Array.from(views[2]!), [0, -0, 1, -1, 2, -2]);
  const f = initialMartState(true).forest;
  pushTree(f, { left: [1, -1, -1], right: [2, -1, -1], feature: [3, 0, 0], threshold: [5, 0, 0], defaultLeft: [1, 0, 0], value: [0, 0.5, -0.25], gain: [2, 0, 0], cover: [4, 1, 3] });
  pushTree(f, { left: [-1], right: [-1], feature: [0], threshold: [0], defaultLeft: [0], value: [0.125], gain: [0], cover: [4] });
  t.deepEqual(Array.from(f.nodePtr), [0, 3, 4]);
  t.deepEqual(binTree(f, 1).value, [0.125]);
  t.deepEqual(Array.from(flatTree(f, 0).threshold), [5, 0, 0]);
  t.deepEqual(binTree(f, 0).cover, [4, 1, 3]);
});

const all = syntheticBinary({ rows: 3000, features: 12, nnzPerRow: 6, seed: 9 });
const trainRows = sliceRows(all, 0, 2400);
const testRows = sliceRows(all, 2400, 3000);

async function martRun(params: Partial<MartParams>, options: TrainOptions, data: CsrData = trainRows): Promise<TrainResult> {
  return train(localCollective(), data, params, { test: testRows, log: null, ...options });
}

for (const [name, params] of [
  ['depth-wise, subsampling, early stopping', { rounds: 16, maxDepth: 4, eta: 0.3, subsample: 0.7, colsampleBytree: 0.6, seed: 4, earlyStoppingRounds: 4 }],
  ['leaf-wise, squared error', { objective: 'reg:squarederror', rounds: 12, maxDepth: 5, maxLeaves: 9, eta: 0.2, seed: 1 }],
] as Array<[string, Partial<MartParams>]>) {
  test(`mart (${name}): stopped after round 5 and resumed from the checkpoint = the uninterrupted model`, async (t) => {
    const dir = tempDir(t, 'mart-ckpt-');
    const whole = await martRun(params, {});
    await t.throwsAsync(martRun(params, { log: stopAfter(5), recovery: { dir } }), { message: /stop after round 5/ });
    const lines: string[] = [];
    const resumed = await martRun(params, { log: (l) => lines.push(l), recovery: { dir, resume: dir } });
    t.true(lines.some((l) => /continuing after round 5 \(5 trees rebuilt/.test(l)), lines.join('\n'));
    t.false(lines.some((l) => /^mart round +5 /.test(l)), 'round 5 was not trained again');
    t.is(JSON.stringify(resumed.model), JSON.stringify(whole.model));
    t.deepEqual(resumed.testMetrics, whole.testMetrics);
    t.is(resumed.rounds, whole.rounds);
    t.is(resumed.bestRound, whole.bestRound);
    t.deepEqual(resumed.history.map(({ seconds: _s, ...rest }) => rest), whole.history.map(({ seconds: _s, ...rest }) => rest));
  });
}

test('mart: a run resumed from the checkpoint of an early-stopped run stops there too', async (t) => {
  const dir = tempDir(t, 'mart-ckpt-');
  const params = { rounds: 60, maxDepth: 6, eta: 1, earlyStoppingRounds: 2, seed: 2 };
  const first = await martRun(params, { recovery: { dir } });
  t.true(first.rounds < 60, 'early stopping fired');
  const again = await martRun(params, { recovery: { dir, resume: dir } });
  t.is(again.rounds, first.rounds);
  t.is(JSON.stringify(again.model), JSON.stringify(first.model));
});

test('mart: --resume refuses other parameters (naming the file and the key) and other data', async (t) => {
  const dir = tempDir(t, 'mart-ckpt-');
  const params = { rounds: 4, maxDepth: 3, eta: 0.3 };
  await martRun(params, { recovery: { dir } });
  const file = join(dir, CHECKPOINT_FILE);
  await t.throwsAsync(martRun({ ...params, eta: 0.2 }, { recovery: { resume: dir } }), {
    message: `--resume: ${file} was written by a different job: eta was 0.3, this job has 0.2`,
  });
  await t.throwsAsync(martRun(params, { recovery: { resume: dir, meta: { data: 'x' } } }), { message: /data was undefined, this job has "x"/ });
  await t.throwsAsync(martRun(params, { recovery: { resume: dir } }, sliceRows(all, 0, 2000)), {
    message: /mart: the training state was made with other data: rank 0 had 2400 training rows \(it has 2000\)/,
  });
});

test('lambdamart: stopped after round 4 and resumed = the uninterrupted model', async (t) => {
  const dir = tempDir(t, 'lm-ckpt-');
  const file = join(dir, 'rank.svm');
  await generateDataset({ task: 'rank', out: file, testOut: `${file}.test`, queries: 80, seed: 3 });
  const comm = localCollective();
  const tr: RankData = await readRankData(file, comm);
  const te: RankData = await readRankData(`${file}.test`, comm);
  const params = { rounds: 10, maxDepth: 4, eta: 0.2, subsample: 0.8, seed: 5 };
  const ckpt = join(dir, 'ckpt');
  const whole = await trainLambdaMart(comm, tr, params, { test: te, log: null });
  await t.throwsAsync(trainLambdaMart(comm, tr, params, { test: te, log: stopAfter(4), recovery: { dir: ckpt } }), { message: /stop after round 4/ });
  const resumed = await trainLambdaMart(comm, tr, params, { test: te, log: null, recovery: { dir: ckpt, resume: ckpt } });
  t.is(JSON.stringify(resumed.model), JSON.stringify(whole.model));
  t.deepEqual(resumed.testMetrics, whole.testMetrics);
  // The checkpoint names the algorithm: a mart job cannot resume it.
  await t.throwsAsync(train(comm, tr, { ...params, objective: 'rank:ndcg' }, { log: null, gradients: () => undefined, recovery: { resume: ckpt } }), {
    message: /algorithm was "lambdamart", this job has "mart"/,
  });
});

test('shoal train mart|lambdamart parse the recovery flags (bad values name the flag)', (t) => {
  const a = parseMartArgs('mart', ['--train', 'x.svm', '--max-restarts', '2', '--checkpoint', 'ck', '--checkpoint-every', '5', '--inject', 'kill:rank=1:op=allReduce:seq=9', '--eta', '0.1']);
  t.like(a.recovery, { maxRestarts: 2, checkpoint: 'ck', checkpointEvery: 5, resume: null, inject: 'kill:rank=1:op=allReduce:seq=9' });
  t.is(a.params.eta, 0.1);
  t.like(parseMartArgs('lambdamart', ['lambdamart', '--resume', 'ck', '--train', 'r.svm']).recovery, { resume: 'ck', maxRestarts: 0 });
  t.throws(() => parseMartArgs('mart', ['--train', 'x', '--max-restarts', '-1']), { message: /shoal train mart: --max-restarts needs an integer >= 0, got "-1"/ });
  t.throws(() => parseMartArgs('mart', ['--train', 'x', '--inject', 'kill:rank=a']), { message: /shoal train mart: --inject: / });
  t.throws(() => parseMartArgs('mart', ['--train', 'x', '--checkpoint']), { message: /--checkpoint needs a value/ });
  t.regex(MART_USAGE, /--max-restarts K[\s\S]*--resume DIR/);
});
