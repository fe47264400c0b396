// `shoal train fm ...` on the launcher side: validates flags and files (exit code 2), then runs
// dist/algorithms/fm/worker.js as -np workers beside --servers parameter servers.
import { parseFmArgs } from '../../algorithms/fm/params.js';
import { launchPsTrainer } from './ftrl_cli.js';

/**
 * `shoal train fm` (argv: the arguments after `fm`).
 * @returns the process exit code: 0, 2 for bad flags or unreadable files, else the job's.
 * @example process.exitCode = await main(['--train', 'u1.base.libfm', '--test', 'u1.test.libfm', '--task', 'regression']);
 */
export async function main(argv: readonly string[]): Promise<number> {
  return launchPsTrainer('shoal train fm', 'fm', argv, parseFmArgs);
}
