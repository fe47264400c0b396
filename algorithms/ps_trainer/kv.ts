// What the PS trainers (FTRL, FM) need from the parameter server and from their data, as
// narrow interfaces: `KvTable` is satisfied by lib/ps/client.ts's PsTable and by the in-memory
// tables below (single-process tests, the reference runs). Also the key bookkeeping shared by
// both trainers: local slots for the distinct features of a CSR shard, and the union of every
// rank's keys for the saved model. Must not import the native layer.
import type { Collective } from '../common/collective.js';
import type { CsrMatrix } from '../../lib/data/csr.js';
import { U64Index } from '../../lib/ps/u64_index.js';

/** A table of `dim` floats per uint64 key (PsTable's shape). */
export interface KvTable {
  readonly dim: number;
  /** Floats a push carries per key (dim, or 2*dim for FTRL deltas). */
  readonly pushFloats: number;
  pull(keys: BigUint64Array, out?: Float32Array): Promise<Float32Array>;
  push(keys: BigUint64Array, values: Float32Array): Promise<void>;
}

/** The reserved key of a bias / global term: feature ids are < 2^32, so it never collides. */
export const BIAS_KEY = 0xffff_ffff_ffff_ffffn;

/** A shard's distinct feature ids mapped to dense local slots 0..numSlots-1. */
export interface Slots {
  /** Slot of every stored entry of the CSR (same indexing as featureIds). */
  slotOf: Uint32Array;
  /** PS key of every slot (slot 0 is BIAS_KEY when `withBias`). */
  keys: BigUint64Array;
  /** Feature id of every slot as a double (BIAS: -1). */
  ids: Float64Array;
  numSlots: number;
  /** Slot of the bias, or -1. */
  biasSlot: number;
}

/** Assigns local slots in first-seen order. O(nnz) with an open-addressing index (ids are < 2^32). */
export function buildSlots(data: CsrMatrix, withBias: boolean): Slots {
  const nnz = data.rowPtr[data.numRows] ?? 0;
  const slotOf = new Uint32Array(nnz);
  // A JS Map of numbers cost ~70 ns per entry here, most of a worker's start-up CPU.
  const index = new U64Index(1024);
  const ids = new Float64Array(nnz + 1);
  let numSlots = 0;
  if (withBias) ids[numSlots++] = -1;
  const f = data.featureIds;
  for (let k = 0; k < nnz; k++) {
    const id = f[k]!;
    let s = index.get(id, 0);
    if (s < 0) {
      s = numSlots++;
      index.add(id, 0, s);
      ids[s] = id;
    }
    slotOf[k] = s;
  }
  // Written as 32-bit halves: BigInt(id) per slot costs more than the rest of the loop.
  const keys = new BigUint64Array(numSlots);
  const words = new Uint32Array(keys.buffer);
  for (let s = 0; s < numSlots; s++) {
    const id = ids[s]!;
    words[2 * s] = id < 0 ? 0xffff_ffff : id;
    words[2 * s + 1] = id < 0 ? 0xffff_ffff : 0;
  }
  return { slotOf, keys, ids: ids.slice(0, numSlots), numSlots, biasSlot: withBias ? 0 : -1 };
}

/**
 * Distinct slots of rows [lo, hi) (plus the bias), with a generation-stamped marker so repeated
 * calls cost O(entries), not O(numSlots).
 */
export class SlotCollector {
  readonly #stamp: Uint32Array;
  #gen = 0;
  readonly #list: Uint32Array;

  constructor(numSlots: number) {
    this.#stamp = new Uint32Array(numSlots);
    this.#list = new Uint32Array(numSlots);
  }

  /** Returns a view of the distinct slots (valid until the next call); `order`: rows order[lo..hi) instead of lo..hi. */
  collect(data: CsrMatrix, slots: Slots, lo: number, hi: number, order?: Uint32Array): Uint32Array {
    const gen = ++this.#gen;
    if (gen === 0xffffffff) {
      this.#stamp.fill(0);
      this.#gen = 1;
    }
    let m = 0;
    if (slots.biasSlot >= 0) {
      this.#stamp[slots.biasSlot] = this.#gen;
      this.#list[m++] = slots.biasSlot;
    }
    const rp = data.rowPtr;
    const slotOf = slots.slotOf;
    // One row range [lo, hi) in data order, or each row of order[lo..hi).
    for (let i = order ? lo : 0; i < (order ? hi : 1); i++) {
      const r0 = order ? order[i]! : lo;
      const end = rp[order ? r0 + 1 : hi] ?? 0;
      for (let k = rp[r0] ?? 0; k < end; k++) {
        const s = slotOf[k]!;
        if (this.#stamp[s] !== this.#gen) {
          this.#stamp[s] = this.#gen;
          this.#list[m++] = s;
        }
      }
    }
    return this.#list.subarray(0, m);
  }
}

/** Keys of `list` slots. */
export function keysOf(slots: Slots, list: Uint32Array): BigUint64Array {
  // Copied as 32-bit halves: reading a BigUint64Array element makes a BigInt per key.
  const from = new Uint32Array(slots.keys.buffer, slots.keys.byteOffset, 2 * slots.keys.length);
  const words = new Uint32Array(2 * list.length);
  for (let j = 0; j < list.length; j++) {
    const s = 2 * list[j]!;
    words[2 * j] = from[s]!;
    words[2 * j + 1] = from[s + 1]!;
  }
  return new BigUint64Array(words.buffer);
}

/** Pulls any number of keys in chunks (bounded message sizes). */
export async function pullChunked(table: KvTable, keys: BigUint64Array, chunk = 1 << 18): Promise<Float32Array> {
  if (keys.length <= chunk) return table.pull(keys);
  const out = new Float32Array(keys.length * table.dim);
  for (let i = 0; i < keys.length; i += chunk) {
    const part = keys.subarray(i, Math.min(keys.length, i + chunk));
    out.set(await table.pull(part), i * table.dim);
  }
  return out;
}

/**
 * The sorted union of every rank's feature ids (doubles, exact below 2^53), on rank 0 (null
 * elsewhere). Counts go by allGather; each rank writes its ids at its offset of a zero-filled
 * buffer and a reduceTo(sum) concatenates them (x + 0 is exact). O(total) memory and bytes.
 */
export async function gatherIds(comm: Collective, ids: Float64Array): Promise<Float64Array | null> {
  let all: Float64Array;
  if (comm.size === 1) all = Float64Array.from(ids);
  else {
    const counts = new Int32Array(comm.size);
    await comm.allGather(new Int32Array([ids.length]), counts);
    let total = 0;
    let offset = 0;
    for (let r = 0; r < comm.size; r++) {
      if (r === comm.rank) offset = total;
      total += counts[r]!;
    }
    all = new Float64Array(total);
    all.set(ids, offset);
    await comm.reduceTo(all, 0, { op: 'sum' });
    if (comm.rank !== 0) return null;
  }
  all.sort();
  let m = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) all[m++] = all[i]!;
  return all.slice(0, m);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Base of the in-memory tables: rows of `stateFloats` per key, created on first touch. */
export abstract class LocalTable implements KvTable {
  readonly dim: number;
  /** Floats pushed per key: dim for the updaters here. */
  readonly pushFloats: number;
  protected readonly rows = new Map<bigint, Float64Array>();

  constructor(dim: number, protected readonly stateFloats: number, protected readonly initRow: (key: bigint) => Float64Array = () => new Float64Array(stateFloats)) {
    this.dim = dim;
    this.pushFloats = dim;
  }

  protected row(key: bigint): Float64Array {
    let r = this.rows.get(key);
    if (!r) {
      r = this.initRow(key);
      this.rows.set(key, r);
    }
    return r;
  }

  protected abstract apply(row: Float64Array, values: Float32Array, at: number): void;

  async pull(keys: BigUint64Array, out?: Float32Array): Promise<Float32Array> {
    const result = out ?? new Float32Array(keys.length * this.dim);
    for (let i = 0; i < keys.length; i++) {
      // The pulled values of a row: its first `dim` floats.
      const row = this.row(keys[i]!);
      for (let j = 0; j < this.dim; j++) result[i * this.dim + j] = row[j]!;
    }
    return result;
  }

  async push(keys: BigUint64Array, values: Float32Array): Promise<void> {
    // Like the PS client: values of repeated keys are summed, then applied once.
    const sums = new Map<bigint, Float32Array>();
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      let s = sums.get(k);
      if (!s) sums.set(k, (s = new Float32Array(this.pushFloats)));
      for (let j = 0; j < this.pushFloats; j++) s[j] = Math.fround(s[j]! + values[i * this.pushFloats + j]!);
    }
    for (const [k, s] of sums) this.apply(this.row(k), s, 0);
  }

  /** Number of keys that exist. */
  get size(): number {
    return this.rows.size;
  }
}

/** The PS `add` updater in memory. */
export class LocalAddTable extends LocalTable {
  constructor(dim: number) {
    super(dim, dim);
  }
  protected apply(row: Float64Array, v: Float32Array): void {
    for (let j = 0; j < this.dim; j++) row[j] = Math.fround(row[j]! + v[j]!);
  }
}

/** The PS `adagrad` updater in memory (acc += g^2, w -= lr g / (sqrt(acc) + eps)). */
export class LocalAdagradTable extends LocalTable {
  constructor(dim: number, private readonly lr: number, private readonly eps: number, init: (key: bigint, j: number) => number = () => 0) {
    super(dim, 2 * dim, (key) => {
      const r = new Float64Array(2 * dim);
      for (let j = 0; j < dim; j++) r[j] = Math.fround(init(key, j));
      return r;
    });
  }
  protected apply(row: Float64Array, g: Float32Array): void {
    for (let j = 0; j < this.dim; j++) {
      const acc = Math.fround(row[this.dim + j]! + g[j]! * g[j]!);
      row[this.dim + j] = acc;
      row[j] = Math.fround(row[j]! - (this.lr * g[j]!) / (Math.sqrt(acc) + this.eps));
    }
  }
}

/** The PS `assign` updater in memory (the progress table of recovery.ts). */
export class LocalAssignTable extends LocalTable {
  constructor(dim: number) {
    super(dim, dim);
  }
  protected apply(row: Float64Array, v: Float32Array): void {
    for (let j = 0; j < this.dim; j++) row[j] = v[j]!;
  }
}
