// Entry script of one rank of `shoal train lr` (cli/train_cli.ts starts it under the
// launcher): parse the same flags, join the job, run job.ts, exit 2 on bad input (flags,
// unreadable or malformed files) and 1 on other failures.
import { init } from '../../lib/index.js';
import { ShoalError, userErrorExitCode } from '../../lib/errors.js';
import { parseTrainArgs } from '../train_cli.js';
import { runLrJob } from '../../algorithms/lbfgs_lr/job.js';
import { runShardedLrJob } from '../../algorithms/sharded_lr/job.js';
import { stateOptions } from '../../lib/recovery/recovery_flags.js';

async function main(): Promise<number> {
  let args;
  try {
    args = parseTrainArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const comm = await init();
  try {
    const { solver, c, l1, penalty, bias, m, blockSize, bcdHessian, seed, bcdBlocks } = args.params;
    // Hashed ids index another weight vector: a checkpoint must not resume across --hash-bits;
    // sharded BCD's tables and schedule are per block: nor across --bcd-blocks.
    const bcd = solver === 'bcd' ? { blockSize, bcdHessian, seed, ...(args.servers > 0 ? { bcdBlocks } : {}) } : {};
    const identity = { algorithm: 'lr', solver, c, l1, penalty, bias, m, ...bcd, ...(args.hashBits ? { hashBits: args.hashBits } : {}) };
    // A sharded checkpoint holds the driver's state and a PS snapshot, not a dense model.
    if (args.servers > 0) await runShardedLrJob(comm, comm.ps, { ...args, recovery: stateOptions(args.recovery, { ...identity, layout: 'sharded' }) });
    else await runLrJob(comm, { ...args, recovery: stateOptions(args.recovery, identity) });
  } catch (err) {
    const code = userErrorExitCode(err);
    process.stderr.write(`shoal train: ${code === 2 || err instanceof ShoalError ? (err as Error).message : ((err as Error).stack ?? String(err))}\n`);
    return code;
  }
  await comm.close();
  return 0;
}

process.exitCode = await main();
if (process.exitCode !== 0) process.exit(process.exitCode);
