// An open-addressing hash index from uint64 keys, given as their two 32-bit words, to small
// integers: the SSP client cache looks up every key of every pull and push, and a JS Map of
// BigInts costs several times more per lookup. clear() is O(1) (generation stamps).
export class U64Index {
  #lo: Uint32Array;
  #hi: Uint32Array;
  #value: Int32Array;
  #stamp: Uint32Array;
  #gen = 1;
  #mask: number;
  /** 32 - log2(capacity): the home slot is the product's top bits (Fibonacci hashing). */
  #shift: number;
  size = 0;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.#lo = new Uint32Array(cap);
    this.#hi = new Uint32Array(cap);
    this.#value = new Int32Array(cap);
    this.#stamp = new Uint32Array(cap);
    this.#mask = cap - 1;
    this.#shift = 32 - Math.log2(cap);
  }

  #home(lo: number, hi: number): number {
    return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> this.#shift;
  }

  /** The value stored for (lo, hi), or -1. */
  get(lo: number, hi: number): number {
    for (let i = this.#home(lo, hi); ; i = (i + 1) & this.#mask) {
      if (this.#stamp[i] !== this.#gen) return -1;
      if (this.#lo[i] === lo && this.#hi[i] === hi) return this.#value[i]!;
    }
  }

  /** Stores value (>= 0) for (lo, hi), which must not be present. */
  add(lo: number, hi: number, value: number): void {
    if (2 * (this.size + 1) > this.#stamp.length) this.#grow();
    let i = this.#home(lo, hi);
    while (this.#stamp[i] === this.#gen) i = (i + 1) & this.#mask;
    this.#stamp[i] = this.#gen;
    this.#lo[i] = lo;
    this.#hi[i] = hi;
    this.#value[i] = value;
    this.size++;
  }

  clear(): void {
    this.size = 0;
    if (++this.#gen === 0xffffffff) {
      this.#stamp.fill(0);
      this.#gen = 1;
    }
  }

  #grow(): void {
    const [lo, hi, value, stamp, gen] = [this.#lo, this.#hi, this.#value, this.#stamp, this.#gen];
    const cap = stamp.length * 2;
    this.#lo = new Uint32Array(cap);
    this.#hi = new Uint32Array(cap);
    this.#value = new Int32Array(cap);
    this.#stamp = new Uint32Array(cap);
    this.#gen = 1;
    this.#mask = cap - 1;
    this.#shift = 32 - Math.log2(cap);
    this.size = 0;
    for (let i = 0; i < stamp.length; i++) if (stamp[i] === gen) this.add(lo[i]!, hi[i]!, value[i]!);
  }
}
