// Command-line flags of the PS trainers (`shoal train ftrl|fm`): one small parser shared by the
// launcher side (cli/trainers/*_cli.ts, which validates before starting anything) and the
// worker entries (which re-parse the same argv). Walking argv, taking values, number checks
// and the usage error (exit code 2) are lib/cli_flags.ts's, shared with the other commands.
// Pure: reads no files.
import { FlagReader, parseNumber, UsageError, usageError } from '../../lib/cli_flags.js';
import { LOG_EVERY_USAGE } from '../common/progress.js';
import { defaultRecoveryArgs, parseRecoveryFlag, RECOVERY_USAGE, type RecoveryArgs } from '../../lib/recovery/recovery_flags.js';

export { UsageError };

export type FlagKind = 'int' | 'number' | 'string' | 'bool' | 'staleness';

export interface FlagDef {
  kind: FlagKind;
  /** Inclusive bounds for int/number. */
  min?: number;
  max?: number;
  /** Strictly greater than min (for rates). */
  positive?: boolean;
  choices?: readonly string[];
  help: string;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

/** Flags every PS trainer takes. */
export const COMMON_FLAGS: Record<string, FlagDef> = {
  train: { kind: 'string', help: 'training file(s), libsvm; several separated by commas (required)' },
  test: { kind: 'string', help: 'test file evaluated by rank 0 after every epoch' },
  np: { kind: 'int', min: 1, max: 1024, help: 'worker processes (default 1)' },
  servers: { kind: 'int', min: 1, max: 256, help: 'parameter-server processes (default 2)' },
  epochs: { kind: 'int', min: 1, max: 100000, help: 'passes over the training data' },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1, help: 'seed of initialisation and shuffling (default 1)' },
  'model-out': { kind: 'string', help: 'write the model here (JSON; binary sidecar FILE.bin when large)' },
  'metrics-out': { kind: 'string', help: 'write metrics.json here' },
  'hash-bits': { kind: 'int', min: 1, max: 32, help: 'hash feature ids into [0, 2^k)' },
  batch: { kind: 'int', min: 1, max: 1 << 24, help: 'rows per minibatch' },
  staleness: { kind: 'staleness', help: "SSP bound in clocks: 0 = BSP, 'asp' = unbounded" },
  'ps-cache': { kind: 'int', min: 0, max: 1000, help: 'SSP client cache: serve rows fetched within S clocks locally, push once per clock (lib/ps/ssp_cache.ts; default off)' },
  'label-threshold': { kind: 'number', help: 'binary labels: positive iff label >= T (default: label > 0)' },
  'slow-rank': { kind: 'int', min: 0, help: 'benchmarks: this rank sleeps --slow-ms per minibatch' },
  'slow-ms': { kind: 'number', min: 0, help: 'milliseconds the slow rank sleeps per minibatch' },
  'timeout-ms': { kind: 'int', min: 0, help: 'rendezvous and op timeout of the job (SHOAL_TIMEOUT_MS)' },
  quiet: { kind: 'bool', help: 'rank 0 prints only the final metrics' },
  'log-every': { kind: 'int', min: 1, help: `${LOG_EVERY_USAGE}; lines show elapsed time and ETA` },
  help: { kind: 'bool', help: 'show this help' },
};

const ALIASES: Record<string, string> = { '-np': 'np', '-n': 'np', '-h': 'help' };

/**
 * The fault-tolerance flags as the PS trainers read them (lib/recovery/recovery_flags.ts), plus
 * whether --checkpoint-every was given (PS trainers checkpoint at epoch ends unless it is).
 */
/** The shared fault-tolerance flags the PS trainers take (their own --slow-rank/--slow-ms stay theirs). */
export const PS_RECOVERY_FLAGS: readonly string[] = ['--max-restarts', '--checkpoint', '--checkpoint-every', '--resume', '--inject'];

const sharedRecoveryLine = (flag: string): string => RECOVERY_USAGE.split('\n').find((line) => line.trim().startsWith(`${flag} `)) ?? '';

export const PS_RECOVERY_USAGE = [
  sharedRecoveryLine('--max-restarts'),
  '                          (PS trainers: the replacement reads its data position from the servers',
  '                          and goes on after its last push; survivors are not interrupted)',
  '  --checkpoint DIR        rank 0 writes a parameter-server snapshot (every table and the workers\'',
  '                          positions) to DIR at the end of every pass',
  '  --checkpoint-every N    ... and also after every N minibatches',
  '  --resume DIR            load DIR\'s snapshot and go on from the recorded positions (same data, -np',
  '                          and parameters; keeps checkpointing there unless --checkpoint says otherwise)',
  sharedRecoveryLine('--inject'),
].join('\n');

/**
 * Parses `--name value`, `--name=value`, `--flag` / `--no-flag` (bools) and `-np N`; with
 * `recovery`, also the fault-tolerance flags (--max-restarts, --checkpoint, ...) into it.
 * @throws {UsageError} naming the command, the flag and what was wrong.
 */
export function parseFlags(command: string, argv: readonly string[], defs: Record<string, FlagDef>, recovery?: RecoveryArgs & { checkpointEveryGiven?: boolean }): FlagValues {
  const out: FlagValues = {};
  const r = new FlagReader(command, argv);
  while (r.next()) {
    if (recovery && PS_RECOVERY_FLAGS.includes(r.flag) && !Object.hasOwn(defs, r.flag.slice(2)) && parseRecoveryFlag(command, r.flag, () => r.takeValue(), recovery)) {
      if (r.flag === '--checkpoint-every') recovery.checkpointEveryGiven = true;
      continue;
    }
    let name = Object.hasOwn(ALIASES, r.arg) ? ALIASES[r.arg] : undefined;
    if (name === undefined) {
      if (!r.arg.startsWith('--')) throw r.error(`unexpected argument ${JSON.stringify(r.arg)} (flags start with --)`);
      name = r.flag.slice(2);
    }
    // hasOwn: `--constructor` is an unknown flag, not Object.prototype's.
    const def = Object.hasOwn(defs, name) ? defs[name] : undefined;
    if (def === undefined && name.startsWith('no-') && defs[name.slice(3)]?.kind === 'bool' && r.inline === undefined) {
      out[name.slice(3)] = false;
      continue;
    }
    if (def === undefined) throw r.error(`unknown flag --${name} (see --help)`);
    if (def.kind === 'bool') {
      if (r.inline !== undefined && r.inline !== 'true' && r.inline !== 'false') throw r.error(`--${name} takes no value or true/false, got ${JSON.stringify(r.inline)}`);
      out[name] = r.inline !== 'false';
      continue;
    }
    out[name] = convert(command, name, def, r.takeValue());
  }
  return out;
}

function convert(command: string, name: string, def: FlagDef, raw: string): string | number {
  const bad = (what: string): UsageError => usageError(command, `--${name} needs ${what}, got ${JSON.stringify(raw)}`);
  switch (def.kind) {
    case 'string':
      if (raw === '') throw bad('a non-empty value');
      if (def.choices && !def.choices.includes(raw)) throw bad(`one of ${def.choices.join(' | ')}`);
      return raw;
    case 'staleness': {
      if (raw === 'asp' || raw === 'inf' || raw === 'infinity') return Infinity;
      if (raw === 'bsp') return 0;
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw bad("an integer >= 0 or 'asp'");
      return Number(raw);
    }
    case 'int':
    case 'number': {
      // One message with the whole range: `--hash-bits needs an integer in [1, 32], got "1.5"`.
      const inRange = (v: number): boolean =>
        (def.kind === 'number' || Number.isSafeInteger(v)) &&
        (def.min === undefined || v >= def.min) && (def.max === undefined || v <= def.max) && (!def.positive || v > 0);
      return parseNumber(command, `--${name}`, raw, inRange, rangeText(def));
    }
    default:
      throw bad('a value');
  }
}

function rangeText(def: FlagDef): string {
  const kind = def.kind === 'int' ? 'an integer' : 'a number';
  if (def.positive) return `${kind} > 0${def.max !== undefined ? ` and <= ${def.max}` : ''}`;
  if (def.min !== undefined && def.max !== undefined) return `${kind} in [${def.min}, ${def.max}]`;
  if (def.min !== undefined) return `${kind} >= ${def.min}`;
  if (def.max !== undefined) return `${kind} <= ${def.max}`;
  return kind;
}

/** The help text of a flag table. */
export function flagHelp(defs: Record<string, FlagDef>): string {
  return Object.entries(defs)
    .map(([name, d]) => {
      const v = d.kind === 'bool' ? '' : d.kind === 'staleness' ? ' S' : d.choices ? ` ${d.choices.join('|')}` : d.kind === 'string' ? ' FILE' : ' N';
      return `  ${`--${name}${v}`.padEnd(28)}${d.help}`;
    })
    .join('\n');
}

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

/** parseFlags + commonParams with the recovery flags: what parseFtrlArgs / parseFmArgs start with. */
export function parseCommon(command: string, argv: readonly string[], defs: Record<string, FlagDef>, usage: string, defaults: { epochs: number; batch: number; staleness: number }): { f: FlagValues; common: CommonParams } {
  const rec: RecoveryArgs & { checkpointEveryGiven?: boolean } = defaultRecoveryArgs();
  const f = parseFlags(command, argv, defs, rec);
  if (f['help']) throw new UsageError(usage);
  const common = commonParams(command, f, defaults);
  common.checkpointEveryBatches = rec.checkpointEveryGiven ? rec.checkpointEvery : 0;
  delete rec.checkpointEveryGiven;
  common.recovery = rec;
  // Recovery clocks the servers itself, past the cache's pending pushes.
  if (common.psCache !== undefined && (rec.maxRestarts > 0 || rec.checkpoint !== null || rec.resume !== null)) {
    throw usageError(command, '--ps-cache does not combine with --max-restarts, --checkpoint or --resume (worker recovery clocks past the cache)');
  }
  return { f, common };
}

/** Common params from parsed flags. */
export function commonParams(command: string, f: FlagValues, defaults: { epochs: number; batch: number; staleness: number }): CommonParams {
  const train = f['train'];
  if (typeof train !== 'string') throw usageError(command, '--train FILE is required');
  const p: CommonParams = {
    train: train.split(',').filter((s) => s !== ''),
    np: (f['np'] as number | undefined) ?? 1,
    servers: (f['servers'] as number | undefined) ?? 2,
    epochs: (f['epochs'] as number | undefined) ?? defaults.epochs,
    seed: (f['seed'] as number | undefined) ?? 1,
    hashBits: (f['hash-bits'] as number | undefined) ?? 0,
    batch: (f['batch'] as number | undefined) ?? defaults.batch,
    staleness: (f['staleness'] as number | undefined) ?? defaults.staleness,
    slowRank: (f['slow-rank'] as number | undefined) ?? -1,
    slowMs: (f['slow-ms'] as number | undefined) ?? 0,
    quiet: (f['quiet'] as boolean | undefined) ?? false,
    logEvery: (f['log-every'] as number | undefined) ?? 1,
    recovery: defaultRecoveryArgs(),
    checkpointEveryBatches: 0,
  };
  if (p.train.length === 0) throw usageError(command, '--train needs at least one file');
  if (typeof f['test'] === 'string') p.test = f['test'];
  if (typeof f['model-out'] === 'string') p.modelOut = f['model-out'];
  if (typeof f['metrics-out'] === 'string') p.metricsOut = f['metrics-out'];
  if (typeof f['label-threshold'] === 'number') p.labelThreshold = f['label-threshold'];
  if (typeof f['timeout-ms'] === 'number') p.timeoutMs = f['timeout-ms'];
  if (typeof f['ps-cache'] === 'number') p.psCache = f['ps-cache'];
  return p;
}

/** 0/1 label of a row for a binary task. */
export function binaryLabel(label: number, threshold: number | undefined): number {
  return (threshold === undefined ? label > 0 : label >= threshold) ? 1 : 0;
}
