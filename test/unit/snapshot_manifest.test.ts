// The PS snapshot manifest and the servers' listing of it: the MAC is checked before any
// file is named to the servers, a listing names plain shard files only, and the native
// verification refuses files that differ from it. Every refusal names the file.
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { native } from '../../lib/native.js';
import { readManifestListing, writeManifest } from '../../lib/ps/snapshot_manifest.js';
import { encodeShardFile, sha256Hex } from '../helpers/ps_snapshot_files.js';

const snapshot = native as unknown as { verifyPsSnapshot(listing: string): void };
const SECRET = 'manifest-test-secret';

async function generation(t: import('ava').ExecutionContext): Promise<{ gen: string; file: Buffer }> {
  const gen = mkdtempSync(join(tmpdir(), 'shoal-manifest-'));
  t.teardown(() => rmSync(gen, { recursive: true, force: true }));
  const file = encodeShardFile('w', 2, 'add', [[3n, [1, 2]]]);
  writeFileSync(join(gen, 'w.0.shard'), file);
  await writeManifest(gen, [{ table: 'w', file: 'w.0.shard', keys: 1, bytes: file.length, sha256: sha256Hex(file) }], SECRET);
  return { gen, file };
}

test('a manifest verifies with its secret and lists its files for the servers', async (t) => {
  const { gen, file } = await generation(t);
  const listing = readManifestListing(gen, 'ps.load', SECRET);
  t.is(listing, `${gen}\n${sha256Hex(file)} ${file.length} w.0.shard\n`);
  t.notThrows(() => snapshot.verifyPsSnapshot(listing));
});

test('another secret, no secret, an edited manifest, an old version and a missing manifest are refused naming manifest.json', async (t) => {
  const { gen } = await generation(t);
  const path = join(gen, 'manifest.json');
  t.throws(() => readManifestListing(gen, 'ps.load', 'another secret'), { message: `ps.load: ${path} was written by another job or with another secret, or was changed since (its HMAC-SHA256 does not verify with this job's SHOAL_TOKEN): run with the SHOAL_TOKEN of the job that wrote it (shoal run keeps a SHOAL_TOKEN set in its environment)` });
  t.throws(() => readManifestListing(gen, 'ps.load', null), { message: /manifest\.json is signed with a job secret and this job has none/ });
  const text = readFileSync(path, 'utf8');
  writeFileSync(path, text.replace('"w.0.shard"', '"x.0.shard"'));
  t.throws(() => readManifestListing(gen, 'ps.load', SECRET), { message: /manifest\.json was written by another job or with another secret, or was changed since/ });
  writeFileSync(path, JSON.stringify({ ...JSON.parse(text), version: 1 }));
  t.throws(() => readManifestListing(gen, 'ps.load', SECRET), { message: /manifest\.json has version 1, this build reads 2 \(an unsigned snapshot of an older Shoal: save it again with this one\)/ });
  writeFileSync(path, '{"format":"shoal-ps-snapshot"');
  t.throws(() => readManifestListing(gen, 'ps.load', SECRET), { message: /manifest\.json is missing or not JSON/ });
  rmSync(path);
  t.throws(() => readManifestListing(gen, 'ps.load', SECRET), { message: /manifest\.json is missing or not JSON \(ENOENT/ });
});

test('a signed manifest naming a path outside the snapshot is refused, in JS and by the native listing parser', async (t) => {
  const { gen, file } = await generation(t);
  for (const name of ['../w.0.shard', '/etc/passwd', '.hidden.shard', 'w.0.shard\nx', 'notes.txt']) {
    await writeManifest(gen, [{ table: 'w', file: name, keys: 1, bytes: file.length, sha256: sha256Hex(file) }], SECRET);
    t.throws(() => readManifestListing(gen, 'ps.load', SECRET), { message: /manifest\.json has an invalid shard entry 0/ }, name);
    t.throws(() => snapshot.verifyPsSnapshot(`${gen}\n${sha256Hex(file)} ${file.length} ${name}\n`), { message: /snapshot listing line \d/ }, name);
  }
  t.throws(() => snapshot.verifyPsSnapshot(`${gen}\n${sha256Hex(file)} 99999999999999999999 w.0.shard\n`), { message: /bad byte count/ });
  t.throws(() => snapshot.verifyPsSnapshot(`${gen}\nABC 1 w.0.shard\n`), { message: /the SHA-256 must be 64 lowercase hex digits/ });
  t.throws(() => snapshot.verifyPsSnapshot(`${gen}\n${sha256Hex(file)} ${file.length} w.0.shard\n${sha256Hex(file)} ${file.length} w.0.shard\n`), { message: /listed twice/ });
  t.throws(() => snapshot.verifyPsSnapshot(''), { message: /non-empty string/ });
});

test('listed files that are missing, a directory, or differ from the manifest are refused naming the file', async (t) => {
  const { gen, file } = await generation(t);
  const line = (name: string, bytes: Uint8Array): string => `${gen}\n${sha256Hex(bytes)} ${bytes.length} ${name}\n`;
  t.throws(() => snapshot.verifyPsSnapshot(line('gone.0.shard', file)), { message: new RegExp(`cannot read snapshot file ${gen}/gone\\.0\\.shard: .*No such file`) });
  mkdirSync(join(gen, 'dir.0.shard'));
  t.throws(() => snapshot.verifyPsSnapshot(line('dir.0.shard', file)), { message: new RegExp(`snapshot file ${gen}/dir\\.0\\.shard is not a regular file`) });
  const other = encodeShardFile('w', 2, 'add', [[4n, [1, 2]]]);
  t.throws(() => snapshot.verifyPsSnapshot(line('w.0.shard', other)), { message: `verifyPsSnapshot: snapshot file ${gen}/w.0.shard does not match the manifest (SHA-256 differs: the file was changed or corrupted)` });
  t.throws(() => snapshot.verifyPsSnapshot(line('w.0.shard', Buffer.concat([file, Buffer.alloc(1)]))), { message: new RegExp(`${gen}/w\\.0\\.shard is ${file.length} bytes, the manifest says ${file.length + 1} \\(truncated\\)`) });
});
