// How `shoal train` commands show a job's ranks: rank 0's stdout as is, every other line
// prefixed with its rank when there are several; and the command's exit status from the job's.
import { exitCodeFor, type JobResult } from '../lib/launcher.js';
import { USAGE_EXIT_CODE } from '../lib/cli_flags.js';

/** runJob's onLine for a job of `np` ranks. */
export function rankLinePrinter(np: number): (rank: number, stream: 'stdout' | 'stderr', line: string) => void {
  return (rank, stream, line) => {
    const text = np > 1 && (rank !== 0 || stream === 'stderr') ? `[${rank}] ${line}\n` : `${line}\n`;
    (stream === 'stdout' ? process.stdout : process.stderr).write(text);
  };
}

/** 0, or the failed job's status; prints the job's summary unless the ranks reported a usage error. */
export function jobExitCode(command: string, result: JobResult): number {
  if (result.ok) return 0;
  const code = exitCodeFor(result);
  if (code !== USAGE_EXIT_CODE) process.stderr.write(`${command}: ${result.summary}\n`);
  return code;
}
