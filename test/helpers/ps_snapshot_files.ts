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

/** A shard file as native/psnet/snapshot.cc writes it (version 2), built here for tests. */
export function encodeShardFile(table: string, dim: number, updater: 'add' | 'adagrad', rows: Array<[bigint, number[]]>): Buffer {
  const name = Buffer.from(table, 'utf8');
  const rowFloats = updater === 'adagrad' ? 2 * dim : dim;
  const head = Buffer.alloc(NAME_OFFSET);
  head.write('SHOALSNP', 0, 'latin1');
  head.writeUInt32LE(2, 8);
  head.writeUInt32LE(dim, SPEC_OFFSET);
  head.writeUInt8(updater === 'adagrad' ? 3 : 1, SPEC_OFFSET + 4);  // ps::UpdaterKind
  head.writeFloatLE(0.1, SPEC_OFFSET + 12);  // lr
  head.writeFloatLE(1e-8, SPEC_OFFSET + 16);  // eps
  head.writeUInt32LE(name.length, NAME_BYTES_OFFSET);
  const counts = Buffer.alloc(12);
  counts.writeBigUInt64LE(BigInt(rows.length), 0);
  counts.writeUInt32LE(rowFloats, 8);
  const body = Buffer.alloc(rows.length * (8 + 4 * rowFloats));
  rows.forEach(([key, values], i) => {
    const at = i * (8 + 4 * rowFloats);
    body.writeBigUInt64LE(key, at);
    for (let j = 0; j < rowFloats; j++) body.writeFloatLE(values[j] ?? 0, at + 8 + 4 * j);
  });
  return Buffer.concat([head, name, counts, body]);
}
