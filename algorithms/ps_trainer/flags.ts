// Command-line flags of the parameter-server trainers (`shoal train ftrl|fm`), shared by the
// launcher side (cli/trainers/*_cli.ts, which validates before starting anything) and the
// worker entries (which re-parse the same argv). Parsing is lib/cli_flags.ts's, the one layer
// of every command; this file holds the tables and CommonParams. Pure: reads no files.
import { flagHelp, HelpRequested, parseFlags, usageError, type FlagTable, type FlagValues } from '../../lib/cli_flags.js';
import { RECOVERY_FLAGS, recoveryArgs, type RecoveryArgs } from '../../lib/recovery/recovery_flags.js';
import { TRAINER_FLAGS } from '../common/trainer_flags.js';

/** `--staleness S`: an integer >= 0, 'bsp' (0) or 'asp'/'inf' (unbounded). */
function staleness(raw: string): number {
  if (raw === 'asp' || raw === 'inf' || raw === 'infinity') return Infinity;
  if (raw === 'bsp') return 0;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new Error(`needs an integer >= 0 or 'asp', got ${JSON.stringify(raw)}`);
  return Number(raw);
}

const { 'backup-instances': _b, 'straggler-factor': _s, 'slow-rank': _r, 'slow-ms': _m, ...PS_RECOVERY } = RECOVERY_FLAGS;

/** Flags every PS trainer takes (the trainer's own are spread after them). */
export const COMMON_FLAGS = {
  ...TRAINER_FLAGS,
  np: { ...TRAINER_FLAGS.np, help: 'worker processes (default 1)' },
  test: { kind: 'string', help: 'test file evaluated by rank 0 after every epoch' },
  servers: { kind: 'int', min: 1, max: 256, value: 'K', help: 'parameter-server processes (default 2)' },
  epochs: { kind: 'int', min: 1, max: 100000, help: 'passes over the training data' },
  seed: { ...TRAINER_FLAGS.seed, help: 'seed of initialisation and shuffling (default 1)' },
  'model-out': { ...TRAINER_FLAGS['model-out'], help: 'write the model here (JSON; binary sidecar FILE.bin when large)' },
  'hash-bits': { kind: 'int', min: 1, max: 32, value: 'B', help: 'hash feature ids into [0, 2^B)' },
  batch: { kind: 'int', min: 1, max: 1 << 24, help: 'rows per minibatch' },
  staleness: { kind: 'string', value: 'S', parse: staleness, help: "SSP bound in clocks: 0 = BSP, 'asp' = unbounded" },
  'ps-cache': { kind: 'int', min: 0, max: 1000, value: 'S', help: 'SSP client cache: one pull per S + 1 minibatches for all their keys, served locally\nfor S clocks; pushes once per clock, or once per window under ASP and for FTRL\n(lib/ps/ssp_cache.ts; FTRL: its local z/n; default off)' },
  pipeline: { kind: 'bool', negatable: true, help: 'overlap key extraction, pull, compute and push of successive minibatches\n(ps_trainer/step_pipeline.ts; any --staleness; default off)' },
  prefetch: { kind: 'bool', help: "--pipeline, and each pull goes out before the previous minibatch's clock\n(needs --staleness asp, or >= the pull lead; default off)" },
  'label-threshold': { kind: 'number', value: 'T', help: 'binary labels: positive iff label >= T (default: label > 0)' },
  'slow-rank': { kind: 'int', min: 0, value: 'R', help: 'benchmarks: this rank sleeps --slow-ms per minibatch' },
  'slow-ms': { kind: 'number', min: 0, value: 'M', help: 'milliseconds the slow rank sleeps per minibatch' },
  quiet: { ...TRAINER_FLAGS.quiet, help: 'rank 0 prints only the final metrics' },
  ...PS_RECOVERY,
  'max-restarts': {
    ...RECOVERY_FLAGS['max-restarts'],
    help: `${RECOVERY_FLAGS['max-restarts'].help}\n(PS trainers: the replacement reads its data position from the servers\nand goes on after its last push; survivors are not interrupted)`,
  },
  checkpoint: { ...RECOVERY_FLAGS.checkpoint, help: "rank 0 writes a parameter-server snapshot (every table and the workers'\npositions) to DIR at the end of every pass" },
  'checkpoint-every': { ...RECOVERY_FLAGS['checkpoint-every'], help: '... and also after every N minibatches' },
  resume: { ...RECOVERY_FLAGS.resume, help: "load DIR's snapshot and go on from the recorded positions (same data, -np\nand parameters; keeps checkpointing there unless --checkpoint says otherwise)" },
} as const satisfies FlagTable;

export { flagHelp };

/** Settings every PS trainer shares, after defaults. */
export interface CommonParams {
  train: string[];
  test?: string;
  np: number;
  servers: number;
  epochs: number;
  seed: number;
  modelOut?: string;
  metricsOut?: string;
  /** 0: feature ids used as they are. */
  hashBits: number;
  batch: number;
  /** Infinity: ASP. */
  staleness: number;
  /** --ps-cache S: the workers' SSP client cache bound in clocks; undefined: no cache. */
  psCache?: number;
  /** --pipeline (or --prefetch): minibatches run as overlapped stages (ps_trainer/step_pipeline.ts). */
  pipeline: boolean;
  /** --prefetch: pulls go out a clock early, beside the previous minibatch's compute. */
  prefetch: boolean;
  /** Binary tasks: positive iff label >= threshold; undefined: label > 0. */
  labelThreshold?: number;
  /** -1: none. */
  slowRank: number;
  slowMs: number;
  timeoutMs?: number;
  quiet: boolean;
  /** --log-every N: every N-th epoch line, plus the first and the last. */
  logEvery: number;
  /** --max-restarts, --checkpoint, --checkpoint-every, --resume, --inject. */
  recovery: RecoveryArgs;
  /** --checkpoint-every N given: checkpoint every N minibatches; 0: at the end of every pass. */
  checkpointEveryBatches: number;
}

/**
 * Parses a PS trainer's argv against its table (COMMON_FLAGS spread into it) and fills the
 * common params.
 * @throws {HelpRequested} carrying `usage` for -h/--help (the CLI prints it on stdout, exit 0).
 * @throws {UsageError} naming the command and the flag.
 */
export function parseCommon<T extends typeof COMMON_FLAGS>(
  command: string,
  argv: readonly string[],
  table: T,
  usage: string,
  defaults: { epochs: number; batch: number; staleness: number },
): { f: FlagValues<T>; common: CommonParams } {
  const { values: f, help } = parseFlags(command, table, argv);
  if (help) throw new HelpRequested(usage);
  const v = f as FlagValues<typeof COMMON_FLAGS>;
  const train = v.train ?? [];
  if (train.length === 0) throw usageError(command, '--train FILE is required');
  const recovery = recoveryArgs(v);
  const common: CommonParams = {
    train,
    np: v.np ?? 1,
    servers: v.servers ?? 2,
    epochs: v.epochs ?? defaults.epochs,
    seed: v.seed ?? 1,
    hashBits: v['hash-bits'] ?? 0,
    batch: v.batch ?? defaults.batch,
    staleness: v.staleness ?? defaults.staleness,
    slowRank: v['slow-rank'] ?? -1,
    slowMs: v['slow-ms'] ?? 0,
    quiet: v.quiet ?? false,
    // Default off: not faster on one host (BENCHMARKS.md "Minibatch pipeline").
    pipeline: (v.pipeline ?? false) || (v.prefetch ?? false),
    prefetch: v.prefetch ?? false,
    logEvery: v['log-every'] ?? 1,
    recovery,
    checkpointEveryBatches: v['checkpoint-every'] ?? 0,
  };
  if (v.test !== undefined) common.test = v.test;
  if (v['model-out'] !== undefined) common.modelOut = v['model-out'];
  if (v['metrics-out'] !== undefined) common.metricsOut = v['metrics-out'];
  if (v['label-threshold'] !== undefined) common.labelThreshold = v['label-threshold'];
  if (v['timeout-ms'] !== undefined) common.timeoutMs = v['timeout-ms'];
  if (v['ps-cache'] !== undefined) common.psCache = v['ps-cache'];
  // Recovery clocks the servers itself, past the cache's pending pushes.
  if (common.psCache !== undefined && (recovery.maxRestarts > 0 || recovery.checkpoint !== null || recovery.resume !== null)) {
    throw usageError(command, '--ps-cache does not combine with --max-restarts, --checkpoint or --resume (worker recovery clocks past the cache)');
  }
  if (v.prefetch && v.pipeline === false) throw usageError(command, '--prefetch needs the pipeline (drop --no-pipeline)');
  if ((v.pipeline || v.prefetch) && (recovery.maxRestarts > 0 || recovery.checkpoint !== null || recovery.resume !== null)) {
    throw usageError(command, `--${common.prefetch ? 'prefetch' : 'pipeline'} does not combine with --max-restarts, --checkpoint or --resume (recovery re-sends requests out of the pipeline's order)`);
  }
  return { f, common };
}

/** 0/1 label of a row for a binary task. */
export function binaryLabel(label: number, threshold: number | undefined): number {
  return (threshold === undefined ? label > 0 : label >= threshold) ? 1 : 0;
}
