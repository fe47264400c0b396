// A bounded, seeded fuzz test of the libsvm decoder (native/data/libsvm_parser.cc): random
// bytes, valid files with mutations (inserted, deleted and replaced bytes, huge numbers, nan,
// NUL bytes, CRLF, truncation) and corrupted gzip files. Every input must either parse, with
// sane CSR arrays (finite labels and values, ids within the limit, shares that concatenate to
// the whole), or fail with an ERR_INVALID_ARGUMENT DataError naming NAME:LINE:COLUMN inside
// the input (gzip damage: ERR_IO naming the file). A crash would take the test process down
// and a hang would hit the timeout, both failures. Untouched valid files must parse exactly.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { Rng } from '../helpers/mulberry_rng.js';
import { DataError } from '../../lib/data/data_error.js';
import { readLibsvm, type ReadOptions, type ReadResult } from '../../lib/data/libsvm.js';

const tmp = mkdtempSync(join(tmpdir(), 'shoal-fuzz-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

interface Row {
  label: number;
  ids: number[];
  vals: number[];
}

const HUGE = ['1e39', '-1e39', '1e400', '3.4028236e38', '99999999999999999999999', '18446744073709551616', '4294967296', '2147483648', 'nan', '-inf', 'Infinity', '1e-400', '0x10', '--1', '+-1', '.', 'e5', '1e'];
const ALPHABET = '0123456789::  \t\r\n\n#-+.eEnaifq\0';

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

// A valid file and the rows it holds (values exact in float32: k/4).
function validFile(rng: Rng): { text: string; rows: Row[] } {
  const rows: Row[] = [];
  const lines: string[] = [];
  const n = rng.int(12);
  for (let i = 0; i < n; i++) {
    if (rng.next() < 0.15) {
      lines.push(rng.next() < 0.5 ? '' : '# comment 1:2');
      continue;
    }
    const label = pick(rng, [1, -1, 0]);
    const k = rng.int(5);
    const ids: number[] = [];
    const vals: number[] = [];
    for (let j = 0; j < k; j++) {
      ids.push(rng.int(1000));
      vals.push((rng.int(4000) - 2000) / 4);
    }
    const sep = (): string => pick(rng, [' ', ' ', '\t', '  ']);
    let line = (label === 1 && rng.next() < 0.5 ? '+1' : String(label)) + ids.map((id, j) => `${sep()}${id}:${vals[j]}`).join('');
    if (rng.next() < 0.1) line += ' # tail';
    if (rng.next() < 0.1) line += '\r';
    lines.push(line);
    rows.push({ label, ids, vals });
  }
  return { text: lines.join('\n') + (rng.next() < 0.8 ? '\n' : ''), rows };
}

function mutate(rng: Rng, text: string): string {
  let s = text;
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(s.length + 1);
    switch (rng.int(7)) {
      case 0: s = s.slice(0, at) + pick(rng, [...ALPHABET]) + s.slice(at); break;
      case 1: s = s.slice(0, at) + s.slice(at + 1 + rng.int(3)); break;
      case 2: s = s.slice(0, at) + pick(rng, HUGE) + s.slice(at); break;
      case 3: s = s.slice(0, at) + ` ${1 + rng.int(9)}:${pick(rng, HUGE)}` + s.slice(at); break;
      case 4: s = s.slice(0, at); break;
      case 5: s = s.replace(/\n/g, '\r\n'); break;
      default: s = s.slice(0, at) + String.fromCharCode(rng.int(256)) + s.slice(at); break;
    }
  }
  return s;
}

function randomBytes(rng: Rng): Buffer {
  const n = rng.int(160);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = rng.next() < 0.85 ? ALPHABET.charCodeAt(rng.int(ALPHABET.length)) : rng.int(256);
  return out;
}

function rowsOf(r: ReadResult): Row[] {
  const out: Row[] = [];
  for (let i = 0; i < r.numRows; i++) {
    const a = r.rowPtr[i]!;
    const b = r.rowPtr[i + 1]!;
    out.push({ label: r.labels[i]!, ids: [...r.featureIds.subarray(a, b)], vals: [...r.values.subarray(a, b)] });
  }
  return out;
}

let fileNo = 0;
function write(content: Buffer | string, suffix = '.svm'): string {
  const path = join(tmp, `f${fileNo++}${suffix}`);
  writeFileSync(path, content);
  return path;
}

type Outcome = { ok: true; result: ReadResult } | { ok: false; error: DataError };

async function attempt(path: string, options: ReadOptions): Promise<Outcome> {
  try {
    return { ok: true, result: await readLibsvm(path, { ...options, weightFile: false, queryFile: false }) };
  } catch (err) {
    if (!(err instanceof DataError)) throw new Error(`${path}: not a DataError: ${String(err)}`);
    return { ok: false, error: err };
  }
}

// Checks an outcome against the bytes it came from; returns a complaint or null.
function check(bytes: Buffer, path: string, options: ReadOptions, o: Outcome): string | null {
  if (!o.ok) {
    const e = o.error;
    if (e.code !== 'ERR_INVALID_ARGUMENT') return `code ${e.code}: ${e.message}`;
    if (e.line === undefined || e.column === undefined || e.file !== path) return `no location: ${e.message}`;
    if (!e.message.startsWith(`${path}:${e.line}:${e.column}: `)) return `message does not start with file:line:column: ${e.message}`;
    if (/[\x00-\x1f\x7f]/.test(e.message)) return `control bytes in the message: ${JSON.stringify(e.message)}`;
    const lines = bytes.toString('latin1').split('\n');
    if (e.line < 1 || e.line > lines.length) return `line ${e.line} outside 1..${lines.length}: ${e.message}`;
    if (e.column < 1 || e.column > lines[e.line - 1]!.length + 1) return `column ${e.column} outside line ${e.line}: ${e.message}`;
    if (options.skipBadLines && !/is above the largest id allowed/.test(e.message)) return `skipBadLines but threw: ${e.message}`;
    return null;
  }
  const r = o.result;
  if (r.rowPtr.length !== r.numRows + 1 || r.labels.length !== r.numRows) return 'array lengths';
  for (let i = 0; i < r.numRows; i++) if (r.rowPtr[i]! > r.rowPtr[i + 1]!) return 'rowPtr not monotone';
  if (r.rowPtr[r.numRows] !== r.featureIds.length || r.values.length !== r.featureIds.length) return 'nnz mismatch';
  if (!r.labels.every(Number.isFinite) || !r.values.every(Number.isFinite)) return 'non-finite label or value';
  const limit = (options.maxFeatures ?? 2 ** 32) - 1;
  if (r.featureIds.some((id) => id > limit)) return 'id above maxFeatures';
  if (options.binaryLabels && !r.labels.every((y) => y === 1 || y === 0 || y === -1)) return 'non-binary label';
  return null;
}

function randomOptions(rng: Rng): ReadOptions {
  const o: ReadOptions = {};
  if (rng.next() < 0.3) o.skipBadLines = true;
  if (rng.next() < 0.2) o.hashBits = 1 + rng.int(32);
  if (rng.next() < 0.2) o.binaryLabels = true;
  if (rng.next() < 0.2) o.maxFeatures = 1 + rng.int(2000);
  return o;
}

test('fuzz: random and mutated libsvm text parses or fails with NAME:LINE:COLUMN, never crashes', async (t) => {
  t.timeout(240_000);
  const rng = new Rng(20261204);
  const problems: string[] = [];
  let parsed = 0;
  let failed = 0;
  const CASES = 3000;
  for (let c = 0; c < CASES; c++) {
    const kind = c % 3;
    const valid = validFile(rng);
    const bytes = kind === 0 ? randomBytes(rng) : kind === 1 ? Buffer.from(mutate(rng, valid.text), 'latin1') : Buffer.from(valid.text, 'latin1');
    const options = kind === 2 ? {} : randomOptions(rng);
    const path = write(bytes);
    const whole = await attempt(path, options);
    const complaint = check(bytes, path, options, whole);
    if (complaint) problems.push(`case ${c} ${JSON.stringify(bytes.toString('latin1'))} ${JSON.stringify(options)}: ${complaint}`);
    if (whole.ok) {
      parsed++;
      // Untouched valid files give exactly their rows.
      if (kind === 2) {
        const got = rowsOf(whole.result);
        if (JSON.stringify(got) !== JSON.stringify(valid.rows)) problems.push(`case ${c}: valid file misread: ${JSON.stringify(valid.text)}`);
      }
      // Three ranks' shares concatenate to the whole.
      if (c % 5 === 0) {
        const parts: Row[] = [];
        for (let rank = 0; rank < 3; rank++) {
          const share = await attempt(path, { ...options, rank, size: 3 });
          if (!share.ok) problems.push(`case ${c}: share ${rank} of 3 failed where the whole parsed: ${share.error.message}`);
          else parts.push(...rowsOf(share.result));
        }
        if (JSON.stringify(parts) !== JSON.stringify(rowsOf(whole.result))) problems.push(`case ${c}: shares differ from the whole`);
      }
    } else failed++;
  }
  t.log(`${parsed} parsed, ${failed} failed with a location`);
  t.deepEqual(problems.slice(0, 10), []);
  // The generator must exercise both outcomes substantially.
  t.true(parsed > CASES / 4 && failed > CASES / 4, `parsed ${parsed}, failed ${failed}`);
});

test('fuzz: gzip files, valid and with damaged compressed bytes, parse like the text or fail with ERR_IO', async (t) => {
  t.timeout(240_000);
  const rng = new Rng(7);
  const problems: string[] = [];
  let ioErrors = 0;
  for (let c = 0; c < 300; c++) {
    const text = Buffer.from(c % 2 === 0 ? validFile(rng).text : mutate(rng, validFile(rng).text), 'latin1');
    let gz = gzipSync(text);
    const damaged = c % 3 === 0;
    if (damaged) {
      gz = Buffer.from(gz);
      const edits = 1 + rng.int(3);
      for (let e = 0; e < edits; e++) gz[rng.int(gz.length)] = rng.int(256);
      if (rng.next() < 0.3) gz = gz.subarray(0, rng.int(gz.length));
    }
    const gzPath = write(gz, '.svm.gz');
    const plainPath = write(text);
    const z = await attempt(gzPath, {});
    if (!z.ok && z.error.code === 'ERR_IO') {
      ioErrors++;
      if (!damaged) problems.push(`case ${c}: intact gzip failed: ${z.error.message}`);
      if (!z.error.message.startsWith(`${gzPath}: `)) problems.push(`case ${c}: ERR_IO without the file: ${z.error.message}`);
      continue;
    }
    if (damaged) continue; // damage that still inflates (e.g. in the header's mtime) is just other text
    const p = await attempt(plainPath, {});
    if (p.ok !== z.ok) problems.push(`case ${c}: gzip ${z.ok ? 'parsed' : 'failed'} but the text ${p.ok ? 'parsed' : 'failed'}`);
    else if (p.ok && z.ok && JSON.stringify(rowsOf(p.result)) !== JSON.stringify(rowsOf(z.result))) problems.push(`case ${c}: rows differ`);
    else if (!p.ok && !z.ok && p.error.message.slice(plainPath.length) !== z.error.message.slice(gzPath.length)) {
      problems.push(`case ${c}: errors differ: ${p.error.message} / ${z.error.message}`);
    }
  }
  t.log(`${ioErrors} gzip files reported as damaged`);
  t.deepEqual(problems.slice(0, 10), []);
  t.true(ioErrors > 20, `${ioErrors} damaged files reported`);
});
