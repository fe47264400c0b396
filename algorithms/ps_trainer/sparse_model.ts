// Saved models of the PS trainers: `{ format: 'shoal-model', version: 1, algorithm, ... }` as
// JSON. Feature ids and weights sit inline when small, else in a binary sidecar `FILE.bin`
// (little-endian: uint32 featureIds[count], then float32 values[count * dim]) that the JSON
// names. Written to a temporary name and renamed, so a reader never sees half a model.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Above this many keys the arrays go to the sidecar. */
export const INLINE_MAX_KEYS = 50_000;

export interface SparseRows {
  /** Feature ids (hashed when hashBits > 0), sorted. */
  featureIds: Uint32Array;
  /** `dim` floats per feature id. */
  values: Float32Array;
  dim: number;
}

/** What the JSON holds besides the arrays. */
export interface ModelHeader {
  format: 'shoal-model';
  version: 1;
  algorithm: string;
  [key: string]: unknown;
}

/** Writes header + rows (inline or sidecar). Returns the files written. */
export async function writeSparseModel(path: string, header: ModelHeader, rows: SparseRows): Promise<string[]> {
  const doc: Record<string, unknown> = { ...header, count: rows.featureIds.length, dim: rows.dim };
  const files = [path];
  if (rows.featureIds.length <= INLINE_MAX_KEYS) {
    doc['featureIds'] = Array.from(rows.featureIds);
    doc['values'] = Array.from(rows.values);
  } else {
    const bin = `${path}.bin`;
    const buf = Buffer.alloc(rows.featureIds.byteLength + rows.values.byteLength);
    Buffer.from(rows.featureIds.buffer, rows.featureIds.byteOffset, rows.featureIds.byteLength).copy(buf, 0);
    Buffer.from(rows.values.buffer, rows.values.byteOffset, rows.values.byteLength).copy(buf, rows.featureIds.byteLength);
    await atomicWrite(bin, buf);
    doc['sidecar'] = { file: basename(bin), layout: [{ name: 'featureIds', dtype: 'uint32' }, { name: 'values', dtype: 'float32' }] };
    files.push(bin);
  }
  await atomicWrite(path, JSON.stringify(doc) + '\n');
  return files;
}

/** Reads a model written by writeSparseModel. @throws Error naming the file when it is not one. */
export async function readSparseModel(path: string): Promise<{ header: ModelHeader; rows: SparseRows }> {
  const doc = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  if (doc['format'] !== 'shoal-model' || doc['version'] !== 1) throw new Error(`${path}: not a Shoal model (format 'shoal-model', version 1)`);
  const count = Number(doc['count']);
  const dim = Number(doc['dim']);
  let featureIds: Uint32Array;
  let values: Float32Array;
  const sidecar = doc['sidecar'] as { file?: string } | undefined;
  if (sidecar) {
    const bin = await readFile(join(dirname(path), String(sidecar.file)));
    if (bin.length !== count * 4 + count * dim * 4) throw new Error(`${path}: sidecar ${String(sidecar.file)} has ${bin.length} bytes, expected ${count * 4 * (1 + dim)}`);
    const copy = new Uint8Array(bin);
    featureIds = new Uint32Array(copy.buffer, 0, count);
    values = new Float32Array(copy.buffer, count * 4, count * dim);
  } else {
    featureIds = Uint32Array.from(doc['featureIds'] as number[]);
    values = Float32Array.from(doc['values'] as number[]);
  }
  const header = { ...doc } as ModelHeader;
  delete header['featureIds'];
  delete header['values'];
  return { header, rows: { featureIds, values, dim } };
}

async function atomicWrite(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
