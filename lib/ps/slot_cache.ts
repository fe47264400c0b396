// The SSP client cache (ssp_cache.ts) for callers that number their keys 0..n-1 themselves
// (the PS trainers' local slots): the same rules (rows fetched within `staleness` clocks
// served locally, pushes summed per key and sent at the clock, own pushes folded into additive
// rows), but every lookup is an array index instead of a hash probe, and rows, clocks and sums
// live in flat typed arrays. The per-key JS work of the hashed cache cost more than the fetches
// it saved (BENCHMARKS.md "SSP client cache"); this is the bulk form of the same bookkeeping.
import { invalidArgument } from '../errors.js';
import type { CacheableTable, SspClientCache } from './ssp_cache.js';

/** fetchedAt of a slot whose row never arrived. */
const NEVER = -0x80000000;

/** One table behind the cache, addressed by slot; created by SspClientCache.slotTable(). */
export class SlotCachedTable {
  readonly name: string;
  readonly dim: number;
  readonly pushFloats: number;
  readonly #table: CacheableTable;
  readonly #cache: SspClientCache;
  readonly #additive: boolean;
  /** Little-endian words of every slot's key (two per slot). */
  readonly #keyWords: Uint32Array;
  readonly #rows: Float32Array;
  readonly #fetchedAt: Int32Array;
  readonly #fetchGen: Uint32Array;
  #pullGen = 0;
  /** Pushes summed per slot since the last clock, and which slots hold some. */
  readonly #pending: Float32Array;
  readonly #pendingMark: Uint8Array;
  readonly #pendingList: Uint32Array;
  #numPending = 0;
  readonly #fetchList: Uint32Array;

  /** @internal */
  constructor(table: CacheableTable, cache: SspClientCache, slotKeys: BigUint64Array, additive: boolean) {
    if (!(slotKeys instanceof BigUint64Array)) throw invalidArgument('ssp cache', 'slotKeys', 'a BigUint64Array (the key of every slot)', slotKeys);
    if (additive && table.pushFloats !== table.dim) {
      throw invalidArgument('ssp cache', 'additive', `a table whose pushes are rows (pushFloats ${table.pushFloats} != dim ${table.dim})`, table.name);
    }
    const n = slotKeys.length;
    this.#table = table;
    this.#cache = cache;
    this.#additive = additive;
    this.name = table.name;
    this.dim = table.dim;
    this.pushFloats = table.pushFloats;
    this.#keyWords = new Uint32Array(slotKeys.buffer.slice(slotKeys.byteOffset, slotKeys.byteOffset + 8 * n));
    this.#rows = new Float32Array(n * table.dim);
    this.#fetchedAt = new Int32Array(n).fill(NEVER);
    this.#fetchGen = new Uint32Array(n);
    this.#pending = new Float32Array(n * table.pushFloats);
    this.#pendingMark = new Uint8Array(n);
    this.#pendingList = new Uint32Array(n);
    this.#fetchList = new Uint32Array(n);
  }

  get numSlots(): number {
    return this.#fetchedAt.length;
  }

  #checkSlots(op: string, slots: Uint32Array): void {
    if (!(slots instanceof Uint32Array)) throw invalidArgument(`${this.name}.${op}`, 'slots', 'a Uint32Array', slots);
    const n = this.numSlots;
    for (let i = 0; i < slots.length; i++) if (slots[i]! >= n) throw invalidArgument(`${this.name}.${op}`, `slots[${i}]`, `a slot < ${n}`, slots[i], true);
  }

  /** The keys of slots list[0..m). */
  #keysOf(list: Uint32Array, m: number): BigUint64Array {
    const w = new Uint32Array(2 * m);
    const kw = this.#keyWords;
    for (let j = 0; j < m; j++) {
      const s = list[j]!;
      w[2 * j] = kw[2 * s]!;
      w[2 * j + 1] = kw[2 * s + 1]!;
    }
    return new BigUint64Array(w.buffer);
  }

  /** Rows of `slots` in order: fresh cached rows locally, the rest in one pull. */
  async pull(slots: Uint32Array, out?: Float32Array): Promise<Float32Array> {
    this.#checkSlots('pull', slots);
    const dim = this.dim;
    const result = out ?? new Float32Array(slots.length * dim);
    if (!(result instanceof Float32Array) || result.length !== slots.length * dim) {
      throw invalidArgument(`${this.name}.pull`, 'out', `a Float32Array of slots.length * dim = ${slots.length * dim}`, out, true);
    }
    const stats = this.#cache.stats;
    const now = this.#cache.clockValue;
    const oldest = now - this.#cache.staleness;
    const gen = ++this.#pullGen;
    const fetchedAt = this.#fetchedAt;
    const fetchGen = this.#fetchGen;
    const list = this.#fetchList;
    let m = 0;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (fetchedAt[s]! >= oldest) {
        this.#copyOut(s, i, result);
        stats.keysServedLocally++;
      } else if (fetchGen[s] !== gen) {
        fetchGen[s] = gen;
        list[m++] = s;
      }
    }
    stats.keysRead += slots.length;
    if (m === 0) return result;
    const fetched = await this.#table.pull(this.#keysOf(list, m));
    stats.keysFetched += m;
    stats.pullRequests++;
    const rows = this.#rows;
    for (let j = 0; j < m; j++) {
      const s = list[j]!;
      for (let c = 0; c < dim; c++) rows[s * dim + c] = fetched[j * dim + c]!;
      fetchedAt[s] = now;
    }
    for (let i = 0; i < slots.length; i++) if (fetchGen[slots[i]!] === gen) this.#copyOut(slots[i]!, i, result);
    return result;
  }

  #copyOut(s: number, i: number, out: Float32Array): void {
    const dim = this.dim;
    const rows = this.#rows;
    // Element loops, not set(subarray()): no object per key (rows are a few floats).
    for (let c = 0; c < dim; c++) out[i * dim + c] = rows[s * dim + c]!;
    if (!this.#additive || !this.#pendingMark[s]) return;
    for (let c = 0; c < dim; c++) out[i * dim + c]! += this.#pending[s * dim + c]!;
  }

  /** Adds the pushes to this clock's per-slot sums; they are sent at the next clock(). */
  async push(slots: Uint32Array, values: Float32Array): Promise<void> {
    this.#checkSlots('push', slots);
    const w = this.pushFloats;
    if (!(values instanceof Float32Array) || values.length !== slots.length * w) {
      throw invalidArgument(`${this.name}.push`, 'values', `a Float32Array of slots.length * ${w} = ${slots.length * w} floats`, values, true);
    }
    const pending = this.#pending;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (!this.#pendingMark[s]) {
        this.#pendingMark[s] = 1;
        this.#pendingList[this.#numPending++] = s;
      }
      for (let c = 0; c < w; c++) pending[s * w + c]! += values[i * w + c]!;
    }
    this.#cache.stats.keysPushed += slots.length;
  }

  /** @internal Sends this clock's sums (one push) and, if additive, folds them into cached rows. */
  async flush(): Promise<void> {
    const n = this.#numPending;
    if (n === 0) return;
    const w = this.pushFloats;
    const list = this.#pendingList.slice(0, n);
    const keys = this.#keysOf(list, n);
    const values = new Float32Array(n * w);
    const pending = this.#pending;
    for (let j = 0; j < n; j++) {
      const s = list[j]!;
      for (let c = 0; c < w; c++) {
        values[j * w + c] = pending[s * w + c]!;
        pending[s * w + c] = 0;
      }
      this.#pendingMark[s] = 0;
    }
    this.#numPending = 0;
    const sent = this.#table.push(keys, values);
    // Additive rows already fetched take this worker's own pushes (read-my-writes).
    if (this.#additive) {
      for (let j = 0; j < n; j++) {
        const s = list[j]!;
        if (this.#fetchedAt[s] === NEVER) continue;
        for (let c = 0; c < w; c++) this.#rows[s * w + c]! += values[j * w + c]!;
      }
    }
    await sent;
    const stats = this.#cache.stats;
    stats.keysSent += n;
    stats.pushRequests++;
  }
}
