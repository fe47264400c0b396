// Rank program for the small-op paths: rounds of 8-byte, 4 KiB, 320 KiB and 1 MiB allReduce,
// reduceTo, bcast (on one host the JS thread runs 320 KiB allReduces and 1 MiB bcasts and
// reduceTos: smallAllReduceBytes, smallRootedBytes) and barrier where one rank (a different one each round) sleeps first, so the others' calls
// outlast their JS-thread budget (SHOAL_SYNC_WAIT_US) and the comm thread finishes them; then
// the same ops issued back to back without waiting (queued behind each other). Every result
// is checked against its closed form; prints RESULT {rank, checked, errors}.
import { init } from '../../lib/index.js';

const comm = await init();
const { rank, size: p } = comm;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let checked = 0;
const errors: string[] = [];
const expect = (what: string, got: number, want: number): void => {
  checked++;
  if (got !== want && errors.length < 10) errors.push(`${what}: got ${got}, want ${want}`);
};
/** Every element: the first wrong one is reported. */
const expectAll = (what: string, x: Float64Array, want: (i: number) => number): void => {
  const i = x.findIndex((v, j) => v !== want(j));
  expect(i < 0 ? what : `${what} [${i}]`, i < 0 ? 0 : x[i]!, i < 0 ? 0 : want(i));
};

// One allReduce, reduceTo and bcast of `count` float64s in round `round`; values are small integers (exact).
function ops(round: number, count: number): Array<() => Promise<void>> {
  const root = round % p;
  const sumOfRanks = (p * (p - 1)) / 2;
  return [
    async () => {
      const x = new Float64Array(count).map((_, i) => rank + i + round);
      await comm.allReduce(x);
      expectAll(`allReduce r${round} n${count}`, x, (i) => sumOfRanks + p * (i + round));
    },
    async () => {
      const x = new Float64Array(count).map((_, i) => rank + round + (i % 7));
      await comm.reduceTo(x, root);
      // The root holds the sums; every other rank's buffer is as it was.
      expectAll(`reduceTo r${round} n${count}`, x, (i) => (rank === root ? sumOfRanks + p * (round + (i % 7)) : rank + round + (i % 7)));
    },
    async () => {
      const x = new Float64Array(count).map((_, i) => (rank === root ? 1000 + round + i : -1));
      await comm.bcast(x, root);
      expectAll(`bcast r${round} n${count}`, x, (i) => 1000 + round + i);
    },
    async () => {
      await comm.barrier();
      checked++;
    },
  ];
}

const SMALLISH = 40_003; // float64, 320 KiB: allReduce by recursive doubling on one host (smallAllReduceBytes)
const MEDIUM = (1 << 17) + 3; // float64: 1 MiB + 24 bytes
for (let round = 0; round < 3 * p; round++) {
  for (const count of [1, 512, SMALLISH, MEDIUM]) {
    for (const op of ops(round, count)) {
      if (rank === round % p) await sleep(20); // the others wait past their budget
      await op();
    }
  }
}
// Back to back: every op is called before the previous one finished.
const all: Promise<void>[] = [];
for (let round = 0; round < 21; round++) for (const op of ops(round, [1, 512, MEDIUM][round % 3]!)) all.push(op());
await Promise.all(all);
console.log(`RESULT ${JSON.stringify({ rank, checked, errors })}`);
await comm.close();
