// readLibsvm: reads this rank's share of libsvm/svmlight files (optionally gzipped) into a
// CsrMatrix. This module decides which files and byte ranges a rank reads, finds and parses
// the side files (FILE.weight, FILE.query), decompresses gzip, and maps native errors onto
// DataError; the grammar, the split inside a file, gzip inflation and the parse itself live
// in native/data/ and run off the JS thread.
//
// Split rule. With at least `size` files, rank r reads files i with i % size === r, whole.
// Otherwise every rank reads every file and takes, from a file of B bytes, the rows whose
// line STARTS in [floor(r*B/size), floor((r+1)*B/size)). Concatenating the ranks' rows in
// rank order gives the files' rows in order, each exactly once. When the file has queries,
// the unit is a query instead of a line: a rank takes the queries whose first row starts in
// its range, whole, so no query is split across ranks (ranks may then differ more in size).
// Queries come from FILE.query group sizes when present, else from qid: fields (a query is a
// run of consecutive rows with the same qid); rows without a qid are queries of one row.
//
// Costs. A plain file is read with pread, one rank's byte range (plus the end of its last
// query). With a weight or .query file, a rank also scans the bytes before its range once to
// count rows (fast, but the last rank reads the whole file). A gzip file is split exactly like
// its decompressed text (same rows per rank as the plain file) but cannot be entered in the
// middle: it is inflated in 1 MiB steps as the parser reads it, keeping only a few MiB of
// text, so memory stays bounded whatever the file's size. One rank reading a whole .gz file
// inflates it once; with size > 1 every rank first inflates the whole file once to learn the
// decompressed size (B above), then inflates again up to the end of its share, skipping the
// lines before it: time, not memory, grows with the file.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import { describe, invalidArgument, type ErrorCode } from '../errors.js';
import { native, type NativeReadOptions, type NativeReadResult, type NativeSource } from '../native.js';
import type { CsrMatrix } from './csr.js';
import { DataError } from './data_error.js';

export interface ReadOptions {
  /** This rank reads only its share (default 0 of 1). */
  rank?: number;
  size?: number;
  /** Hash feature ids into [0, 2^hashBits), 1..32. Lets ids of 2^32 and more through. */
  hashBits?: number;
  /** Count and skip malformed lines instead of throwing (see ReadResult.skippedLines). */
  skipBadLines?: boolean;
  /**
   * Feature ids (after hashing) must be below this, else the read fails at the first line with
   * a larger id, even with skipBadLines: a dense model sized maxFeatureId + 1 would not fit.
   * Default 2^32 (no limit beyond the uint32 ids).
   */
  maxFeatures?: number;
  /** Appended to the maxFeatures error: what the limit is and how to get past it. */
  maxFeaturesHint?: string;
  /** Labels must be -1, 0 or 1 (binary classification); others fail with FILE:LINE:COLUMN. */
  binaryLabels?: boolean;
  /**
   * Ids are 64-bit keys (any value up to 2^64-1; a model sharded on the parameter servers):
   * featureIds become this rank's local indices 0..k-1 into `keys`, its distinct ids in
   * first-seen order. Excludes hashBits and maxFeatures.
   */
  keyIds?: boolean;
  /**
   * Per-line weights; default: FILE.weight next to the data if it exists (LightGBM convention;
   * for FILE.gz also FILE-without-.gz.weight); false: never. A name is allowed only with one data file.
   */
  weightFile?: string | false;
  /** Group sizes, one per line; default: FILE.query next to the data if it exists; false: never. A name is allowed only with one data file. */
  queryFile?: string | false;
}

export interface ReadResult extends CsrMatrix {
  /** Malformed lines skipped because of skipBadLines (0 otherwise). */
  skippedLines: number;
  /** Bytes of text this rank parsed (decompressed bytes for gzip). */
  bytes: number;
  /** The data files this rank read, in order. */
  files: string[];
  /** The messages ("FILE:LINE:COLUMN: what") of the first 10 skipped lines. */
  skipped: string[];
  /** keyIds: the id of each local index (featureIds index it). */
  keys?: BigUint64Array;
}

const OP = 'readLibsvm';

/**
 * Reads this rank's share of one or more libsvm files (`label [qid:Q] id:value ... # comment`;
 * `.gz` files are inflated as they are parsed, in bounded memory) into CSR arrays. Labels and
 * values must be finite float32 numbers (nan, inf, 1e39 fail with FILE:LINE:COLUMN).
 *
 * Ranks call it with the same `paths` and their own `rank`/`size`; no communication happens.
 * Row order is file order. Feature ids are kept as written (1-based ids stay 1-based).
 * Weights (FILE.weight, one number per row) and query groups (FILE.query, one group size per
 * line) follow the rows this rank gets; a row is every line that is not blank or
 * comment-only, malformed or not. When files have queries, a query is never split across
 * ranks. The parse runs on a libuv worker thread; the JS thread stays free.
 *
 * Buffer lifetime: the returned arrays are backed by memory the native parser allocated, owned
 * by the arrays (freed when they are collected). They are never copied or reused by Shoal.
 *
 * @param paths one file or a list of files, read as if concatenated in this order.
 * @param options rank/size share, hashBits, skipBadLines, maxFeatures, binaryLabels, weightFile, queryFile.
 * @returns the rows, plus `skippedLines`, `skipped` (first messages), `bytes` and `files`.
 * @throws {TypeError|RangeError} ERR_INVALID_ARGUMENT for bad arguments.
 * @throws {DataError} ERR_INVALID_ARGUMENT for malformed data, e.g. `a9a.t:1234:17: expected ':'
 *   after feature id, found 'x'` (with `file`, `line`, `column`); ERR_IO when a file cannot be read.
 * @example
 * const train = await readLibsvm('data/a9a', { rank: comm.rank, size: comm.size });
 * for (let i = 0; i < train.numRows; i++) {
 *   for (let k = train.rowPtr[i]!; k < train.rowPtr[i + 1]!; k++) use(train.featureIds[k]!, train.values[k]!);
 * }
 */
export async function readLibsvm(paths: string | string[], options: ReadOptions = {}): Promise<ReadResult> {
  const files = checkPaths(paths);
  const { rank, size, native: nativeOptions } = checkOptions(options, files.length);

  const wholeFiles = files.length >= size;
  const mine = wholeFiles ? files.filter((_, i) => i % size === rank) : files;

  // Query ids from .query files are numbered across the whole list (qidBase), so they are
  // unique however the list is split; that needs the group counts of the files before ours.
  const queryFiles = files.map((f) => sideFile(f, options.queryFile, '.query'));
  const lastMine = wholeFiles ? rank + size * Math.floor((files.length - 1 - rank) / size) : files.length - 1;
  const groups: Array<Uint32Array | undefined> = [];
  for (let i = 0; i <= lastMine; i++) {
    const q = queryFiles[i];
    groups.push(q === undefined ? undefined : await readGroupSizes(q));
  }

  const sources: NativeSource[] = [];
  let qidBase = 0;
  for (let i = 0; i <= lastMine; i++) {
    const file = files[i] as string;
    const g = groups[i];
    const isMine = wholeFiles ? i % size === rank : true;
    if (isMine) {
      const src: NativeSource = { name: file, rank: wholeFiles ? 0 : rank, size: wholeFiles ? 1 : size };
      src.path = file;
      if (file.endsWith('.gz')) src.gzip = true;
      if (g !== undefined) {
        src.groupSizes = g;
        src.groupsName = queryFiles[i] as string;
        src.qidBase = qidBase;
      }
      const w = sideFile(file, options.weightFile, '.weight');
      if (w !== undefined) {
        src.weights = await readWeights(w);
        src.weightsName = w;
      }
      sources.push(src);
    }
    qidBase += g?.length ?? 0;
    if (qidBase > 0xfffffffe) throw new DataError('ERR_INVALID_ARGUMENT', `${OP}: more than 2^32-2 queries in ${describe(paths)}`);
  }

  let r: NativeReadResult;
  try {
    r = await native.readLibsvm(sources, nativeOptions);
  } catch (err) {
    throw toDataError(err);
  }
  return {
    numRows: r.numRows,
    rowPtr: r.rowPtr,
    featureIds: r.featureIds,
    values: r.values,
    labels: r.labels,
    weights: r.weights,
    qids: r.qids,
    maxFeatureId: r.maxFeatureId,
    skippedLines: r.skippedLines,
    skipped: r.skipped,
    bytes: r.bytes,
    files: mine,
    ...(r.keys ? { keys: r.keys } : {}),
  };
}

/**
 * The bucket readLibsvm's `hashBits` puts feature id `id` in (a salted splitmix64 finalizer,
 * top `bits` bits). Use it to hash ids that do not come from a file the same way.
 * @throws {RangeError} when id is negative or not an integer, or bits is not in 1..32.
 */
export function hashFeatureId(id: number | bigint, bits: number): number {
  return native.hashFeatureId(id, bits);
}

function checkPaths(paths: string | string[]): string[] {
  const list = typeof paths === 'string' ? [paths] : paths;
  if (!Array.isArray(list) || list.length === 0 || !list.every((p) => typeof p === 'string' && p.length > 0)) {
    throw invalidArgument(OP, 'paths', 'a file name or a non-empty array of file names', paths);
  }
  return [...list];
}

function checkOptions(o: ReadOptions, numFiles: number): { rank: number; size: number; native: NativeReadOptions } {
  if (o === null || typeof o !== 'object') throw invalidArgument(OP, 'options', 'an object', o);
  const size = o.size ?? 1;
  if (!Number.isInteger(size) || size < 1 || size > 2 ** 30) throw invalidArgument(OP, 'size', 'an integer >= 1', size, true);
  const rank = o.rank ?? 0;
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) throw invalidArgument(OP, 'rank', `an integer in [0, ${size - 1}]`, rank, true);
  const hashBits = o.hashBits ?? 0;
  if (o.hashBits !== undefined && (!Number.isInteger(hashBits) || hashBits < 1 || hashBits > 32)) {
    throw invalidArgument(OP, 'hashBits', 'an integer in [1, 32]', o.hashBits, true);
  }
  if (o.skipBadLines !== undefined && typeof o.skipBadLines !== 'boolean') throw invalidArgument(OP, 'skipBadLines', 'a boolean', o.skipBadLines);
  if (o.binaryLabels !== undefined && typeof o.binaryLabels !== 'boolean') throw invalidArgument(OP, 'binaryLabels', 'a boolean', o.binaryLabels);
  if (o.maxFeatures !== undefined && (!Number.isInteger(o.maxFeatures) || o.maxFeatures < 1 || o.maxFeatures > 2 ** 32)) {
    throw invalidArgument(OP, 'maxFeatures', 'an integer in [1, 2^32]', o.maxFeatures, true);
  }
  if (o.maxFeaturesHint !== undefined && typeof o.maxFeaturesHint !== 'string') throw invalidArgument(OP, 'maxFeaturesHint', 'a string', o.maxFeaturesHint);
  for (const key of ['weightFile', 'queryFile'] as const) {
    const v = o[key];
    if (v === undefined || v === false) continue;
    if (typeof v !== 'string' || v.length === 0) throw invalidArgument(OP, key, 'a file name or false', v);
    if (numFiles !== 1) throw invalidArgument(OP, key, 'false or undefined when reading several files (each uses FILE' + (key === 'weightFile' ? '.weight)' : '.query)'), v);
  }
  if (o.keyIds !== undefined && typeof o.keyIds !== 'boolean') throw invalidArgument(OP, 'keyIds', 'a boolean', o.keyIds);
  if (o.keyIds && (o.hashBits !== undefined || o.maxFeatures !== undefined)) throw invalidArgument(OP, 'keyIds', 'false when hashBits or maxFeatures is set', o.keyIds);
  const native: NativeReadOptions = { hashBits, skipBadLines: o.skipBadLines ?? false, binaryLabels: o.binaryLabels ?? false, keyIds: o.keyIds ?? false };
  if (o.maxFeatures !== undefined) native.maxFeatureId = o.maxFeatures - 1;
  if (o.maxFeaturesHint !== undefined) native.maxFeatureIdHint = o.maxFeaturesHint;
  return { rank, size, native };
}

// The side file of `file`: the option's own name, none for false, else FILE.ext (for
// FILE.gz also FILE-without-.gz.ext) when it exists.
function sideFile(file: string, option: string | false | undefined, ext: string): string | undefined {
  if (option === false) return undefined;
  if (typeof option === 'string') return option;
  if (existsSync(file + ext)) return file + ext;
  if (file.endsWith('.gz') && existsSync(file.slice(0, -3) + ext)) return file.slice(0, -3) + ext;
  return undefined;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw ioError(file, err);
  }
}

// Lines of a side file with their 1-based numbers; a final empty line is not a line.
function sideLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

async function readWeights(file: string): Promise<Float32Array> {
  const lines = sideLines(await readText(file));
  const out = new Float32Array(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const s = (lines[i] as string).trim();
    const v = s === '' ? NaN : Number(s);
    // Like labels and values: finite in float32 (a NaN weight would poison the whole model).
    if (!Number.isFinite(Math.fround(v))) {
      const col = (lines[i] as string).length - (lines[i] as string).trimStart().length + 1;
      const what = Number.isNaN(v) ? 'a weight (a finite number)' : 'a weight that is finite in float32';
      throw new DataError('ERR_INVALID_ARGUMENT', `${file}:${i + 1}:${col}: expected ${what}, found ${s === '' ? 'end of line' : `'${s.slice(0, 24)}'`}`, {
        file,
        line: i + 1,
        column: col,
      });
    }
    out[i] = v;
  }
  return out;
}

async function readGroupSizes(file: string): Promise<Uint32Array> {
  const lines = sideLines(await readText(file));
  const out = new Uint32Array(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const s = (lines[i] as string).trim();
    const v = Number(s);
    if (!/^\d+$/.test(s) || v > 0xffffffff) {
      const col = (lines[i] as string).length - (lines[i] as string).trimStart().length + 1;
      throw new DataError('ERR_INVALID_ARGUMENT', `${file}:${i + 1}:${col}: expected a group size (an integer below 2^32), found ${s === '' ? 'end of line' : `'${s.slice(0, 24)}'`}`, {
        file,
        line: i + 1,
        column: col,
      });
    }
    out[i] = v;
  }
  return out;
}

function ioError(file: string, err: unknown, what = 'cannot read'): DataError {
  const msg = err instanceof Error ? err.message : String(err);
  return new DataError('ERR_IO', `${file}: ${what}: ${msg}`, { file });
}

function toDataError(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const e = err as Error & { code?: unknown; file?: string; line?: number; column?: number };
  if (typeof e.code !== 'string' || !e.code.startsWith('ERR_')) return err;
  const location: { file?: string; line?: number; column?: number } = {};
  if (e.file !== undefined) location.file = e.file;
  if (e.line !== undefined) location.line = e.line;
  if (e.column !== undefined) location.column = e.column;
  return new DataError(e.code as ErrorCode, e.message, location);
}
