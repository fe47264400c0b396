// Rank program (np 1, 2 servers, replication 2) for ps_save_failover.test.ts: fills a table,
// then saves it while server 1 is killed by fault injection as the save reaches it. A save
// cut short by the loss is written again inside ps.save (the servers and this worker may learn of the
// loss at different times). The table is then overwritten, loaded back from the snapshot and
// compared key by key. Prints `RESULT {json}`.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { init } from '../../lib/index.js';
import { currentSnapshotDir } from '../../lib/ps/snapshot_dir.js';

const KEYS = 400;
const comm = await init();
const ps = comm.ps;
const table = await ps.table('save.rows', { dim: 1, updater: { type: 'add' } });
const keys = new BigUint64Array(KEYS);
const want = new Float32Array(KEYS);
for (let i = 0; i < KEYS; i++) {
  keys[i] = BigInt.asUintN(64, BigInt(i + 1) * 0x9e3779b97f4a7c15n);
  want[i] = i + 1;
}
await table.push(keys, want);

const dir = mkdtempSync(join(tmpdir(), 'shoal-save-failover-'));
try {
  // ps.save writes again by itself when a server loss cuts a save short (lib/ps/client.ts).
  await ps.save(dir);
  const generations = readdirSync(dir).filter((f) => f.startsWith('gen-')).length;
  const manifest = JSON.parse(readFileSync(join(currentSnapshotDir(dir), 'manifest.json'), 'utf8')) as { shards: Array<{ table: string; keys: number }> };
  const savedKeys = manifest.shards.filter((s) => s.table === 'save.rows').reduce((n, s) => n + s.keys, 0);
  // Change every row, then restore them from the snapshot: a key it lacks keeps the new value.
  await table.push(keys, new Float32Array(KEYS).fill(1000));
  await ps.load(dir);
  const rows = await table.pull(keys);
  let wrong = 0;
  for (let i = 0; i < KEYS; i++) if (rows[i] !== want[i]) wrong++;
  const servers = ((await ps.stats()) as Array<{ rank: number }>).map((s) => s.rank);
  console.log(`RESULT ${JSON.stringify({ keys: KEYS, savedKeys, wrong, failedSaves: ps.saveRetries, generations, servers })}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
await comm.close();
