#!/usr/bin/env node
// The `shoal` command. It parses arguments and dispatches to a subcommand; the work lives in
// launcher.ts. Parsing is pure (parseRunArgs) so it can be unit-tested; usage errors exit 2.

import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { definedOnly, didYouMean, flagHelp, HelpRequested, orList, parseFlags, USAGE_EXIT_CODE, usageError, wantsDebug, type FlagTable, type FlagValues } from '../lib/cli_flags.js';
import { ConfigError, ShoalError } from '../lib/errors.js';
import { exitCodeFor, type RunOptions } from '../lib/launcher.js';
import { runJobForwardingSignals } from '../lib/job_signals.js';
import { RECOVERY_FLAGS } from '../lib/recovery/recovery_flags.js';
import { parseReportDir, withReportFlag } from '../lib/monitor/report_flag.js';

export { USAGE_EXIT_CODE };

/** `shoal run`'s counts are plain digits (no 1e3, 0x10 or 2.0), so launch scripts keep their meaning. */
function count(min: 0 | 1, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      const what = max < Number.MAX_SAFE_INTEGER ? `an integer in [${min}, ${max}]` : `a ${min === 0 ? 'non-negative' : 'positive'} integer`;
      throw new Error(`needs ${what}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
}

function envPair(raw: string): [string, string] {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(raw);
  if (!m) throw new Error(`needs NAME=VALUE, got ${JSON.stringify(raw)}`);
  return [m[1] as string, m[2] as string];
}

function nonBlank(what: string, oneWord = false): (raw: string) => string {
  return (raw) => {
    if (raw.trim() === '' || (oneWord && /\s/.test(raw))) throw new Error(`needs ${what}, got ${JSON.stringify(raw)}`);
    return raw;
  };
}

/** `shoal run`'s flags (lib/cli_flags.ts). */
export const RUN_FLAGS = {
  np: { kind: 'string', value: 'N', aliases: ['-np', '-n'], parse: count(1), help: 'number of ranks (default with --hostfile: its slot count)' },
  'timeout-ms': { kind: 'string', value: 'T', parse: count(1), help: 'op and rendezvous timeout for every rank (SHOAL_TIMEOUT_MS)' },
  servers: { kind: 'string', value: 'K', parse: count(0), help: 'also start K parameter-server processes (comm.ps in the ranks)' },
  replication: { kind: 'string', value: 'R', parse: count(1), help: 'copies of every parameter-server key (default 2, at most K)' },
  'ps-updaters': { kind: 'string', value: 'FILE', help: "module whose exported updaters tables can use ({ type: 'custom', name })" },
  'dashboard-port': { kind: 'string', value: 'P', parse: count(1, 65535), help: 'port of the coordinator and its dashboard (default: any free port)' },
  'no-dashboard': { kind: 'bool', help: "don't serve or print the dashboard URL" },
  report: { kind: 'string', value: 'DIR', parse: (raw) => parseReportDir('shoal run', raw), help: 'at the end (also on failure) write DIR/report.html, series.jsonl, summary.json' },
  'stall-timeout-ms': { kind: 'string', value: 'T', parse: count(0), help: 'report a collective that waited T ms and who is missing (default 30000)' },
  hostfile: { kind: 'string', value: 'F', help: 'OpenMPI-style hostfile: "host [slots=N]" per line' },
  rsh: { kind: 'string', value: 'CMD', parse: nonBlank('a command'), help: 'remote shell for hostfile ranks (default: ssh)' },
  'coordinator-host': { kind: 'string', value: 'H', parse: nonBlank('one address', true), help: 'address the coordinator binds to and ranks dial' },
  env: { kind: 'string', value: 'K=V', aliases: ['-x'], repeatable: true, parse: envPair, help: 'extra environment variable for every rank (repeatable)' },
  'kill-grace-ms': { kind: 'string', value: 'T', parse: count(0), help: 'SIGTERM->SIGKILL grace when stopping ranks (default 3000)' },
  quiet: { kind: 'bool', aliases: ['-q'], help: "hide the coordinator's log lines" },
  'max-restarts': { kind: 'string', value: 'K', parse: count(0), help: 'replace a worker or server that dies, up to K times per job; workers\nresume with resilient() (docs/fault_tolerance.md; default 0)' },
  'backup-instances': { kind: 'string', value: 'N', parse: count(0), help: 'retire a straggler (compute per op above --straggler-factor x the\nothers\' median) and start a fresh process in its place, N times' },
  'straggler-factor': { ...RECOVERY_FLAGS['straggler-factor'] },
  'slow-rank': { kind: 'string', value: 'R', parse: count(0), help: 'a deterministic stand-in straggler: rank R sleeps --slow-ms M ms before\neach op (its first life only; same as --inject delay:rank=R:ms=M)' },
  'slow-ms': { kind: 'string', value: 'M', parse: count(1), help: 'with --slow-rank' },
  inject: { ...RECOVERY_FLAGS.inject, help: "fault injection for tests, e.g. 'kill:rank=2:op=allReduce:seq=40'\n(repeatable or ';'-separated; see docs/fault_injection.md)" },
} as const satisfies FlagTable;

const RUN_USAGE = `usage: shoal run -np N [options] [--] <command> [args...]

${flagHelp(RUN_FLAGS)}`;

/** The commands, for `shoal help` and the did-you-mean of a mistyped one. */
const SUMMARIES: Record<string, string> = {
  run: 'start N ranks of a script with a coordinator (like mpirun)',
  demo: 'the main job: synthetic data + logistic regression on 2 local ranks (--np N);\n          `shoal demo collectives`: all-reduce/broadcast bandwidth on 4 ranks',
  train: 'train a bundled algorithm: shoal train lr|mart|lambdamart|ftrl|fm|lasso --train FILE [-np N]',
  predict: 'score a data file with a trained model',
  report: 'overlay the runs written by --report DIR in one HTML page',
  datagen: 'write a synthetic libsvm data set',
  ps: 'add-server / remove-server N on a running job',
  coordinator: "a job's coordinator as a process of its own (jobs under mpirun, srun, Kubernetes)",
  k8s: 'shoal k8s manifest: a Kubernetes Indexed Job + headless Service',
  help: 'show this help',
};

const HELP = `shoal: distributed machine learning on Node.js

usage: shoal [--debug] <command> [args]     (shoal <command> --help: its flags)

commands:
${Object.entries(SUMMARIES).map(([name, text]) => `  ${name.padEnd(12)}${text}`).join('\n')}

Flags work the same in every command (docs/cli.md): --flag value or --flag=value, -h/--help,
user mistakes exit 2 with one line; --debug (or SHOAL_DEBUG=1) adds stack traces.

${RUN_USAGE}

See docs/launching.md for mpirun, srun and Kubernetes recipes.`;

/**
 * Parses the arguments after `shoal run`. Pure: reads no files.
 * @throws {UsageError} (a ConfigError) with a `shoal run: …` message on a usage error.
 * @throws {HelpRequested} for -h/--help before the command.
 * @example parseRunArgs(['-np', '4', '--', 'node', 'train.mjs']) // { np: 4, command: ['node', 'train.mjs'] }
 */
export function parseRunArgs(argv: readonly string[], command = 'shoal run', table: FlagTable = RUN_FLAGS, usage = RUN_USAGE): RunOptions {
  const { values, help, rest } = parseFlags(command, table, argv, { stopAtPositional: true });
  if (help) throw new HelpRequested(usage);
  const v = values as FlagValues<typeof RUN_FLAGS>;
  const opts: Partial<RunOptions> = definedOnly({
    timeoutMs: v['timeout-ms'],
    killGraceMs: v['kill-grace-ms'],
    servers: v.servers,
    replication: v.replication,
    psUpdaters: v['ps-updaters'],
    dashboardPort: v['dashboard-port'],
    report: v.report,
    noDashboard: v['no-dashboard'],
    stallTimeoutMs: v['stall-timeout-ms'],
    maxRestarts: v['max-restarts'],
    backupInstances: v['backup-instances'],
    stragglerFactor: v['straggler-factor'],
    hostfile: v.hostfile,
    rsh: v.rsh,
    coordinatorHost: v['coordinator-host'],
    quiet: v.quiet,
  });
  if (v.env !== undefined) opts.env = Object.fromEntries(v.env);
  const inject = [...(v.inject ?? [])];
  if (rest.length === 0) throw usageError(command, `no command given\n${usage}`);
  if (v.np === undefined && opts.hostfile === undefined) throw usageError(command, '-np N is required (or --hostfile F to run one rank per slot)');
  const slowRank = v['slow-rank'];
  const slowMs = v['slow-ms'];
  if ((slowRank === undefined) !== (slowMs === undefined)) throw usageError(command, '--slow-rank R and --slow-ms M go together');
  if (slowRank !== undefined) {
    if (v.np !== undefined && slowRank >= v.np) throw usageError(command, `--slow-rank ${slowRank} is not a rank of this ${v.np}-rank job`);
    inject.push(slowRule(slowRank, slowMs!));
  }
  if (inject.length > 0) opts.inject = inject.join(';');
  return { ...opts, np: v.np ?? 0, command: rest };
}

/** The fault-injection rule behind `--slow-rank R --slow-ms M`. */
export function slowRule(rank: number, ms: number): string {
  return `delay:rank=${rank}:ms=${ms}`;
}

const DEMO_COLLECTIVES_FLAGS = { np: RUN_FLAGS.np, 'timeout-ms': RUN_FLAGS['timeout-ms'], quiet: RUN_FLAGS.quiet } as const satisfies FlagTable;

const DEMO_COLLECTIVES_USAGE = `usage: shoal demo collectives [options]

All-reduce and broadcast bandwidth on local ranks.

${flagHelp(DEMO_COLLECTIVES_FLAGS)}`;

/**
 * Parses the arguments after `shoal demo collectives`: `--np N` (default 4), `--timeout-ms T`, `-q`.
 * @throws {UsageError} on a usage error, HelpRequested for --help.
 */
export function parseDemoArgs(argv: readonly string[], demoScript: string): RunOptions {
  const command = 'shoal demo collectives';
  // Every argument must be a flag of the table: a stray word is an error, not a command.
  const { values, help } = parseFlags(command, DEMO_COLLECTIVES_FLAGS, argv);
  if (help) throw new HelpRequested(DEMO_COLLECTIVES_USAGE);
  return parseRunArgs([...argv, ...(values.np === undefined ? ['--np', '4'] : []), '--', process.execPath, demoScript], command, DEMO_COLLECTIVES_FLAGS, DEMO_COLLECTIVES_USAGE);
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
  main: (argv: string[]) => Promise<number>;
}

const here = dirname(fileURLToPath(import.meta.url));

const COMMANDS: Record<string, Command> = {
  run: { main: (argv) => runCommand(parseRunArgs(argv)) },
  demo: {
    main: async (argv) =>
      argv[0] === 'collectives'
        ? runCommand(parseDemoArgs(argv.slice(1), join(here, 'demo.js')))
        : (await import('./demo_train.js')).demoTrainMain(argv),
  },
  help: { main: async () => (process.stdout.write(`${HELP}\n`), 0) },
  train: { main: (argv) => withReportFlag('shoal train', argv, async (rest) => (await import('./train_cli.js')).trainMain(rest)) },
  report: { main: async (argv) => (await import('./report_cli.js')).reportMain(argv) },
  predict: { main: async (argv) => (await import('./predict_cli.js')).predictMain(argv) },
  datagen: { main: async (argv) => (await import('./datagen_cli.js')).datagenMain(argv) },
  ps: { main: async (argv) => (await import('./ps_cli.js')).psMain(argv) },
  coordinator: { main: async (argv) => (await import('./coordinator_cli.js')).coordinatorMain(argv) },
  k8s: { main: async (argv) => (await import('./k8s_manifest.js')).k8sMain(argv) },
};

/**
 * What a command's failure prints and its exit status: help on stdout (0); a user mistake
 * (ConfigError) as its one line (2); a ShoalError as `shoal NAME: message` (1); anything else
 * likewise, with the stack only under --debug.
 */
export function reportError(name: string, err: unknown, debug: boolean): number {
  if (err instanceof HelpRequested) {
    process.stdout.write(`${err.text}\n`);
    return 0;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  const stack = debug && e.stack ? `\n${e.stack}` : '';
  if (err instanceof ConfigError) {
    process.stderr.write(`${e.message}${stack}\n`);
    return USAGE_EXIT_CODE;
  }
  const hint = debug || err instanceof ShoalError ? '' : ' (--debug shows the stack trace)';
  process.stderr.write(`shoal ${name}: ${e.message}${hint}${stack}\n`);
  return 1;
}

/** Runs the CLI and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const debug = wantsDebug(argv);
  const [name, ...rest] = argv[0] === '--debug' ? argv.slice(1) : argv;
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
    const near = didYouMean(name, Object.keys(COMMANDS));
    process.stderr.write(`shoal: unknown command ${JSON.stringify(name)}${near ? `; did you mean ${near}?` : ''} (commands: ${orList(Object.keys(COMMANDS))})\n`);
    return USAGE_EXIT_CODE;
  }
  try {
    return await command.main(rest);
  } catch (err) {
    return reportError(name, err, debug);
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
    (err: unknown) => process.exit(reportError(process.argv[2] ?? '', err, true)),
  );
}
