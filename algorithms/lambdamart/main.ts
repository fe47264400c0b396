// Per-rank entry of `shoal train lambdamart` (started by lib/trainers/lambdamart_cli.ts under the launcher,
// or run alone as a single process).
import { rankMain } from '../../lib/trainers/mart_cli.js';

process.exitCode = await rankMain('lambdamart', process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  // Bad flags and bad input data (a file:line:column message) are the user's to fix: 2.
  const code = (err as { code?: string }).code;
  return code === 'ERR_CONFIG' || code === 'ERR_INVALID_ARGUMENT' || code === 'ERR_IO' ? 2 : 1;
});
