// The one command-line layer every `shoal` command uses. A command declares its flags as a table
// (name -> kind, bounds, help); parseFlags walks argv against it and flagHelp prints it, so a
// new flag is one table entry and its help line cannot drift from what is parsed. The rules,
// the same in every command (docs/cli.md):
//   --flag value, --flag=value, -np 4 (aliases), --no-flag for negatable switches;
//   -h/--help anywhere asks for help; --debug is accepted everywhere (stack traces on errors);
//   repeatable flags collect (--train FILE concatenates files, -x, --inject); any other flag
//   given twice keeps its last value, so a script can append an override;
//   an unknown flag is an error with a did-you-mean (`--max_depth` -> `--max-depth`).
// Errors are UsageErrors (ConfigErrors): the CLI prints the one line and exits 2:
//   shoal train lr: --c needs a number > 0, got "abc"
// Pure: reads no files.
import { ConfigError } from './errors.js';

/** Exit status for a command line that could not be understood. */
export const USAGE_EXIT_CODE = 2;

/** A command line that cannot be used. A ConfigError, so every CLI prints it and exits USAGE_EXIT_CODE. */
export class UsageError extends ConfigError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** `command: message` as a UsageError, e.g. usageError('shoal run', '--np needs a value'). */
export function usageError(command: string, message: string): UsageError {
  return new UsageError(`${command}: ${message}`);
}

/** -h/--help from a parser that returns no value for it: the CLI prints `message` on stdout and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super(text);
    this.name = 'HelpRequested';
  }
}

/**
 * A flag's raw value as a number: finite, not blank, and passing `check`; `what` says what was
 * wanted. Number() syntax, so 1e6 is accepted.
 * @throws {UsageError} `command: flag needs what, got "raw"`.
 */
export function parseNumber(command: string, flag: string, raw: string, check: (n: number) => boolean, what: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || !check(n)) throw usageError(command, `${flag} needs ${what}, got ${JSON.stringify(raw)}`);
  return n;
}

/** A flag's raw value as a safe integer >= min. @throws {UsageError} `flag needs an integer >= min, got "raw"`. */
export function parseInteger(command: string, flag: string, raw: string, min: number): number {
  return parseNumber(command, flag, raw, (n) => Number.isSafeInteger(n) && n >= min, `an integer >= ${min}`);
}

/**
 * The entries of `o` whose value is defined: parsed flags (undefined when not given) become
 * options objects that hold only what the user set.
 * @example definedOnly({ timeoutMs: v['timeout-ms'], quiet: v.quiet }) // {} when neither was given
 */
export function definedOnly<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** "a", "a or b", "a, b or c". */
export function orList(choices: readonly string[]): string {
  return choices.length < 2 ? choices.join('') : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
}

export type FlagKind = 'int' | 'number' | 'string' | 'bool' | 'choice';

/** One flag of a command's table; the table's key is the long name without `--`. */
export interface FlagDef {
  kind: FlagKind;
  /** The help line (after the flag and its value name). */
  help: string;
  /** Value name in the help (default FILE for strings, N for numbers, the choices for choice). */
  value?: string;
  /** Other spellings, e.g. ['-np', '-n'] or ['-q']. */
  aliases?: readonly string[];
  /** int/number: inclusive bounds; `positive`: strictly above 0. */
  min?: number;
  max?: number;
  positive?: boolean;
  /** choice: the accepted values. */
  choices?: readonly string[];
  /** Each use adds to a list (e.g. --train: files concatenated); otherwise the last use wins. */
  repeatable?: boolean;
  /** bool: `--no-NAME` sets it false. */
  negatable?: boolean;
  /** string: a custom check/conversion; a thrown Error's message becomes `--flag: message`. */
  parse?: (raw: string, flag: string) => unknown;
  /** Left out of the help (benchmark and test knobs). */
  hidden?: boolean;
}

export type FlagTable = Record<string, FlagDef>;

type Scalar<D extends FlagDef> = D extends { parse: (raw: string, flag: string) => infer R }
  ? R
  : D extends { kind: 'int' | 'number' }
    ? number
    : D extends { kind: 'bool' }
      ? boolean
      : D extends { choices: readonly (infer C)[] }
        ? C
        : string;

/** What parseFlags returns for a table: each given flag's value (repeatable ones as arrays). */
export type FlagValues<T extends FlagTable> = { -readonly [K in keyof T]?: T[K] extends { repeatable: true } ? Array<Scalar<T[K]>> : Scalar<T[K]> };

export interface Parsed<T extends FlagTable> {
  values: FlagValues<T>;
  /** -h or --help was given: the caller prints the help and exits 0 (nothing else is checked). */
  help: boolean;
  /** Arguments after the options (only with `stopAtPositional`), or the positionals allowed. */
  rest: string[];
}

export interface ParseOptions {
  /** The options end at `--` or the first argument that is not one (`shoal run ... node x.mjs`). */
  stopAtPositional?: boolean;
  /** How many leading-or-interleaved positionals are allowed (default 0: each one is an error). */
  positionals?: number;
  /** Where the error messages send the user for the list of flags. */
  helpHint?: string;
}

const HELP_FLAGS = new Set(['-h', '--help']);
const DEBUG_FLAG = '--debug';

/** Whether argv asks for stack traces on errors (`--debug` before any `--`, or SHOAL_DEBUG=1). */
export function wantsDebug(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes(DEBUG_FLAG) || env['SHOAL_DEBUG'] === '1';
}

/**
 * Parses argv against `table`.
 * @throws {UsageError} naming the command, the flag and what was wrong (with a did-you-mean).
 * @example parseFlags('shoal predict', { out: { kind: 'string', help: '...' } }, ['--out', 'p.txt']).values.out // 'p.txt'
 */
export function parseFlags<T extends FlagTable>(command: string, table: T, argv: readonly string[], opts: ParseOptions = {}): Parsed<T> {
  try {
    return walk(command, table, argv, opts);
  } catch (err) {
    // `--bogus --help` asks for the help, not for the error about --bogus.
    const end = argv.indexOf('--');
    if ((end < 0 ? argv : argv.slice(0, end)).some((a) => HELP_FLAGS.has(a))) return { values: {}, help: true, rest: [] };
    throw err;
  }
}

function walk<T extends FlagTable>(command: string, table: T, argv: readonly string[], opts: ParseOptions): Parsed<T> {
  const values: Record<string, unknown> = {};
  const bySpelling = spellings(table);
  const rest: string[] = [];
  let help = false;
  const hint = opts.helpHint ?? `${command} --help`;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      if (opts.stopAtPositional) return { values: values as FlagValues<T>, help, rest: argv.slice(i + 1) };
      throw usageError(command, `unexpected "--" (see ${hint})`);
    }
    if (HELP_FLAGS.has(arg)) {
      help = true;
      continue;
    }
    if (arg === DEBUG_FLAG) continue;
    if (!arg.startsWith('-') || arg === '-') {
      if (opts.stopAtPositional) return { values: values as FlagValues<T>, help, rest: argv.slice(i) };
      if (rest.length < (opts.positionals ?? 0)) {
        rest.push(arg);
        continue;
      }
      throw usageError(command, `unexpected argument ${JSON.stringify(arg)} (see ${hint})`);
    }
    // Only long flags take `=value`: `-x K=V` keeps its '=' in the value.
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    let name = bySpelling.get(flag);
    let negated = false;
    if (name === undefined && flag.startsWith('--no-')) {
      const base = bySpelling.get(`--${flag.slice(5)}`);
      if (base !== undefined && table[base]?.negatable) {
        name = base;
        negated = true;
      }
    }
    if (name === undefined) {
      const near = didYouMean(flag, [...bySpelling.keys(), '--help']);
      throw usageError(command, `unknown option ${JSON.stringify(flag)}${near ? `; did you mean ${near}?` : ''} (see ${hint})`);
    }
    const def = table[name] as FlagDef;
    let value: unknown;
    if (def.kind === 'bool') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw usageError(command, `${flag} takes no value, got ${JSON.stringify(inline)}`);
      value = negated ? inline === 'false' : inline !== 'false';
    } else {
      if (negated) throw usageError(command, `unknown option ${JSON.stringify(flag)}`);
      let raw = inline;
      if (raw === undefined) {
        const next = argv[i + 1];
        // `--out --quiet` forgot the file; `--l1 -1` is a value that the bounds then check.
        if (next === undefined || (next.startsWith('--') && next.length > 2)) throw usageError(command, `${flag} needs a value`);
        raw = next;
        i++;
      }
      value = convert(command, flag, def, raw);
    }
    if (def.repeatable) ((values[name] ??= []) as unknown[]).push(value);
    else values[name] = value;
  }
  return { values: values as FlagValues<T>, help, rest };
}

function spellings(table: FlagTable): Map<string, string> {
  const m = new Map<string, string>();
  for (const [name, def] of Object.entries(table)) {
    m.set(`--${name}`, name);
    for (const a of def.aliases ?? []) m.set(a, name);
  }
  return m;
}

function convert(command: string, flag: string, def: FlagDef, raw: string): unknown {
  switch (def.kind) {
    case 'int':
    case 'number': {
      const inRange = (v: number): boolean =>
        (def.kind === 'number' || Number.isSafeInteger(v)) &&
        (def.min === undefined || v >= def.min) && (def.max === undefined || v <= def.max) && (!def.positive || v > 0);
      return parseNumber(command, flag, raw, inRange, rangeText(def));
    }
    case 'choice':
      if (!(def.choices ?? []).includes(raw)) throw usageError(command, `${flag} needs ${orList(def.choices ?? [])}, got ${JSON.stringify(raw)}${suggestionFor(raw, def.choices ?? [])}`);
      return raw;
    default:
      if (def.parse) {
        try {
          return def.parse(raw, flag);
        } catch (err) {
          if (err instanceof UsageError) throw err;
          const message = (err as Error).message;
          throw usageError(command, `${flag}${message.startsWith(':') ? '' : ' '}${message}`);
        }
      }
      if (raw === '') throw usageError(command, `${flag} needs a non-empty value, got ""`);
      return raw;
  }
}

function suggestionFor(word: string, candidates: readonly string[]): string {
  const near = didYouMean(word, candidates);
  return near ? `; did you mean ${near}?` : '';
}

/** "an integer in [1, 32]", "a number > 0", ... (the words of every range error). */
export function rangeText(def: Pick<FlagDef, 'kind' | 'min' | 'max' | 'positive'>): string {
  const kind = def.kind === 'int' ? 'an integer' : 'a number';
  if (def.positive) return `${kind} > 0${def.max !== undefined ? ` and <= ${def.max}` : ''}`;
  if (def.min !== undefined && def.max !== undefined) return `${kind} in [${def.min}, ${def.max === 2 ** 32 ? '2^32' : def.max}]`;
  if (def.min !== undefined) return `${kind} >= ${def.min}`;
  if (def.max !== undefined) return `${kind} <= ${def.max}`;
  return kind;
}

/** Edit distance (insert, delete, substitute, swap of neighbours). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `word`, or undefined when none is close. XGBoost/LightGBM spellings
 * (`--max_depth`, `--maxDepth`) are matched first: underscores become dashes, camelCase kebab.
 * @example didYouMean('trian', ['train', 'predict']) // 'train'
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/_/g, '-').toLowerCase();
  const w = norm(word);
  const exact = candidates.find((c) => norm(c) === w || norm(c) === `--${w.replace(/^-+/, '')}`);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(w, norm(c));
    if (d < bestD) [best, bestD] = [c, d];
  }
  const core = w.replace(/^-+/, '').length;
  return bestD <= Math.max(1, Math.floor(core / 3)) ? best : undefined;
}

/** The help lines of a flag table: `  -np N, --np N            ranks (default 1)`. */
export function flagHelp(table: FlagTable): string {
  const lines: string[] = [];
  for (const [name, def] of Object.entries(table)) {
    if (def.hidden) continue;
    const v = def.kind === 'bool' ? '' : ` ${def.value ?? (def.kind === 'choice' ? (def.choices ?? []).join('|') : def.kind === 'string' ? 'FILE' : 'N')}`;
    const spell = [...(def.aliases ?? []).map((a) => (def.kind === 'bool' ? a : `${a}${v}`)), `--${name}${def.negatable ? `, --no-${name}` : ''}${v}`].join(', ');
    const left = `  ${spell}`;
    const help = def.help.split('\n');
    lines.push(left.length < 28 ? `${left.padEnd(28)}${help[0]}` : `${left}\n${' '.repeat(28)}${help[0]}`);
    for (const more of help.slice(1)) lines.push(`${' '.repeat(28)}${more}`);
  }
  return lines.join('\n');
}
