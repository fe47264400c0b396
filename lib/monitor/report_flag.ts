// `--report DIR`, parsed in one place for `shoal run` and every `shoal train ALGO`. The trainers
// take it out of their argv before parsing (their ranks re-parse the same argv and need not know
// it) and run inside withReportFlag's scope, where runJobForwardingSignals (lib/job_signals.ts)
// finds it: so no trainer's parser or launch code has to carry it.
import { AsyncLocalStorage } from 'node:async_hooks';

import { usageError } from '../cli_flags.js';

export const REPORT_USAGE = '  --report DIR            at the end (also on failure) write DIR/report.html, series.jsonl, summary.json';

const reportScope = new AsyncLocalStorage<string>();

/** The directory of `--report DIR`. @throws {UsageError} for an empty one. */
export function parseReportDir(command: string, value: string): string {
  if (value.trim() === '') throw usageError(command, '--report needs a directory, got ""');
  return value;
}

/** Removes `--report DIR` / `--report=DIR` from argv (flags only, no positional command). @throws {UsageError} without a DIR. */
export function takeReportFlag(command: string, argv: readonly string[]): { argv: string[]; report: string | null } {
  const rest: string[] = [];
  let report: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--report') {
      if (i + 1 >= argv.length) throw usageError(command, '--report needs a directory');
      report = parseReportDir(command, argv[++i]!);
    } else if (a.startsWith('--report=')) report = parseReportDir(command, a.slice('--report='.length));
    else rest.push(a);
  }
  return { argv: rest, report };
}

/** Runs `main` on argv without --report; a job it starts writes its report to the DIR given. */
export function withReportFlag<T>(command: string, argv: readonly string[], main: (argv: string[]) => Promise<T>): Promise<T> {
  const { argv: rest, report } = takeReportFlag(command, argv);
  return report === null ? main(rest) : reportScope.run(report, () => main(rest));
}

/** The --report DIR of the command running this job, if any. */
export function scopedReportDir(): string | undefined {
  return reportScope.getStore();
}
