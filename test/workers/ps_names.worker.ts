// Rank program for test/multiproc/ps_names.test.ts: bad table names are refused with a clear
// error and the servers (real processes under the launcher) keep serving through several
// heartbeats, whose metrics carry the servers' stats JSON.
import { init } from '../../lib/index.js';

const comm = await init();
const refused: Record<string, string> = {};
for (const name of ['a"b', 'a\\"b', '{"x":1}', 'a\nb', '../evil', '']) {
  try {
    await comm.ps.table(name, { dim: 1 });
    refused[name] = 'accepted';
  } catch (err) {
    refused[name] = `${(err as Error).name}: ${(err as Error).message}`;
  }
}
// Every character class the rule allows.
const t = await comm.ps.table('Aa0_.:-z', { dim: 1 });
const pidsBefore = ((await comm.ps.stats()) as Array<{ pid: number }>).map((s) => s.pid);
// Heartbeats (1 s) carry each server's stats: wait through a few.
await new Promise((resolve) => setTimeout(resolve, 3500));
await t.push(new BigUint64Array([BigInt(comm.rank)]), new Float32Array([1]));
await comm.barrier();
const rows = await t.pull(new BigUint64Array([0n, 1n]));
const pidsAfter = ((await comm.ps.stats()) as Array<{ pid: number }>).map((s) => s.pid);
console.log(`RESULT ${JSON.stringify({ rank: comm.rank, refused, rows: Array.from(rows), pidsBefore, pidsAfter })}`);
await comm.close();
