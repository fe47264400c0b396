// Per-rank entry of `shoal train lambdamart` (started by cli/trainers/lambdamart_cli.ts under the launcher,
// or run alone as a single process).
import { userErrorExitCode } from '../../lib/errors.js';
import { rankMain } from '../trainers/mart_cli.js';

process.exitCode = await rankMain('lambdamart', process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  // Bad flags and bad input data (a file:line:column message) are the user's to fix: 2.
  return userErrorExitCode(err);
});
