// Consistent hashing with virtual nodes (native/ps/hash_ring.h) through the test-only
// HashRing binding: balance over 1e6 keys, minimal movement when a server joins or leaves,
// replica sets of distinct servers, determinism and argument errors.
import test from 'ava';

import { native } from '../../lib/native.js';
import { Rng } from '../helpers/mulberry_rng.js';

interface HashRing {
  addServer(serverId: number): void;
  removeServer(serverId: number): void;
  primary(keys: BigUint64Array): Uint32Array;
  owners(key: bigint, replicas: number): number[];
  group(keys: BigUint64Array, storeOrder?: boolean): { distinct: number; server: Uint32Array; first: Uint32Array; shares: BigUint64Array[] };
  readonly servers: number;
  readonly vnodes: number;
}

const { HashRing } = native as unknown as { HashRing: new (vnodesPerServer?: number) => HashRing };

const N = 1_000_000;

function makeRng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

function randomKeys(n: number, seed: number): BigUint64Array {
  const keys = new BigUint64Array(n);
  const words = new Uint32Array(keys.buffer);
  const rng = makeRng(seed);
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(rng() * 4294967296);
  return keys;
}

function sequentialKeys(n: number): BigUint64Array {
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i);
  return keys;
}

function ringOf(servers: number[], vnodes?: number): HashRing {
  const ring = new HashRing(vnodes);
  for (const s of servers) ring.addServer(s);
  return ring;
}

function maxOverMean(owner: Uint32Array, servers: number[]): number {
  const counts = new Map<number, number>(servers.map((s) => [s, 0]));
  for (const s of owner) counts.set(s, (counts.get(s) ?? 0) + 1);
  if (counts.size !== servers.length) throw new Error(`keys mapped to unknown servers: ${[...counts.keys()].join(',')}`);
  return Math.max(...counts.values()) / (owner.length / servers.length) - 1;
}

test('balance: the busiest server holds < 10% above the mean (default vnodes; 4, 8, 16 servers; random and sequential keys)', (t) => {
  const ring0 = new HashRing();
  t.log(`default vnodes per server: ${ring0.vnodes}`);
  for (const [name, keys] of [['random', randomKeys(N, 1)], ['sequential', sequentialKeys(N)]] as const) {
    for (const size of [4, 8, 16]) {
      const servers = Array.from({ length: size }, (_, i) => i);
      const imbalance = maxOverMean(ringOf(servers).primary(keys), servers);
      t.log(`${name} keys, ${size} servers: max/mean - 1 = ${imbalance.toFixed(4)}`);
      t.true(imbalance < 0.1, `${name}, ${size} servers: ${imbalance}`);
    }
  }
});

test('balance with 128 vnodes over 4 and 8 servers (ids 0..S-1)', (t) => {
  const keys = randomKeys(N, 2);
  for (const size of [4, 8]) {
    const servers = Array.from({ length: size }, (_, i) => i);
    const imbalance = maxOverMean(ringOf(servers, 128).primary(keys), servers);
    t.log(`128 vnodes, ${size} servers: max/mean - 1 = ${imbalance.toFixed(4)}`);
    t.true(imbalance < 0.1);
  }
});

test('adding a 5th server moves about 1/5 of the keys, all onto the new server', (t) => {
  const keys = randomKeys(N, 3);
  const ring = ringOf([10, 20, 30, 40]);
  const before = ring.primary(keys);
  ring.addServer(50);
  const after = ring.primary(keys);
  let moved = 0;
  let elsewhere = 0;
  for (let i = 0; i < N; i++) {
    if (before[i] !== after[i]) {
      moved++;
      if (after[i] !== 50) elsewhere++;
    }
  }
  t.log(`moved ${(moved / N).toFixed(4)} of keys`);
  t.true(moved / N >= 0.15 && moved / N <= 0.25);
  t.is(elsewhere, 0);
  // Removing it again restores the original assignment exactly.
  ring.removeServer(50);
  t.deepEqual(ring.primary(keys), before);
});

test('removing a server moves only its keys', (t) => {
  const keys = randomKeys(N, 4);
  const ring = ringOf([0, 1, 2, 3, 4, 5]);
  const before = ring.primary(keys);
  ring.removeServer(3);
  const after = ring.primary(keys);
  let movedOthers = 0;
  let orphaned = 0;
  const inherited = new Set<number>();
  for (let i = 0; i < N; i++) {
    if (before[i] !== 3 && before[i] !== after[i]) movedOthers++;
    if (before[i] === 3) inherited.add(after[i]!);
    if (after[i] === 3) orphaned++;
  }
  t.is(movedOthers, 0);
  t.is(orphaned, 0);
  // Its keys spread over the survivors rather than all landing on one neighbour.
  t.is(inherited.size, 5);
  t.is(ring.servers, 5);
});

test('owners: primary first, then distinct servers; replicas = servers lists them all', (t) => {
  const servers = [3, 1, 4, 15, 9, 2, 6];
  const ring = ringOf(servers);
  const keys = randomKeys(20_000, 5);
  const primaries = ring.primary(keys);
  const secondCounts = new Map<number, number>();
  keys.forEach((k, i) => {
    const three = ring.owners(k, 3);
    if (three.length !== 3 || new Set(three).size !== 3) t.fail(`owners(${k}, 3) = ${three.join(',')}`);
    if (three[0] !== primaries[i]) t.fail(`owners(${k})[0] is not the primary`);
    secondCounts.set(three[1]!, (secondCounts.get(three[1]!) ?? 0) + 1);
  });
  // The replica of a server's keys is spread over the others, not always one neighbour.
  t.is(secondCounts.size, servers.length);
  const all = ring.owners(123456789n, servers.length);
  t.deepEqual([...all].sort((a, b) => a - b), [...servers].sort((a, b) => a - b));
  t.deepEqual(ring.owners((1n << 64n) - 1n, 1), [ring.primary(new BigUint64Array([(1n << 64n) - 1n]))[0]]);
});

test('the ring depends only on the set of servers, not on the order they joined', (t) => {
  const keys = randomKeys(100_000, 6);
  const a = ringOf([1, 2, 3, 4, 5]).primary(keys);
  const b = ringOf([5, 3, 1, 4, 2]).primary(keys);
  const c = ringOf([1, 2, 3, 4, 5, 6]);
  c.removeServer(6);
  t.deepEqual(a, b);
  t.deepEqual(a, c.primary(keys));
});

// The shard store's slot hash (native/ps/mix64.h: splitmix64's finalizer of key + salt), and
// the top bits of it that KeyGrouper::orderForStore sorts a share of n keys by (about 4 keys
// per bucket, at most 16 bits).
function storeHash(key: bigint): bigint {
  const m = (1n << 64n) - 1n;
  let x = (key + 0x243f6a8885a308d3n) & m;
  x ^= x >> 30n;
  x = (x * 0xbf58476d1ce4e5b9n) & m;
  x ^= x >> 27n;
  x = (x * 0x94d049bb133111ebn) & m;
  return x ^ (x >> 31n);
}
function storeBucket(key: bigint, n: number): bigint {
  let bits = 0;
  while (bits < 16 && Math.floor(n / 2 ** (bits + 1)) >= 4) bits++;
  return storeHash(key) >> BigInt(64 - bits);
}

// The PS client groups a request's keys by ring bucket (native/psnet/key_grouper.cc), taking a
// bucket's server from one lookup when no other server's point falls inside it: every key must
// still reach exactly the server primary() names, and repeats must be found across the request.
// From a request's second use on a table, shares go in the servers' slot order instead.
test('group: every key goes to its primary once, repeats map to their first occurrence, shares in caller or slot order (sizes 0 to 3e5, 1 to 5 servers, few and many vnodes)', (t) => {
  const rng = makeRng(7);
  let checked = 0;
  for (const [servers, vnodes] of [[[0], 1024], [[0, 1], 1024], [[0, 1, 2], 3], [[1, 4, 7, 9, 12], 1024], [[0, 1], 1]] as const) {
    const ring = ringOf([...servers], vnodes);
    for (const n of [0, 1, 7, 300, 511, 512, 4000, 100_000, 300_000]) {
      // Half fresh random keys, half repeats of earlier ones (when there are earlier ones).
      const keys = randomKeys(n, 100 + n);
      for (let i = 1; i < n; i++) if (rng() < 0.5) keys[i] = keys[Math.floor(rng() * i)]!;
      const primary = ring.primary(keys);
      const firstIndex = new Map<bigint, number>();
      for (let i = 0; i < n; i++) if (!firstIndex.has(keys[i]!)) firstIndex.set(keys[i]!, i);
      for (const storeOrder of [false, true]) {
        const g = ring.group(keys, storeOrder);
        const what = `servers ${servers.join(',')}, vnodes ${vnodes}, n ${n}, ${storeOrder ? 'store' : 'caller'} order`;
        let wrong = 0;
        for (let i = 0; i < n; i++) {
          if (g.server[i] !== primary[i] || g.first[i] !== firstIndex.get(keys[i]!)) wrong++;
        }
        t.is(wrong, 0, what);
        t.is(g.distinct, firstIndex.size);
        // Each server's share holds exactly its distinct keys, once, in the order asked for.
        let sent = 0;
        let misplaced = 0;
        let outOfOrder = 0;
        g.shares.forEach((share, server) => {
          let prevRank = -1n;
          for (const k of share) {
            if (primary[firstIndex.get(k)!] !== server) misplaced++;
            const rank = storeOrder ? storeBucket(k, share.length) : BigInt(firstIndex.get(k)!);
            if (rank < prevRank) outOfOrder++;
            prevRank = rank;
          }
          sent += share.length;
        });
        t.is(sent, firstIndex.size, what);
        t.is(misplaced, 0, what);
        t.is(outOfOrder, 0, what);
      }
      checked += n;
    }
  }
  t.true(checked > 2_000_000);
});

test('errors: duplicate or unknown servers, empty ring, bad replicas and arguments', (t) => {
  const ring = new HashRing(64);
  t.throws(() => ring.primary(new BigUint64Array([1n])), { message: /no servers/ });
  t.is((t.throws(() => ring.owners(1n, 1)) as Error & { code?: string }).code, 'ERR_INVALID_ARGUMENT');
  ring.addServer(7);
  const dup = t.throws(() => ring.addServer(7), { message: /server 7 is already on the ring/ });
  t.is((dup as Error & { code?: string }).code, 'ERR_INVALID_ARGUMENT');
  t.throws(() => ring.removeServer(8), { message: /server 8 is not on the ring/ });
  t.throws(() => ring.owners(1n, 2), { message: /'replicas' must be in \[1, 1\]/ });
  t.throws(() => ring.owners(1n, 0), { instanceOf: RangeError });
  t.throws(() => ring.owners(1 as unknown as bigint, 1), { instanceOf: TypeError });
  t.throws(() => ring.addServer(-1), { instanceOf: RangeError });
  t.throws(() => ring.addServer(2 ** 32), { instanceOf: RangeError });
  t.throws(() => ring.primary(new Uint32Array(2) as unknown as BigUint64Array), { instanceOf: TypeError, message: /BigUint64Array/ });
  t.throws(() => new HashRing(0), { instanceOf: RangeError });
  t.deepEqual(ring.owners(5n, 1), [7]);
  t.deepEqual(ring.primary(new BigUint64Array(0)), new Uint32Array(0));
});
