// Shoal's deterministic pseudo-random numbers (datagen, and the trainers' shuffles and draws):
// a seeded sfc32 stream and a stateless hash (for planted parameters that must be recomputable from (seed, index) alone,
// e.g. by tests). Not cryptographic; identical on every platform.

/** murmur3's 32-bit finalizer: every input bit reaches every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit integer hash (murmur3's fmix32 over a few words). */
export function hash32(a: number, b = 0, c = 0): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35) ^ Math.imul(c ^ 0x165667b1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h ^ b, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h ^ c, 0x165667b1);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform in (0, 1) from a hash of (a, b, c). */
export function hashUniform(a: number, b = 0, c = 0): number {
  return (hash32(a, b, c) + 0.5) / 4294967296;
}

/** A standard normal from a hash of (a, b, c) (Box-Muller on two hashed uniforms). */
export function hashNormal(a: number, b = 0, c = 0): number {
  const u1 = hashUniform(a, b, 2 * c);
  const u2 = hashUniform(a, b, 2 * c + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** sfc32 (Chris Doty-Humphrey's small fast counting generator), seeded through hash32. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;
  private spare: number | null = null;

  constructor(seed: number, stream = 0) {
    this.a = hash32(seed >>> 0, stream, 1);
    this.b = hash32(seed >>> 0, stream, 2);
    this.c = hash32(Math.floor(seed / 4294967296) >>> 0, stream, 3);
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller, caching the second value). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u1 = (this.nextUint32() + 0.5) / 4294967296;
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** An integer in [1, n] with P(k) roughly proportional to 1/k (log-uniform, Zipf s=1). */
  powerLaw(n: number): number {
    const k = Math.floor(Math.exp(this.next() * Math.log(n + 1)));
    return k < 1 ? 1 : k > n ? n : k;
  }
}
