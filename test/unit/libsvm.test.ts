// readLibsvm (lib/data/libsvm.ts over native/data/libsvm_parser.cc): the grammar's edge cases,
// exact FILE:LINE:COLUMN errors, skipBadLines, hashing, weight and .query side files, gzip,
// the split rule against a JS reference for sizes 1..7 (lines, qid runs and .query groups),
// several files, and the real a9a file.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import { DataError } from '../../lib/data/data_error.js';
import { hashFeatureId, readLibsvm, type ReadOptions, type ReadResult } from '../../lib/data/libsvm.js';
import { Rng } from '../helpers/mulberry_rng.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/test/unit -> <repo>/test/fixtures/data
const fixtures = resolve(here, '../../../test/fixtures/data');
const fx = (name: string): string => join(fixtures, name);
const A9A = '/work/shared/data/a9a/a9a';

const tmp = mkdtempSync(join(tmpdir(), 'shoal-libsvm-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
let fileNo = 0;
function tmpFile(content: string | Buffer, suffix = '.svm'): string {
  const path = join(tmp, `f${fileNo++}${suffix}`);
  writeFileSync(path, content);
  return path;
}

function makeRng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

function rows(r: ReadResult): Array<{ label: number; ids: number[]; vals: number[] }> {
  const out = [];
  for (let i = 0; i < r.numRows; i++) {
    const a = r.rowPtr[i] as number;
    const b = r.rowPtr[i + 1] as number;
    out.push({ label: r.labels[i] as number, ids: [...r.featureIds.subarray(a, b)], vals: [...r.values.subarray(a, b)] });
  }
  return out;
}

async function parseError(content: string): Promise<DataError> {
  const path = tmpFile(content);
  const err = await readLibsvm(path, { weightFile: false, queryFile: false }).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof DataError)) throw new Error(`expected a DataError for ${JSON.stringify(content)}, got ${String(err)}`);
  return err;
}

test('edge cases: comments, blank lines, CRLF, tabs, trailing spaces, +labels, qid, no final newline', async (t) => {
  const r = await readLibsvm(fx('edge.svm'), { weightFile: false });
  t.is(r.numRows, 5);
  t.deepEqual([...r.rowPtr], [0, 2, 4, 5, 5, 8]);
  t.deepEqual([...r.featureIds], [1, 3, 2, 7, 4, 10, 11, 12]);
  t.deepEqual([...r.values], [0.5, 2, 1000, -0.25, 0.5, 1, 1, 1]);
  t.deepEqual([...r.labels], [1, -1, 0.5, 0, 0.25]);
  t.deepEqual([...(r.qids ?? [])], [0xffffffff, 0xffffffff, 9, 0xffffffff, 0xffffffff]);
  t.is(r.weights, null);
  t.is(r.maxFeatureId, 12);
  t.is(r.skippedLines, 0);
  const text = readFileSync(fx('edge.svm'), 'latin1');
  t.is(r.bytes, text.length - text.indexOf('1 1:0.5'), 'bytes from the first row to the end');
  t.deepEqual(r.files, [fx('edge.svm')]);
});

test('default FILE.weight is picked up and follows the rows', async (t) => {
  const r = await readLibsvm(fx('edge.svm'));
  t.deepEqual([...(r.weights ?? [])], [2, 0.5, 1.5, 1, 4]);
  const explicit = await readLibsvm(fx('edge.svm'), { weightFile: fx('bad.svm.weight') });
  t.deepEqual([...(explicit.weights ?? [])], [1, 2, 3, 4, 5]);
});

test('empty and comment-only files give no rows', async (t) => {
  for (const content of ['', '\n\n', '# only a comment\n  \t\r\n# another']) {
    const r = await readLibsvm(tmpFile(content));
    t.is(r.numRows, 0);
    t.deepEqual([...r.rowPtr], [0]);
    t.is(r.featureIds.length, 0);
    t.is(r.maxFeatureId, -1);
    t.is(r.qids, null);
    t.is(r.weights, null);
  }
});

test('values are float32 of the decimal (Math.fround(Number(s)))', async (t) => {
  const rng = makeRng(5);
  const toks: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const v = (rng() - 0.5) * 10 ** Math.floor(rng() * 20 - 10);
    toks.push(i % 3 === 0 ? v.toExponential(Math.floor(rng() * 12)) : String(v));
  }
  toks.push('0', '-0', '1e-50', '-3.4028235e38', '3.4028235e38', '3.40282356e38', '123456789012345678901234567890', '.5', '5.');
  const r = await readLibsvm(tmpFile(toks.map((s, i) => `${s} ${i}:${s}\n`).join('')));
  t.is(r.numRows, toks.length);
  const want = toks.map((s) => Math.fround(Number(s)));
  t.deepEqual([...r.values], want);
  t.deepEqual([...r.labels], want);
});

test('keyIds: ids up to 2^64-1 become local indices into keys (first-seen order); skipped lines leave no key behind', async (t) => {
  const file = tmpFile('1 18446744073709551615:1 7:2\n0 bad\n-1 7:3 4294967296:1 0:4\n1 5:x 99:1\n');
  const r = await readLibsvm(file, { keyIds: true, skipBadLines: true });
  t.is(r.numRows, 2);
  t.deepEqual([...r.keys!], [18446744073709551615n, 7n, 4294967296n, 0n]);
  t.deepEqual([...r.featureIds], [0, 1, 1, 2, 3]);
  t.deepEqual([...r.values], [1, 2, 3, 1, 4]);
  t.is(r.maxFeatureId, 3);
  t.is(r.skippedLines, 2);
  await t.throwsAsync(readLibsvm(file, { keyIds: true, hashBits: 8 }), { message: /keyIds/ });
});

test('huge feature ids: 2^32-1 is fine, 2^32 needs hashBits', async (t) => {
  const r = await readLibsvm(tmpFile('1 4294967295:1 0:2\n'));
  t.deepEqual([...r.featureIds], [4294967295, 0]);
  t.is(r.maxFeatureId, 4294967295);
  const err = await parseError('1 1:1\n0 2:1 4294967296:1\n');
  t.regex(err.message, /:2:7: feature id 4294967296 is 2\^32 or more; use --hash-bits \(hashBits\) to hash large ids, or keep them as keys in the sharded model \(shoal train lr --servers K; readLibsvm keyIds\)$/);
  const big = await parseError('1 99999999999999999999999:1\n');
  t.regex(big.message, /:1:3: feature id 99999999999999999999999 does not fit in 64 bits$/);
});

test('malformed input fails with FILE:LINE:COLUMN and the offending token', async (t) => {
  const cases: Array<[string, string]> = [
    ['1 1:1\n1 3x:4\n', "2:4: expected ':' after feature id, found 'x'"],
    ['abc 1:2\n', "1:1: expected a label (a number), found 'abc'"],
    ['  1x 1:2\n', "1:3: expected a label (a number), found '1x'"],
    ['1 1:abc\n', "1:5: expected a value after ':', found 'abc'"],
    ['1 1:2.5x 3:1\n', "1:5: expected a value after ':', found '2.5x'"],
    ['1 1\n', "1:4: expected ':' after feature id, found end of line"],
    ['1 1 :2\n', "1:4: expected ':' after feature id, found a space"],
    ['1 1:\n', "1:5: expected a value after ':', found end of line"],
    ['1 1: 2\n', "1:5: expected a value after ':', found a space"],
    ['1 x:1\n', "1:3: expected a feature id (digits), found 'x'"],
    ['1 -1:2\n', "1:3: feature id -1:2 is signed; ids are non-negative integers"],
    ['1 - 1:2\n', "1:3: expected a feature id (digits), found '-'"],
    ['1 1.5:2\n', "1:3: feature id 1.5:2 is not an integer; ids are non-negative integers"],
    ['1 2e3:2\n', "1:3: feature id 2e3:2 is not an integer; ids are non-negative integers"],
    // Non-finite or float32-overflowing labels and values.
    ['nan 1:1\n', '1:1: label nan is not a number; labels must be finite numbers'],
    ['1 1:1\n-inf 1:1\n', '2:1: label -inf is infinite; labels must be finite numbers'],
    ['1e39 1:1\n', '1:1: label 1e39 overflows float32 (largest 3.4028235e38); labels must be finite numbers'],
    ['1 1:1 7:nan\n', '1:9: value nan of feature 7 is not a number; values must be finite numbers (leave a feature out for 0 or missing)'],
    ['1 3:inf\n', '1:5: value inf of feature 3 is infinite; values must be finite numbers (leave a feature out for 0 or missing)'],
    ['1 3:-Infinity\n', '1:5: value -Infinity of feature 3 is infinite; values must be finite numbers (leave a feature out for 0 or missing)'],
    ['1 3:+NaN\n', '1:5: value +NaN of feature 3 is not a number; values must be finite numbers (leave a feature out for 0 or missing)'],
    ['1 3:1e39\n', '1:5: value 1e39 of feature 3 overflows float32 (largest 3.4028235e38); values must be finite numbers (leave a feature out for 0 or missing)'],
    ['1 3:-1e400\n', '1:5: value -1e400 of feature 3 is infinite; values must be finite numbers (leave a feature out for 0 or missing)'],
    ['1 qid:x 1:2\n', "1:3: expected qid:N with N an integer below 2^32, found 'qid:x'"],
    ['1 1:1\0\n', "1:5: expected a value after ':', found '1\\x00'"],
    ['1 1:1 \x01:1\n', "1:7: expected a feature id (digits), found '\\x01'"],
    ['1 1:2 qid:3\n', "1:7: expected a feature id (digits), found 'q'"],
    ['# c\r\n\r\n1 1:1\r\n0\t5:1\t6;1\r\n', "4:8: expected ':' after feature id, found ';'"],
    ['1 1:1#ok\n1 2:2 #ok\n1 2:x#\n', "3:5: expected a value after ':', found 'x#'"],
  ];
  for (const [content, tail] of cases) {
    const err = await parseError(content);
    const [, line, column] = /^(\d+):(\d+):/.exec(tail) as RegExpExecArray;
    t.true(err.message.endsWith(`.svm:${tail}`), `${JSON.stringify(content)} -> ${err.message}`);
    t.is(err.code, 'ERR_INVALID_ARGUMENT');
    t.is(err.line, Number(line));
    t.is(err.column, Number(column));
    t.true(err.file?.endsWith('.svm'));
  }
});

test('skipBadLines counts and reports skipped lines, and weights stay aligned', async (t) => {
  await t.throwsAsync(readLibsvm(fx('bad.svm')), { instanceOf: DataError, message: /bad\.svm:2:4: expected ':' after feature id, found 'x'$/ });
  const r = await readLibsvm(fx('bad.svm'), { skipBadLines: true });
  t.is(r.skippedLines, 2);
  t.is(r.skipped.length, 2);
  t.regex(r.skipped[0] as string, /bad\.svm:2:4: expected ':'/);
  t.regex(r.skipped[1] as string, /bad\.svm:4:1: expected a label/);
  t.is(r.numRows, 3);
  t.deepEqual([...r.featureIds], [1, 2, 4, 5]);
  t.deepEqual([...(r.weights ?? [])], [1, 3, 5]);
  // The same lines are skipped whichever rank reads them.
  let total = 0;
  for (let rank = 0; rank < 3; rank++) total += (await readLibsvm(fx('bad.svm'), { rank, size: 3, skipBadLines: true })).skippedLines;
  t.is(total, 2);
});

test('hashBits maps ids into [0, 2^k) deterministically, also ids >= 2^32', async (t) => {
  const lines: string[] = [];
  const rng = makeRng(9);
  for (let i = 0; i < 300; i++) lines.push(`1 ${Math.floor(rng() * 1e6)}:1 ${BigInt(Math.floor(rng() * 2 ** 52)) * 4096n}:2`);
  const path = tmpFile(lines.join('\n'));
  for (const bits of [1, 4, 12, 32]) {
    const a = await readLibsvm(path, { hashBits: bits });
    const b = await readLibsvm(path, { hashBits: bits });
    t.deepEqual(a.featureIds, b.featureIds);
    t.true(a.featureIds.every((id) => id < 2 ** bits));
    t.is(a.maxFeatureId, Math.max(...a.featureIds));
    const first = lines[0]?.split(' ')[1]?.split(':')[0] as string;
    t.is(a.featureIds[0], hashFeatureId(Number(first), bits));
  }
  const wide = await readLibsvm(path, { hashBits: 20 });
  t.true(new Set(wide.featureIds).size > 500, 'hashing spreads distinct ids');
  t.is(hashFeatureId(2n ** 63n, 32), hashFeatureId(2n ** 63n, 32));
  t.throws(() => hashFeatureId(-1, 8), { instanceOf: RangeError });
});

test('argument errors are TypeError/RangeError with ERR_INVALID_ARGUMENT; missing files are ERR_IO', async (t) => {
  await t.throwsAsync(readLibsvm(fx('edge.svm'), { rank: 2, size: 2 }), { instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' } as never);
  await t.throwsAsync(readLibsvm(fx('edge.svm'), { hashBits: 33 }), { instanceOf: RangeError, message: /hashBits/ });
  await t.throwsAsync(readLibsvm([]), { instanceOf: TypeError, message: /readLibsvm: expected a file name/ });
  await t.throwsAsync(readLibsvm([fx('edge.svm'), fx('bad.svm')], { weightFile: 'w' }), { instanceOf: TypeError, message: /weightFile/ });
  const missing = await readLibsvm(join(tmp, 'nope.svm')).catch((e: unknown) => e);
  t.true(missing instanceof DataError);
  t.is((missing as DataError).code, 'ERR_IO');
  t.regex((missing as DataError).message, /nope\.svm: cannot open/);
  const missingGz = await readLibsvm(join(tmp, 'nope.svm.gz')).catch((e: unknown) => e);
  t.is((missingGz as DataError).code, 'ERR_IO');
});

// ---- the split rule against a reference ---------------------------------------------------

interface GenLine {
  text: string; // without the line ending
  data: boolean;
  qid?: number;
}

// Random ASCII libsvm text (so string offsets are byte offsets). Data rows have label = row
// index; `qids`: runs of 1..4 rows share a qid, some rows have none.
function randomFile(seed: number, n: number, qids: boolean): { text: string; lines: GenLine[]; starts: number[] } {
  const rng = makeRng(seed);
  const lines: GenLine[] = [];
  let row = 0;
  let qid = 0;
  let runLeft = 0;
  while (row < n) {
    const x = rng();
    if (x < 0.08) lines.push({ text: '', data: false });
    else if (x < 0.14) lines.push({ text: `${rng() < 0.5 ? '  ' : ''}# comment ${Math.floor(rng() * 1000)}`, data: false });
    else {
      const sp = (): string => (rng() < 0.2 ? '\t' : rng() < 0.1 ? '  ' : ' ');
      let text = `${row}`;
      let q: number | undefined;
      if (qids) {
        if (runLeft === 0) {
          qid += 1 + Math.floor(rng() * 3);
          runLeft = 1 + Math.floor(rng() * 4);
        }
        runLeft--;
        if (rng() < 0.9) {
          q = qid;
          text += `${sp()}qid:${q}`;
        }
      }
      const k = Math.floor(rng() * 6);
      for (let j = 0; j < k; j++) text += `${sp()}${Math.floor(rng() * 50)}:${(rng() * 4).toFixed(2)}`;
      if (rng() < 0.1) text += ' ';
      if (rng() < 0.05) text += ' # tail';
      lines.push({ text, data: true, ...(q !== undefined ? { qid: q } : {}) });
      row++;
    }
  }
  let text = '';
  const starts: number[] = [];
  lines.forEach((l, i) => {
    starts.push(text.length);
    const last = i === lines.length - 1;
    text += l.text + (rng() < 0.2 ? '\r\n' : last && rng() < 0.5 ? '' : '\n');
  });
  return { text, lines, starts };
}

function rangeOf(rank: number, size: number, bytes: number): [number, number] {
  return [Math.floor((rank * bytes) / size), Math.floor(((rank + 1) * bytes) / size)];
}

// Expected labels per rank: queries (by `isBoundary`) go to the rank whose range holds the
// start of their first line.
function expectedShares(
  f: { text: string; lines: GenLine[]; starts: number[] },
  size: number,
  isBoundary: (row: number, line: GenLine, prev: GenLine | undefined) => boolean,
): number[][] {
  const out: number[][] = Array.from({ length: size }, () => []);
  let owner = -1;
  let row = 0;
  let prev: GenLine | undefined;
  f.lines.forEach((l, i) => {
    if (!l.data) return;
    if (isBoundary(row, l, prev)) {
      const s = f.starts[i] as number;
      owner = [...Array(size).keys()].find((r) => {
        const [lo, hi] = rangeOf(r, size, f.text.length);
        return s >= lo && s < hi;
      }) as number;
    }
    out[owner]?.push(row);
    prev = l;
    row++;
  });
  return out;
}

async function shares(path: string, size: number, options: ReadOptions = {}): Promise<ReadResult[]> {
  const out: ReadResult[] = [];
  for (let rank = 0; rank < size; rank++) out.push(await readLibsvm(path, { ...options, rank, size }));
  return out;
}

test('split rule: rank r gets the lines starting in [floor(rB/size), floor((r+1)B/size)) (sizes 1..7)', async (t) => {
  for (let seed = 1; seed <= 6; seed++) {
    const f = randomFile(seed, seed === 1 ? 3 : 40 + seed * 7, false);
    const path = tmpFile(f.text);
    const whole = rows(await readLibsvm(path));
    t.deepEqual(
      whole.map((r) => r.label),
      [...Array(whole.length).keys()],
    );
    for (let size = 1; size <= 7; size++) {
      const got = await shares(path, size);
      const want = expectedShares(f, size, () => true);
      t.deepEqual(
        got.map((r) => [...r.labels]),
        want,
        `seed ${seed} size ${size}`,
      );
      t.deepEqual(got.flatMap(rows), whole, `concatenation, seed ${seed} size ${size}`);
    }
  }
});

test('split rule with qid: runs: a query is never split and goes where its first line starts', async (t) => {
  for (let seed = 11; seed <= 15; seed++) {
    const f = randomFile(seed, 60, true);
    const path = tmpFile(f.text);
    const whole = await readLibsvm(path);
    for (let size = 1; size <= 7; size++) {
      const got = await shares(path, size);
      const want = expectedShares(f, size, (_row, l, prev) => l.qid === undefined || l.qid !== prev?.qid);
      t.deepEqual(
        got.map((r) => [...r.labels]),
        want,
        `seed ${seed} size ${size}`,
      );
      t.deepEqual(got.flatMap(rows), rows(whole));
      t.deepEqual(
        got.flatMap((r) => [...(r.qids ?? [])]),
        [...(whole.qids ?? [])],
      );
      for (let r = 0; r + 1 < size; r++) {
        const a = got[r] as ReadResult;
        const b = got[r + 1] as ReadResult;
        if (a.numRows === 0 || b.numRows === 0) continue;
        const lastQ = a.qids?.[a.numRows - 1];
        if (lastQ !== 0xffffffff) t.not(lastQ, b.qids?.[0], `query ${lastQ} split between ranks ${r} and ${r + 1}`);
      }
    }
  }
});

test('split rule with .query groups and weights: groups stay whole, weights and qids follow rows', async (t) => {
  for (let seed = 21; seed <= 25; seed++) {
    const f = randomFile(seed, 50, false);
    const path = tmpFile(f.text);
    const rng = makeRng(seed);
    const groups: number[] = [];
    for (let left = 50; left > 0; ) {
      const g = Math.min(left, rng() < 0.1 ? 0 : 1 + Math.floor(rng() * 6));
      groups.push(g);
      left -= g;
    }
    writeFileSync(`${path}.query`, groups.join('\n') + '\n');
    writeFileSync(`${path}.weight`, [...Array(50).keys()].map((i) => `${i + 0.25}`).join('\n'));
    const starts = new Set<number>();
    const groupOf: number[] = [];
    groups.reduce((acc, g, j) => {
      if (g > 0) starts.add(acc);
      for (let k = 0; k < g; k++) groupOf.push(j);
      return acc + g;
    }, 0);
    for (let size = 1; size <= 7; size++) {
      const got = await shares(path, size);
      const want = expectedShares(f, size, (row) => starts.has(row));
      t.deepEqual(
        got.map((r) => [...r.labels]),
        want,
        `seed ${seed} size ${size}`,
      );
      for (const r of got) {
        t.deepEqual([...(r.weights ?? [])], [...r.labels].map((l) => l + 0.25));
        t.deepEqual([...(r.qids ?? [])], [...r.labels].map((l) => groupOf[l]));
      }
    }
  }
});

test('.query and qid: fixtures; side-file mismatches are errors', async (t) => {
  const g = await readLibsvm(fx('grouped.svm'));
  t.deepEqual([...(g.qids ?? [])], [0, 0, 1, 1, 1]);
  const noGroups = await readLibsvm(fx('grouped.svm'), { queryFile: false });
  t.is(noGroups.qids, null);
  const q = await readLibsvm(fx('ranked.svm'));
  t.deepEqual([...(q.qids ?? [])], [1, 1, 2, 2, 2, 7]);
  const halves = await shares(fx('ranked.svm'), 2);
  t.deepEqual(
    halves.map((r) => [...(r.qids ?? [])]),
    [
      [1, 1, 2, 2, 2],
      [7],
    ],
  );
  const data = tmpFile('1 1:1\n0 2:1\n1 3:1\n');
  writeFileSync(`${data}.weight`, '1\n2\n');
  await t.throwsAsync(readLibsvm(data), { instanceOf: DataError, message: /:3:1: row 3 has no weight: .*\.weight has 2 weights$/ });
  writeFileSync(`${data}.weight`, '1\n2\n3\n4\n');
  await t.throwsAsync(readLibsvm(data), { instanceOf: DataError, message: /\.weight has 4 weights but .* has 3 rows$/ });
  writeFileSync(`${data}.weight`, '1\nheavy\n3\n');
  await t.throwsAsync(readLibsvm(data), { instanceOf: DataError, message: /\.weight:2:1: expected a weight \(a finite number\), found 'heavy'$/ });
  writeFileSync(`${data}.weight`, '1\n2\n nan\n');
  await t.throwsAsync(readLibsvm(data), { instanceOf: DataError, message: /\.weight:3:2: expected a weight \(a finite number\), found 'nan'$/ });
  writeFileSync(`${data}.weight`, '1\n1e39\n3\n');
  await t.throwsAsync(readLibsvm(data), { instanceOf: DataError, message: /\.weight:2:1: expected a weight that is finite in float32, found '1e39'$/ });
  t.is((await readLibsvm(data, { weightFile: false })).weights, null);
  writeFileSync(`${data}.query`, '2\n');
  await t.throwsAsync(readLibsvm(data, { weightFile: false }), { instanceOf: DataError, message: /row 3 is not in any query/ });
  writeFileSync(`${data}.query`, '2\n2\n');
  await t.throwsAsync(readLibsvm(data, { weightFile: false }), { instanceOf: DataError, message: /group sizes for 4 rows but .* has 3 rows$/ });
});

test('gzip gives the same rows as the plain file, whole and split', async (t) => {
  const f = randomFile(31, 80, true);
  const plain = tmpFile(f.text);
  const gz = tmpFile(gzipSync(f.text), '.svm.gz');
  t.deepEqual(rows(await readLibsvm(gz)), rows(await readLibsvm(plain)));
  for (const size of [2, 3, 5]) {
    const a = await shares(plain, size);
    const b = await shares(gz, size);
    t.deepEqual(b.map(rows), a.map(rows));
    t.deepEqual(
      b.map((r) => [...(r.qids ?? [])]),
      a.map((r) => [...(r.qids ?? [])]),
    );
  }
  // Errors name the .gz file and the decompressed line.
  const bad = tmpFile(gzipSync('1 1:1\n1 2:x\n'), '.svm.gz');
  await t.throwsAsync(readLibsvm(bad), { message: /\.svm\.gz:2:5: expected a value/ });
  const corrupt = tmpFile(Buffer.from('not gzip at all'), '.svm.gz');
  await t.throwsAsync(readLibsvm(corrupt), { instanceOf: DataError, code: 'ERR_IO' } as never);
});

test('gzip is streamed: large and multi-member files give the plain file rows, whole and split', async (t) => {
  // About 13 MiB of text (more than the few MiB the inflater keeps) with qid runs, then one
  // 6 MiB line, so a rank's look back at the line before its share must restart the inflater.
  const f = randomFile(77, 220000, true);
  const longLine = `1 qid:999999 ${Array.from({ length: 700000 }, (_, i) => `${i}:1`).join(' ')}\n`;
  const text = f.text + longLine + randomFile(78, 3000, false).text;
  t.true(text.length > 12 << 20);
  const plain = tmpFile(text);
  const gz = tmpFile(gzipSync(text, { level: 1 }), '.svm.gz');
  const whole = await readLibsvm(plain);
  const zipped = await readLibsvm(gz);
  t.is(zipped.numRows, whole.numRows);
  t.deepEqual([...zipped.rowPtr], [...whole.rowPtr]);
  t.deepEqual([...zipped.featureIds], [...whole.featureIds]);
  t.deepEqual([...zipped.labels], [...whole.labels]);
  t.deepEqual([...(zipped.qids ?? [])], [...(whole.qids ?? [])]);
  t.is(zipped.bytes, whole.bytes);
  for (const size of [2, 3, 4]) {
    const a = await shares(plain, size);
    const b = await shares(gz, size);
    t.deepEqual(
      b.map((r) => [r.numRows, r.bytes, r.rowPtr[r.numRows], [...(r.qids ?? [])].join()]),
      a.map((r) => [r.numRows, r.bytes, r.rowPtr[r.numRows], [...(r.qids ?? [])].join()]),
      `size ${size}`,
    );
  }
  // Skipped lines far apart (beyond what the inflater keeps) get the same line numbers as in
  // the plain file.
  const lines = text.split('\n');
  const longAt = f.text.split('\n').length - 1;
  for (const i of [5000, 5001, longAt - 1, longAt + 1, longAt + 100]) lines[i] = '1 1:nan';
  const withBad = lines.join('\n');
  const badPlain = await readLibsvm(tmpFile(withBad), { skipBadLines: true });
  const badGz = await readLibsvm(tmpFile(gzipSync(withBad, { level: 1 }), '.svm.gz'), { skipBadLines: true });
  t.is(badPlain.skippedLines, 5);
  t.is(badGz.skippedLines, badPlain.skippedLines);
  t.deepEqual(
    badGz.skipped.map((m) => m.replace(/^.*?\.svm(\.gz)?:/, '')),
    badPlain.skipped.map((m) => m.replace(/^.*?\.svm:/, '')),
  );
  // Two members (as `cat a.gz b.gz` makes) read as one text.
  const parts = ['1 1:1\n0 2:2\n', '1 3:3\n'];
  const multi = tmpFile(Buffer.concat(parts.map((p) => gzipSync(p))), '.svm.gz');
  t.deepEqual(rows(await readLibsvm(multi)), rows(await readLibsvm(tmpFile(parts.join('')))));
  // Truncated gzip data is an I/O error naming the file, not a crash or a short read.
  const full = gzipSync(randomFile(79, 500, false).text);
  const cut = tmpFile(full.subarray(0, full.length >> 1), '.svm.gz');
  const err = await t.throwsAsync(readLibsvm(cut), { instanceOf: DataError });
  t.is(err?.code, 'ERR_IO');
  t.regex(err?.message ?? '', /\.svm\.gz: cannot decompress: unexpected end of file/);
});

test('binaryLabels accepts -1, 0, 1 in any spelling and names the first other label', async (t) => {
  const r = await readLibsvm(tmpFile('+1 1:1\n-1 1:1\n0 1:1\n1.0 2:1\n-0 2:1\n1e0 3:1\n'), { binaryLabels: true });
  t.deepEqual([...r.labels], [1, -1, 0, 1, -0, 1]);
  const path = tmpFile('1 1:1\n0 2:1\n2 1:1\n');
  const err = await t.throwsAsync(readLibsvm(path, { binaryLabels: true }), { instanceOf: DataError });
  t.true(err?.message.endsWith('.svm:3:1: label 2 is not a binary label; expected -1, 0 or 1 (+1)'), err?.message);
  t.like(err, { line: 3, column: 1 });
  // Without the option any finite label is a label (regression, relevance grades).
  t.deepEqual([...(await readLibsvm(path)).labels], [1, 0, 2]);
  const skipped = await readLibsvm(path, { binaryLabels: true, skipBadLines: true });
  t.is(skipped.numRows, 2);
  t.is(skipped.skippedLines, 1);
});

test('maxFeatures refuses the first line with a larger id, even with skipBadLines, with the hint', async (t) => {
  const path = tmpFile('1 1:1 5:1\n0 2:1\n1 3:1 300000000:1 4:1\n1 2:1\n');
  t.is((await readLibsvm(path, { maxFeatures: 300000001 })).maxFeatureId, 300000000);
  for (const skipBadLines of [false, true]) {
    const err = await t.throwsAsync(readLibsvm(path, { maxFeatures: 1 << 24, maxFeaturesHint: 'use --hash-bits', skipBadLines }), { instanceOf: DataError });
    t.true(err?.message.endsWith('.svm:3:7: feature id 300000000 is above the largest id allowed, 16777215; use --hash-bits'), err?.message);
    t.like(err, { code: 'ERR_INVALID_ARGUMENT', line: 3, column: 7 });
  }
  // The limit applies to hashed ids: 2^20 buckets cannot fit under 1000.
  const hashed = await t.throwsAsync(readLibsvm(path, { hashBits: 20, maxFeatures: 1000 }), { instanceOf: DataError });
  t.regex(hashed?.message ?? '', /:1:3: feature id \d+ \(hashed from 1\) is above the largest id allowed, 999$/);
  t.is((await readLibsvm(path, { hashBits: 10, maxFeatures: 1024 })).numRows, 4);
  await t.throwsAsync(readLibsvm(path, { maxFeatures: 0 }), { instanceOf: RangeError });
  await t.throwsAsync(readLibsvm(path, { maxFeatures: 2 ** 32 + 1 }), { instanceOf: RangeError });
});

test('several files: split the list when there are at least size files, else split each file', async (t) => {
  const parts = [randomFile(41, 10, false), randomFile(42, 0, false), randomFile(43, 25, false)];
  const paths = parts.map((p) => tmpFile(p.text));
  const whole = rows(await readLibsvm(paths));
  const perFile = await Promise.all(paths.map(async (p) => rows(await readLibsvm(p))));
  t.deepEqual(whole, perFile.flat());
  // size 3 and 2 (3 files >= size): rank r reads files i % size === r, whole.
  for (const size of [2, 3]) {
    for (let rank = 0; rank < size; rank++) {
      const r = await readLibsvm(paths, { rank, size });
      const mine = paths.filter((_, i) => i % size === rank);
      t.deepEqual(r.files, mine);
      t.deepEqual(
        rows(r),
        perFile.filter((_, i) => i % size === rank).flat(),
      );
    }
  }
  // size 4 > 3 files: every rank reads its byte range of every file, in file order.
  const byRank = [];
  for (let rank = 0; rank < 4; rank++) {
    const r = await readLibsvm(paths, { rank, size: 4 });
    t.deepEqual(r.files, paths);
    const expected = await Promise.all(paths.map(async (p) => rows(await readLibsvm(p, { rank, size: 4 }))));
    t.deepEqual(rows(r), expected.flat());
    byRank.push(rows(r));
  }
  t.is(byRank.flat().length, whole.length);
});

test('a9a: 32561 rows, ids up to 123, every entry read; four ranks share it exactly', async (t) => {
  const text = readFileSync(A9A, 'latin1');
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const nnz = lines.reduce((n, l) => n + l.trim().split(/\s+/).length - 1, 0);
  const r = await readLibsvm(A9A);
  t.is(r.numRows, 32561);
  t.is(r.rowPtr[r.numRows], nnz);
  t.is(r.featureIds.length, nnz);
  t.true(r.maxFeatureId <= 123 && r.maxFeatureId >= 120);
  t.true(r.featureIds.every((id) => id >= 1 && id <= 123));
  t.true(r.labels.every((l) => l === 1 || l === -1));
  t.is(r.labels.filter((l) => l === 1).length, lines.filter((l) => l.startsWith('+1')).length);
  t.is(r.bytes, text.length);
  const parts = await shares(A9A, 4);
  t.is(
    parts.reduce((n, p) => n + p.numRows, 0),
    32561,
  );
  t.deepEqual(
    parts.flatMap((p) => [...p.featureIds]),
    [...r.featureIds],
  );
});
