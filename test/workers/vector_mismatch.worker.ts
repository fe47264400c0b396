// Ranks that disagree on a variable-size collective: argv[2] says how. Each rank prints the
// error code and message it got (`ERROR <code> <message>`) and exits 0.
import { init } from '../../lib/index.js';

const comm = await init();
const how = process.argv[2];
try {
  if (how === 'counts') {
    // Rank 0 thinks rank 1 sends 1 element, rank 1 sends 2: sum(counts) differs.
    const counts = comm.rank === 0 ? [1, 1] : [1, 2];
    await comm.allGatherv(new Float32Array(counts[comm.rank]!), new Float32Array(counts[0]! + counts[1]!), counts, { timeoutMs: 30_000 });
  } else {
    // Different row widths in the sparse allReduce.
    const dim = comm.rank + 1;
    await comm.sparseAllReduce(new BigUint64Array([5n]), new Float32Array(dim), { dim, timeoutMs: 30_000 });
  }
  console.log('NO ERROR');
} catch (err) {
  console.log(`ERROR ${(err as { code?: string }).code} ${(err as Error).message.split('\n')[0]}`);
}
await comm.close().catch(() => undefined);
