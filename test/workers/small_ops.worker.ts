// Rank program for the small-op paths: rounds of 8-byte and 4 KiB allReduce, reduceTo, bcast
// and barrier where one rank (a different one each round) sleeps first, so the others' calls
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

// One allReduce, reduceTo and bcast of `count` float64s in round `round`; values are small integers (exact).
function ops(round: number, count: number): Array<() => Promise<void>> {
  const root = round % p;
  const sumOfRanks = (p * (p - 1)) / 2;
  return [
    async () => {
      const x = new Float64Array(count).map((_, i) => rank + i + round);
      await comm.allReduce(x);
      expect(`allReduce r${round} n${count}`, x[count - 1]!, sumOfRanks + p * (count - 1 + round));
    },
    async () => {
      const x = new Float64Array(count).fill(rank + round);
      await comm.reduceTo(x, root);
      expect(`reduceTo r${round} n${count}`, x[0]!, rank === root ? sumOfRanks + p * round : rank + round);
    },
    async () => {
      const x = new Float64Array(count).fill(rank === root ? 1000 + round : -1);
      await comm.bcast(x, root);
      expect(`bcast r${round} n${count}`, x[count - 1]!, 1000 + round);
    },
    async () => {
      await comm.barrier();
      checked++;
    },
  ];
}

for (let round = 0; round < 3 * p; round++) {
  for (const count of [1, 512]) {
    for (const op of ops(round, count)) {
      if (rank === round % p) await sleep(20); // the others wait past their budget
      await op();
    }
  }
}
// Back to back: every op is called before the previous one finished.
const all: Promise<void>[] = [];
for (let round = 0; round < 20; round++) for (const op of ops(round, round % 2 ? 512 : 1)) all.push(op());
await Promise.all(all);
console.log(`RESULT ${JSON.stringify({ rank, checked, errors })}`);
await comm.close();
