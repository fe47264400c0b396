// Entry script of one rank of `shoal train lasso` (cli/trainers/lasso_cli.ts starts -np of
// them): reads this rank's share of the rows, trains (algorithms/lasso), and rank 0 writes the
// metrics and the model. With --servers the model also lives in the `lasso.w` table, and the
// metrics say how far the servers' copy is from the ranks' (float32 rounding at most).
import { readLibsvm } from '../../lib/data/libsvm.js';
import { init } from '../../lib/index.js';
import { userErrorExitCode } from '../../lib/errors.js';
import { checkNotEmpty, globalNumFeatures } from '../../algorithms/common/dataset.js';
import { writeJson } from '../../algorithms/ps_trainer/job.js';
import { trainLasso } from '../../algorithms/lasso/index.js';
import { parseLassoArgs } from '../trainers/lasso_cli.js';

async function main(): Promise<number> {
  let args;
  try {
    args = parseLassoArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const comm = await init();
  try {
    const p = args.params;
    const data = await readLibsvm(args.train, { rank: comm.rank, size: comm.size, weightFile: false, queryFile: false });
    const rows = new Float64Array([data.numRows]);
    await comm.allReduce(rows, { op: 'sum' });
    checkNotEmpty('shoal train lasso', rows[0]!, args.train);
    const numFeatures = await globalNumFeatures(comm, data);
    const table = args.servers > 0 ? await comm.ps.table('lasso.w', { dim: 1, updater: { type: 'assign' }, consistency: { mode: 'asp' } }) : null;
    const log = comm.rank === 0 && !args.quiet ? (line: string) => console.log(line) : null;
    log?.(`lasso: ${rows[0]} rows, ${numFeatures} feature slots, lambda ${p.lambda}, scheduler ${p.scheduler}, ${p.parallel} per round, ${comm.size} ranks, ${args.servers} servers`);
    const result = await trainLasso(comm, data, p, {
      numFeatures,
      table,
      onHistory: (h, pass) => log?.(`lasso pass ${pass}  updates ${h.updates}  objective ${h.objective.toPrecision(12)}`),
    });
    let nnz = 0;
    for (let j = 0; j < result.w.length; j++) if (result.w[j] !== 0) nnz++;
    log?.(`lasso done: objective ${result.objective.toPrecision(12)}, ${result.updates} updates in ${result.rounds} rounds, ${nnz} nonzero weights, ${result.converged ? 'converged' : result.diverged ? 'DIVERGED (fewer --parallel, or --scheduler dependency)' : 'stopped at --max-passes'}, ${result.seconds.toFixed(3)}s`);
    if (comm.rank === 0) {
      const metrics: Record<string, unknown> = {
        algorithm: 'lasso',
        lambda: p.lambda,
        scheduler: p.scheduler,
        parallel: p.parallel,
        workers: comm.size,
        servers: args.servers,
        rows: rows[0],
        features: numFeatures,
        objective: result.objective,
        updates: result.updates,
        rounds: result.rounds,
        converged: result.converged,
        diverged: result.diverged,
        nnz,
        train_seconds: result.seconds,
        history: result.history,
      };
      if (table) {
        // The servers' copy of the model, read back: it must match the ranks' weights.
        const keys = BigUint64Array.from({ length: numFeatures }, (_, j) => BigInt(j));
        const served = await table.pull(keys);
        let diff = 0;
        for (let j = 0; j < numFeatures; j++) diff = Math.max(diff, Math.abs(served[j]! - result.w[j]!));
        metrics['server_model_max_abs_diff'] = diff;
      }
      if (args.metricsOut) await writeJson(args.metricsOut, metrics);
      if (args.modelOut) await writeJson(args.modelOut, { format: 'shoal-lasso', version: 1, lambda: p.lambda, weights: Array.from(result.w) });
    }
    await comm.barrier();
  } catch (err) {
    const code = userErrorExitCode(err);
    process.stderr.write(`shoal train lasso: ${code === 2 ? (err as Error).message : ((err as Error).stack ?? String(err))}\n`);
    await comm.close().catch(() => undefined);
    return code;
  }
  await comm.close();
  return 0;
}

process.exitCode = await main();
if (process.exitCode !== 0) process.exit(process.exitCode);
