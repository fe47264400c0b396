// The error classes every part of Shoal throws. Native failures arrive as
// { code, message, rank, peer, op, seq } records and become one of these in lib/native.ts.

/** The closed set of error codes (NCCL style). */
export type ErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_INVALID_USAGE'
  | 'ERR_MISMATCH'
  | 'ERR_TIMEOUT'
  | 'ERR_IO'
  | 'ERR_PEER_LOST'
  | 'ERR_ABORTED'
  | 'ERR_AUTH'
  | 'ERR_RENDEZVOUS'
  | 'ERR_CONFIG'
  | 'ERR_INTERNAL';

export interface ShoalErrorDetails {
  /** Rank of the process that raised the error, when known. */
  rank?: number;
  /** The other rank involved (the lost peer, the rank that disagreed), when known. */
  peer?: number;
  /** The operation, e.g. 'allReduce'. */
  op?: string;
  /** The operation's sequence number on its communicator. */
  seq?: number;
}

/** Base class of every error Shoal raises on purpose. */
export class ShoalError extends Error implements ShoalErrorDetails {
  readonly code: ErrorCode;
  rank?: number;
  peer?: number;
  op?: string;
  seq?: number;

  constructor(code: ErrorCode, message: string, details: ShoalErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    Object.assign(this, details);
  }
}

/** A collective failed: mismatch, timeout, I/O error, abort. The communicator is broken afterwards. */
export class CollectiveError extends ShoalError {}

/** A peer died or closed its connection while an op needed it. `peer` names the lost rank. */
export class PeerLostError extends CollectiveError {}

/** An op or the rendezvous did not finish in time. */
export class TimeoutError extends CollectiveError {}

/** Ranks disagreed on an op (kind, root, dtype, count) at the same sequence number. */
export class MismatchError extends CollectiveError {}

/** Rendezvous with the coordinator failed (ranks missing, coordinator unreachable). */
export class RendezvousError extends ShoalError {}

/** Configuration from the environment or the command line is invalid. */
export class ConfigError extends ShoalError {}

/** Builds the right subclass for a code. */
export function errorForCode(code: ErrorCode, message: string, details: ShoalErrorDetails = {}): ShoalError {
  switch (code) {
    case 'ERR_PEER_LOST':
      return new PeerLostError(code, message, details);
    case 'ERR_TIMEOUT':
      return new TimeoutError(code, message, details);
    case 'ERR_MISMATCH':
      return new MismatchError(code, message, details);
    case 'ERR_RENDEZVOUS':
      return new RendezvousError(code, message, details);
    case 'ERR_CONFIG':
      return new ConfigError(code, message, details);
    case 'ERR_INVALID_ARGUMENT': {
      const e = new ShoalError(code, message, details);
      return e;
    }
    default:
      return new CollectiveError(code, message, details);
  }
}

/** A bad argument to a public call: a TypeError or RangeError carrying code ERR_INVALID_ARGUMENT. */
export function invalidArgument(op: string, name: string, expected: string, actual: unknown, range = false): Error {
  const msg = `${op}: expected ${expected} for '${name}' but received ${describe(actual)}`;
  const err = range ? new RangeError(msg) : new TypeError(msg);
  (err as Error & { code: string }).code = 'ERR_INVALID_ARGUMENT';
  return err;
}

/** A short, human description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as { length?: number }).length ?? value.byteLength})`;
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  return `${typeof value} ${String(value)}`;
}

/**
 * The exit code of a trainer rank that failed with `err`: 2 for what the user must fix (bad
 * flags or configuration, malformed or unreadable input: `ERR_CONFIG`, `ERR_INVALID_ARGUMENT`,
 * `ERR_IO`), 1 for anything else.
 */
export function userErrorExitCode(err: unknown): 1 | 2 {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_CONFIG' || code === 'ERR_INVALID_ARGUMENT' || code === 'ERR_IO' ? 2 : 1;
}
