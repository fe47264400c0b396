// Petuum's SSP client cache, in front of PsTable: reads of a row this worker fetched at most
// `staleness` clocks ago are served locally, and pushes are summed per key locally and sent
// once per clock, just before the clock itself (so every server has this worker's updates of
// clock c before it learns the worker reached c + 1, as SSP requires). Under a power-law key
// distribution the frequent keys are re-read every minibatch: those reads stop going to the
// servers. A caller that knows the keys of its next minibatches fetches them in one pull
// (fetchSlots: a window of staleness + 1 clocks), so the other clocks of the window send no
// pull at all: the cache saves round trips, not only keys.
//
// What a served row contains: the servers' row as fetched (at most `staleness` clocks old).
// For tables whose updater adds pushes to the row (`additive`: 'add'), this worker's own pushes
// since the fetch are added in as well (read-my-writes); for other updaters (sgd, adagrad,
// ftrl) the servers' update of a push is not known here, so this worker's own updates show
// once the row is fetched again.
//
// One store per table, addressed by slot: rows, fetch clocks and pending sums live in flat
// typed arrays indexed by slot. Keyed calls (pull/push with BigUint64Array keys) give every new
// key the next slot through an open-addressing index (u64_index.ts); callers that number their
// keys themselves (the PS trainers' local slots) pass slot numbers (pullSlots/pushSlots) and
// skip the hashing.
import { invalidArgument } from '../errors.js';
import type { PsTable } from './client.js';
import { U64Index } from './u64_index.js';

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
  /** Keys fetched from the servers (by pulls and window fetches), and the pull requests that did it. */
  keysFetched: number;
  pullRequests: number;
  /** Keys given to push() (with repeats), keys sent (summed per key here), push requests. */
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

function grown<T extends Uint32Array | Int32Array | Float32Array | Uint8Array>(a: T, n: number, fill = 0): T {
  if (a.length >= n) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(n, 2 * a.length));
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

/** One table behind the cache; created by SspClientCache.table() or slotTable(). */
export class CachedTable implements CacheableTable {
  readonly name: string;
  readonly dim: number;
  readonly pushFloats: number;
  readonly #table: CacheableTable;
  readonly #cache: SspClientCache;
  readonly #additive: boolean;
  readonly #index = new U64Index();
  #numSlots = 0;
  /** Little-endian words of every slot's key (two per slot). */
  #keyWords = new Uint32Array(128);
  /** Rows as fetched (plus own flushed pushes when additive), and the clock of each fetch. */
  #rows: Float32Array;
  #fetchedAt = new Int32Array(64).fill(NEVER);
  /** The fetch call that is fetching each slot (dedups the slots of one call). */
  #fetchGen = new Uint32Array(64);
  #callGen = 0;
  /** Pushes summed per slot since the last flush, and which slots hold some. */
  #pending: Float32Array;
  #pendingMark = new Uint8Array(64);
  #pendingList = new Uint32Array(64);
  #numPending = 0;

  /** @internal */
  constructor(table: CacheableTable, cache: SspClientCache, additive: boolean, slotKeys?: BigUint64Array) {
    if (additive && table.pushFloats !== table.dim) {
      throw invalidArgument('ssp cache', 'additive', `a table whose pushes are rows (pushFloats ${table.pushFloats} != dim ${table.dim})`, table.name);
    }
    this.#table = table;
    this.#cache = cache;
    this.#additive = additive;
    this.name = table.name;
    this.dim = table.dim;
    this.pushFloats = table.pushFloats;
    this.#rows = new Float32Array(64 * table.dim);
    this.#pending = new Float32Array(64 * table.pushFloats);
    if (slotKeys !== undefined) {
      if (!(slotKeys instanceof BigUint64Array)) throw invalidArgument('ssp cache', 'slotKeys', 'a BigUint64Array (the key of every slot)', slotKeys);
      const words = wordsOf(slotKeys);
      for (let i = 0; i < slotKeys.length; i++) if (this.#slotOfWords(words, i) !== i) throw invalidArgument('ssp cache', `slotKeys[${i}]`, 'a key not given before', slotKeys[i], true);
    }
  }

  /** The cache's bound: rows fetched at clock c are served through clock c + staleness. */
  get staleness(): number {
    return this.#cache.staleness;
  }

  /** Slots so far (slotKeys given, plus every new key of a keyed call). */
  get numSlots(): number {
    return this.#numSlots;
  }

  /** The slot of key i of `words`, created (never fetched, nothing pending) if new. */
  #slotOfWords(words: Uint32Array, i: number): number {
    const lo = words[2 * i]!;
    const hi = words[2 * i + 1]!;
    const found = this.#index.get(lo, hi);
    if (found >= 0) return found;
    const s = this.#numSlots++;
    this.#index.add(lo, hi, s);
    const n = this.#numSlots;
    this.#keyWords = grown(this.#keyWords, 2 * n);
    this.#keyWords[2 * s] = lo;
    this.#keyWords[2 * s + 1] = hi;
    this.#rows = grown(this.#rows, n * this.dim);
    this.#pending = grown(this.#pending, n * this.pushFloats);
    this.#fetchedAt = grown(this.#fetchedAt, n, NEVER);
    this.#fetchGen = grown(this.#fetchGen, n);
    this.#pendingMark = grown(this.#pendingMark, n);
    this.#pendingList = grown(this.#pendingList, n);
    return s;
  }

  #slotsOf(op: string, keys: BigUint64Array): Uint32Array {
    if (!(keys instanceof BigUint64Array)) throw invalidArgument(`${this.name}.${op}`, 'keys', 'a BigUint64Array', keys);
    const words = wordsOf(keys);
    const slots = new Uint32Array(keys.length);
    for (let i = 0; i < keys.length; i++) slots[i] = this.#slotOfWords(words, i);
    return slots;
  }

  #checkSlots(op: string, slots: Uint32Array): void {
    if (!(slots instanceof Uint32Array)) throw invalidArgument(`${this.name}.${op}`, 'slots', 'a Uint32Array', slots);
    const n = this.#numSlots;
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

  /** Rows for `keys` in the caller's order: fresh cached rows locally, the rest in one pull. */
  async pull(keys: BigUint64Array, out?: Float32Array): Promise<Float32Array> {
    return this.#pull('pull', this.#slotsOf('pull', keys), out);
  }

  /** Adds the pushes to this clock's per-key sums; they are sent at the next clock(). */
  async push(keys: BigUint64Array, values: Float32Array): Promise<void> {
    this.#push('push', this.#slotsOf('push', keys), values);
  }

  /** pull() by slot number (slot i of slotTable()'s slotKeys). */
  async pullSlots(slots: Uint32Array, out?: Float32Array): Promise<Float32Array> {
    this.#checkSlots('pullSlots', slots);
    return this.#pull('pullSlots', slots, out);
  }

  /** push() by slot number. */
  async pushSlots(slots: Uint32Array, values: Float32Array): Promise<void> {
    this.#checkSlots('pushSlots', slots);
    this.#push('pushSlots', slots, values);
  }

  /**
   * Fetches, in one pull, the rows of `slots` that would not be served locally through
   * `clocks` more clocks (0 <= clocks <= staleness): a caller that knows the keys of its next
   * clocks + 1 minibatches sends one pull for all of them, and the reads of the other clocks
   * are served locally. Not a read (keysRead unchanged). Resolves to the keys fetched.
   */
  async fetchSlots(slots: Uint32Array, clocks: number): Promise<number> {
    this.#checkSlots('fetchSlots', slots);
    const s = this.#cache.staleness;
    if (!Number.isInteger(clocks) || clocks < 0 || clocks > s) throw invalidArgument(`${this.name}.fetchSlots`, 'clocks', `an integer in [0, staleness ${s}]`, clocks, true);
    const oldest = this.#cache.clockValue + clocks - s;
    const gen = this.#nextGen();
    const list = new Uint32Array(slots.length);
    let m = 0;
    for (let i = 0; i < slots.length; i++) {
      const x = slots[i]!;
      if (this.#fetchedAt[x]! < oldest && this.#fetchGen[x] !== gen) {
        this.#fetchGen[x] = gen;
        list[m++] = x;
      }
    }
    await this.#fetch(list, m);
    return m;
  }

  #nextGen(): number {
    if (++this.#callGen === 0xffffffff) {
      this.#fetchGen.fill(0);
      this.#callGen = 1;
    }
    return this.#callGen;
  }

  /** Fetches the rows of list[0..m) in one pull and stamps them with the current clock. */
  async #fetch(list: Uint32Array, m: number): Promise<void> {
    if (m === 0) return;
    const now = this.#cache.clockValue;
    const fetched = await this.#table.pull(this.#keysOf(list, m));
    const stats = this.#cache.stats;
    stats.keysFetched += m;
    stats.pullRequests++;
    const dim = this.dim;
    const rows = this.#rows;
    for (let j = 0; j < m; j++) {
      const s = list[j]!;
      for (let c = 0; c < dim; c++) rows[s * dim + c] = fetched[j * dim + c]!;
      this.#fetchedAt[s] = now;
    }
  }

  async #pull(op: string, slots: Uint32Array, out?: Float32Array): Promise<Float32Array> {
    const dim = this.dim;
    const result = out ?? new Float32Array(slots.length * dim);
    if (!(result instanceof Float32Array) || result.length !== slots.length * dim) {
      throw invalidArgument(`${this.name}.${op}`, 'out', `a Float32Array of ${op === 'pull' ? 'keys' : 'slots'}.length * dim = ${slots.length * dim}`, out, true);
    }
    const stats = this.#cache.stats;
    const oldest = this.#cache.clockValue - this.#cache.staleness;
    // One pass: fresh rows are copied now; a stale or missing slot joins the fetch once,
    // however often it repeats in `slots`.
    const gen = this.#nextGen();
    const fetchedAt = this.#fetchedAt;
    const fetchGen = this.#fetchGen;
    const list = new Uint32Array(slots.length);
    let m = 0;
    let served = 0;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (fetchedAt[s]! >= oldest) served++;
      else if (fetchGen[s] !== gen) {
        fetchGen[s] = gen;
        list[m++] = s;
      }
    }
    stats.keysRead += slots.length;
    stats.keysServedLocally += served;
    if (m > 0) await this.#fetch(list, m);
    this.#copyOut(slots, result);
    return result;
  }

  /** Rows of `slots` into `out` (plus pending sums when additive). Element loops, not set(subarray()): no object per key. */
  #copyOut(slots: Uint32Array, out: Float32Array): void {
    const dim = this.dim;
    const rows = this.#rows;
    for (let i = 0; i < slots.length; i++) {
      const from = slots[i]! * dim;
      const to = i * dim;
      for (let c = 0; c < dim; c++) out[to + c] = rows[from + c]!;
    }
    if (!this.#additive || this.#numPending === 0) return;
    const mark = this.#pendingMark;
    const pending = this.#pending;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (mark[s]) for (let c = 0; c < dim; c++) out[i * dim + c]! += pending[s * dim + c]!;
    }
  }

  #push(op: string, slots: Uint32Array, values: Float32Array): void {
    const w = this.pushFloats;
    if (!(values instanceof Float32Array) || values.length !== slots.length * w) {
      const what = op === 'push' ? 'keys' : 'slots';
      throw invalidArgument(`${this.name}.${op}`, 'values', `a Float32Array of ${what}.length * ${w} = ${slots.length * w} floats`, values, true);
    }
    this.#cache.stats.keysPushed += slots.length;
    const pending = this.#pending;
    const mark = this.#pendingMark;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (!mark[s]) {
        mark[s] = 1;
        this.#pendingList[this.#numPending++] = s;
      }
      for (let c = 0; c < w; c++) pending[s * w + c]! += values[i * w + c]!;
    }
  }

  /** @internal Sends the pending sums (one push) and, if additive, folds them into cached rows. */
  async flush(): Promise<void> {
    const n = this.#numPending;
    if (n === 0) return;
    const w = this.pushFloats;
    const list = this.#pendingList.slice(0, n);
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
    const sent = this.#table.push(this.#keysOf(list, n), values);
    // Additive rows already fetched take this worker's own pushes (read-my-writes); other
    // updaters' results are not known here.
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
  readonly #tables: CachedTable[] = [];
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
    return this.#add(new CachedTable(table, this, options.additive ?? false));
  }

  /**
   * The same, for a caller that numbers its keys: slot i is `slotKeys[i]` (distinct), and
   * pullSlots/pushSlots/fetchSlots take slot numbers (array lookups instead of hashing).
   */
  slotTable(table: PsTable | CacheableTable, slotKeys: BigUint64Array, options: { additive?: boolean } = {}): CachedTable {
    return this.#add(new CachedTable(table, this, options.additive ?? false, slotKeys));
  }

  #add(t: CachedTable): CachedTable {
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
