// `shoal train lambdamart ...`: the same flags and job shape as `shoal train mart`
// (cli/trainers/mart_cli.ts), with lambda gradients and query-aware placement.
import { launchTrees, MART_USAGE } from './mart_cli.js';

export { MART_USAGE as LAMBDAMART_USAGE };

/** `shoal train lambdamart ARGS` (argv may start with 'lambdamart'): exit code, 2 for usage errors. */
export function main(argv: string[]): Promise<number> {
  return launchTrees('lambdamart', argv);
}
