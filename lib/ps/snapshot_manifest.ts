// The manifest of a PS snapshot generation (manifest.json): which shard files it has, each
// with its size and SHA-256, MACed with the job secret (lib/file_mac.ts). Loading trusts
// nothing else: the manifest's MAC is checked here, and the servers read only the files it
// lists, refusing any whose size or SHA-256 differs (native/psnet/snapshot.cc).
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { fileMac, macProblem } from '../file_mac.js';

export const MANIFEST_FILE = 'manifest.json';
const FORMAT = 'shoal-ps-snapshot';
const VERSION = 2;
const PURPOSE = 'shoal-ps-snapshot-v2';
const SHARD_FILE = /^[A-Za-z0-9_%-][A-Za-z0-9_%.-]{0,240}\.shard$/;

/** One server's file of one table, as the servers report it after a save. */
export interface ShardEntry {
  table: string;
  file: string;
  keys: number;
  bytes: number;
  sha256: string;
}

interface Manifest {
  format: string;
  version: number;
  savedAt: string;
  signed: boolean;
  shards: ShardEntry[];
}

const macOf = (body: Manifest, secret: string | null): Buffer => fileMac(secret, PURPOSE, [Buffer.from(JSON.stringify(body))]);

/** Writes `gen`/manifest.json (temporary file + rename), MACed with the job secret (the job's token). */
export async function writeManifest(gen: string, shards: ShardEntry[], secret: string | null): Promise<void> {
  const body: Manifest = { format: FORMAT, version: VERSION, savedAt: new Date().toISOString(), signed: secret !== null, shards };
  const text = JSON.stringify({ ...body, mac: macOf(body, secret).toString('hex') }, null, 2);
  const tmp = join(gen, `${MANIFEST_FILE}.tmp-${process.pid}`);
  await writeFile(tmp, text);
  await rename(tmp, join(gen, MANIFEST_FILE));
}

/**
 * Reads and verifies `gen`/manifest.json; returns the listing the native loader takes
 * ("dir\n" then "sha256 bytes file\n" per shard). Errors start with `who` and name the file.
 */
export function readManifestListing(gen: string, who: string, secret: string | null): string {
  const path = join(gen, MANIFEST_FILE);
  const bad = (why: string): never => {
    throw new Error(`${who}: ${path} ${why}`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return bad(`is missing or not JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as Manifest).format !== FORMAT) bad('is not a Shoal snapshot manifest');
  const { mac, ...body } = parsed as Manifest & { mac?: unknown };
  if (body.version !== VERSION) {
    bad(`has version ${JSON.stringify(body.version)}, this build reads ${VERSION}${body.version === 1 ? ' (an unsigned snapshot of an older Shoal: save it again with this one)' : ''}`);
  }
  if (typeof mac !== 'string' || !/^[0-9a-f]{64}$/.test(mac) || typeof body.signed !== 'boolean') bad('has no valid MAC');
  const problem = macProblem(secret, body.signed, Buffer.from(mac as string, 'hex'), PURPOSE, [Buffer.from(JSON.stringify(body))]);
  if (problem) bad(problem);
  if (!Array.isArray(body.shards)) bad('has no shard list');
  const lines = [gen];
  for (const [i, s] of body.shards.entries()) {
    const ok = typeof s === 'object' && s !== null && typeof s.file === 'string' && SHARD_FILE.test(s.file) &&
      typeof s.sha256 === 'string' && /^[0-9a-f]{64}$/.test(s.sha256) && Number.isSafeInteger(s.bytes) && s.bytes >= 0;
    if (!ok) bad(`has an invalid shard entry ${i}: ${JSON.stringify(s).slice(0, 200)}`);
    lines.push(`${s.sha256} ${s.bytes} ${s.file}`);
  }
  return `${lines.join('\n')}\n`;
}
