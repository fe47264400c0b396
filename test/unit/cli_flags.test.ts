// The one flag layer (lib/cli_flags.ts) and the rules every trainer shares: -q, --seed,
// --log-every and repeated --train mean the same in lr, mart, lambdamart, ftrl and fm.
import test from 'ava';
import { parseTrainArgs } from '../../cli/train_cli.js';
import { parseMartArgs } from '../../cli/trainers/mart_cli.js';
import { parseRunArgs } from '../../cli/cli.js';
import { parseDatagenArgs } from '../../cli/datagen_cli.js';
import { parseFtrlArgs } from '../../algorithms/ftrl/params.js';
import { parseFmArgs } from '../../algorithms/fm/params.js';
import { didYouMean, flagHelp, HelpRequested, parseFlags, UsageError, type FlagTable } from '../../lib/cli_flags.js';
import { ConfigError } from '../../lib/errors.js';
import { runJob } from '../../lib/launcher.js';
import { childrenMatching } from '../helpers/proc_tree.js';

const TABLE = {
  train: { kind: 'string', repeatable: true, help: 'files' },
  'max-depth': { kind: 'int', min: 0, help: 'depth' },
  bias: { kind: 'bool', negatable: true, help: 'bias' },
  quiet: { kind: 'bool', aliases: ['-q'], help: 'quiet' },
  np: { kind: 'int', min: 1, aliases: ['-np', '-n'], help: 'ranks' },
  mode: { kind: 'choice', choices: ['fast', 'slow'], help: 'mode' },
} as const satisfies FlagTable;

test('parseFlags: spellings, = values, aliases, negation, choices', (t) => {
  const { values, help } = parseFlags('cmd', TABLE, ['--train', 'a', '--train=b', '-np', '3', '-q', '--no-bias', '--max-depth=4', '--mode', 'slow']);
  t.false(help);
  t.deepEqual(values, { train: ['a', 'b'], np: 3, quiet: true, bias: false, 'max-depth': 4, mode: 'slow' });
  t.true(parseFlags('cmd', TABLE, ['--train', 'a', '-h']).help);
  t.deepEqual(parseFlags('cmd', TABLE, ['--bogus', '--max-depth', 'x', '--help']), { values: {}, help: true, rest: [] }, 'help wins over the errors beside it');
});

test('parseFlags: a flag that takes one value keeps the last; repeatable ones collect', (t) => {
  t.is(parseFlags('cmd', TABLE, ['--max-depth', '1', '--max-depth=2']).values['max-depth'], 2);
  t.is(parseFlags('cmd', TABLE, ['--mode', 'fast', '--mode', 'slow']).values.mode, 'slow');
  t.throws(() => parseFlags('cmd', TABLE, ['--max-depth', '1', '--max-depth', 'x']), { message: 'cmd: --max-depth needs an integer >= 0, got "x"' }, 'every use is checked');
  t.deepEqual(parseFlags('cmd', TABLE, ['--train', 'a', '--train', 'b', '--train', 'c']).values.train, ['a', 'b', 'c']);
});

test('parseFlags: unknown flags and values get a did-you-mean, XGBoost spellings included', (t) => {
  t.throws(() => parseFlags('cmd', TABLE, ['--max_depth', '3']), { instanceOf: UsageError, message: 'cmd: unknown option "--max_depth"; did you mean --max-depth? (see cmd --help)' });
  t.throws(() => parseFlags('cmd', TABLE, ['--maxDepth', '3']), { message: /did you mean --max-depth\?/ });
  t.throws(() => parseFlags('cmd', TABLE, ['--trian', 'a']), { message: /did you mean --train\?/ });
  t.throws(() => parseFlags('cmd', TABLE, ['--mode', 'fsat']), { message: 'cmd: --mode needs fast or slow, got "fsat"; did you mean fast?' });
  t.throws(() => parseFlags('cmd', TABLE, ['--zzzzzz']), { message: 'cmd: unknown option "--zzzzzz" (see cmd --help)' });
  t.throws(() => parseFlags('cmd', TABLE, ['stray']), { message: /unexpected argument "stray"/ });
  t.throws(() => parseFlags('cmd', TABLE, ['--train']), { message: 'cmd: --train needs a value' });
  t.throws(() => parseFlags('cmd', TABLE, ['--quiet=yes']), { message: /--quiet takes no value/ });
  t.is(didYouMean('trian', ['run', 'train', 'predict']), 'train');
  t.is(didYouMean('xyz', ['run', 'train', 'predict']), undefined);
});

test('flagHelp lists every visible flag with its spellings', (t) => {
  const text = flagHelp(TABLE);
  for (const s of ['--train FILE', '--max-depth N', '--bias, --no-bias', '-q, --quiet', '-np N, -n N, --np N', '--mode fast|slow']) t.true(text.includes(s), s);
});

// Each trainer's parser, as its ranks call it, with the shared flags.
const TRAINERS: Array<[string, (argv: string[]) => { train: string[]; quiet: boolean; logEvery: number; seed: number }]> = [
  ['lr', (a) => { const r = parseTrainArgs(['lr', ...a]); return { ...r, seed: r.params.seed }; }],
  ['mart', (a) => { const r = parseMartArgs('mart', a); return { ...r, seed: r.params.seed }; }],
  ['lambdamart', (a) => { const r = parseMartArgs('lambdamart', a); return { ...r, seed: r.params.seed }; }],
  ['ftrl', (a) => parseFtrlArgs(a)],
  ['fm', (a) => parseFmArgs(a)],
];

test('every trainer: -q, --seed, --log-every and repeated --train mean the same', (t) => {
  for (const [name, parse] of TRAINERS) {
    const r = parse(['--train', 'a.svm', '--train', 'b.svm', '-q', '--seed', '7', '--log-every', '5']);
    t.deepEqual(r.train, ['a.svm', 'b.svm'], name);
    t.true(r.quiet, name);
    t.is(r.seed, 7, name);
    t.is(r.logEvery, 5, name);
    t.throws(() => parse(['--train', 'a.svm', '--seed', '-1']), { instanceOf: UsageError, message: /--seed needs an integer in \[0, 2147483647\], got "-1"/ }, name);
    t.throws(() => parse(['--train', 'a.svm', '--log-every', '0']), { instanceOf: UsageError, message: /--log-every needs an integer >= 1, got "0"/ }, name);
    t.is(parse(['--train', 'a.svm', '--seed', '1', '--seed', '2']).seed, 2, `${name}: the last --seed wins`);
    t.throws(() => parse([]), { instanceOf: UsageError, message: /--train FILE is required/ }, name);
  }
});

test('PS trainers: --help is a HelpRequested carrying the usage', (t) => {
  t.throws(() => parseFtrlArgs(['--help']), { instanceOf: HelpRequested, message: /usage: shoal train ftrl/ });
  t.throws(() => parseFmArgs(['-h']), { instanceOf: HelpRequested, message: /usage: shoal train fm/ });
});

test('run and datagen: the ports, repeatable -x and --inject, --no-qid', (t) => {
  t.throws(() => parseRunArgs(['--dashboard-port', '99999', '-np', '1', 'node']), { message: 'shoal run: --dashboard-port needs an integer in [1, 65535], got "99999"' });
  t.throws(() => parseRunArgs(['--help']), { instanceOf: HelpRequested });
  const o = parseRunArgs(['-np', '2', '-x', 'A=1', '-x', 'B=2', '--inject', 'kill:rank=1:op=barrier:seq=1', '--inject', 'exit:rank=0:op=barrier:seq=2:code=3', 'node', 'x.mjs', '--help']);
  t.deepEqual(o.env, { A: '1', B: '2' });
  t.is(o.inject, 'kill:rank=1:op=barrier:seq=1;exit:rank=0:op=barrier:seq=2:code=3');
  t.deepEqual(o.command, ['node', 'x.mjs', '--help'], "the command's own --help is its own");
  t.is(parseDatagenArgs(['--task', 'rank', '--out', 'x', '--no-qid']).qid, false);
});

test('runJob checks every option before it starts the coordinator: a bad one leaves no process behind', async (t) => {
  for (const bad of [{ servers: -1 }, { maxRestarts: 1.5 }, { backupInstances: -2 }, { stragglerFactor: 1 }, { dashboardPort: 70000 }]) {
    await t.throwsAsync(runJob({ np: 1, command: [process.execPath, '-e', ''], noDashboard: true, quiet: true, ...bad }), { instanceOf: ConfigError }, JSON.stringify(bad));
    t.deepEqual(childrenMatching(process.pid, 'coordinator_main'), [], `no coordinator left after ${JSON.stringify(bad)}`);
  }
});
