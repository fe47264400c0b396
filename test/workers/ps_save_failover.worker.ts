// Rank program (np 1, 2 servers, replication 2) for ps_save_failover.test.ts: fills a table,
// then saves it while server 1 is killed by fault injection as the save reaches it. A save
// that fails with PeerLostError is tried again (the servers and this worker may learn of the
// loss at different times). The table is then overwritten, loaded back from the snapshot and
// compared key by key. Prints `RESULT {json}`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PeerLostError } from '../../lib/errors.js';
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
  const errors: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      await ps.save(dir);
      break;
    } catch (err) {
      if (!(err instanceof PeerLostError) || attempt >= 200) throw err;
      errors.push((err as Error).message);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const manifest = JSON.parse(readFileSync(join(currentSnapshotDir(dir), 'manifest.json'), 'utf8')) as { shards: Array<{ table: string; keys: number }> };
  const savedKeys = manifest.shards.filter((s) => s.table === 'save.rows').reduce((n, s) => n + s.keys, 0);
  // Change every row, then restore them from the snapshot: a key it lacks keeps the new value.
  await table.push(keys, new Float32Array(KEYS).fill(1000));
  await ps.load(dir);
  const rows = await table.pull(keys);
  let wrong = 0;
  for (let i = 0; i < KEYS; i++) if (rows[i] !== want[i]) wrong++;
  const servers = ((await ps.stats()) as Array<{ rank: number }>).map((s) => s.rank);
  console.log(`RESULT ${JSON.stringify({ keys: KEYS, savedKeys, wrong, failedSaves: errors.length, firstError: errors[0] ?? null, servers })}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
await comm.close();
