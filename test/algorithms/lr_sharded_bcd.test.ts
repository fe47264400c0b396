// `shoal train lr --solver bcd --servers K` (algorithms/sharded_bcd): block coordinate descent
// with w on the parameter servers reaches the dense solvers' optimum (TRON for L2, newGLMNET for
// L1) on the same rows, at np 1 and 2 with 2 servers, with one block per round and with several
// (--bcd-parallel); np changes only rounding; flags that do not apply exit 2 naming the flag.
// Data: generated (shoal datagen), once with ids 1..features and once with the same features
// spread over a 2^64 id space (ids far above 2^32), so both files hold the same rows.
import { readFileSync, writeFileSync } from 'node:fs';

import test from 'ava';
import { SERVER_1_LOST, denseAndWideData, relative, trainLr, type LrRun } from '../helpers/sharded_lr_data.js';
import { shoal } from '../helpers/shoal_cli.js';

const { dir, dense, wide } = denseAndWideData('lr-sharded-bcd', { rows: 3000, features: 1500, nnz: 12, seed: 7 }, (files) => {
  // The point of the wide file: keys of 2^32 and more (what the dense model refuses).
  const ids = [...readFileSync(files.wide, 'utf8').matchAll(/\s(\d+):/g)].map((m) => BigInt(m[1]!));
  if (!ids.some((id) => id >= 2n ** 32n)) throw new Error('the wide file has no id of 2^32 or more');
  // Train/test splits of both files: the test rows hold keys no training row has.
  for (const f of [files.dense, files.wide]) {
    const lines = readFileSync(f, 'utf8').trimEnd().split('\n');
    writeFileSync(`${f}.train`, lines.slice(0, 2000).join('\n') + '\n');
    writeFileSync(`${f}.test`, lines.slice(2000).join('\n') + '\n');
  }
});

interface Metrics {
  objective: number;
  auc: number;
  evaluated_on: string;
  iterations: number;
  num_features: number;
  model_nnz: number;
  stop_reason: string;
  np: number;
}

type Run = LrRun<Metrics>;

function train(file: string, name: string, args: string[]): Promise<Run> {
  return trainLr<Metrics>(dir, name, ['--train', file, '-q', ...args], 170_000);
}

// Tight stops on both sides, so the comparison measures the optima, not where a stop rule fired.
const SHARDED = ['--solver', 'bcd', '--servers', '2', '--tol', '1e-12', '--max-iter', '3000'];

test.serial('L2: bcd --servers 2 reaches the TRON optimum at np 1 and 2, one block per round and 4 at once', async (t) => {
  t.timeout(600_000);
  const ref = await train(dense, 'tron', ['--solver', 'tron', '--eps', '1e-10']);
  t.is(ref.code, 0, ref.stderr);
  const runs: Run[] = [];
  for (const [np, extra] of [[1, []], [2, []], [2, ['--bcd-parallel', '4']]] as const) {
    const s = await train(wide, `bcd-l2-${np}-${extra.length}`, [...SHARDED, '-np', String(np), ...extra]);
    t.is(s.code, 0, s.stderr);
    t.is(s.np, np);
    t.is(s.stop_reason, 'objective', `np ${np} ${extra.join(' ')} converged`);
    t.true(relative(s.objective, ref.objective) < 1e-6, `np ${np} ${extra.join(' ')}: sharded bcd ${s.objective} vs tron ${ref.objective}`);
    // Every feature that occurs is a key on the servers (the dense model: every slot is non-zero under L2).
    t.is(s.num_features, ref.model_nnz);
    runs.push(s);
  }
  // np 1 and 2 differ only in the order the servers and allReduce add the ranks' sums.
  t.true(relative(runs[0]!.objective, runs[1]!.objective) < 1e-9, `np 1 ${runs[0]!.objective} vs np 2 ${runs[1]!.objective}`);
});

test.serial('L1 with a bias: bcd --servers 2 reaches the newGLMNET optimum and its sparsity at np 1 and 2 (replicated)', async (t) => {
  t.timeout(600_000);
  const args = ['--l1', '2', '--bias'];
  const ref = await train(dense, 'newton-l1', ['--solver', 'newton-l1', '--eps', '1e-10', ...args]);
  t.is(ref.code, 0, ref.stderr);
  const runs: Run[] = [];
  for (const np of [1, 2]) {
    // At np 2 every key has a replica too: programs change both copies, sums count the primary's.
    const s = await train(wide, `bcd-l1-${np}`, [...SHARDED, ...args, '-np', String(np), '--bcd-blocks', '8', ...(np === 2 ? ['--replication', '2'] : [])]);
    t.is(s.code, 0, s.stderr);
    t.is(s.stop_reason, 'objective');
    t.true(relative(s.objective, ref.objective) < 1e-6, `np ${np}: sharded bcd ${s.objective} vs newton-l1 ${ref.objective}`);
    t.is(s.model_nnz, ref.model_nnz, 'the same features are zero');
    t.true(s.model_nnz < s.num_features, 'L1 zeroes some weights');
    runs.push(s);
  }
  t.true(relative(runs[0]!.objective, runs[1]!.objective) < 1e-9, `np 1 ${runs[0]!.objective} vs np 2 ${runs[1]!.objective}`);
});

test.serial('a --test file is scored with the weights pulled from the servers, as the dense model scores it', async (t) => {
  t.timeout(300_000);
  const ref = await train(`${dense}.train`, 'tron-split', ['--solver', 'tron', '--eps', '1e-10', '--bias', '--test', `${dense}.test`]);
  t.is(ref.code, 0, ref.stderr);
  const s = await train(`${wide}.train`, 'bcd-split', [...SHARDED, '--bias', '-np', '2', '--test', `${wide}.test`]);
  t.is(s.code, 0, s.stderr);
  t.is(s.evaluated_on, 'test');
  t.true(relative(s.objective, ref.objective) < 1e-6, `sharded bcd ${s.objective} vs tron ${ref.objective}`);
  t.true(Math.abs(s.auc - ref.auc) < 1e-6, `test auc: sharded bcd ${s.auc} vs tron ${ref.auc}`);
});

test('flags that do not apply to bcd --servers exit 2 naming the flag', async (t) => {
  t.timeout(60_000);
  const cases: Array<[string[], RegExp]> = [
    [['--solver', 'bcd', '--servers', '2', '--block-size', '64'], /--block-size does not apply with --servers .*--bcd-blocks/],
    [['--solver', 'bcd', '--servers', '2', '--bcd-hessian', 'block'], /--bcd-hessian block does not apply with --servers/],
    [['--solver', 'bcd', '--bcd-blocks', '8'], /--bcd-blocks needs --solver bcd --servers K/],
    [['--solver', 'lbfgs', '--servers', '2', '--bcd-parallel', '2'], /--bcd-parallel needs --solver bcd/],
    [['--solver', 'bcd', '--servers', '2', '--bcd-blocks', '4', '--bcd-parallel', '9'], /--bcd-parallel 9 is more than the 5 blocks a round can take \(--bcd-blocks 4 and the bias\)/],
    [['--solver', 'bcd', '--servers', '2', '--bcd-blocks', '0'], /--bcd-blocks/],
    [['--solver', 'newton-l1', '--servers', '2'], /--servers needs --solver tron, lbfgs, owlqn or bcd/],
  ];
  for (const [args, pattern] of cases) {
    const r = await shoal(['train', 'lr', '--train', wide, ...args]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, pattern, args.join(' '));
  }
});

test('a parameter server lost during bcd fails the job with a message naming it', async (t) => {
  t.timeout(120_000);
  // Server 1 kills itself at its 300th request (SHOAL_INJECT, docs/fault_injection.md).
  const env = { ...process.env, SHOAL_INJECT: 'kill:server=1:request=300' };
  const r = await shoal(['train', 'lr', '--solver', 'bcd', '--servers', '2', '--train', wide, '-q', '-np', '2', '--max-iter', '3000', '--tol', '1e-12'], 100_000, { env });
  t.not(r.code, 0);
  t.regex(r.stderr, SERVER_1_LOST);
});
