// Rank program for the parameter-server replacement tests (test/multiproc/ps_rejoin.test.ts);
// argv[2] names the scenario. Every worker adds 1 to each of KEYS keys per round and counts
// the rounds acknowledged; rank 0 SIGKILLs server 1, waits (still pushing) until its
// replacement has restored and rejoined, and in 'second-loss' then kills server 2 too. The
// others keep pushing until rank 0 raises a flag in the 'ctl' table, so pushes overlap the
// copy. 'bsp': the table is BSP and the workers advance in lockstep (push, clock, pull),
// so pulls at the replacement need every worker's clock. Ranks print `RESULT {json}`.
import { init } from '../../lib/index.js';

const scenario = process.argv[2] ?? 'replace';
const KEYS = Number(process.env.SHOAL_TEST_KEYS ?? 2000);
const comm = await init();
const { rank, size } = comm;
const ps = comm.ps;

interface ServerStats {
  rank: number;
  pid: number;
  tables: Array<{ name: string; keys: number }>;
}

const t = await ps.table('counts', { dim: 1, updater: { type: 'add' }, ...(scenario === 'bsp' ? { consistency: { mode: 'bsp' as const } } : {}) });
const ctl = await ps.table('ctl', { dim: 1, updater: { type: 'add' } });
const keys = new BigUint64Array(KEYS);
for (let i = 0; i < KEYS; i++) keys[i] = BigInt.asUintN(64, BigInt(i + 1) * 0x9e3779b97f4a7c15n);
const ones = new Float32Array(KEYS).fill(1);
const flag = new BigUint64Array([7n]);
let acked = 0;
await comm.barrier(); // every worker is connected to every server before any is killed

async function round(): Promise<void> {
  await t.push(keys, ones);
  acked++;
}

async function stats(): Promise<ServerStats[]> {
  return (await ps.stats()) as ServerStats[];
}

/** Kills server `victim` with SIGKILL; returns its pid. */
async function kill(victim: number): Promise<number> {
  const pid = (await stats()).find((s) => s.rank === victim)!.pid;
  process.kill(pid, 'SIGKILL');
  return pid;
}

const deadline = Date.now() + 90_000;
const out: Record<string, unknown> = {};
if (scenario === 'bsp') {
  // Lockstep rounds; every pull at clock c must see every worker's c pushes. Rank 0 kills
  // server 1 at clock 5; all stop 10 rounds after rank 0 has seen the replacement.
  let oldPid = -1;
  let rejoined = false;
  let after = 0;
  let violations = 0;
  for (let c = 1; after < 10; c++) {
    await round();
    await ps.clock();
    const v = await t.pull(keys);
    for (const x of v) if (x < size * c) violations++;
    if (rank === 0 && c === 5) oldPid = await kill(1);
    else if (rank === 0 && oldPid >= 0 && !rejoined) rejoined = (await stats()).some((s) => s.rank === 1 && s.pid !== oldPid);
    const flag = new Float64Array([rejoined ? 1 : 0]);
    await comm.allReduce(flag);
    if (flag[0]! > 0) after++;
    if (Date.now() > deadline) throw new Error('server 1 was not replaced within 90 s');
  }
  out.violations = violations;
} else if (rank === 0) {
  for (let i = 0; i < 10; i++) await round();
  const oldPid = await kill(1);
  // Keep training until this client talks to server 1's replacement (a new pid).
  let rounds = 0;
  for (;;) {
    await round();
    rounds++;
    const s1 = (await stats()).find((s) => s.rank === 1);
    if (s1 && s1.pid !== oldPid) break;
    if (Date.now() > deadline) throw new Error('server 1 was not replaced within 90 s');
  }
  out.roundsDuringRestore = rounds;
  for (let i = 0; i < 10; i++) await round();
  // Replication restored: each key of 'counts' is on two servers again.
  out.heldAfterRejoin = (await stats()).reduce((n, s) => n + (s.tables.find((x) => x.name === 'counts')?.keys ?? 0), 0);
  if (scenario === 'second-loss') {
    await kill(2);
    for (let i = 0; i < 20; i++) await round();
  }
  await ctl.push(flag, new Float32Array([1]));
} else {
  // Push until rank 0 says the replacement is done (checking the flag every few rounds).
  while (acked < 10 || acked % 5 !== 0 || (await ctl.pull(flag))[0]! < 1) {
    await round();
    if (Date.now() > deadline) throw new Error('rank 0 never raised the flag');
  }
}
const total = new Float64Array([acked]);
await comm.allReduce(total);
const rows = await t.pull(keys);
out.wrong = Array.from(rows).filter((v) => v !== total[0]).length;
console.log(`RESULT ${JSON.stringify({ rank, acked, total: total[0], sample: rows[0], ...out })}`);
await comm.close();
