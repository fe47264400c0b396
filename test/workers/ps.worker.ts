// Rank program for parameter-server tests; argv[2] names the scenario. Ranks print
// `RESULT {json}` lines the test checks.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { init } from '../../lib/index.js';
import { currentSnapshotDir } from '../../lib/ps/snapshot_dir.js';
import { writeManifest, type ShardEntry } from '../../lib/ps/snapshot_manifest.js';
import { withRowCount, writeSignedSnapshot } from '../helpers/ps_snapshot_files.js';

const scenario = process.argv[2] ?? '';
const comm = await init();
const { rank, size } = comm;
const ps = comm.ps;

function result(r: Record<string, unknown>): void {
  console.log(`RESULT ${JSON.stringify({ rank, ...r })}`);
}

/** Deterministic keys: unsorted, duplicated, spread over the whole 64-bit range. */
function keysFor(r: number, n: number): BigUint64Array {
  const k = new BigUint64Array(n);
  for (let i = 0; i < n; i++) {
    const base = BigInt((i * 7919 + r * 104729) % 5000);
    k[i] = BigInt.asUintN(64, base * 0x9e3779b97f4a7c15n);
  }
  return k;
}

switch (scenario) {
  case 'correctness': {
    const dim = 3;
    const w = await ps.table('w', { dim, updater: { type: 'add' } });
    const keys = keysFor(rank, 4000);
    const vals = new Float32Array(keys.length * dim);
    for (let i = 0; i < keys.length; i++) for (let j = 0; j < dim; j++) vals[i * dim + j] = (rank + 1) * (j + 1);
    await w.push(keys, vals);
    await comm.barrier();
    // Reference: every rank's pushes, recomputed here, summed per key.
    const expected = new Map<bigint, number>();
    for (let r = 0; r < size; r++) for (const k of keysFor(r, 4000)) expected.set(k, (expected.get(k) ?? 0) + (r + 1));
    const probe = keysFor((rank + 1) % size, 4000);
    const rows = await w.pull(probe);
    let bad = 0;
    for (let i = 0; i < probe.length; i++) {
      for (let j = 0; j < dim; j++) if (rows[i * dim + j] !== expected.get(probe[i]!)! * (j + 1)) bad++;
    }
    const stats = (await ps.stats()) as Array<{ keys: number }>;
    result({ bad, checked: probe.length * dim, distinct: expected.size, serverKeys: stats.map((s) => s.keys) });
    break;
  }
  case 'large': {
    // Requests above the client's ~1 MiB message size (87 000 keys of dim 1 per message):
    // several messages per server, with distinct keys (values read from and answers written
    // to the caller's arrays) and with repeated keys (summed first).
    const n = 250_000;
    const w = await ps.table('big', { dim: 1, updater: { type: 'add' } });
    const keys = new BigUint64Array(n);
    for (let i = 0; i < n; i++) keys[i] = BigInt(i) * 1000003n + 17n;
    await w.push(keys, new Float32Array(n).fill(rank + 1));
    const twice = new BigUint64Array(2 * n);
    twice.set(keys);
    twice.set(keys.slice().reverse(), n);
    await w.push(twice, new Float32Array(2 * n).fill(1));
    await comm.barrier();
    const expected = (size * (size + 1)) / 2 + 2 * size;
    const rows = await w.pull(keys);
    const rowsTwice = await w.pull(twice);
    let bad = 0;
    for (let i = 0; i < n; i++) if (rows[i] !== expected) bad++;
    for (let i = 0; i < 2 * n; i++) if (rowsTwice[i] !== expected) bad++;
    // The same keys again, each with its own value so that a misplaced one shows. From their
    // second use on a table they go in the servers' slot order (values read from, and answers
    // written to, random positions of the caller's arrays); on a table they have not reached
    // yet, in the caller's order first.
    const valueOf = (i: number): number => (i % 251) + 1;
    const own = Float32Array.from({ length: n }, (_, i) => valueOf(i));
    const ownTwice = Float32Array.from({ length: 2 * n }, (_, j) => valueOf(j < n ? j : 2 * n - 1 - j));
    const fresh = await ps.table('big_fresh', { dim: 1, updater: { type: 'add' } });
    await fresh.push(keys, own);            // new to this table: caller order
    await fresh.push(keys, own);            // slot order
    await fresh.push(twice, ownTwice);      // other keys: caller order, repeats summed
    await fresh.push(twice, ownTwice);      // slot order, repeats summed
    await comm.barrier();
    for (const got of [await fresh.pull(keys), await fresh.pull(keys)]) {  // caller order, then slot order
      for (let i = 0; i < n; i++) if (got[i] !== size * 6 * valueOf(i)) bad++;
    }
    const stats = (await ps.stats()) as Array<{ tables: Array<{ name: string; keys: number }> }>;
    result({ bad, checked: 5 * n, n, serverKeys: stats.map((s) => s.tables.find((t) => t.name === 'big')!.keys) });
    break;
  }
  case 'keycache': {
    // The client keeps the last request's keys and grouping (key caching): the same keys
    // again, in the same array or another, reuse it; keys changed in place must not.
    const dim = 2;
    const w = await ps.table('kc', { dim, updater: { type: 'add' } });
    const n = 3000;
    const keys = new BigUint64Array(n);
    for (let i = 0; i < n; i++) keys[i] = BigInt(rank + 1) * 1_000_000_007n + BigInt(i % 2000) * 7919n;  // 1000 keys twice
    const expected = new Map<bigint, number>();
    const push = async (k: BigUint64Array, v: number): Promise<void> => {
      await w.push(k, new Float32Array(k.length * dim).fill(v));
      for (const x of k) expected.set(x, (expected.get(x) ?? 0) + v);
    };
    let bad = 0;
    const check = (k: BigUint64Array, rows: Float32Array): void => {
      for (let i = 0; i < k.length; i++) for (let j = 0; j < dim; j++) if (rows[i * dim + j] !== expected.get(k[i]!)) bad++;
    };
    await push(keys, 1);
    await push(keys, 2);
    await push(keys.slice(), 3);
    check(keys, await w.pull(keys));
    keys[7] = 123_456_789n + BigInt(rank);  // a new key, changed in place
    keys[n - 1] = keys[1]!;                  // and a new repeat
    await push(keys, 4);
    check(keys, await w.pull(keys));
    check(keys, await w.pull(keys.slice()));
    result({ bad, checked: 3 * n * dim });
    break;
  }
  case 'ssp':
  case 'bsp':
  case 'asp': {
    // Worker 0 runs ahead; worker 1 lags 1.5 s before each clock. Events carry wall-clock
    // times (one machine, one clock) so the test can check their order.
    const consistency = scenario === 'ssp' ? { mode: 'ssp' as const, staleness: 1 } : { mode: scenario };
    const t = await ps.table(`t_${scenario}`, { dim: 1, consistency });
    const key = new BigUint64Array([42n]);
    await comm.barrier();
    const events: Array<[string, number]> = [];
    if (rank === 0) {
      for (let c = 1; c <= 3; c++) {
        await ps.clock();
        await t.pull(key);
        events.push([`pull@${c}`, Date.now()]);
      }
    } else {
      for (let c = 1; c <= 3; c++) {
        await new Promise((r) => setTimeout(r, 1500));
        events.push([`clock${c}`, Date.now()]);
        await ps.clock();
      }
    }
    result({ events });
    break;
  }
  case 'failover':
  case 'failover-large':
  case 'failover-injected': {
    // Every worker adds 1 to each of 300 keys per round; worker 0 SIGKILLs one server in the
    // middle (failover-injected: a fault-injection rule kills it). Acknowledged rounds are
    // counted; at the end every key must equal the sum of acknowledged rounds over workers, exactly.
    // failover-large: 300 000 keys, so each push is several messages per server.
    const large = scenario === 'failover-large';
    const t = await ps.table('counts', { dim: 1, updater: { type: 'add' } });
    const keys = new BigUint64Array(large ? 300_000 : 300);
    for (let i = 0; i < keys.length; i++) keys[i] = BigInt(i) * 1000003n + 17n;
    const ones = new Float32Array(keys.length).fill(1);
    let acked = 0;
    let killed = -1;
    const rounds = large ? 16 : 60;
    for (let round = 0; round < rounds; round++) {
      if (scenario !== 'failover-injected' && rank === 0 && round === Math.floor(rounds / 3)) {
        const stats = (await ps.stats()) as Array<{ rank: number; pid: number }>;
        const victim = stats.find((s) => s.rank === 1)!;
        process.kill(victim.pid, 'SIGKILL');
        killed = victim.rank;
      }
      await t.push(keys, ones);
      acked++;
      if (process.env.SHOAL_TEST_DEBUG) process.stderr.write(`round ${round} acked ${Date.now()}\n`);
      if (scenario === 'failover-injected') process.stdout.write(`push ${round} acked\n`);
    }
    const total = new Float64Array([acked]);
    await comm.allReduce(total);
    const rows = await t.pull(keys);
    const wrong = Array.from(rows).filter((v) => v !== total[0]).length;
    result({ acked, total: total[0], wrong, killed, sample: rows[0] });
    break;
  }
  case 'snapshot': {
    const t = await ps.table('snap', { dim: 2, updater: { type: 'adagrad', lr: 0.1 }, init: { type: 'normal', std: 0.1, seed: 3 } });
    // A name with every punctuation mark the table-name rule allows survives save and load.
    const quoted = await ps.table('q.name:with-punct_1', { dim: 1, updater: { type: 'add' } });
    const one = new BigUint64Array([1n]);
    const keys = keysFor(rank, 500);
    const g = new Float32Array(keys.length * 2).fill(0.5);
    await t.push(keys, g);
    if (rank === 0) await quoted.push(one, new Float32Array([5]));
    await comm.barrier();
    let dir = '';
    if (rank === 0) {
      dir = mkdtempSync(join(tmpdir(), 'shoal-ps-'));
      await ps.save(dir);
    }
    await comm.barrier();
    const all = keysFor(0, 500);
    const before = await t.pull(all);
    await t.push(keys, g); // change the model after the snapshot
    await comm.barrier();
    const changed = await t.pull(all);
    await comm.barrier();
    const outcome: Record<string, unknown> = {};
    if (rank === 0) {
      await quoted.push(one, new Float32Array([1]));
      await ps.load(dir);
      outcome.quotedName = (await quoted.pull(one))[0];
      const after = await t.pull(all);
      outcome.restored = after.every((v, i) => v === before[i]);
      outcome.changedBeforeLoad = changed.some((v, i) => v !== before[i]);
      // ps.save() wrote a generation and pointed CURRENT at it (lib/ps/snapshot_dir.ts).
      const gen = currentSnapshotDir(dir);
      outcome.generation = gen !== dir;
      const secret = process.env.SHOAL_TOKEN!;
      const refusal = (): Promise<string> => ps.load(dir).then(() => 'loaded', (e: Error) => e.message);
      const shard = readdirSync(gen).find((f) => f.startsWith('snap.') && f.endsWith('.shard'))!;
      const original = readFileSync(join(gen, shard));
      const manifestText = readFileSync(join(gen, 'manifest.json'), 'utf8');
      // Flip one byte of a shard file: load must refuse it.
      const flipped = Buffer.from(original);
      flipped[flipped.length - 20] = flipped[flipped.length - 20]! ^ 0xff;
      writeFileSync(join(gen, shard), flipped);
      outcome.corrupt = await refusal();
      writeFileSync(join(gen, shard), original.subarray(0, original.length - 30));
      outcome.truncated = await refusal();
      writeFileSync(join(gen, shard), original);
      // A file the manifest does not list is never read, whatever it holds.
      writeFileSync(join(gen, 'snap.7.shard'), Buffer.from('not a shard file'));
      outcome.unlistedIgnored = await refusal();
      // An edited manifest, and a snapshot of a job with another secret.
      writeFileSync(join(gen, 'manifest.json'), manifestText.replace('"keys": ', '"keys": 1'));
      outcome.tamperedManifest = await refusal();
      writeFileSync(join(gen, 'manifest.json'), manifestText);
      await writeManifest(gen, (JSON.parse(manifestText) as { shards: ShardEntry[] }).shards, 'the secret of another job');
      outcome.foreign = await refusal();
      // The crafted file that used to crash every server: its row count overflows
      // rows * (8 + 4 * rowFloats) to the 0 bytes that follow; it is listed in a manifest
      // signed with the job's own secret, so it reaches the servers' parser.
      await writeSignedSnapshot(gen, new Map([['snap.0.shard', withRowCount(original, 1n << 61n)]]), secret);
      outcome.overflow = await refusal();
      outcome.serversAlive = (await ps.stats()).length;
      outcome.manifest = (JSON.parse(manifestText) as { shards: unknown[] }).shards.length;
    }
    await comm.barrier();
    // The servers wrote into rank 0's directory; nothing reads it after the barrier.
    if (dir) rmSync(dir, { recursive: true, force: true });
    result(outcome);
    break;
  }
  case 'errors': {
    const t = await ps.table('e', { dim: 4 });
    const out: Record<string, string> = {};
    out.mismatchedSpec = await ps.table('e', { dim: 8 }).then(() => 'ok', (e: Error) => e.message);
    out.badValues = await t.push(new BigUint64Array([1n, 2n]), new Float32Array(7)).then(() => 'ok', (e: Error) => `${e.name}: ${e.message}`);
    out.badKeys = await t.pull([1, 2] as never).then(() => 'ok', (e: Error) => `${e.name}: ${e.message}`);
    out.badUpdater = await ps.table('f', { updater: { type: 'rmsprop' } as never }).then(() => 'ok', (e: Error) => e.message);
    out.badStaleness = await ps.table('g', { consistency: { mode: 'ssp', staleness: -1 } }).then(() => 'ok', (e: Error) => e.message);
    const v = await t.pull(new BigUint64Array([1n, 2n]));
    out.untouched = Array.from(v).join(',');
    result(out);
    break;
  }
  case 'custom': {
    // Runs with --ps-updaters test/fixtures/ps_updaters.mjs.
    const t = await ps.table('clip', { dim: 2, updater: { type: 'custom', name: 'clipped' } });
    const keys = new BigUint64Array([7n, 9n]);
    await t.push(keys, new Float32Array([1, -1, 0.5, 0.5])); // every worker pushes the same
    await comm.barrier();
    const rows = await t.pull(keys);
    const bad = await ps.table('bad', { updater: { type: 'custom', name: 'refuses' } });
    const refused = await bad.push(new BigUint64Array([1n]), new Float32Array([1])).then(() => 'ok', (e: Error) => e.message);
    const unknown = await ps.table('nope', { updater: { type: 'custom', name: 'notExported' } }).then(() => 'ok', (e: Error) => e.message);
    result({ rows: Array.from(rows), refused, unknown });
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
await comm.close();
