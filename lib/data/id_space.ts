// Feature ids spread over a huge id space, so generated data exercises id hashing the way
// real CTR logs do (ids are hashes of strings, anywhere in 2^40 or 2^64). spreadId maps a
// planted feature index to an id in [1, 2^bits) with a bijective mix (xor-shift and
// multiply-by-odd steps mod 2^bits, the splitmix64 finalizer at 64 bits): distinct indices
// below 2^bits always give distinct ids, and index 0 is the only one that maps to 0.

/** The id spaces `shoal datagen --id-space` offers, in bits. */
export const ID_SPACE_BITS = [40, 64] as const;
export type IdSpaceBits = (typeof ID_SPACE_BITS)[number];

const SHIFTS: Record<IdSpaceBits, readonly [bigint, bigint, bigint]> = { 40: [20n, 17n, 19n], 64: [30n, 27n, 31n] };

/** The id of planted feature `index` (a non-negative safe integer) in a 2^bits space. */
export function spreadId(index: number, bits: IdSpaceBits): bigint {
  const mask = (1n << BigInt(bits)) - 1n;
  const [a, b, c] = SHIFTS[bits];
  let z = BigInt(index) & mask;
  z = ((z ^ (z >> a)) * 0xbf58476d1ce4e5b9n) & mask;
  z = ((z ^ (z >> b)) * 0x94d049bb133111ebn) & mask;
  return z ^ (z >> c);
}

/** `id:1` fields for the ids of these indices, sorted by id, each preceded by a space. */
export function spreadFields(indices: ArrayLike<number>, count: number, bits: IdSpaceBits): string {
  const ids: bigint[] = [];
  for (let k = 0; k < count; k++) ids.push(spreadId(indices[k] as number, bits));
  ids.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  let out = '';
  for (const id of ids) out += ` ${id}:1`;
  return out;
}
