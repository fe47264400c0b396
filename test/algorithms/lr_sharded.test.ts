// `shoal train lr --servers K`: the sharded model (w, gradient, direction and L-BFGS pairs, or
// TRON's CG vectors, on the parameter servers, ids as 64-bit keys) reaches the dense path's
// objective on the same rows, at np 1, 2 and 4; bad combinations of flags and a lost server fail with messages
// naming the cause; without --servers, ids of 2^32 and more are refused pointing at --servers.
// Data: generated (shoal datagen), once with ids 1..features and once with the same features
// spread over a 2^64 id space, so the two files hold the same rows up to feature names.
import { join } from 'node:path';

import test from 'ava';
import { SERVER_1_LOST, denseAndWideData, relative, trainLr, type LrRun } from '../helpers/sharded_lr_data.js';
import { shoal } from '../helpers/shoal_cli.js';

const { dir, dense, wide } = denseAndWideData('lr-sharded', { rows: 3000, features: 1500, nnz: 12, seed: 7 });

interface Metrics {
  objective: number;
  iterations: number;
  num_features: number;
  model_nnz: number;
  auc: number;
  np: number;
  solver: string;
  stop_reason: string;
  grad_norm_ratio: number | null;
}

function train(file: string, name: string, args: string[]): Promise<LrRun<Metrics>> {
  // Tight convergence, so the comparison measures the models, not where the stop rule fired.
  return trainLr<Metrics>(dir, name, ['--train', file, '-q', '--tol', '1e-13', '--max-iter', '3000', ...args], 150_000);
}

test.serial('lbfgs --servers matches the dense objective at np 1, 2 and 4', async (t) => {
  t.timeout(600_000);
  const ref = await train(dense, 'dense-lbfgs', ['--solver', 'lbfgs']);
  t.is(ref.code, 0, ref.stderr);
  for (const [np, servers] of [[1, 1], [2, 2], [4, 2]] as const) {
    const s = await train(wide, `sharded-lbfgs-${np}`, ['--solver', 'lbfgs', '-np', String(np), '--servers', String(servers)]);
    t.is(s.code, 0, s.stderr);
    t.true(relative(s.objective, ref.objective) < 1e-9, `np ${np}: sharded ${s.objective} vs dense ${ref.objective}`);
    t.is(s.np, np);
    // Every feature that occurs is a key on the servers; the dense model has one slot per id 0..max.
    t.is(s.num_features, ref.model_nnz, 'one key per feature present in the rows');
    t.true(Math.abs(s.auc - ref.auc) < 1e-6);
  }
});

test.serial('tron --servers (the default solver) reaches the dense tron and L-BFGS optimum at np 1, 2 and 4, with and without a bias', async (t) => {
  t.timeout(600_000);
  for (const bias of [[], ['--bias']]) {
    const ref = await train(dense, `dense-lbfgs-ref${bias.length}`, ['--solver', 'lbfgs', ...bias]);
    const tron = await train(dense, `dense-tron${bias.length}`, ['--solver', 'tron', '--eps', '1e-8', ...bias]);
    t.is(ref.code, 0, ref.stderr);
    t.is(tron.code, 0, tron.stderr);
    // np 4 with every key on both servers: reductions count each key once (its primary's copy).
    for (const [np, servers, extra] of [[1, 1, []], [2, 2, []], [4, 2, ['--replication', '2']]] as const) {
      const s = await train(wide, `sharded-tron-${np}-${bias.length}`, ['--eps', '1e-8', '-np', String(np), '--servers', String(servers), ...extra, ...bias]);
      t.is(s.code, 0, s.stderr);
      t.is(s.solver, 'tron', 'tron is the default with --servers');
      t.true(relative(s.objective, tron.objective) < 1e-9, `np ${np} bias ${bias.length}: sharded tron ${s.objective} vs dense tron ${tron.objective}`);
      t.true(relative(s.objective, ref.objective) < 1e-9, `np ${np} bias ${bias.length}: sharded tron ${s.objective} vs dense lbfgs ${ref.objective}`);
      t.true(s.iterations <= 15, `a handful of Newton steps, not ${s.iterations}`);
      t.true(s.grad_norm_ratio !== null && s.grad_norm_ratio <= 1e-6, `|g|/|g0| = ${s.grad_norm_ratio} (${s.stop_reason})`);
      t.is(s.num_features, ref.model_nnz, 'one key per feature present in the rows');
      t.true(Math.abs(s.auc - tron.auc) < 1e-6);
    }
  }
});

test.serial('owlqn --bias --servers matches the dense objective, including the sparsity of the model', async (t) => {
  t.timeout(300_000);
  const args = ['--solver', 'owlqn', '--l1', '2', '--bias'];
  const ref = await train(dense, 'dense-owlqn', args);
  t.is(ref.code, 0, ref.stderr);
  const s = await train(wide, 'sharded-owlqn', [...args, '-np', '2', '--servers', '2', '--replication', '2']);
  t.is(s.code, 0, s.stderr);
  t.true(relative(s.objective, ref.objective) < 1e-9, `sharded ${s.objective} vs dense ${ref.objective}`);
  t.is(s.model_nnz, ref.model_nnz);
  t.true(s.model_nnz < s.num_features, 'L1 zeroes some weights');
});

test('flags the sharded model does not support exit 2 naming the flag', async (t) => {
  t.timeout(60_000);
  const cases: Array<[string[], RegExp]> = [
    [['--servers', '2', '--solver', 'newton-l1'], /--servers needs --solver tron, lbfgs, owlqn or bcd \(newton-l1 keeps a dense model/],
    [['--servers', '2', '--l1', '1'], /--l1 needs --solver newton-l1, owlqn or bcd \(tron minimises the L2 objective\)/],
    [['--solver', 'lbfgs', '--servers', '2', '--hash-bits', '20'], /--hash-bits does not apply with --servers/],
    [['--solver', 'bcd', '--servers', '2', '--model-out', join(dir, 'm.json')], /--model-out does not apply with --solver bcd --servers yet/],
    [['--solver', 'bcd', '--servers', '2', '--backup-instances', '1'], /--backup-instances does not apply with --servers yet/],
    [['--solver', 'lbfgs', '--servers', '1', '--replication', '2'], /--replication 2 is more than --servers 1/],
    [['--solver', 'lbfgs', '--replication', '2'], /--replication needs --servers K/],
    [['--solver', 'lbfgs', '--servers', '2', '--backup-instances', '1'], /--backup-instances does not apply with --servers yet/],
  ];
  for (const [args, pattern] of cases) {
    const r = await shoal(['train', 'lr', '--train', dense, ...args]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, pattern, args.join(' '));
  }
});

test('without --servers, ids of 2^32 and more are refused with a message pointing at --servers', async (t) => {
  t.timeout(60_000);
  const r = await shoal(['train', 'lr', '--solver', 'lbfgs', '--train', wide]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /wide64\.svm:1:\d+: feature id \d+ is 2\^32 or more; .*shoal train lr --servers K/);
});

for (const [solver, request] of [['lbfgs', 300], ['tron', 100]] as const) {
  test(`a parameter server lost during ${solver} training fails the job with a message naming it`, async (t) => {
    t.timeout(120_000);
    // Server 1 kills itself at its Nth request (SHOAL_INJECT, docs/fault_injection.md), mid-run.
    const env = { ...process.env, SHOAL_INJECT: `kill:server=1:request=${request}` };
    const r = await shoal(['train', 'lr', '--solver', solver, '--train', wide, '-q', '-np', '2', '--servers', '2'], 100_000, { env });
    t.not(r.code, 0);
    t.regex(r.stderr, SERVER_1_LOST);
  });
}
