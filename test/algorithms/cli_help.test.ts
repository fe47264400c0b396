// The `shoal` command as a user runs it: --help/-h exits 0 with the help on stdout for every
// command and trainer; mistakes exit 2 with one line (a did-you-mean where one is close) and
// no stack trace; --debug adds the stack.
import test from 'ava';
import { shoal } from '../helpers/shoal_cli.js';

const HELP_CASES: Array<[string[], RegExp]> = [
  [['--help'], /usage: shoal \[--debug\] <command>/],
  [['help'], /commands:/],
  [['run', '--help'], /usage: shoal run -np N/],
  [['run', '-h'], /usage: shoal run -np N/],
  [['demo', '--help'], /usage: shoal demo \[--np N\]/],
  [['demo', 'collectives', '--help'], /usage: shoal demo collectives/],
  [['train', '--help'], /trainers:\n {2}lr .*\n {2}mart .*\n {2}lambdamart .*\n {2}ftrl .*\n {2}fm /],
  [['train', 'lr', '--help'], /usage: shoal train lr/],
  [['train', 'mart', '--help'], /usage: shoal train mart/],
  [['train', 'lambdamart', '-h'], /usage: shoal train mart\|lambdamart/],
  [['train', 'ftrl', '--help'], /usage: shoal train ftrl/],
  [['train', 'fm', '-h'], /usage: shoal train fm/],
  [['train', 'fm', '--bogus', '--help'], /usage: shoal train fm/],
  [['predict', '--help'], /usage: shoal predict/],
  [['datagen', '-h'], /usage: shoal datagen/],
  [['ps', '--help'], /usage: SHOAL_TOKEN=<job secret> shoal ps add-server/],
];

test('--help and -h exit 0 with the help on stdout, for every command and trainer', async (t) => {
  t.timeout(120_000);
  for (const [args, pattern] of HELP_CASES) {
    const r = await shoal(args, 30_000);
    t.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stdout, pattern, args.join(' '));
    t.is(r.stderr, '', args.join(' '));
  }
});

const MISTAKES: Array<[string[], RegExp]> = [
  [['trian'], /^shoal: unknown command "trian"; did you mean train\?/],
  [['train', 'mrat'], /^shoal train: unknown trainer "mrat"; did you mean mart\?/],
  [['train', 'mart', '--train', 'x.svm', '--max_depth', '3'], /^shoal train mart: unknown option "--max_depth"; did you mean --max-depth\?/],
  [['train', 'lr', '--train', 'x.svm', '--max_iter', '3'], /^shoal train lr: unknown option "--max_iter"; did you mean --max-iter\?/],
  [['train', 'ftrl', '--train', 'x.svm', '--seed', '1', '--seed', '-2'], /^shoal train ftrl: --seed needs an integer in \[0, 2147483647\], got "-2"/],
  [['datagen', '--task', 'binary', '--rows', '10', '--out', '/nonexistent/x'], /^shoal datagen: cannot write --out "\/nonexistent\/x": directory "\/nonexistent": ENOENT/],
  [['run', '--dashboard-port', '99999', '-np', '2', 'node', 'x.mjs'], /^shoal run: --dashboard-port needs an integer in \[1, 65535\], got "99999"/],
  [['predict', '--modle', 'm.json'], /^shoal predict: unknown option "--modle"; did you mean --model\?/],
];

test('user mistakes exit 2 with one line naming what is wrong, no stack trace', async (t) => {
  t.timeout(120_000);
  for (const [args, pattern] of MISTAKES) {
    const r = await shoal(args, 30_000);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, pattern, args.join(' '));
    t.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    t.notRegex(r.stderr, /\n\s+at /, args.join(' '));
  }
});

test('--debug adds the stack trace to the same error', async (t) => {
  t.timeout(60_000);
  const r = await shoal(['--debug', 'datagen', '--task', 'binary', '--out', '/nonexistent/x'], 30_000);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /^shoal datagen: cannot write --out[^\n]*\n[\s\S]*\n\s+at /);
});
