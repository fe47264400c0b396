// The scheduling API (lib/schedule) and `shoal train lasso`: the scheduler's policies and
// pipelining, the optimum against sklearn's Lasso (skipped with the reason if no python3 has
// sklearn) and against a dense sequential coordinate descent written here, np 1 vs np 2 with
// parameter servers, and the dependency scheduler's update count against random's.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localCollective } from '../../algorithms/common/collective.js';
import type { CsrData } from '../../algorithms/common/dataset.js';
import { toLibsvmText } from '../helpers/synthetic.js';
import { correlatedRegression } from '../../algorithms/lasso/correlated_data.js';
import { trainLasso, type HistoryPoint, type LassoParams } from '../../algorithms/lasso/index.js';
import { parseLassoArgs } from '../../cli/trainers/lasso_cli.js';
import { ParamScheduler, runScheduledRounds } from '../../index.js';
import { shoal } from '../helpers/shoal_cli.js';
import { fixturePath } from '../helpers/run_job.js';

const dir = mkdtempSync(join(tmpdir(), 'shoal-lasso-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

// 600 rows, 120 features in correlated groups of 5 (correlation ~0.9), 1 + 120 slots.
const data = correlatedRegression({ rows: 600, features: 120, seed: 3 });
const SLOTS = 121;
const LAMBDA = 0.05;
const file = join(dir, 'train.svm');
writeFileSync(file, toLibsvmText(data, false));

const base: LassoParams = { lambda: LAMBDA, scheduler: 'dependency', parallel: 8, threshold: 0.1, eta: 0.05, seed: 1, maxPasses: 400, tol: 1e-12 };

/** Sequential cyclic coordinate descent on dense columns until no weight moves by 1e-13. */
function denseReference(d: CsrData, slots: number, lambda: number): number {
  const n = d.numRows;
  const cols = Array.from({ length: slots }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) for (let k = d.rowPtr[i]!; k < d.rowPtr[i + 1]!; k++) cols[d.featureIds[k]!]![i] = d.values[k]!;
  const r = Float64Array.from(d.labels);
  const w = new Float64Array(slots);
  const sq = cols.map((c) => c.reduce((s, v) => s + v * v, 0) / n);
  for (let sweep = 0; sweep < 100_000; sweep++) {
    let moved = 0;
    for (let j = 0; j < slots; j++) {
      if (sq[j] === 0) continue;
      const c = cols[j]!;
      let g = 0;
      for (let i = 0; i < n; i++) g += c[i]! * r[i]!;
      const z = g / n + sq[j]! * w[j]!;
      const next = (Math.sign(z) * Math.max(Math.abs(z) - lambda, 0)) / sq[j]!;
      const delta = next - w[j]!;
      if (delta === 0) continue;
      for (let i = 0; i < n; i++) r[i]! -= c[i]! * delta;
      w[j] = next;
      moved = Math.max(moved, Math.abs(delta));
    }
    if (moved < 1e-13) break;
  }
  return r.reduce((s, v) => s + v * v, 0) / (2 * n) + lambda * w.reduce((s, v) => s + Math.abs(v), 0);
}

/** sklearn's optimum, or null with the reason. */
function sklearnObjective(): { objective: number | null; why: string } {
  const tried: string[] = [];
  for (const py of [...new Set([process.env.SHOAL_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c))]) {
    const r = spawnSync(py, [fixturePath('sklearn_lasso.py'), file, String(SLOTS), String(LAMBDA)], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return { objective: (JSON.parse(r.stdout) as { objective: number }).objective, why: '' };
    tried.push(`${py}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  return { objective: null, why: `no python3 with sklearn (${tried.join('; ')}); apt-get install python3-sklearn` };
}

const reference = denseReference(data, SLOTS, LAMBDA);
const sk = sklearnObjective();

/** First recorded update count whose objective is within eps (relative) of the optimum. */
function updatesToReach(history: HistoryPoint[], optimum: number, eps: number): number {
  const hit = history.find((h) => h.objective <= optimum * (1 + eps));
  return hit ? hit.updates : Number.POSITIVE_INFINITY;
}

test('ParamScheduler: the dependency check never keeps two parameters correlated above the threshold', async (t) => {
  const s = new ParamScheduler({ numParams: 10, batch: 5, candidates: 10, threshold: 0.5, seed: 4 });
  // Parameters with the same parity are correlated 0.9, others 0.05.
  const dep = (c: Uint32Array): Float64Array => {
    const out = new Float64Array(c.length * c.length);
    for (let a = 0; a < c.length; a++) for (let b = 0; b < c.length; b++) out[a * c.length + b] = c[a]! % 2 === c[b]! % 2 ? 0.9 : 0.05;
    return out;
  };
  for (let round = 0; round < 20; round++) {
    const params = await s.schedule(dep);
    t.is(params.length, 2, `round ${round}: one even and one odd parameter, got ${Array.from(params)}`);
    t.not(params[0]! % 2, params[1]! % 2);
    s.report(params, new Float64Array(params.length).fill(1));
  }
});

test('ParamScheduler: priority sampling favours parameters whose last change was large', async (t) => {
  const s = new ParamScheduler({ numParams: 100, batch: 4, seed: 9 });
  const all = Uint32Array.from({ length: 100 }, (_, i) => i);
  // Parameters 0..9 moved by 1, the others by 0.01: priorities 1 vs 1e-4, floor 0.05 * mean.
  s.report(all, Float64Array.from(all, (j) => (j < 10 ? 1 : 0.01)));
  let moving = 0;
  let picks = 0;
  for (let round = 0; round < 200; round++) {
    const params = await s.schedule();
    for (const j of params) if (j < 10) moving++;
    picks += params.length;
    // Keep the priorities as they were.
    s.report(params, Float64Array.from(params, (j) => (j < 10 ? 1 : 0.01)));
  }
  // The 10 moving parameters carry ~(10 * 1.005) / (10 * 1.005 + 90 * 0.0051) = 96% of the weight.
  t.true(moving / picks > 0.8, `moving parameters got ${moving} of ${picks} picks`);
});

test('ParamScheduler: random draws distinct parameters, cyclic walks them in order, bad options throw', async (t) => {
  const r = new ParamScheduler({ numParams: 7, batch: 7, policy: 'random', seed: 2 });
  t.deepEqual(Array.from(await r.schedule()).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6]);
  const c = new ParamScheduler({ numParams: 5, batch: 3, policy: 'cyclic' });
  t.deepEqual(Array.from(await c.schedule()), [0, 1, 2]);
  t.deepEqual(Array.from(await c.schedule()), [3, 4, 0]);
  t.throws(() => new ParamScheduler({ numParams: 0, batch: 1 }), { message: /numParams/ });
  t.throws(() => new ParamScheduler({ numParams: 3, batch: 1, threshold: 2 }), { message: /threshold/ });
  t.throws(() => new ParamScheduler({ numParams: 3, batch: 1, policy: 'greedy' as 'random' }), { message: /policy/ });
  t.throws(() => r.report(Uint32Array.of(9), Float64Array.of(1)), { message: /numParams/ });
});

test('runScheduledRounds: counts updates, stops when onRound says so, checks pull results', async (t) => {
  const events: string[] = [];
  const scheduler = new ParamScheduler({ numParams: 6, batch: 2, policy: 'cyclic' });
  const result = await runScheduledRounds<number>({
    scheduler,
    maxRounds: 10,
    push: async (params, round) => {
      events.push(`push ${round}`);
      return params.length;
    },
    pull: async (params, partial, round) => {
      events.push(`pull ${round}`);
      return new Float64Array(partial);
    },
    onRound: ({ round, updates }) => {
      t.is(updates, 2 * (round + 1));
      return round === 2;
    },
  });
  t.deepEqual(result, { rounds: 3, updates: 6 });
  t.deepEqual(events, ['push 0', 'pull 0', 'push 1', 'pull 1', 'push 2', 'pull 2']);
  // A non-Float64Array pull result is refused with context.
  await t.throwsAsync(
    runScheduledRounds({ scheduler, maxRounds: 1, push: () => 0, pull: () => [0, 0] as unknown as Float64Array }),
    { message: /pull\(\) result/ },
  );
});

test('runScheduledRounds: the next schedule starts while the current round is in flight', async (t) => {
  const order: string[] = [];
  const scheduler = new ParamScheduler({ numParams: 4, batch: 1, policy: 'cyclic' });
  const schedule = scheduler.schedule.bind(scheduler);
  scheduler.schedule = (dep) => {
    order.push('schedule');
    return schedule(dep);
  };
  await runScheduledRounds<null>({
    scheduler,
    maxRounds: 3,
    push: () => {
      order.push('push');
      return null;
    },
    pull: (params) => {
      order.push('pull');
      return new Float64Array(params.length);
    },
  });
  t.deepEqual(order, ['schedule', 'push', 'schedule', 'pull', 'push', 'schedule', 'pull', 'push', 'pull']);
});

test('lasso reaches the optimum of a sequential dense coordinate descent and of sklearn', async (t) => {
  for (const scheduler of ['dependency', 'random'] as const) {
    const r = await trainLasso(localCollective(), data, { ...base, scheduler }, { numFeatures: SLOTS });
    t.true(r.converged, `${scheduler} converged`);
    t.true(Math.abs(r.objective - reference) <= 1e-7 * reference, `${scheduler}: ${r.objective} vs dense reference ${reference}`);
    if (sk.objective !== null) t.true(Math.abs(r.objective - sk.objective) <= 1e-6 * sk.objective, `${scheduler}: ${r.objective} vs sklearn ${sk.objective}`);
    else t.log(`sklearn comparison skipped: ${sk.why}`);
    // At least one history point per pass, updates increasing, ending at the final objective.
    const passes = Math.ceil(r.updates / SLOTS);
    t.true(r.history.length >= passes, `${r.history.length} points for ${passes} passes`);
    for (let i = 1; i < r.history.length; i++) t.true(r.history[i]!.updates > r.history[i - 1]!.updates);
    t.is(r.history[r.history.length - 1]!.objective, r.objective);
  }
});

test('the dependency scheduler needs at most 0.8x the updates of random to get within 1e-3', async (t) => {
  const optimum = sk.objective ?? reference;
  const counts: Record<string, number> = {};
  for (const scheduler of ['dependency', 'random'] as const) {
    // Three seeds each: the counts are deterministic per seed.
    let sum = 0;
    for (const seed of [1, 2, 3]) sum += updatesToReach((await trainLasso(localCollective(), data, { ...base, scheduler, seed }, { numFeatures: SLOTS })).history, optimum, 1e-3);
    counts[scheduler] = sum;
  }
  t.log(`updates to within 1e-3 (3 seeds): dependency ${counts['dependency']}, random ${counts['random']}`);
  t.true(counts['dependency']! <= 0.8 * counts['random']!, JSON.stringify(counts));
});

test('shoal train lasso: np 1 and np 2 with 2 servers agree; the servers hold the model', async (t) => {
  const runs: Array<Record<string, unknown>> = [];
  for (const extra of [['-np', '1'], ['-np', '2', '--servers', '2']]) {
    const metrics = join(dir, `m${extra.join('')}.json`);
    const r = await shoal(['train', 'lasso', '--train', file, '--lambda', String(LAMBDA), '--max-passes', '100', '--metrics-out', metrics, '-q', ...extra], 150_000);
    t.is(r.code, 0, r.stderr);
    runs.push(JSON.parse(readFileSync(metrics, 'utf8')) as Record<string, unknown>);
  }
  const [one, two] = runs as [Record<string, number>, Record<string, number>];
  t.is(two['workers'], 2);
  t.true(Math.abs(one['objective']! - two['objective']!) <= 1e-10 * one['objective']!, `${one['objective']} vs ${two['objective']}`);
  t.true(Math.abs(one['objective']! - reference) <= 1e-7 * reference);
  t.true((two['server_model_max_abs_diff'] as number) < 1e-6, `server copy differs by ${two['server_model_max_abs_diff']}`);
  const history = (two as unknown as { history: HistoryPoint[] }).history;
  t.true(history.length >= Math.ceil(two['updates']! / two['features']!));
});

test('shoal train lasso: bad flags and files exit 2 naming them', async (t) => {
  t.throws(() => parseLassoArgs(['--train', file]), { message: /shoal train lasso: --lambda L is required/ });
  t.throws(() => parseLassoArgs(['--train', file, '--lambda', '0.1', '--scheduler', 'greedy']), { message: /--scheduler needs dependency, random or cyclic, got "greedy"/ });
  t.throws(() => parseLassoArgs(['--train', file, '--lambda', '-1']), { message: /--lambda needs a number > 0/ });
  const r = await shoal(['train', 'lasso', '--train', join(dir, 'missing.svm'), '--lambda', '0.1'], 60_000);
  t.is(r.code, 2);
  t.regex(r.stderr, /cannot read --train .*missing\.svm: ENOENT/);
  t.notRegex(r.stderr, /\n\s+at /);
});

test('ParamScheduler: a model no larger than a round still gets full rounds while one is in flight', async (t) => {
  const s = new ParamScheduler({ numParams: 3, batch: 3, seed: 1 });
  const first = await s.schedule();
  const second = await s.schedule(); // the first round is not reported yet
  t.is(first.length, 3);
  t.is(second.length, 3);
});
