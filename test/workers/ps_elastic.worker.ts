// Rank program for the elastic parameter-server tests (test/multiproc/ps_elastic.test.ts);
// argv[2] names the scenario. Every worker adds 1 to each of KEYS keys per round and counts
// the rounds acknowledged. After 10 rounds rank 0 prints `ELASTIC add` or `ELASTIC remove 1`;
// the test (watching the output) calls job.addServer() / job.removeServer(1). Rank 0 keeps
// pushing until its client sees the change in ps.stats() (the new server answers / server 1
// no longer does), pushes 10 more rounds and raises a flag in the 'ctl' table; the others push
// until they see it, so pushes overlap the copy and the switch. 'bsp': the 'counts' table is
// BSP and the workers advance in lockstep (push, clock, pull), so the added server needs every
// worker's clock. Ranks print `RESULT {json}`.
import { init } from '../../lib/index.js';

const scenario = process.argv[2] ?? 'add';
const KEYS = Number(process.env.SHOAL_TEST_KEYS ?? 2000);
const comm = await init();
const { rank, size } = comm;
const ps = comm.ps;

interface ServerStats {
  rank: number;
  pid: number;
  keys: number;
  syncedRows: number;
  rowsSent: number;
  rowsPruned: number;
  tables: Array<{ name: string; keys: number }>;
}

const bsp = scenario === 'add-bsp';
const t = await ps.table('counts', { dim: 1, updater: { type: 'add' }, ...(bsp ? { consistency: { mode: 'bsp' as const } } : {}) });
const ctl = await ps.table('ctl', { dim: 1, updater: { type: 'add' } });
const keys = new BigUint64Array(KEYS);
for (let i = 0; i < KEYS; i++) keys[i] = BigInt.asUintN(64, BigInt(i + 1) * 0x9e3779b97f4a7c15n);
const ones = new Float32Array(KEYS).fill(1);
const flag = new BigUint64Array([7n]);
let acked = 0;
await comm.barrier();

async function round(): Promise<void> {
  await t.push(keys, ones);
  acked++;
}

async function stats(): Promise<ServerStats[]> {
  return (await ps.stats()) as ServerStats[];
}

const changed = async (): Promise<boolean> => {
  const s = await stats();
  return scenario === 'remove' ? !s.some((x) => x.rank === 1) : s.some((x) => x.rank === 2);
};

const deadline = Date.now() + 90_000;
const out: Record<string, unknown> = {};
if (bsp) {
  let asked = false;
  let after = 0;
  let violations = 0;
  for (let c = 1; after < 10; c++) {
    await round();
    await ps.clock();
    const v = await t.pull(keys);
    for (const x of v) if (x < size * c) violations++;
    if (rank === 0 && c === 5 && !asked) {
      asked = true;
      console.log('ELASTIC add');
    }
    const seen = new Float64Array([rank === 0 && asked && (await changed()) ? 1 : 0]);
    await comm.allReduce(seen);
    if (seen[0]! > 0) after++;
    if (Date.now() > deadline) throw new Error('the server change did not complete within 90 s');
  }
  out.violations = violations;
} else if (rank === 0) {
  for (let i = 0; i < 10; i++) await round();
  console.log(scenario === 'remove' ? 'ELASTIC remove 1' : 'ELASTIC add');
  let rounds = 0;
  for (;;) {
    await round();
    rounds++;
    if (await changed()) break;
    if (Date.now() > deadline) throw new Error('the server change did not complete within 90 s');
  }
  out.roundsDuringChange = rounds;
  for (let i = 0; i < 10; i++) await round();
  await ctl.push(flag, new Float32Array([1]));
} else {
  while (acked < 10 || acked % 5 !== 0 || (await ctl.pull(flag))[0]! < 1) {
    await round();
    if (Date.now() > deadline) throw new Error('rank 0 never raised the flag');
  }
}
const total = new Float64Array([acked]);
await comm.allReduce(total);
const rows = await t.pull(keys);
out.wrong = Array.from(rows).filter((v) => v !== total[0]).length;
if (rank === 0) {
  out.servers = (await stats()).map((s) => ({
    rank: s.rank,
    counts: s.tables.find((x) => x.name === 'counts')?.keys ?? 0,
    keys: s.keys,
    syncedRows: s.syncedRows,
    rowsSent: s.rowsSent,
    rowsPruned: s.rowsPruned,
  }));
}
console.log(`RESULT ${JSON.stringify({ rank, acked, total: total[0], sample: rows[0], ...out })}`);
await comm.close();
