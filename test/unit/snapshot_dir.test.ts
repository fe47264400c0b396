// Snapshot generations: an unpublished (crashed) save never replaces the current snapshot,
// publishing switches atomically and removes older generations, and a plain directory
// (the layout before generations) still reads as a snapshot.
import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CURRENT_FILE, currentSnapshotDir, newGeneration, publishGeneration } from '../../lib/ps/snapshot_dir.js';

test('a save that never published leaves the previous snapshot current', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.is(currentSnapshotDir(dir), dir, 'no CURRENT: the directory itself');
  const first = await newGeneration(dir);
  writeFileSync(join(first, 'manifest.json'), '{}');
  await publishGeneration(dir, first);
  t.is(currentSnapshotDir(dir), first);
  await new Promise((r) => setTimeout(r, 5));
  const crashed = await newGeneration(dir);  // the job dies before publishing
  writeFileSync(join(crashed, 'half.shard'), 'x');
  t.is(currentSnapshotDir(dir), first);
  await new Promise((r) => setTimeout(r, 5));
  const second = await newGeneration(dir);
  await publishGeneration(dir, second);
  t.is(currentSnapshotDir(dir), second);
  t.false(existsSync(first), 'older generations are removed after the switch');
  t.false(existsSync(crashed));
  t.deepEqual(readdirSync(dir).sort(), [CURRENT_FILE, second.slice(dir.length + 1)].sort());
});

test('a CURRENT that names something else is refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, CURRENT_FILE), '../../etc\n');
  t.throws(() => currentSnapshotDir(dir), { message: /not a snapshot generation/ });
});
