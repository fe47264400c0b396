// The TypedArrays collectives accept, and their names for messages.
import { describe, invalidArgument } from './errors.js';
import type { NativeBuffer } from './native.js';

export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8';
export type CollectiveBuffer = NativeBuffer;

const EXPECTED = 'a Float32Array|Float64Array|Int32Array|BigInt64Array|Uint8Array';

export function dtypeOf(buf: unknown): DType | undefined {
  if (buf instanceof Float32Array) return 'float32';
  if (buf instanceof Float64Array) return 'float64';
  if (buf instanceof Int32Array) return 'int32';
  if (buf instanceof BigInt64Array) return 'int64';
  if (buf instanceof Uint8Array && !(buf instanceof Uint8ClampedArray)) return 'uint8';
  return undefined;
}

/** Throws a TypeError naming op and parameter unless `buf` is a usable collective buffer. */
export function checkBuffer(op: string, name: string, buf: unknown): asserts buf is CollectiveBuffer {
  if (dtypeOf(buf) === undefined) throw invalidArgument(op, name, EXPECTED, buf);
  const view = buf as CollectiveBuffer;
  // A detached buffer reports byteLength 0 and a detached ArrayBuffer.
  if ((view.buffer as ArrayBuffer & { detached?: boolean }).detached === true) {
    throw invalidArgument(op, name, 'an attached buffer', `${describe(buf)} (detached)`);
  }
}
