// Rank program (np 1, 2 servers, replication 2) for ps_vector_fence.test.ts: pushes into a
// vector table, each followed by a vector program that reads the pushed slot, while server 1
// drops its push forwards (fault injection) and is then killed. Prints `RESULT {json}`.
//
// Round r pushes g_r (small integers) into slot 1, which sums them: G_r = g_1 + ... + g_r.
// Its program computes T_r = 2 T_{r-1} + G_r into the slot T_{r-1} is not in (slots 2 and 3
// alternate), so a program that failed with a server can run again. A program that runs on a
// copy before a push reached it weights that push wrongly in T for good: the final T is
// compared key by key with the same recurrence computed here, exactly (small integers in
// float64).
import { PeerLostError } from '../../lib/errors.js';
import { init } from '../../lib/index.js';
import { VectorProgram } from '../../lib/ps/vector_program.js';
import type { PsTable } from '../../lib/ps/client.js';

const ROUNDS = 16;
const KEYS = 200;

const comm = await init();
const ps = comm.ps;
const vec = await ps.table('fence.vec', { updater: { type: 'vector', slots: 4 } });
// Pulled while a push is outstanding, so server 1 keeps receiving requests (its kill rule
// counts them) even when the push waits for the replica that never gets its forward.
const side = await ps.table('fence.side', { dim: 1, updater: { type: 'add' } });
const sideKeys = new BigUint64Array([1n, 2n, 3n, 4n]);

const keys = new BigUint64Array(KEYS);
for (let i = 0; i < KEYS; i++) keys[i] = BigInt.asUintN(64, BigInt(i + 1) * 0x9e3779b97f4a7c15n);

/** Runs a program, again after a server loss (the lost server's sums are missing, or a server has not seen the loss yet). */
async function runAgainAfterLoss(t: PsTable, program: VectorProgram): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await t.run(program.bytes());
      return attempt;
    } catch (err) {
      if (!(err instanceof PeerLostError) || attempt >= 200) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

const G = new Float64Array(KEYS);
let T = new Float64Array(KEYS);
let sidePulls = 0;
let reruns = 0;
let tSlot = 3; // T_0 = 0: slot 3 is untouched so far
for (let r = 1; r <= ROUNDS; r++) {
  const g = new Float64Array(KEYS);
  for (let i = 0; i < KEYS; i++) g[i] = (i % 7) + r;
  const pushed = vec.push(keys, new Float32Array(g.buffer));
  let settled = false;
  pushed.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; !settled && i < 1000; i++) {
    await side.pull(sideKeys);
    sidePulls++;
  }
  await pushed;
  const next = tSlot === 2 ? 3 : 2;
  reruns += (await runAgainAfterLoss(vec, new VectorProgram().lincomb(next, 2, tSlot, 1, 1))) - 1;
  tSlot = next;
  const T2 = new Float64Array(KEYS);
  for (let i = 0; i < KEYS; i++) {
    G[i]! += g[i]!;
    T2[i] = 2 * T[i]! + G[i]!;
  }
  T = T2;
}
// Slot 0 is the one a pull reads.
reruns += (await runAgainAfterLoss(vec, new VectorProgram().copy(0, tSlot))) - 1;
const rows = new Float64Array((await vec.pull(keys)).buffer);
let wrong = 0;
for (let i = 0; i < KEYS; i++) if (rows[i] !== T[i]) wrong++;
const servers = ((await ps.stats()) as Array<{ rank: number }>).map((s) => s.rank);
console.log(`RESULT ${JSON.stringify({ wrong, keys: KEYS, rounds: ROUNDS, sidePulls, reruns, servers, sample: [rows[0], T[0]] })}`);
await comm.close();
