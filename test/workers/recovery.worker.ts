// Rank program for recovery tests: `node recovery.worker.js ITERS [CKPT_DIR|-] [RESUME_DIR|-]`
// runs ITERS iterations of "allReduce a known vector, add it to an accumulator, commit" inside
// resilient(). Every rank prints one `RESULT {json}` line with the accumulator, the world group
// it ended in and whether it is a replacement; the test checks the sums against the closed form.
import { init, resilient, restartCount, TrainingState } from '../../lib/index.js';

const [itersText = '20', ckpt = '-', resume = '-'] = process.argv.slice(2);
const iters = Number(itersText);
const comm = await init({ opTimeoutMs: 30_000 });
const state = new TrainingState(comm, { iteration: 0, acc: new Float64Array(4) }, {
  dir: ckpt === '-' ? null : ckpt,
  resume: resume === '-' ? null : resume,
  meta: { test: 'recovery', iters },
});
const acc = await resilient(comm, state, async (s) => {
  const buf = new Float64Array(4);
  while (s.iteration < iters) {
    for (let j = 0; j < buf.length; j++) buf[j] = (comm.rank + 1) * (s.iteration + 1) + j;
    await comm.allReduce(buf);
    for (let j = 0; j < buf.length; j++) s.acc[j]! += buf[j]!;
    s.iteration++;
    state.commit();
  }
  return s.acc;
});
console.log(`RESULT ${JSON.stringify({ rank: comm.rank, acc: [...acc], group: comm.group, restart: restartCount(), commits: state.commits })}`);
await comm.close();
