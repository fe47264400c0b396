#!/usr/bin/env node
// The `shoal` command. It parses arguments and dispatches to a subcommand; the work lives in
// launcher.ts. Parsing is pure (parseRunArgs) so it can be unit-tested; usage errors exit 2.

import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FlagReader, USAGE_EXIT_CODE, usageError } from '../lib/cli_flags.js';
import { ConfigError, ShoalError } from '../lib/errors.js';
import { exitCodeFor, type RunOptions } from '../lib/launcher.js';
import { runJobForwardingSignals } from '../lib/job_signals.js';
import { parseInjectSpec } from '../lib/fault_injection.js';
import { parseReportDir, REPORT_USAGE, withReportFlag } from '../lib/monitor/report_flag.js';

export { USAGE_EXIT_CODE };

const RUN_USAGE = `usage: shoal run -np N [options] [--] <command> [args...]

  -np N, -n N, --np N     number of ranks (default with --hostfile: its slot count)
  --timeout-ms T          op and rendezvous timeout for every rank (SHOAL_TIMEOUT_MS)
  --servers K             also start K parameter-server processes (comm.ps in the ranks)
  --replication R         copies of every parameter-server key (default 2, at most K)
  --ps-updaters FILE      module whose exported updaters tables can use ({ type: 'custom', name })
  --dashboard-port P      port of the coordinator and its dashboard (default: any free port)
  --no-dashboard          don't serve or print the dashboard URL
${REPORT_USAGE}
  --stall-timeout-ms T    report a collective that waited T ms and who is missing (default 30000)
  --hostfile F            OpenMPI-style hostfile: "host [slots=N]" per line
  --rsh CMD               remote shell for hostfile ranks (default: ssh)
  --coordinator-host H    address the coordinator binds to and ranks dial
  -x K=V, --env K=V       extra environment variable for every rank (repeatable)
  --kill-grace-ms T       SIGTERM→SIGKILL grace when stopping ranks (default 3000)
  -q, --quiet             hide the coordinator's log lines
  --max-restarts K        replace a worker or server that dies, up to K times per job; workers
                          resume with resilient() (docs/fault_tolerance.md; default 0)
  --backup-instances N    retire a straggler (compute per op above --straggler-factor x the
                          others' median, default 2) and start a fresh process in its place, N times
  --slow-rank R --slow-ms M   a deterministic stand-in straggler: rank R sleeps M ms before each
                          op (its first life only; same as --inject delay:rank=R:ms=M)
  --inject SPEC           fault injection for tests, e.g. 'kill:rank=2:op=allReduce:seq=40'
                          (repeatable or ';'-separated; see docs/fault_injection.md)`;

const HELP = `shoal: distributed machine learning on Node.js

usage: shoal <command> [args]

commands:
  run     start N ranks of a script with a coordinator (like mpirun)
  demo    the main job: synthetic data + L-BFGS LR on 2 local ranks (--np N);
          \`shoal demo collectives\`: all-reduce/broadcast bandwidth on 4 ranks
  train   train a bundled algorithm: shoal train lr --train FILE [-np N] (shoal train --help)
  predict score a data file with a trained model (shoal predict --help)
  report  overlay the runs written by --report DIR in one HTML page (shoal report --help)
  datagen write a synthetic libsvm data set (shoal datagen --help)
  ps      add-server / remove-server N on a running job (shoal ps --help)
  coordinator  a job's coordinator as a process of its own (shoal coordinator --help)
  k8s     shoal k8s manifest: a Kubernetes Indexed Job + headless Service (shoal k8s --help)
  help    show this help

${RUN_USAGE}

See docs/launching.md for mpirun, srun and Kubernetes recipes.`;

/**
 * Parses the arguments after `shoal run`. Pure: reads no files.
 * @throws {UsageError} (a ConfigError) with a `shoal run: …` message on a usage error.
 * @example parseRunArgs(['-np', '4', '--', 'node', 'train.mjs']) // { np: 4, command: ['node', 'train.mjs'] }
 */
export function parseRunArgs(argv: readonly string[]): RunOptions {
  let np: number | undefined;
  let slowRank: number | undefined;
  let slowMs: number | undefined;
  const opts: Partial<RunOptions> & { env: Record<string, string> } = { env: {} };
  const r = new FlagReader('shoal run', argv);
  // `shoal run` has always taken counts as plain digits (no 1e3, 0x10 or 2.0), unlike the
  // trainers' Number() syntax; kept so that launch scripts keep their meaning.
  const count = (min: 0 | 1): number => {
    const v = r.takeValue();
    if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
      throw r.error(`${r.flag} needs a ${min === 0 ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(v)}`);
    }
    return Number(v);
  };
  // Options end at `--` or at the first argument that is not one: the command and its own flags.
  const isOption = (a: string | undefined): boolean => a !== undefined && a.startsWith('-') && a !== '-';
  while (isOption(r.peek()) && r.next()) {
    if (r.arg === '--') break;
    switch (r.flag) {
      case '-np': case '-n': case '--np': np = count(1); break;
      case '--timeout-ms': opts.timeoutMs = count(1); break;
      case '--kill-grace-ms': opts.killGraceMs = count(0); break;
      case '--servers': opts.servers = count(0); break;
      case '--replication': opts.replication = count(1); break;
      case '--ps-updaters': opts.psUpdaters = r.takeValue(); break;
      case '--dashboard-port': opts.dashboardPort = count(1); break;
      case '--no-dashboard': r.noValue(); opts.noDashboard = true; break;
      case '--report': opts.report = parseReportDir('shoal run', r.takeValue()); break;
      case '--stall-timeout-ms': opts.stallTimeoutMs = count(0); break;
      case '--max-restarts': opts.maxRestarts = count(0); break;
      case '--backup-instances': opts.backupInstances = count(0); break;
      case '--straggler-factor': {
        const v = r.takeValue();
        if (!(Number(v) > 1)) throw r.error(`--straggler-factor needs a number > 1, got ${JSON.stringify(v)}`);
        opts.stragglerFactor = Number(v);
        break;
      }
      case '--slow-rank': slowRank = count(0); break;
      case '--slow-ms': slowMs = count(1); break;
      case '--hostfile': opts.hostfile = r.takeValue(); break;
      case '--rsh': {
        const v = r.takeValue();
        if (v.trim() === '') throw r.error('--rsh needs a command, got ""');
        opts.rsh = v;
        break;
      }
      case '--coordinator-host': {
        const v = r.takeValue();
        if (v.trim() === '' || /\s/.test(v)) throw r.error(`--coordinator-host needs one address, got ${JSON.stringify(v)}`);
        opts.coordinatorHost = v;
        break;
      }
      case '-x': case '--env': {
        const v = r.takeValue();
        const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(v);
        if (!m) throw r.error(`${r.flag} needs NAME=VALUE, got ${JSON.stringify(v)}`);
        opts.env[m[1] as string] = m[2] as string;
        break;
      }
      case '-q': case '--quiet': r.noValue(); opts.quiet = true; break;
      case '--inject': {
        const v = r.takeValue();
        try {
          parseInjectSpec(v);
        } catch (err) {
          throw r.error(`--inject: ${(err as Error).message}`);
        }
        opts.inject = opts.inject === undefined ? v : `${opts.inject};${v}`;
        break;
      }
      default:
        throw r.error(`unknown option ${JSON.stringify(r.arg)}\n${RUN_USAGE}`);
    }
  }
  const command = r.rest();
  if (command.length === 0) throw r.error(`no command given\n${RUN_USAGE}`);
  if (np === undefined && opts.hostfile === undefined) throw r.error('-np N is required (or --hostfile F to run one rank per slot)');
  if ((slowRank === undefined) !== (slowMs === undefined)) throw r.error('--slow-rank R and --slow-ms M go together');
  if (slowRank !== undefined) {
    if (np !== undefined && slowRank >= np) throw r.error(`--slow-rank ${slowRank} is not a rank of this ${np}-rank job`);
    const rule = slowRule(slowRank, slowMs!);
    opts.inject = opts.inject === undefined ? rule : `${opts.inject};${rule}`;
  }
  const result: RunOptions = { ...opts, np: np ?? 0, command };
  if (Object.keys(opts.env).length === 0) delete result.env;
  return result;
}

/** The fault-injection rule behind `--slow-rank R --slow-ms M`. */
export function slowRule(rank: number, ms: number): string {
  return `delay:rank=${rank}:ms=${ms}`;
}

/**
 * Parses the arguments after `shoal demo`: `--np N` (default 4) and `--timeout-ms T`.
 * @throws {ConfigError} on a usage error.
 */
export function parseDemoArgs(argv: readonly string[], demoScript: string): RunOptions {
  const hasNp = argv.some((a) => a === '-np' || a === '-n' || a === '--np' || a.startsWith('--np='));
  const opts = parseRunArgs([...(hasNp ? [] : ['--np', '4']), ...argv, '--', process.execPath, demoScript]);
  // A stray positional argument would have started the command early.
  if (opts.command.length !== 2 || opts.hostfile !== undefined) {
    throw usageError('shoal demo', 'usage: shoal demo [--np N] [--timeout-ms T] [--quiet]');
  }
  return opts;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

async function runCommand(opts: RunOptions): Promise<number> {
  const result = await runJobForwardingSignals(opts);
  if (!result.ok) process.stderr.write(`${result.summary}\n`);
  return exitCodeFor(result);
}

interface Command {
  summary: string;
  main?: (argv: string[]) => Promise<number>;
}

const here = dirname(fileURLToPath(import.meta.url));

/** Subcommands. Entries without `main` are planned and say so. */
/** `shoal train ALGO ...`: each trainer owns its flags; lr's module also prints the overview. */
const TRAINERS: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  mart: async () => (await import('./trainers/mart_cli.js')).main,
  lambdamart: async () => (await import('./trainers/lambdamart_cli.js')).main,
  // These two take the arguments after the algorithm's name.
  ftrl: async () => {
    const { main } = await import('./trainers/ftrl_cli.js');
    return (argv) => main(argv.slice(1));
  },
  fm: async () => {
    const { main } = await import('./trainers/fm_cli.js');
    return (argv) => main(argv.slice(1));
  },
  lasso: async () => {
    const { main } = await import('./trainers/lasso_cli.js');
    return (argv) => main(argv.slice(1));
  },
};

async function trainCommand(argv: string[]): Promise<number> {
  const load = argv[0] !== undefined ? TRAINERS[argv[0]] : undefined;
  if (load) return (await load())(argv);
  return (await import('./train_cli.js')).trainMain(argv);
}

const COMMANDS: Record<string, Command> = {
  run: { summary: 'start N ranks with a coordinator', main: (argv) => runCommand(parseRunArgs(argv)) },
  demo: {
    summary: 'run the bundled demo',
    main: async (argv) =>
      argv[0] === 'collectives'
        ? runCommand(parseDemoArgs(argv.slice(1), join(here, 'demo.js')))
        : (await import('./demo_train.js')).demoTrainMain(argv),
  },
  help: { summary: 'show help', main: async () => (process.stdout.write(`${HELP}\n`), 0) },
  train: { summary: 'train a bundled algorithm', main: (argv) => withReportFlag('shoal train', argv, trainCommand) },
  report: { summary: 'one HTML page overlaying the --report runs given', main: async (argv) => (await import('./report_cli.js')).reportMain(argv) },
  predict: { summary: 'predict with a trained model', main: async (argv) => (await import('./predict_cli.js')).predictMain(argv) },
  datagen: { summary: 'write a synthetic data set', main: async (argv) => (await import('./datagen_cli.js')).datagenMain(argv) },
  ps: { summary: 'add or drain parameter servers of a running job', main: async (argv) => (await import('./ps_cli.js')).psMain(argv) },
  coordinator: { summary: 'run a coordinator on its own (jobs under mpirun, srun, Kubernetes)', main: async (argv) => (await import('./coordinator_cli.js')).coordinatorMain(argv) },
  k8s: { summary: 'print a Kubernetes Indexed Job + headless Service for a job', main: async (argv) => (await import('./k8s_manifest.js')).k8sMain(argv) },
};

/** Runs the CLI and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? USAGE_EXIT_CODE : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`shoal: unknown command ${JSON.stringify(name)}; try "shoal help"\n`);
    return USAGE_EXIT_CODE;
  }
  if (!command.main) {
    process.stderr.write(`shoal ${name}: not implemented yet (${command.summary})\n`);
    return USAGE_EXIT_CODE;
  }
  try {
    return await command.main(rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return USAGE_EXIT_CODE;
    }
    if (err instanceof ShoalError) {
      process.stderr.write(`shoal ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    // npm installs bins as symlinks; compare real paths.
    return pathToFileURL(realpathSync(entry)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`shoal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
