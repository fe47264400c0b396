// Table options as users write them, validated and lowered to the numeric spec the native
// client sends to the servers.
import { invalidArgument } from '../errors.js';

export type UpdaterOptions =
  | { type: 'assign' }
  | { type: 'add' }
  | { type: 'sgd'; lr?: number }
  | { type: 'adagrad'; lr?: number; eps?: number }
  | { type: 'ftrl'; alpha?: number; beta?: number; l1?: number; l2?: number }
  /** A user-defined updater exported by the module given to `shoal run --ps-updaters FILE`. */
  | { type: 'custom'; name: string }
  /**
   * `slots` float64 values per key, for solvers that keep their vectors on the servers and
   * run vector programs there (lib/ps/vector_program.ts). With `width` k (default 1) a pull
   * returns slots 0..k-1 and a push adds into slots k..2k-1, k float64s per key each (as a
   * Float32Array view of 2k floats per key); dim is 2k, and 2k <= slots.
   */
  | { type: 'vector'; slots: number; width?: number };

export type InitOptions =
  | { type: 'zeros' }
  | { type: 'normal'; mean?: number; std?: number; seed?: number }
  | { type: 'uniform'; low?: number; high?: number; seed?: number };

export type ConsistencyOptions = { mode: 'bsp' } | { mode: 'ssp'; staleness: number } | { mode: 'asp' };

export interface TableOptions {
  /** float32 values per key (default 1). */
  dim?: number;
  /** How a key's first value is made (default zeros); deterministic per (seed, key). */
  init?: InitOptions;
  /** Applied by the servers to every push (default 'add'). */
  updater?: UpdaterOptions;
  /** When a pull may proceed relative to the slowest worker's clock (default 'asp'). */
  consistency?: ConsistencyOptions;
}

/** What NativePsClient.createTable takes. */
export interface TableSpec {
  dim: number;
  updater: number;
  init: number;
  consistency: number;
  staleness: number;
  lr?: number;
  eps?: number;
  alpha?: number;
  beta?: number;
  l1?: number;
  l2?: number;
  mean?: number;
  std?: number;
  low?: number;
  high?: number;
  seed?: number;
  customUpdater?: number;
  /** updater 'vector': float64 slots per key. */
  slots?: number;
}

const UPDATERS = { assign: 0, add: 1, sgd: 2, adagrad: 3, ftrl: 4, custom: 5, vector: 6 } as const;
/** Most float64 slots of a vector table (native ps::kMaxVectorSlots). */
export const MAX_VECTOR_SLOTS = 255;
const INITS = { zeros: 0, normal: 1, uniform: 2 } as const;
const MODES = { bsp: 0, ssp: 1, asp: 2 } as const;

function finite(where: string, name: string, v: unknown, positive = false): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (positive && !(v > 0))) {
    throw invalidArgument(where, name, positive ? 'a positive finite number' : 'a finite number', v, typeof v === 'number');
  }
  return v;
}

/** Longest table name, in characters (all ASCII). Same rule as native/psnet/table_spec.cc. */
export const MAX_TABLE_NAME_LENGTH = 128;
const TABLE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/;

/**
 * Table names are 1..128 characters of [A-Za-z0-9_.:-], starting with a letter, digit or '_':
 * they end up in the servers' stats, logs and snapshot file names.
 * @throws {TypeError} naming the table otherwise.
 */
export function validateTableName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length < 1 || name.length > MAX_TABLE_NAME_LENGTH || !TABLE_NAME.test(name)) {
    throw invalidArgument(
      'ps.table',
      'name',
      `a table name of 1..${MAX_TABLE_NAME_LENGTH} characters of [A-Za-z0-9_.:-] starting with a letter, digit or '_'`,
      name,
    );
  }
}

export function toTableSpec(name: string, o: TableOptions = {}): TableSpec {
  const where = `ps.table('${name}')`;
  if (typeof o !== 'object' || o === null) throw invalidArgument(where, 'options', 'an object', o);
  const dim = o.dim ?? 1;
  if (!Number.isInteger(dim) || dim < 1 || dim > 1 << 20) throw invalidArgument(where, 'dim', 'an integer in [1, 2^20]', dim, true);
  const u = o.updater ?? { type: 'add' };
  if (!u || !(u.type in UPDATERS)) throw invalidArgument(where, 'updater.type', "'assign' | 'add' | 'sgd' | 'adagrad' | 'ftrl' | 'custom' | 'vector'", u?.type);
  const i = o.init ?? { type: 'zeros' };
  if (!i || !(i.type in INITS)) throw invalidArgument(where, 'init.type', "'zeros' | 'normal' | 'uniform'", i?.type);
  const c = o.consistency ?? { mode: 'asp' };
  if (!c || !(c.mode in MODES)) throw invalidArgument(where, 'consistency.mode', "'bsp' | 'ssp' | 'asp'", c?.mode);
  let staleness = 0;
  if (c.mode === 'ssp') {
    staleness = c.staleness;
    if (!Number.isInteger(staleness) || staleness < 0) throw invalidArgument(where, 'consistency.staleness', 'an integer >= 0', staleness, true);
  }
  const spec: TableSpec = { dim, updater: UPDATERS[u.type], init: INITS[i.type], consistency: MODES[c.mode], staleness };
  if (u.type === 'custom') {
    if (typeof u.name !== 'string' || u.name === '') throw invalidArgument(where, 'updater.name', 'the name of an updater exported by --ps-updaters', u.name);
    spec.customUpdater = updaterIdOf(u.name);
  }
  if (u.type === 'vector') {
    if (!Number.isInteger(u.slots) || u.slots < 2 || u.slots > MAX_VECTOR_SLOTS) throw invalidArgument(where, 'updater.slots', `an integer in [2, ${MAX_VECTOR_SLOTS}]`, u.slots, true);
    const width = u.width ?? 1;
    if (!Number.isInteger(width) || width < 1 || 2 * width > u.slots) throw invalidArgument(where, 'updater.width', `an integer in [1, slots / 2 = ${Math.floor(u.slots / 2)}]`, width, true);
    if (o.dim !== undefined && o.dim !== 2 * width) throw invalidArgument(where, 'dim', `${2 * width} (or absent) for a vector table of width ${width}: ${width} float64 per pull and push`, o.dim, true);
    if (i.type !== 'zeros') throw invalidArgument(where, 'init.type', "'zeros' for a vector table", i.type);
    spec.dim = 2 * width;
    spec.slots = u.slots;
  }
  const set = (key: keyof TableSpec, value: number | undefined) => {
    if (value !== undefined) spec[key] = value;
  };
  const uo = u as Record<string, unknown>;
  set('lr', finite(where, 'updater.lr', uo['lr'], true));
  set('eps', finite(where, 'updater.eps', uo['eps'], true));
  set('alpha', finite(where, 'updater.alpha', uo['alpha'], true));
  set('beta', finite(where, 'updater.beta', uo['beta']));
  set('l1', finite(where, 'updater.l1', uo['l1']));
  set('l2', finite(where, 'updater.l2', uo['l2']));
  const io = i as Record<string, unknown>;
  set('mean', finite(where, 'init.mean', io['mean']));
  set('std', finite(where, 'init.std', io['std']));
  set('low', finite(where, 'init.low', io['low']));
  set('high', finite(where, 'init.high', io['high']));
  if (io['seed'] !== undefined) {
    const seed = io['seed'];
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw invalidArgument(where, 'init.seed', 'a non-negative safe integer', seed);
    spec.seed = seed;
  }
  return spec;
}

/** Floats a push carries per key: FTRL pushes deltas of z and n. */
export function pushFloatsPerKey(spec: TableSpec): number {
  return spec.updater === UPDATERS.ftrl ? 2 * spec.dim : spec.dim;
}

/** FNV-1a of a custom updater's name: how tables and servers refer to it. */
export function updaterIdOf(name: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(name, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
