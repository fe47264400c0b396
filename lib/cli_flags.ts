// The pieces every `shoal` subcommand's flag parser shares: walking argv (`--flag value`,
// `--flag=value`, `-np 4`), taking a flag's value, checking numbers and choices, and the usage
// error the CLIs turn into exit status 2. Each parser keeps its own switch over the flags; only
// the mechanics live here, so every command words its errors the same way:
//   shoal train: --c needs a number > 0, got "abc"
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

/** "a", "a or b", "a, b or c". */
function orList(choices: readonly string[]): string {
  return choices.length < 2 ? choices.join('') : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
}

/**
 * Walks argv one argument at a time. After next(), `arg` is the argument as given, `flag` its
 * name (the part before '=' of a `--long=value`) and the methods take its value.
 * @example
 *   const r = new FlagReader('shoal predict', argv);
 *   while (r.next()) switch (r.flag) { case '--out': out = r.takeValue(); break; default: throw r.error(`unknown option ${JSON.stringify(r.arg)}`); }
 */
export class FlagReader {
  /** The current argument, exactly as given. */
  arg = '';
  /** The current flag: `arg` without a `=value` suffix. */
  flag = '';
  /** The value after '=' of a `--flag=value` argument. */
  inline: string | undefined;
  #next = 0;

  constructor(
    readonly command: string,
    private readonly argv: readonly string[],
  ) {}

  /** Moves to the next argument; false when none is left. */
  next(): boolean {
    const arg = this.argv[this.#next];
    if (arg === undefined) return false;
    this.#next++;
    // Only long flags take `=value`: `-x K=V` keeps its '=' in the value.
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    this.arg = arg;
    this.flag = eq > 0 ? arg.slice(0, eq) : arg;
    this.inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    return true;
  }

  /** The next unread argument, without moving. */
  peek(): string | undefined {
    return this.argv[this.#next];
  }

  /** The arguments not read yet. */
  rest(): string[] {
    return this.argv.slice(this.#next);
  }

  /** A usage error of this command: `command: message`. */
  error(message: string): UsageError {
    return usageError(this.command, message);
  }

  /**
   * The current flag's value: the part after '=', else the next argument. A missing value, or a
   * next argument that is itself a `--flag`, is an error (`--out --quiet` forgot the file).
   */
  takeValue(): string {
    if (this.inline !== undefined) return this.inline;
    const v = this.argv[this.#next];
    if (v === undefined || (v.startsWith('--') && v.length > 2)) throw this.error(`${this.flag} needs a value`);
    this.#next++;
    return v;
  }

  /** For switches: `--quiet=yes` is an error. */
  noValue(): void {
    if (this.inline !== undefined) throw this.error(`${this.flag} takes no value`);
  }

  /** The value as a number passing `check` (see parseNumber). */
  num(check: (n: number) => boolean, what: string): number {
    return parseNumber(this.command, this.flag, this.takeValue(), check, what);
  }

  /** The value as a safe integer >= min. */
  int(min: number): number {
    return parseInteger(this.command, this.flag, this.takeValue(), min);
  }

  /** The value, which must be one of `choices`: `--solver needs lbfgs, owlqn or bcd, got "sgd"`. */
  oneOf<T extends string>(choices: readonly T[]): T {
    const v = this.takeValue();
    if (!(choices as readonly string[]).includes(v)) throw this.error(`${this.flag} needs ${orList(choices)}, got ${JSON.stringify(v)}`);
    return v as T;
  }
}
