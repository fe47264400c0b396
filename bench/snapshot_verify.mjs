// What verifying a PS shard file costs on load: read + parse vs read + SHA-256 + parse of one
// 40 MB shard (1M rows, dim 8), the work each server does per listed file (twice: the verify
// pass, then the load pass). node bench/snapshot_verify.mjs (after npm run build)
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { native } from '../dist/lib/native.js';
import { encodeShardFile } from '../dist/test/helpers/ps_snapshot_files.js';

const rows = 1_000_000;
const dim = 8;
const head = encodeShardFile('w', dim, 'add', []);
head.writeBigUInt64LE(BigInt(rows), head.length - 12);
const body = Buffer.alloc(rows * (8 + 4 * dim));
for (let i = 0; i < rows; i++) body.writeBigUInt64LE(BigInt(i + 1), i * (8 + 4 * dim));
const file = Buffer.concat([head, body]);
const dir = mkdtempSync(join(tmpdir(), 'shoal-snapbench-'));
writeFileSync(join(dir, 'w.0.shard'), file);
const listing = `${dir}\n${createHash('sha256').update(file).digest('hex')} ${file.length} w.0.shard\n`;
const mb = file.length / 1e6;
for (let i = 0; i < 3; i++) {
  let t = performance.now();
  native.inspectPsShard(join(dir, 'w.0.shard'));
  const parse = performance.now() - t;
  t = performance.now();
  native.verifyPsSnapshot(listing);
  const verify = performance.now() - t;
  console.log(`${mb.toFixed(1)} MB: read+parse ${parse.toFixed(0)} ms, read+SHA-256+parse ${verify.toFixed(0)} ms (SHA-256 about ${(mb / ((verify - parse) / 1e3)).toFixed(0)} MB/s)`);
}
rmSync(dir, { recursive: true, force: true });
