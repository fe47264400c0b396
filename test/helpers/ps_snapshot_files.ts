// Reading and forging PS snapshot files in tests: the layout of native/psnet/snapshot.h
// (version 2) and a manifest re-signed with a chosen secret, so a test can hand the loader a
// file that passes the manifest's checks and reaches the shard parser.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { writeManifest, type ShardEntry } from '../../lib/ps/snapshot_manifest.js';

/** Byte offsets in a shard file: magic 8, version 4, TableSpec 68 (nameBytes last), name, rows u64, rowFloats u32. */
export const SPEC_OFFSET = 12;
export const NAME_BYTES_OFFSET = SPEC_OFFSET + 64;
export const NAME_OFFSET = SPEC_OFFSET + 68;

export function rowsOffset(file: Uint8Array): number {
  return NAME_OFFSET + Buffer.from(file).readUInt32LE(NAME_BYTES_OFFSET);
}

/** A copy of a shard file's header claiming `rows` rows, followed by `body` bytes of rows. */
export function withRowCount(file: Uint8Array, rows: bigint, body: Uint8Array = new Uint8Array(0)): Buffer {
  const at = rowsOffset(file);
  const head = Buffer.from(file.subarray(0, at + 12));
  head.writeBigUInt64LE(rows, at);
  return Buffer.concat([head, body]);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Rewrites gen's manifest for `files` (name -> bytes, written too), signed with the job token `secret`. */
export async function writeSignedSnapshot(gen: string, files: Map<string, Uint8Array>, secret: string): Promise<void> {
  const shards: ShardEntry[] = [];
  for (const [file, bytes] of files) {
    writeFileSync(join(gen, file), bytes);
    shards.push({ table: 'forged', file, keys: 0, bytes: bytes.length, sha256: sha256Hex(bytes) });
  }
  await writeManifest(gen, shards, secret);
}

export function readManifestJson(gen: string): { shards: ShardEntry[]; [k: string]: unknown } {
  return JSON.parse(readFileSync(join(gen, 'manifest.json'), 'utf8')) as { shards: ShardEntry[] };
}
