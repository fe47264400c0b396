// Petuum's SSP client cache, in front of PsTable: reads of a row this worker fetched at most
// `staleness` clocks ago are served locally, and pushes are summed per key locally and sent
// once per clock, just before the clock itself (so every server has this worker's updates of
// clock c before it learns the worker reached c + 1, as SSP requires). Under a power-law key
// distribution the frequent keys are re-read every minibatch: those reads stop going to the
// servers.
//
// What a served row contains: the servers' row as fetched (at most `staleness` clocks old).
// For tables whose updater adds pushes to the row (`additive`: 'add'), this worker's own pushes
// since the fetch are added in as well (read-my-writes); for other updaters (sgd, adagrad,
// ftrl) the servers' update of a push is not known here, so this worker's own updates show
// once the row is fetched again.
import { invalidArgument } from '../errors.js';
import type { PsTable } from './client.js';
import { U64Index } from './u64_index.js';
import { SlotCachedTable } from './slot_cache.js';

/** The PsTable surface the cache needs (tests substitute in-memory tables). */
export interface CacheableTable {
  readonly name: string;
  readonly dim: number;
  readonly pushFloats: number;
  pull(keys: BigUint64Array, out?: Float32Array): Promise<Float32Array>;
  push(keys: BigUint64Array, values: Float32Array): Promise<void>;
}

export interface SspCacheStats {
  /** Keys asked for by pull() (with repeats). */
  keysRead: number;
  /** Of those, served from the cache. */
  keysServedLocally: number;
  /** Keys fetched from the servers, and the pull requests that did it. */
  keysFetched: number;
  pullRequests: number;
  /** Keys given to push() (with repeats), keys actually sent, push requests. */
  keysPushed: number;
  keysSent: number;
  pushRequests: number;
  clocks: number;
}

/** The 32-bit halves of a BigUint64Array (little-endian: low word first), read without making BigInts. */
function wordsOf(keys: BigUint64Array): Uint32Array {
  return new Uint32Array(keys.buffer, keys.byteOffset, keys.length * 2);
}
if (wordsOf(BigUint64Array.of(1n))[0] !== 1) throw new Error('ssp_cache: a little-endian host is assumed');

/** fetchedAt of a slot whose row never arrived (created by a pull that is still fetching, or failed). */
const NEVER = -0x80000000;

/** A growable arena of fixed-width float rows indexed by key. */
class KeyedRows {
  readonly width: number;
  readonly index = new U64Index();
  count = 0;
  data: Float32Array;
  #keyWords = new Uint32Array(128);

  constructor(width: number) {
    this.width = width;
    this.data = new Float32Array(64 * width);
  }

  /** The slot of key i of `words`, or -1. */
  find(words: Uint32Array, i: number): number {
    return this.index.get(words[2 * i]!, words[2 * i + 1]!);
  }

  /** The slot of key i of `words`, created (zeroed) if new. */
  slot(words: Uint32Array, i: number): number {
    const lo = words[2 * i]!;
    const hi = words[2 * i + 1]!;
    let s = this.index.get(lo, hi);
    if (s >= 0) return s;
    s = this.count++;
    this.index.add(lo, hi, s);
    if (2 * this.count > this.#keyWords.length) {
      const grown = new Uint32Array(this.#keyWords.length * 2);
      grown.set(this.#keyWords);
      this.#keyWords = grown;
    }
    this.#keyWords[2 * s] = lo;
    this.#keyWords[2 * s + 1] = hi;
    if (this.count * this.width > this.data.length) {
      const grown = new Float32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data.fill(0, s * this.width, (s + 1) * this.width);
    return s;
  }

  /** The keys of the given slots. */
  keysOf(slots: readonly number[]): BigUint64Array {
    const w = new Uint32Array(2 * slots.length);
    for (let m = 0; m < slots.length; m++) {
      w[2 * m] = this.#keyWords[2 * slots[m]!]!;
      w[2 * m + 1] = this.#keyWords[2 * slots[m]! + 1]!;
    }
    return new BigUint64Array(w.buffer);
  }

  /** The keys of slots 0..count-1. */
  keys(): BigUint64Array {
    return new BigUint64Array(this.#keyWords.slice(0, 2 * this.count).buffer);
  }

  clear(): void {
    this.index.clear();
    this.count = 0;
  }
}

/** One table behind the cache; created by SspClientCache.table(). */
export class CachedTable implements CacheableTable {
  readonly name: string;
  readonly dim: number;
  readonly pushFloats: number;
  readonly #table: CacheableTable;
  readonly #cache: SspClientCache;
  readonly #additive: boolean;
  /** Rows as fetched (plus own flushed pushes when additive), and the clock of each fetch. */
  readonly #rows: KeyedRows;
  #fetchedAt = new Int32Array(64).fill(NEVER);
  /** The pull call that is fetching each slot (dedups the keys of one pull). */
  #fetchGen = new Uint32Array(64);
  #pullGen = 0;
  #slotScratch = new Int32Array(1024);
  /** Pushes summed per key since the last clock. */
  readonly #pending: KeyedRows;

  /** @internal */
  constructor(table: CacheableTable, cache: SspClientCache, additive: boolean) {
    if (additive && table.pushFloats !== table.dim) {
      throw invalidArgument('ssp cache', 'additive', `a table whose pushes are rows (pushFloats ${table.pushFloats} != dim ${table.dim})`, table.name);
    }
    this.#table = table;
    this.#cache = cache;
    this.#additive = additive;
    this.name = table.name;
    this.dim = table.dim;
    this.pushFloats = table.pushFloats;
    this.#rows = new KeyedRows(table.dim);
    this.#pending = new KeyedRows(table.pushFloats);
  }

  /** Rows for `keys` in the caller's order: fresh cached rows locally, the rest in one pull. */
  async pull(keys: BigUint64Array, out?: Float32Array): Promise<Float32Array> {
    if (!(keys instanceof BigUint64Array)) throw invalidArgument(`${this.name}.pull`, 'keys', 'a BigUint64Array', keys);
    const dim = this.dim;
    const result = out ?? new Float32Array(keys.length * dim);
    if (!(result instanceof Float32Array) || result.length !== keys.length * dim) {
      throw invalidArgument(`${this.name}.pull`, 'out', `a Float32Array of keys.length * dim = ${keys.length * dim}`, out, true);
    }
    const stats = this.#cache.stats;
    const now = this.#cache.clockValue;
    const oldest = now - this.#cache.staleness;
    const words = wordsOf(keys);
    // One probe per key: a missing key gets its slot now (never fetched yet: NEVER) and joins
    // the fetch once, however often it repeats in `keys`.
    const callGen = ++this.#pullGen;
    const slotOf = this.#scratch(keys.length);
    const fetchSlots: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const s = this.#rows.slot(words, i);
      this.#ensureSlotState(s);
      slotOf[i] = s;
      if (this.#fetchedAt[s]! >= oldest) {
        this.#copyOut(s, words, i, result);
        stats.keysServedLocally++;
      } else if (this.#fetchGen[s] !== callGen) {
        this.#fetchGen[s] = callGen;
        fetchSlots.push(s);
      }
    }
    stats.keysRead += keys.length;
    if (fetchSlots.length === 0) return result;
    const fetchKeys = this.#rows.keysOf(fetchSlots);
    const fetched = await this.#table.pull(fetchKeys);
    stats.keysFetched += fetchKeys.length;
    stats.pullRequests++;
    const rows = this.#rows.data;
    for (let m = 0; m < fetchSlots.length; m++) {
      const s = fetchSlots[m]!;
      for (let c = 0; c < dim; c++) rows[s * dim + c] = fetched[m * dim + c]!;
      this.#fetchedAt[s] = now;
    }
    for (let i = 0; i < keys.length; i++) if (this.#fetchGen[slotOf[i]!] === callGen) this.#copyOut(slotOf[i]!, words, i, result);
    return result;
  }

  /** Per-slot state arrays cover slot `s`; a new slot was never fetched. */
  #ensureSlotState(s: number): void {
    if (s < this.#fetchedAt.length) return;
    const n = Math.max(this.#fetchedAt.length * 2, s + 1);
    const at = new Int32Array(n).fill(NEVER);
    at.set(this.#fetchedAt);
    const gen = new Uint32Array(n);
    gen.set(this.#fetchGen);
    this.#fetchedAt = at;
    this.#fetchGen = gen;
  }

  #scratch(n: number): Int32Array {
    if (this.#slotScratch.length < n) this.#slotScratch = new Int32Array(Math.max(n, 2 * this.#slotScratch.length));
    return this.#slotScratch;
  }

  /** Adds the pushes to this clock's local sums; they are sent at the next clock(). */
  async push(keys: BigUint64Array, values: Float32Array): Promise<void> {
    if (!(keys instanceof BigUint64Array)) throw invalidArgument(`${this.name}.push`, 'keys', 'a BigUint64Array', keys);
    const w = this.pushFloats;
    if (!(values instanceof Float32Array) || values.length !== keys.length * w) {
      throw invalidArgument(`${this.name}.push`, 'values', `a Float32Array of keys.length * ${w} = ${keys.length * w} floats`, values, true);
    }
    const words = wordsOf(keys);
    for (let i = 0; i < keys.length; i++) {
      const base = this.#pending.slot(words, i) * w;
      const data = this.#pending.data;
      for (let c = 0; c < w; c++) data[base + c]! += values[i * w + c]!;
    }
    this.#cache.stats.keysPushed += keys.length;
  }

  /** @internal Sends this clock's sums (one push) and, if additive, folds them into cached rows. */
  async flush(): Promise<void> {
    const n = this.#pending.count;
    if (n === 0) return;
    const keys = this.#pending.keys();
    const values = this.#pending.data.slice(0, n * this.pushFloats);
    this.#pending.clear();
    await this.#table.push(keys, values);
    const stats = this.#cache.stats;
    stats.keysSent += n;
    stats.pushRequests++;
    if (!this.#additive) return;
    const words = wordsOf(keys);
    for (let i = 0; i < n; i++) {
      const s = this.#rows.find(words, i);
      if (s < 0) continue;
      for (let c = 0; c < this.dim; c++) this.#rows.data[s * this.dim + c]! += values[i * this.dim + c]!;
    }
  }

  #copyOut(slot: number, words: Uint32Array, i: number, out: Float32Array): void {
    const dim = this.dim;
    const rows = this.#rows.data;
    for (let c = 0; c < dim; c++) out[i * dim + c] = rows[slot * dim + c]!;
    if (!this.#additive) return;
    const p = this.#pending.find(words, i);
    if (p < 0) return;
    for (let c = 0; c < dim; c++) out[i * dim + c]! += this.#pending.data[p * dim + c]!;
  }
}

/**
 * The cache of one worker: wrap its tables with table(), and call clock() instead of
 * comm.ps.clock() (it flushes every table's pushes first).
 * @example
 *   const cache = new SspClientCache(() => comm.ps.clock(), { staleness: 2 });
 *   const w = cache.table(await comm.ps.table('w', { dim: 8, updater: { type: 'adagrad' } }));
 *   ... await w.pull(keys); await w.push(keys, grads); await cache.clock();
 */
export class SspClientCache {
  readonly staleness: number;
  readonly stats: SspCacheStats = { keysRead: 0, keysServedLocally: 0, keysFetched: 0, pullRequests: 0, keysPushed: 0, keysSent: 0, pushRequests: 0, clocks: 0 };
  readonly #clock: () => Promise<void>;
  readonly #tables: Array<{ flush(): Promise<void> }> = [];
  /** This worker's clock: clock() calls so far. */
  clockValue = 0;

  /** @param clock advances this worker's clock on the servers (comm.ps.clock) */
  constructor(clock: () => Promise<void>, options: { staleness: number }) {
    if (typeof clock !== 'function') throw invalidArgument('SspClientCache', 'clock', 'a function', clock);
    const s = options?.staleness;
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) throw invalidArgument('SspClientCache', 'staleness', 'an integer >= 0', s, typeof s === 'number');
    this.#clock = clock;
    this.staleness = s;
  }

  /**
   * The cached view of `table`. `additive`: its updater adds pushes to the row ('add'), so
   * this worker's own pushes are folded into the rows it reads.
   */
  table(table: PsTable | CacheableTable, options: { additive?: boolean } = {}): CachedTable {
    const t = new CachedTable(table, this, options.additive ?? false);
    this.#tables.push(t);
    return t;
  }

  /**
   * The cached view of `table` for a caller that numbers its keys: slot i is `slotKeys[i]`,
   * and pull/push take slot numbers (slot_cache.ts: array lookups instead of hashing).
   */
  slotTable(table: PsTable | CacheableTable, slotKeys: BigUint64Array, options: { additive?: boolean } = {}): SlotCachedTable {
    const t = new SlotCachedTable(table, this, slotKeys, options.additive ?? false);
    this.#tables.push(t);
    return t;
  }

  /**
   * Sends every table's pushes of this clock, then advances the clock on the servers. The
   * clock request goes out right behind the pushes without waiting for their answers: each
   * server gets a worker's requests on one connection, in order, so it applies the pushes
   * before it learns of the clock (one round trip per clock instead of two).
   */
  async clock(): Promise<void> {
    const flushes = this.#tables.map((t) => t.flush());
    const clocked = this.#clock();
    this.clockValue++;
    this.stats.clocks++;
    await Promise.all([...flushes, clocked]);
  }

  /** Sends the pending pushes without advancing the clock (before reading the model elsewhere). */
  async flush(): Promise<void> {
    await Promise.all(this.#tables.map((t) => t.flush()));
  }
}
