// Rank program for the ordering of small ops the JS thread runs itself (native/runtime/engine.cc
// runHere) against ops the comm thread runs: every rank draws the same schedule from one seed
// and issues a mix of small StepPlan ops (allReduce, bcast, reduceTo, barrier <= 64 KiB), small
// ops without a plan (allGather), and large ones (allReduce, allGather, reduceScatter of
// 1-2 MiB) in five patterns: awaited one by one; issued back to back and awaited together;
// issued from separate macrotasks (setImmediate, setTimeout 0) in a fixed order; issued back to
// back while one rank's first op waits for a timer turn (its event loop looks starved); and
// after a rank-dependent busy wait or sleep, so some ranks' small ops run on the JS thread while others'
// are handed to their comm thread or queued behind a large op. Every element of every result is
// checked against its closed form: an op matched with the wrong op on another rank, a reused
// sequence number or a buffer read before the op finished gives a wrong value.
// Prints RESULT {rank, ops, checked, errors}.
import { init } from '../../lib/index.js';

const comm = await init();
const { rank, size: p } = comm;
const rounds = Number(process.env['INTERLEAVE_ROUNDS'] ?? 40);

// Deterministic and alike on every rank (mulberry32).
let seed = 0x5eed1234;
const rand = (): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

let ops = 0;
let checked = 0;
const errors: string[] = [];
function check(what: string, got: ArrayLike<number>, want: (i: number) => number): void {
  for (let i = 0; i < got.length; i++) {
    checked++;
    if (got[i] !== want(i)) {
      if (errors.length < 20) errors.push(`${what} [${i}] of ${got.length}: got ${got[i]}, want ${want(i)}`);
      return;
    }
  }
}

const SMALL = [1, 3, 512, 8192]; // float64 elements: 8 B .. 64 KiB (the JS-thread path's limit)
const LARGE = [131072, 262144]; // 1-2 MiB: always the comm thread

// One op, id `id` (unique in the job): returns a thunk that issues it and checks its result.
// Values are small integers (exact in float64 sums); each depends on the op id, so a result
// of another op is caught.
function makeOp(id: number): () => Promise<void> {
  const kind = pick(['allReduce', 'allReduce', 'bcast', 'reduceTo', 'barrier', 'allGather', 'reduceScatter'] as const);
  const large = kind === 'reduceScatter' || rand() < 0.3;
  const n = large ? pick(LARGE) : pick(SMALL);
  const root = Math.floor(rand() * p);
  const base = (id % 1000) * 16;
  const sumRanks = (p * (p - 1)) / 2;
  const what = `op ${id} ${kind} n${n}${kind === 'bcast' || kind === 'reduceTo' ? ` root ${root}` : ''}`;
  switch (kind) {
    case 'allReduce':
      return async () => {
        const x = new Float64Array(n).map((_, i) => base + rank + (i % 7));
        await comm.allReduce(x);
        check(what, x, (i) => p * (base + (i % 7)) + sumRanks);
      };
    case 'bcast':
      return async () => {
        const x = new Float64Array(n).map((_, i) => (rank === root ? base + (i % 5) : -1));
        await comm.bcast(x, root);
        check(what, x, (i) => base + (i % 5));
      };
    case 'reduceTo':
      return async () => {
        const x = new Float64Array(n).map((_, i) => base + rank * 3 + (i % 3));
        await comm.reduceTo(x, root);
        if (rank === root) check(what, x, (i) => p * (base + (i % 3)) + 3 * sumRanks);
      };
    case 'barrier':
      return async () => {
        await comm.barrier();
        checked++;
      };
    case 'allGather': {
      const m = Math.max(1, Math.floor(n / p));
      return async () => {
        const send = new Float64Array(m).map((_, i) => base + rank * 100 + (i % 11));
        const recv = new Float64Array(m * p);
        await comm.allGather(send, recv);
        check(what, recv, (i) => base + Math.floor(i / m) * 100 + ((i % m) % 11));
      };
    }
    case 'reduceScatter': {
      const m = Math.floor(n / p);
      return async () => {
        const send = new Float64Array(m * p).map((_, i) => base + rank + (i % 13));
        const recv = new Float64Array(m);
        await comm.reduceScatter(send, recv);
        check(what, recv, (i) => p * (base + ((rank * m + i) % 13)) + sumRanks);
      };
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const spin = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

// Issues the ops in list order, each from its own macrotask (setTimeout 0, setImmediate in
// turn); none waits for the previous one to finish.
async function fromMacrotasks(batch: Array<() => Promise<void>>): Promise<void> {
  const done: Promise<void>[] = [];
  for (const [i, op] of batch.entries()) {
    const issue = (resolve: () => void, reject: (e: unknown) => void): void => void op().then(resolve, reject);
    done.push(new Promise<void>((resolve, reject) => (i % 2 ? setImmediate(issue, resolve, reject) : setTimeout(issue, 0, resolve, reject))));
    if (i % 2) await new Promise((r) => setImmediate(r));
    else await sleep(0);
  }
  await Promise.all(done);
}

let id = 0;
for (let round = 0; round < rounds; round++) {
  const pattern = pick(['awaited', 'together', 'macrotasks', 'starved', 'skewed', 'skewed'] as const);
  const count = 2 + Math.floor(rand() * 6);
  const batch = Array.from({ length: count }, () => makeOp(id++));
  const delayed = Math.floor(rand() * p); // the rank that comes late to this round
  const delayMs = pick([0, 1, 3, 20]);
  ops += count;
  switch (pattern) {
    case 'awaited':
      for (const op of batch) await op();
      break;
    case 'together':
      await Promise.all(batch.map((op) => op()));
      break;
    case 'macrotasks':
      await fromMacrotasks(batch);
      break;
    case 'starved': {
      // The late rank's first op finds the event loop's timers starved (lib/communicator.ts
      // then lets them run first: it was called > 250 ms after they last ran). Simulated by
      // moving Date.now() ahead for that call, so no CPU is blocked for it. The others are
      // called at once, while the first still waits: they must still start after it.
      const realNow = Date.now;
      const pending: Promise<void>[] = [];
      for (const [i, op] of batch.entries()) {
        if (i === 0 && rank === delayed) Date.now = () => realNow() + 1000;
        try {
          pending.push(op());
        } finally {
          Date.now = realNow;
        }
      }
      await Promise.all(pending);
      break;
    }
    case 'skewed': {
      // One rank is late (asleep or busy on the JS thread) before each op: the others' small
      // ops outlast their JS-thread budget and go on on the comm thread; the next op is issued
      // while the previous may still be there.
      const pending: Promise<void>[] = [];
      for (const op of batch) {
        const busy = rand() < 0.5; // drawn on every rank: the schedules stay alike
        if (rank === delayed && delayMs) {
          if (busy) spin(delayMs);
          else await sleep(delayMs);
        }
        pending.push(op());
        if (pending.length > 2) await pending.shift();
      }
      await Promise.all(pending);
      break;
    }
  }
}
console.log(`RESULT ${JSON.stringify({ rank, ops, checked, errors })}`);
await comm.close();
