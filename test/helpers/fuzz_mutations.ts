// Seeded mutations of valid files for the decoder fuzz tests: flipped bytes, truncation,
// extension, and count fields set to values that overflow or lie about the length.
import type { Rng } from '../helpers/mulberry_rng.js';

/** A little-endian count field of a format (a length, a row count). */
export interface CountField {
  at: number;
  bytes: 4 | 8;
}

const WEIRD_COUNTS = [0n, 1n, 0xffffffffn, 0x100000000n, 1n << 53n, (1n << 53n) + 1n, 1n << 61n, 1n << 63n, (1n << 64n) - 1n];

export interface Mutation {
  bytes: Uint8Array;
  /** What was done, for failure messages. */
  how: string;
}

/** One random mutation of `original` (never the original itself unless it is tiny). */
export function mutate(rng: Rng, original: Uint8Array, counts: CountField[]): Mutation {
  const bytes = Uint8Array.from(original);
  switch (rng.int(counts.length > 0 ? 5 : 3)) {
    case 0: {
      const n = 1 + rng.int(4);
      const at: number[] = [];
      for (let i = 0; i < n && bytes.length > 0; i++) {
        const p = rng.int(bytes.length);
        bytes[p] = bytes[p]! ^ (1 + rng.int(255));
        at.push(p);
      }
      return { bytes, how: `flip bytes at ${at.join(',')}` };
    }
    case 1: {
      const len = rng.int(original.length);
      return { bytes: bytes.subarray(0, len), how: `truncate to ${len}` };
    }
    case 2: {
      const extra = new Uint8Array(1 + rng.int(64)).map(() => rng.int(256));
      const out = new Uint8Array(bytes.length + extra.length);
      out.set(bytes);
      out.set(extra, bytes.length);
      return { bytes: out, how: `extend by ${extra.length}` };
    }
    default: {
      const field = counts[rng.int(counts.length)]!;
      if (field.at + field.bytes > bytes.length) return { bytes, how: 'count field past the end (unchanged)' };
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const old = field.bytes === 8 ? view.getBigUint64(field.at, true) : BigInt(view.getUint32(field.at, true));
      const choice = rng.int(3);
      const max = field.bytes === 8 ? (1n << 64n) - 1n : 0xffffffffn;
      const value = (choice === 0 ? WEIRD_COUNTS[rng.int(WEIRD_COUNTS.length)]! : choice === 1 ? old + 1n : old - 1n) & max;
      if (field.bytes === 8) view.setBigUint64(field.at, value, true);
      else view.setUint32(field.at, Number(value), true);
      return { bytes, how: `count at ${field.at} ${old} -> ${value}` };
    }
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
