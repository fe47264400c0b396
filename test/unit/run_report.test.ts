// --report DIR: the flag (shoal run, shoal train), the files a run leaves, reading them back for
// `shoal report`, and the errors that name the file and line.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseRunArgs } from '../../cli/cli.js';
import { reportMain } from '../../cli/report_cli.js';
import { UsageError } from '../../lib/cli_flags.js';
import { ConfigError } from '../../lib/errors.js';
import { JobView } from '../../lib/monitor/job_view.js';
import { takeReportFlag, withReportFlag, scopedReportDir } from '../../lib/monitor/report_flag.js';
import { prepareReportDir, readRunReport, writeOverlayReport, writeRunReport } from '../../lib/monitor/run_report.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-report-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('--report DIR is taken out of a trainer\'s argv in both spellings; a missing or empty DIR is a usage error', async (t) => {
  t.deepEqual(takeReportFlag('shoal train', ['lr', '--train', 'a', '--report', 'out', '-np', '2']), { argv: ['lr', '--train', 'a', '-np', '2'], report: 'out' });
  t.deepEqual(takeReportFlag('shoal train', ['fm', '--report=r']), { argv: ['fm'], report: 'r' });
  t.deepEqual(takeReportFlag('shoal train', ['lr']), { argv: ['lr'], report: null });
  t.throws(() => takeReportFlag('shoal train', ['lr', '--report']), { instanceOf: UsageError, message: 'shoal train: --report needs a directory' });
  t.throws(() => takeReportFlag('shoal train', ['lr', '--report=']), { instanceOf: UsageError, message: /--report needs a directory, got ""/ });
  // The job started inside the scope finds the directory; outside it, nothing.
  t.is(await withReportFlag('shoal train', ['lr', '--report', 'd'], async (argv) => `${argv.join(' ')} -> ${scopedReportDir()}`), 'lr -> d');
  t.is(scopedReportDir(), undefined);
});

test('shoal run takes --report before the command; after it, the flag is the program\'s', (t) => {
  t.is(parseRunArgs(['-np', '2', '--report', 'out', '--', 'node', 'x.mjs']).report, 'out');
  const opts = parseRunArgs(['-np', '2', 'node', 'x.mjs', '--report', 'mine']);
  t.is(opts.report, undefined);
  t.deepEqual(opts.command, ['node', 'x.mjs', '--report', 'mine']);
});

test('a run\'s files read back with every point; shoal report overlays runs and names bad input by file and line', async (t) => {
  const dir = tempDir(t);
  const view = new JobView();
  const now = Date.now();
  view.joined('worker', 0, 'h', 1);
  view.update('worker', 0, { startedAt: now, now, bytes: 0, psKeys: 0, reports: [1, 2, 3].map((i) => ({ t: now, values: { iteration: i, loss: 1 / i } })) });
  const runDir = prepareReportDir('shoal run', join(dir, 'a', 'nested'));
  const result = { ok: false, exits: [{ rank: 0, code: 1, signal: null }], summary: 'shoal run: rank 0 exited with code 1' };
  writeRunReport(runDir, { command: ['node', 'x.mjs'], startedAtMs: now, result, dump: view.dump() });
  const back = readRunReport(runDir);
  t.is(back.summary.result, result.summary);
  t.false(back.summary.ok);
  t.deepEqual(back.series.map((s) => [s.metric, s.rank, s.x, s.y]), [['loss', 0, [1, 2, 3], [1, 1 / 2, 1 / 3]]]);
  const html = readFileSync(join(runDir, 'report.html'), 'utf8');
  t.true(html.includes('uPlot'), 'uPlot is inlined');
  t.false(/<script[^>]+src=|<link[^>]+href=/.test(html), 'no external assets');

  const out = join(dir, 'both.html');
  writeOverlayReport([runDir, runDir], out);
  t.true(readFileSync(out, 'utf8').includes('"name":"'), 'runs embedded');

  writeFileSync(join(runDir, 'series.jsonl'), '{"metric":"loss","rank":0,"x":1,"y":1}\nnot json\n');
  t.throws(() => readRunReport(runDir), { instanceOf: ConfigError, message: new RegExp(`${join(runDir, 'series.jsonl')}:2: `) });
  t.throws(() => readRunReport(join(dir, 'missing')), { instanceOf: ConfigError, message: /cannot read .*missing\/summary\.json: ENOENT/ });
  await t.throwsAsync(reportMain([]), { instanceOf: UsageError, message: /which runs\?/ });
  await t.throwsAsync(reportMain(['--bogus']), { instanceOf: UsageError, message: /unknown option "--bogus"/ });
});

test('a --report path that cannot be a directory fails before the job starts, naming it', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'file'), '');
  t.throws(() => prepareReportDir('shoal run', join(dir, 'file', 'sub')), { instanceOf: ConfigError, message: /shoal run: --report ".*file\/sub": cannot create the directory: ENOTDIR/ });
});
