// `shoal coordinator`: the coordinator as a process of its own, for jobs started by a foreign
// launcher (mpirun, srun, a Kubernetes Indexed Job). Under those, rank 0 hosts the coordinator
// by default, so the job's rendezvous, heartbeats and recovery die with rank 0; started apart
// (and the ranks given SHOAL_COORDINATOR_EXTERNAL=1), it outlives any rank. It runs until
// SIGINT/SIGTERM. The job secret comes from SHOAL_TOKEN or SHOAL_TOKEN_FILE, never argv.
import { Coordinator } from '../lib/coordinator.js';
import { flagHelp, parseFlags, usageError, type FlagTable } from '../lib/cli_flags.js';
import { formatAddress } from '../lib/env.js';
import { jobSecretFromEnv, MAKE_SECRET_HINT } from '../lib/job_secret.js';

const COORDINATOR_FLAGS = {
  port: { kind: 'int', min: 1, max: 65535, value: 'P', help: 'port to listen on (required: the ranks must know it in advance)' },
  host: { kind: 'string', value: 'H', help: 'address to listen on (default 0.0.0.0)' },
  'no-dashboard': { kind: 'bool', help: "don't serve the dashboard" },
  'stall-timeout-ms': { kind: 'int', min: 0, value: 'MS', help: 'report collectives that wait this long (default 30000; 0: off)' },
} as const satisfies FlagTable;

export const COORDINATOR_USAGE = `usage: shoal coordinator --port P [options]

Runs a job's coordinator on its own (docs/launching.md, "A coordinator apart from rank 0"). The
ranks get SHOAL_COORDINATOR=<this host>:P and SHOAL_COORDINATOR_EXTERNAL=1; the job secret is
SHOAL_TOKEN or SHOAL_TOKEN_FILE, the same for the coordinator and the ranks.

${flagHelp(COORDINATOR_FLAGS)}`;

export interface CoordinatorArgs {
  host: string;
  port: number;
  dashboard: boolean;
  stallTimeoutMs?: number;
  help: boolean;
}

/** Parses the arguments after `shoal coordinator`. @throws {UsageError} naming the flag. */
export function parseCoordinatorArgs(argv: readonly string[]): CoordinatorArgs {
  const { values: v, help } = parseFlags('shoal coordinator', COORDINATOR_FLAGS, argv);
  const out: CoordinatorArgs = { host: v.host ?? '0.0.0.0', port: v.port ?? -1, dashboard: !(v['no-dashboard'] ?? false), help };
  if (v['stall-timeout-ms'] !== undefined) out.stallTimeoutMs = v['stall-timeout-ms'];
  if (help) return out;
  if (out.port < 0) throw usageError('shoal coordinator', '--port P is required (the ranks dial it: SHOAL_COORDINATOR=<host>:P)');
  return out;
}

/** `shoal coordinator` main: resolves with the exit status once stopped by a signal. */
export async function coordinatorMain(argv: string[]): Promise<number> {
  const args = parseCoordinatorArgs(argv);
  if (args.help) {
    process.stdout.write(`${COORDINATOR_USAGE}\n`);
    return 0;
  }
  const token = jobSecretFromEnv(process.env);
  if (token === undefined) throw usageError('shoal coordinator', `no job secret: set SHOAL_TOKEN or SHOAL_TOKEN_FILE (e.g. ${MAKE_SECRET_HINT}), the same as the ranks'`);
  const coordinator = await Coordinator.start({
    host: args.host,
    port: args.port,
    token,
    dashboard: args.dashboard,
    ...(args.stallTimeoutMs !== undefined ? { stallTimeoutMs: args.stallTimeoutMs } : {}),
    log: (line) => process.stderr.write(`[shoal coordinator] ${line}\n`),
  });
  process.stderr.write(`[shoal coordinator] listening on ${formatAddress({ host: args.host, port: coordinator.port })}\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  process.stderr.write(`[shoal coordinator] ${signal}: stopping\n`);
  await coordinator.close();
  return 0;
}
