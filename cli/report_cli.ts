// `shoal report DIR... [--out FILE]`: one self-contained HTML page overlaying runs written by
// `--report DIR` (the same metric of every run on one chart, the legend naming the run).
import { resolve } from 'node:path';

import { parseFlags, usageError, type FlagTable } from '../lib/cli_flags.js';
import { writeOverlayReport } from '../lib/monitor/run_report.js';

const REPORT_FLAGS = {
  out: { kind: 'string', value: 'FILE', help: 'the page to write (default: shoal-report.html)' },
} as const satisfies FlagTable;

const REPORT_CLI_USAGE = `usage: shoal report DIR... [--out FILE]

  DIR...        directories written by --report DIR (shoal run, shoal train)
  --out FILE    the page to write (default: shoal-report.html)

example: shoal train lr --train a9a -np 2 --report runs/tron && shoal train lr --solver lbfgs --train a9a -np 2 --report runs/lbfgs
         shoal report runs/tron runs/lbfgs --out compare.html`;

/** Returns the exit status; usage errors and unreadable runs throw a ConfigError (exit 2). */
export async function reportMain(argv: string[]): Promise<number> {
  const { values, help, rest: dirs } = parseFlags('shoal report', REPORT_FLAGS, argv, { positionals: Number.MAX_SAFE_INTEGER });
  if (help) {
    process.stdout.write(`${REPORT_CLI_USAGE}\n`);
    return 0;
  }
  const out = values.out ?? 'shoal-report.html';
  if (dirs.length === 0) throw usageError('shoal report', `which runs? give one or more --report directories\n${REPORT_CLI_USAGE}`);
  if (out.trim() === '') throw usageError('shoal report', '--out needs a file name, got ""');
  writeOverlayReport(dirs, resolve(out));
  process.stdout.write(`shoal report: ${dirs.length} run${dirs.length === 1 ? '' : 's'} -> ${resolve(out)}\n`);
  return 0;
}
