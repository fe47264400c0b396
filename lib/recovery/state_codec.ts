// A training state (plain objects, arrays, numbers, strings, booleans, null and typed arrays)
// to bytes and back, exactly: typed arrays are copied as raw bytes (no decimal round trip),
// non-finite numbers survive, and decode() returns fresh copies the caller may mutate.
// Used for in-memory commits (rollback after a failure), the state sync that brings a
// replacement rank up to date, and checkpoint files.
//
// Layout: "SHST" | u32 version | u32 json bytes | json | zero pad to 8 | typed-array bytes (each 8-aligned).
// In the JSON a typed array is {"$ta": type, "o": byte offset, "n": length}; a non-finite
// number is {"$num": "NaN" | "Infinity" | "-Infinity"}.
import { ConfigError } from '../errors.js';

const MAGIC = 0x54534853; // "SHST" little-endian
const VERSION = 1;

const TYPED = {
  Float64Array,
  Float32Array,
  Int32Array,
  Uint32Array,
  Int16Array,
  Uint16Array,
  Int8Array,
  Uint8Array,
  BigInt64Array,
  BigUint64Array,
} as const;
type TypedName = keyof typeof TYPED;
type AnyTyped = InstanceType<(typeof TYPED)[TypedName]>;

/** What a state may contain. */
export type StateValue = number | string | boolean | null | AnyTyped | StateValue[] | { [key: string]: StateValue };

function typedName(v: unknown): TypedName | null {
  if (!ArrayBuffer.isView(v) || v instanceof DataView) return null;
  const name = v.constructor.name;
  return Object.prototype.hasOwnProperty.call(TYPED, name) ? (name as TypedName) : null;
}

const align8 = (n: number): number => (n + 7) & ~7;
/** Deeper states are refused: decoding recurses. */
const MAX_DEPTH = 1000;
const NON_FINITE = ['NaN', 'Infinity', '-Infinity'];

/** Serializes `value`; throws naming the path of anything it cannot represent. */
export function encodeState(value: unknown): Uint8Array {
  const arrays: AnyTyped[] = [];
  let blobBytes = 0;
  const walk = (v: unknown, path: string): unknown => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') return Number.isFinite(v) ? v : { $num: String(v) };
    const ta = typedName(v);
    if (ta) {
      const arr = v as AnyTyped;
      const ref = { $ta: ta, o: blobBytes, n: arr.length };
      arrays.push(arr);
      blobBytes += align8(arr.byteLength);
      return ref;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (x !== undefined) out[k] = walk(x, `${path}.${k}`);
      }
      return out;
    }
    throw new ConfigError('ERR_CONFIG', `training state: ${path} is a ${v === undefined ? 'undefined' : (v as object)?.constructor?.name ?? typeof v}; a state holds numbers, strings, booleans, null, arrays, plain objects and typed arrays`);
  };
  const json = new TextEncoder().encode(JSON.stringify(walk(value, 'state')));
  const head = align8(12 + json.length);
  const out = new Uint8Array(head + blobBytes);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, json.length, true);
  out.set(json, 12);
  let at = head;
  for (const arr of arrays) {
    out.set(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength), at);
    at += align8(arr.byteLength);
  }
  return out;
}

/** The inverse of encodeState; `source` names the bytes' origin in errors (a file, a rank). */
export function decodeState<T = StateValue>(bytes: Uint8Array, source = 'training state'): T {
  const bad = (why: string): never => {
    throw new ConfigError('ERR_CONFIG', `${source}: not a valid Shoal training state (${why})`);
  };
  if (bytes.length < 12) bad(`${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) bad('bad magic');
  if (view.getUint32(4, true) !== VERSION) bad(`version ${view.getUint32(4, true)}, this build reads ${VERSION}`);
  const jsonLength = view.getUint32(8, true);
  if (12 + jsonLength > bytes.length) bad('truncated header');
  let tree: unknown;
  try {
    tree = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + jsonLength)));
  } catch {
    bad('corrupt header');
  }
  const blob = align8(12 + jsonLength);
  // Every field of an array reference is checked against the bytes that are there before
  // anything is allocated; objects get own properties only (a "__proto__" key stays data).
  const walk = (v: unknown, depth: number): unknown => {
    if (depth > MAX_DEPTH) bad(`nested deeper than ${MAX_DEPTH} levels`);
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const o = v as Record<string, unknown>;
    if ('$num' in o) {
      if (!NON_FINITE.includes(o['$num'] as string)) bad(`bad number ${JSON.stringify(o['$num']).slice(0, 40)}`);
      return Number(o['$num']);
    }
    if ('$ta' in o) {
      const name = o['$ta'] as TypedName;
      const Ctor = typeof name === 'string' && Object.prototype.hasOwnProperty.call(TYPED, name) ? TYPED[name] : undefined;
      const off = o['o'];
      const n = o['n'];
      if (!Ctor) return bad(`unknown array type ${JSON.stringify(o['$ta']).slice(0, 40)}`);
      if (!Number.isSafeInteger(off) || !Number.isSafeInteger(n) || (off as number) < 0 || (n as number) < 0 || (off as number) % 8 !== 0) {
        return bad(`bad array reference ${JSON.stringify({ o: off, n }).slice(0, 80)}`);
      }
      const byteLength = (n as number) * Ctor.BYTES_PER_ELEMENT;
      const start = blob + (off as number);
      if (start + byteLength > bytes.length) bad('truncated array data');
      const copy = new Uint8Array(byteLength);
      copy.set(bytes.subarray(start, start + byteLength));
      return new Ctor(copy.buffer);
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) Object.defineProperty(out, k, { value: walk(x, depth + 1), enumerable: true, writable: true, configurable: true });
    return out;
  };
  return walk(tree, 0) as T;
}
